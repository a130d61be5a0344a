//! The `meetings` service: configuration, the CLI, authentication, the
//! HTTP API, meeting passwords, the breakout timer, and the wiring of the
//! event log (`eventlog`), live delivery (`live`), the command handler and
//! the projection runners into one node.
//!
//! `main.rs` only parses the command line and calls into [`app`]; tests and
//! benchmarks start the same [`app::App`] in-process.

pub mod app;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod forward;
pub mod health;
pub mod http;
pub mod media;
pub mod metrics;
pub mod nats;
pub mod peer;
pub mod secrets;
pub mod server;
pub mod timer;
pub mod visibility;
pub mod webhooks;
pub mod workers;
