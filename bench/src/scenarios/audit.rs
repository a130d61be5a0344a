//! `audit`: what an auditor waits for, on a log of `--events` events
//! (filled as `rebuild` fills it):
//! - `verify`: the hash chain recomputed over the whole log
//!   (`meetings::audit::verify_log`), against reading the same rows
//!   through the store and doing nothing else;
//! - `export`: the whole log written as NDJSON to a file
//!   (`meetings::audit::export`), against PostgreSQL's own
//!   `COPY (SELECT ...) TO STDOUT` of the same rows into a file (on SQLite,
//!   against a plain SELECT);
//! - `as-of`: a meeting of 10k events folded up to a random position of
//!   it (`meetings::audit::as_of`), 200 times: p50, p99 and the slowest
//!   (the first look folds from the meeting's first event).

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use events::{Append, EventStore, MeetingId};
use futures::TryStreamExt;

use super::rebuild::{fill, meeting_of, select_all};
use crate::cli::Options;
use crate::db::{Backend, BenchDb};
use crate::fixtures::open_log;
use crate::harness::{Figures, Report, percentile};

/// Joins (each with its leave) of the meeting `as-of` folds: ~10k events.
const AS_OF_JOINS: usize = 4_999;
const AS_OF_CALLS: usize = 200;

pub async fn report(options: &Options) -> anyhow::Result<Vec<Report>> {
    let (mut verify, mut read, mut export, mut copy, mut as_of) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..options.runs {
        let db = BenchDb::create(options.database).await?;
        let store = open_log(&db.url, 8).await?;
        let head = fill(store.clone(), options.events).await?;
        eprintln!("audit: the log holds {head} events");

        let started = Instant::now();
        let verified = meetings::audit::verify_log(&store, None, None).await?;
        anyhow::ensure!(verified.verified, "the log does not verify: {verified:?}");
        verify.push(Figures::from([("events_per_sec", per_sec(head, started))]));
        read.push(Figures::from([(
            "events_per_sec",
            read_all(store.as_ref()).await?,
        )]));

        let path =
            std::env::temp_dir().join(format!("bench-export-{}.ndjson", uuid::Uuid::new_v4()));
        let started = Instant::now();
        let mut file = std::io::BufWriter::new(std::fs::File::create(&path)?);
        let written = meetings::audit::export(store.as_ref(), 0, None, &mut file).await?;
        drop(file);
        export.push(Figures::from([(
            "events_per_sec",
            per_sec(written as i64, started),
        )]));
        std::fs::remove_file(&path).ok();
        copy.push(Figures::from([(
            "events_per_sec",
            copy_out(options.database, &db.url, head).await?,
        )]));

        as_of.push(as_of_sample(store.clone()).await?);
        drop(store);
        db.drop_db().await?;
    }
    let copy_name = match options.database {
        Backend::Postgres => "COPY TO (PostgreSQL)",
        Backend::Sqlite => "plain SELECT",
    };
    Ok(vec![
        Report::new("verify", verify)
            .against("reading the rows", read)
            .ratio("events_per_sec", "events_per_sec"),
        Report::new("export", export)
            .against(copy_name, copy)
            .ratio("events_per_sec", "events_per_sec"),
        Report::new("as-of", as_of),
    ])
}

fn per_sec(events: i64, started: Instant) -> f64 {
    events as f64 / started.elapsed().as_secs_f64()
}

/// Reads the whole log through the store, as verify does, and nothing
/// else: events/s.
async fn read_all(store: &dyn EventStore) -> anyhow::Result<f64> {
    let started = Instant::now();
    let (mut after, mut read) = (0, 0);
    loop {
        let page = store.read_all(after, meetings::audit::PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.position;
        read += page.len() as i64;
    }
    Ok(per_sec(read, started))
}

/// The same rows, written to a file by the database's own export.
async fn copy_out(backend: Backend, url: &str, head: i64) -> anyhow::Result<f64> {
    if backend == Backend::Sqlite {
        return select_all(backend, url).await;
    }
    let pool = meetings::db::connect(url, 1).await?;
    let path = std::env::temp_dir().join(format!("bench-copy-{}.txt", uuid::Uuid::new_v4()));
    let started = Instant::now();
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path)?);
    let mut conn = pool.acquire().await?;
    let mut stream = conn
        .copy_out_raw(
            "COPY (SELECT position, event_id, stream_id, stream_version, event_type, \
             schema_version, data, metadata, recorded_at, prev_hash, hash FROM events \
             ORDER BY position) TO STDOUT",
        )
        .await?;
    while let Some(chunk) = stream.try_next().await? {
        file.write_all(&chunk)?;
    }
    drop(stream);
    file.flush()?;
    let rate = per_sec(head, started);
    std::fs::remove_file(&path).ok();
    Ok(rate)
}

/// A meeting of ~10k events, folded up to random positions of it.
async fn as_of_sample(store: Arc<dyn EventStore>) -> anyhow::Result<Figures> {
    let id = MeetingId::new();
    let (events, alias) = meeting_of(id, AS_OF_JOINS)?;
    let mut append = Append::new(id.stream_id(), 0, events);
    append.alias = Some(alias);
    let appended = store
        .append(append)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let last = match appended {
        events::Appended::Committed { last_position, .. } => last_position,
        other => anyhow::bail!("the meeting was not written: {other:?}"),
    };
    let first = last - (3 + 2 * AS_OF_JOINS as i64) + 1;
    let mut times = Vec::with_capacity(AS_OF_CALLS);
    for n in 0..AS_OF_CALLS {
        let position = first + (n as i64 * 7919) % (last - first + 1);
        let started = Instant::now();
        let then = meetings::audit::as_of(
            store.as_ref(),
            id,
            meetings::audit::Until::Position(position),
        )
        .await?;
        times.push(started.elapsed());
        anyhow::ensure!(then.is_some(), "no meeting at {position}");
    }
    // The first look at the meeting folds from its first event (and keeps
    // past snapshots); the others from the nearest one before them.
    let cold = times.iter().copied().max().unwrap_or_default();
    times.sort();
    Ok(Figures::from([
        ("events", (last - first + 1) as f64),
        ("p50_ms", percentile(&times, 0.50)),
        ("p99_ms", percentile(&times, 0.99)),
        ("max_ms", cold.as_secs_f64() * 1000.0),
    ]))
}
