//! End-to-end and adapter tests on real PostgreSQL, real SQLite files and
//! real NATS; the contract and end-to-end tests run once per setup
//! (`helpers::Setup`).
//!
//! Every test gets its own database and its own NATS subject prefix and
//! stream, so tests run in parallel. Waits poll a position or a count with a
//! deadline; no test sleeps for a fixed time to let something happen.

/// Runs each `async fn(Setup)` test once per listed setup, as tests named
/// `<test>::<setup>`: `on_setups!([postgres, sqlite] a_test, another);`
macro_rules! on_setups {
    ($setups:tt $($name:ident),+ $(,)?) => {
        $( on_setups!(@one $name $setups); )+
    };
    (@one $name:ident [$($setup:ident),+]) => {
        mod $name {
            $(
                #[tokio::test]
                async fn $setup() {
                    super::$name(crate::helpers::Setup::$setup).await
                }
            )+
        }
    };
}

mod helpers;

mod attack;
mod audit;
mod auth;
mod browser;
mod bus_boundary;
mod commands;
mod contract;
mod crash;
mod edge;
mod embedded;
mod features;
mod feed;
mod hardening;
mod hot_meetings;
mod idempotency;
mod identity;
mod media;
mod outage;
mod permissions;
mod privacy;
mod projections;
mod reads;
mod relay;
mod snapshots;
mod store_contract;
mod two_nodes;
mod webhooks;
mod websocket;
