//! One module per scenario, each measuring itself beside a baseline in the
//! same runs and answering [`Report`]s.

mod append;
mod audit;
mod contention;
pub mod fanout;
mod http;
mod latency;
mod long_stream;
mod rebuild;
mod tokens;
pub mod webhooks;

use crate::cli::{Options, Scenario};
use crate::harness::Report;

/// Runs the scenario (every one, in order, for `all`), printing each
/// report as it is done unless the output is JSON.
pub async fn run(options: &Options) -> anyhow::Result<Vec<Report>> {
    let chosen: &[Scenario] = match options.scenario {
        Scenario::All => &[
            Scenario::Append,
            Scenario::Contention,
            Scenario::Http,
            Scenario::LongStream,
            Scenario::Latency,
            Scenario::Fanout,
            Scenario::Rebuild,
            Scenario::Tokens,
            Scenario::Audit,
            Scenario::Webhooks,
        ],
        ref one => std::slice::from_ref(one),
    };
    let mut reports = Vec::new();
    for scenario in chosen {
        let done = match scenario {
            Scenario::Append => append::report(options).await?,
            Scenario::Contention => contention::report(options).await?,
            Scenario::Http => http::report(options).await?,
            Scenario::LongStream => long_stream::report(options).await?,
            Scenario::Latency => latency::report(options).await?,
            Scenario::Fanout => fanout::report(options).await?,
            Scenario::Rebuild => rebuild::report(options).await?,
            Scenario::Tokens => tokens::report(options).await?,
            Scenario::Audit => audit::report(options).await?,
            Scenario::Webhooks => webhooks::report(options).await?,
            Scenario::All | Scenario::Serve | Scenario::Receive => {
                anyhow::bail!("{scenario:?} is not a scenario of its own")
            }
        };
        if !options.json {
            done.iter().for_each(Report::print);
        }
        reports.extend(done);
    }
    Ok(reports)
}
