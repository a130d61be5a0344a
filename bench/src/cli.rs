//! The command line: which scenario, how many runs of how long, and the
//! scenarios' own sizes; every flag has the default the figures in
//! BENCHMARKS.md were measured with.

use clap::{Parser, ValueEnum};

use crate::db::Backend;

/// `cargo run --release --bin bench -- <scenario> [options]`
#[derive(Debug, Parser)]
#[command(
    name = "bench",
    about = "Meetings benchmarks, each beside a baseline measured in the same run"
)]
pub struct Options {
    pub scenario: Scenario,
    /// Runs of each measurement (figures are reported as median, min, max).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Seconds each timed measurement lasts.
    #[arg(long, default_value_t = 3.0)]
    pub seconds: f64,
    /// Concurrency levels of `append`.
    #[arg(long, value_delimiter = ',', default_value = "1,8,64")]
    pub levels: Vec<usize>,
    /// Commands per second of `latency` and `fanout`.
    #[arg(long, default_value_t = 1000.0)]
    pub rate: f64,
    /// Events in the log of `rebuild`.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: usize,
    /// Events in the long stream of `long-stream`.
    #[arg(long, default_value_t = 10_000)]
    pub stream_events: usize,
    /// Writers on one meeting in `contention`.
    #[arg(long, default_value_t = 8)]
    pub writers: usize,
    /// WebSocket subscribers of `fanout`.
    #[arg(long, default_value_t = 10_000)]
    pub subscribers: usize,
    /// Meetings the subscribers of `fanout` spread over.
    #[arg(long, default_value_t = 1_000)]
    pub meetings: usize,
    /// The database every scenario runs on (`sqlite`: the embedded
    /// default, with the in-process bus).
    #[arg(long, value_enum, default_value_t = Backend::Postgres)]
    pub database: Backend,
    /// The edge of `http`'s server: `on` (metrics recorded, and the rate
    /// limits counted with budgets no run reaches) or `bare` (neither), to
    /// measure what they cost. Run each in its own process: the metrics
    /// recorder, once installed, is the process's.
    #[arg(long, value_enum, default_value_t = Edge::On)]
    pub edge: Edge,
    /// One JSON array of every report instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Edge {
    On,
    Bare,
}

impl Edge {
    /// The server's edge settings for this mode.
    pub fn apply(self, config: &mut meetings::config::Config) {
        let edge = std::mem::take(&mut config.edge);
        config.edge = match self {
            // Every request is counted, none is ever refused.
            Self::On => meetings::config::EdgeConfig {
                metrics_enabled: true,
                rate_limit_meetings_per_hour: UNREACHED,
                rate_limit_participants_per_hour: UNREACHED,
                rate_limit_chat_per_minute: UNREACHED,
                rate_limit_status_per_minute: UNREACHED,
                rate_limit_ws_messages_per_minute: UNREACHED,
                ..edge
            },
            Self::Bare => meetings::config::EdgeConfig {
                metrics_enabled: false,
                ..edge.unlimited()
            },
        };
    }
}

/// A budget no benchmark run reaches.
const UNREACHED: u32 = 1_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    Append,
    Contention,
    Http,
    LongStream,
    Latency,
    Fanout,
    Rebuild,
    /// Media tokens and links issued on one core.
    Tokens,
    /// The auditor's waits: verify, export, as-of.
    Audit,
    /// Webhooks out: committed -> received latency, deliveries/s.
    Webhooks,
    /// Every scenario, in this order.
    All,
    /// The server child of `fanout` (this binary, run by itself).
    #[value(name = "__serve", hide = true)]
    Serve,
    /// The webhook receiver child of `webhooks` (this binary, run by
    /// itself).
    #[value(name = "__receive", hide = true)]
    Receive,
}
