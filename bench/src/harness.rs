//! Measuring and reporting: [`measure`] runs an operation from concurrent
//! workers for a while; every scenario answers with [`Report`]s of one
//! shape (named figures per run, the baseline's figures from the same
//! runs, the headline ratio), printed as text or as one JSON array.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

/// Named figures of one run (`ops_per_sec`, `p99_ms`, ...).
pub type Figures = BTreeMap<&'static str, f64>;

/// Throughput and latency of one measurement.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// Operations measured.
    pub ops: usize,
    pub ops_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

impl Sample {
    pub fn figures(&self) -> Figures {
        Figures::from([
            ("ops_per_sec", self.ops_per_sec),
            ("p50_ms", self.p50_ms),
            ("p99_ms", self.p99_ms),
        ])
    }
}

/// Runs `op(worker, n)` from `concurrency` workers for `seconds` and
/// measures it; errors abort the benchmark.
pub async fn measure<F, Fut>(concurrency: usize, seconds: f64, op: F) -> anyhow::Result<Sample>
where
    F: Fn(usize, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let op = Arc::new(op);
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|worker| {
            let (op, stop) = (op.clone(), stop.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(4096);
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    op(worker, n).await?;
                    latencies.push(t.elapsed());
                    n += 1;
                }
                anyhow::Ok(latencies)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    for worker in workers {
        latencies.extend(worker.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    Ok(Sample {
        ops: latencies.len(),
        ops_per_sec: latencies.len() as f64 / elapsed,
        p50_ms: percentile(&latencies, 0.50),
        p99_ms: percentile(&latencies, 0.99),
    })
}

/// The `p` quantile of sorted durations, in milliseconds (0 when empty).
pub fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p) as usize).min(sorted.len() - 1);
    sorted[i].as_secs_f64() * 1000.0
}

/// (min, median, max) of some values (zeros when there are none).
pub fn spread(values: impl IntoIterator<Item = f64>) -> (f64, f64, f64) {
    let mut values: Vec<f64> = values.into_iter().collect();
    if values.is_empty() {
        return (0.0, 0.0, 0.0);
    }
    values.sort_by(f64::total_cmp);
    (
        values[0],
        values[values.len() / 2],
        values[values.len() - 1],
    )
}

/// What one scenario measured over its runs.
#[derive(Debug, Serialize)]
pub struct Report {
    pub scenario: &'static str,
    /// Concurrent clients (workers, writers, connections), where it applies.
    pub concurrency: Option<usize>,
    pub runs: Vec<Figures>,
    /// What was measured beside it in the same runs.
    pub baseline: Option<Baseline>,
    /// The headline: this figure of each run over the baseline's.
    pub ratio: Option<Ratio>,
}

#[derive(Debug, Serialize)]
pub struct Baseline {
    pub name: &'static str,
    pub runs: Vec<Figures>,
}

#[derive(Debug, Serialize)]
pub struct Ratio {
    pub figure: &'static str,
    pub over: &'static str,
    /// Per run.
    pub runs: Vec<f64>,
}

impl Report {
    pub fn new(scenario: &'static str, runs: Vec<Figures>) -> Self {
        Self {
            scenario,
            concurrency: None,
            runs,
            baseline: None,
            ratio: None,
        }
    }

    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = Some(concurrency);
        self
    }

    /// What was measured beside it in the same runs.
    pub fn against(mut self, name: &'static str, runs: Vec<Figures>) -> Self {
        self.baseline = Some(Baseline { name, runs });
        self
    }

    /// The headline: `figure` of each run over the baseline's `over`.
    pub fn ratio(mut self, figure: &'static str, over: &'static str) -> Self {
        let baseline = self.baseline.as_ref().map_or(&[][..], |b| &b.runs[..]);
        let runs = self
            .runs
            .iter()
            .zip(baseline)
            .map(|(measured, base)| {
                measured.get(figure).copied().unwrap_or(f64::NAN)
                    / base.get(over).copied().unwrap_or(f64::NAN)
            })
            .collect();
        self.ratio = Some(Ratio { figure, over, runs });
        self
    }

    /// One line: every figure as median (min-max), the baseline's, the
    /// ratio.
    pub fn print(&self) {
        let mut line = self.scenario.to_owned();
        if let Some(c) = self.concurrency {
            line += &format!(" c={c}");
        }
        line += &format!(": {}", figures_text(&self.runs));
        if let Some(baseline) = &self.baseline {
            line += &format!(" | {}: {}", baseline.name, figures_text(&baseline.runs));
        }
        if let Some(ratio) = &self.ratio {
            let (lo, med, hi) = spread(ratio.runs.iter().copied());
            line += &format!(
                " | ratio {}/{} {med:.3} ({lo:.3}-{hi:.3})",
                ratio.figure, ratio.over
            );
        }
        println!("{line}");
    }
}

fn figures_text(runs: &[Figures]) -> String {
    let Some(first) = runs.first() else {
        return String::new();
    };
    first
        .keys()
        .map(|name| {
            let (lo, med, hi) = spread(runs.iter().filter_map(|r| r.get(name).copied()));
            format!("{name} {} ({}-{})", number(med), number(lo), number(hi))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Big numbers whole, small ones with two decimals.
fn number(value: f64) -> String {
    if value.abs() >= 100.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_states_the_median_and_the_ratio_per_run() {
        let run = |ops: f64| Figures::from([("ops_per_sec", ops)]);
        let report = Report::new("append", vec![run(10.0), run(30.0), run(20.0)])
            .against("raw INSERT", vec![run(10.0), run(10.0), run(40.0)])
            .ratio("ops_per_sec", "ops_per_sec");
        let ratio = report.ratio.as_ref().unwrap();
        assert_eq!(ratio.runs, vec![1.0, 3.0, 0.5]);
        assert_eq!(spread(ratio.runs.iter().copied()), (0.5, 1.0, 3.0));
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["baseline"]["runs"][2]["ops_per_sec"], 40.0);
        assert_eq!(
            figures_text(&report.runs),
            "ops_per_sec 20.00 (10.00-30.00)"
        );
    }
}
