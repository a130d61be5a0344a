//! End-to-end and adapter tests on real PostgreSQL and real NATS.
//!
//! Every test gets its own database and its own NATS subject prefix and
//! stream, so tests run in parallel. Waits poll a position or a count with a
//! deadline; no test sleeps for a fixed time to let something happen.

mod helpers;

mod auth;
mod commands;
mod crash;
mod feed;
mod idempotency;
mod projections;
mod reads;
mod relay;
mod store_contract;
mod two_nodes;
mod websocket;
