//! The event log: the implementation of the `events::EventStore` port.
//!
//! Every SQL backend shares group commit: [`plan`] decides a batch of
//! appends (versions, ids, aliases, idempotency keys, the hash chain) as a
//! pure function, [`committer`] runs one committer task per process around
//! a backend's [`committer::Writer`], [`group_commit::GroupCommitLog`] is
//! the store, and [`recent`] keeps the events this process committed last
//! so the relay need not read them back. Backends sit behind features:
//! `postgres` (production) and `sqlite` (the embedded default, with
//! [`gate`] queueing the file's writers in this process).

pub mod committer;
pub mod gate;
pub mod group_commit;
pub mod plan;
pub mod recent;

#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "sqlite")]
pub mod sqlite;

pub use group_commit::GroupCommitLog;
