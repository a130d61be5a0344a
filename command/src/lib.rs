//! The write model.
//!
//! [`meeting`] holds the Meeting aggregate: one module per area of rules,
//! each with its commands, decisions, replies and tests, behind one pure
//! `decide` and the `evolve` that folds events into state. [`handler`]
//! runs a command against the event log: load (cache + tail), decide,
//! append with the expected version, and on a conflict reload and retry;
//! [`outcome`] is what running a command ends in, wherever it ran.
//! [`route`] is the port through which a hot meeting's commands go to
//! the one node that holds it. This crate knows no SQL, HTTP or NATS.

pub mod error;
pub mod handler;
pub mod meeting;
pub mod outcome;
pub mod route;

pub use error::AppError;
pub use handler::CommandHandler;
pub use outcome::{Executed, IdempotencyKey};
pub use route::{Answered, Forwarded, Route, Router};
