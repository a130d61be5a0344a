//! `cargo run --release --bin bench -- <scenario> [--runs N] [--seconds S] [--database postgres|sqlite] [--json]`
//!
//! Each scenario starts what it needs (a fresh database, the app on port 0)
//! and reports its figures next to a baseline measured in the same runs, so
//! ratios hold on a noisy machine (`--help` lists every option):
//!
//! - `append`: joins through the in-process command handler at 1, 8, 64;
//!   baseline: a raw single-row INSERT of a same-sized row.
//! - `http`, `http-api`: the same joins over HTTP at 64 connections, to a
//!   whole node and to an API node; baseline: `append` at 64.
//! - `contention`: 8 writers on one meeting (sharing a node, and as 8
//!   nodes); baseline: one writer.
//! - `long-stream`: join/leave on a meeting with 10k events; baseline: a
//!   fresh meeting.
//! - `latency`: accepted -> WebSocket frame and -> read models at a fixed
//!   rate; baseline: NATS core publish -> receive.
//! - `fanout`: 10k WebSocket subscribers over 1k meetings: delivery
//!   p50/p99/p999 and the server's memory per connection.
//! - `rebuild`: replaying 1M events into every read model; baseline: a
//!   plain SELECT of the same rows.
//!
//! Layout: [`cli`] (the options), [`harness`] (measuring and the one report
//! shape), [`db`] (a database of the benchmark's own), [`fixtures`] (what
//! scenarios share), [`scenarios`] (one module each), [`wire`] (the load's
//! HTTP client).

/// mimalloc instead of the system allocator: the profiles of `http` and
/// `rebuild` showed glibc's malloc/free (with its chunk consolidation) as
/// the largest single cost of the process (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod cli;
mod db;
mod fixtures;
mod harness;
mod scenarios;
mod wire;

use clap::Parser;

use cli::{Options, Scenario};

fn main() -> anyhow::Result<()> {
    let options = Options::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if options.scenario == Scenario::Serve {
        return runtime.block_on(scenarios::fanout::serve_child());
    }
    if options.scenario == Scenario::Receive {
        return runtime.block_on(scenarios::webhooks::receive_child());
    }
    let reports = runtime.block_on(scenarios::run(&options))?;
    if options.json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    }
    Ok(())
}
