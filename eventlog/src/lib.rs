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

#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod as_of_sql;
pub mod committer;
pub mod gate;
pub mod group_commit;
pub mod plan;
pub mod recent;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod stream_page_sql;

#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "sqlite")]
pub mod sqlite;

pub use group_commit::GroupCommitLog;

/// Whether a database error says the database cannot be reached now (down,
/// restarting, out of connections, a statement or an acquire timed out)
/// rather than that something is wrong: the caller may try again shortly.
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub fn unavailable(error: &sqlx::Error) -> bool {
    use sqlx::Error as E;
    match error {
        E::PoolTimedOut | E::PoolClosed | E::Io(_) | E::Tls(_) | E::Protocol(_) => true,
        E::WorkerCrashed => true,
        E::Database(db) => db.code().is_some_and(|code| {
            // PostgreSQL: connection exceptions (08), shutting down or
            // starting (57P01-57P03), too many connections (53300),
            // statement timeout (57014). SQLite: busy (5) and locked (6).
            code.starts_with("08")
                || matches!(
                    &*code,
                    "57P01" | "57P02" | "57P03" | "53300" | "57014" | "5" | "6"
                )
        }),
        _ => false,
    }
}
