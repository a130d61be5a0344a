//! `contention`: join/leave commands on ONE meeting from several writers;
//! baseline in the same run: the same with one writer.
//!
//! Two shapes: the writers share one node's command handler (commands on
//! one meeting queue at its per-meeting slot, so they never conflict), or
//! each writer is a node of its own (its own handler, cache, pool and
//! committer on the same database and, on PostgreSQL, its own NATS
//! connection and router, as `meetings serve` has), so writers meet at the
//! log until the meeting is hot and its commands go to its holder. A
//! command that still conflicts after the handler's retries is counted as
//! an error, not committed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use command::meeting::Command;
use command::{AppError, CommandHandler};

use crate::cli::Options;
use crate::db::{Backend, BenchDb, nats_url};
use crate::fixtures::{active_meetings, context, join_command, open_log};
use crate::harness::{Figures, Report, Sample, measure};

/// `contention` (writers share a node) and `contention-nodes` (each writer
/// is a node), each against one writer of the same shape.
pub async fn report(options: &Options) -> anyhow::Result<Vec<Report>> {
    let mut reports = Vec::new();
    for (scenario, nodes) in [("contention", false), ("contention-nodes", true)] {
        let (mut measured, mut baseline) = (Vec::new(), Vec::new());
        for _ in 0..options.runs {
            let backend = options.database;
            let many = sample(backend, options.writers, nodes, options.seconds).await?;
            measured.push(many.figures());
            baseline.push(sample(backend, 1, nodes, options.seconds).await?.figures());
        }
        reports.push(
            Report::new(scenario, measured)
                .concurrency(options.writers)
                .against("1 writer", baseline)
                .ratio("ops_per_sec", "ops_per_sec"),
        );
    }
    Ok(reports)
}

/// Committed commands, their latency, and the conflicts on the way.
struct Contended {
    sample: Sample,
    /// Appends that met a conflict and were decided again.
    conflicts: u64,
    /// Commands executed by the meeting's holder, another node.
    forwarded: u64,
    /// Commands that gave up with 409 VERSION_CONFLICT.
    errors: u64,
}

impl Contended {
    fn figures(&self) -> Figures {
        let mut figures = self.sample.figures();
        figures.insert("conflicts_retried", self.conflicts as f64);
        figures.insert("errors", self.errors as f64);
        figures.insert("forwarded", self.forwarded as f64);
        figures
    }
}

async fn sample(
    backend: Backend,
    writers: usize,
    nodes: bool,
    seconds: f64,
) -> anyhow::Result<Contended> {
    let db = BenchDb::create(backend).await?;
    let store = open_log(&db.url, 4).await?;
    let meeting = active_meetings(&CommandHandler::new(store.clone()), 1).await?[0];
    let mut handlers = Vec::new();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let prefix = format!("bench{}", uuid::Uuid::new_v4().simple());
    if nodes {
        // The key every node of one deployment shares.
        let seal = live::seal::Seal::new(uuid::Uuid::new_v4().as_bytes());
        let nats = meetings::config::NatsConfig::default();
        for _ in 0..writers {
            let node = CommandHandler::new(open_log(&db.url, 2).await?);
            if backend == Backend::Postgres {
                let client = meetings::nats::connect(&nats_url(), &nats).await?;
                let router = meetings::forward::NatsRouter::new(client, &prefix, seal.clone());
                let node = Arc::new(node.with_router(router.clone()));
                tokio::spawn(router.serve(node.clone(), stopped.clone()));
                handlers.push(node);
            } else {
                handlers.push(Arc::new(node));
            }
        }
    } else {
        let shared = Arc::new(CommandHandler::new(store.clone()));
        handlers.extend(std::iter::repeat_n(shared, writers));
    }
    let handlers = Arc::new(handlers);
    let errors = Arc::new(AtomicU64::new(0));
    let present: Arc<Vec<AtomicBool>> =
        Arc::new((0..writers).map(|_| AtomicBool::new(false)).collect());
    let (shared, failed) = (handlers.clone(), errors.clone());
    // Each writer alternates joining and leaving as its own user.
    let mut sample = measure(writers, seconds, move |writer, _| {
        let (handlers, failed, present) = (shared.clone(), failed.clone(), present.clone());
        async move {
            let here = present[writer].load(Ordering::Relaxed);
            let command = if here { Command::Leave } else { join_command() };
            match handlers[writer]
                .execute(meeting, &context(format!("w{writer}")), command, None)
                .await
            {
                Ok(_) => {
                    present[writer].store(!here, Ordering::Relaxed);
                    Ok(())
                }
                Err(AppError::Conflict) => {
                    failed.fetch_add(1, Ordering::Relaxed);
                    Ok(())
                }
                Err(e) => Err(anyhow::anyhow!("command failed: {e}")),
            }
        }
    })
    .await?;
    let errors = errors.load(Ordering::Relaxed);
    sample.ops_per_sec *= 1.0 - errors as f64 / sample.ops.max(1) as f64;
    let mut conflicts = handlers.iter().map(|h| h.conflicts()).sum();
    let mut forwarded = handlers.iter().map(|h| h.forwarded()).sum();
    if !nodes {
        (conflicts, forwarded) = (handlers[0].conflicts(), 0);
    }
    let _ = stop.send(true);
    drop((handlers, store));
    db.drop_db().await?;
    Ok(Contended {
        sample,
        conflicts,
        forwarded,
        errors,
    })
}
