//! The write model.
//!
//! [`meeting`] holds the Meeting aggregate: commands, the pure `decide` that
//! holds every rule, the pure `evolve` that folds events into state, and the
//! typed reply each command gives. [`handler`] runs a command against the
//! event log: load (cache + tail), decide, append with the expected version,
//! and on a conflict reload and retry. This crate knows no SQL and no HTTP.

pub mod error;
pub mod handler;
pub mod meeting;

pub use error::AppError;
pub use handler::{CommandHandler, Executed, IdempotencyKey};
