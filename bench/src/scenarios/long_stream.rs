//! `long-stream`: join/leave latency on a meeting whose stream already
//! holds 10k events; baseline in the same run: the same on a fresh meeting
//! of the same database. Both are measured through a command handler that
//! has never seen the meeting (as after a restart), so the first command
//! also loads the stream (from its snapshot and the events after it); that
//! cold first command is reported on its own, and over the fresh one's
//! (`cold_long_over_fresh`, target at most 2). And the read a page of the
//! meeting's log costs (`GET /meetings/{m}/events?after=<head-1>&limit=1`,
//! a WebSocket resuming at the head): one event after the last but one,
//! read from the store, on each meeting (`page_long_over_fresh`, target
//! about 1), beside reading the whole stream as the page once did.

use std::time::{Duration, Instant};

use command::CommandHandler;
use command::meeting::Command;
use events::MeetingId;

use crate::cli::Options;
use crate::db::{Backend, BenchDb};
use crate::fixtures::{active_meetings, context, join_command, open_log};
use crate::harness::{Report, Sample, measure};

struct Measured {
    long: Sample,
    fresh: Sample,
    /// The median first command of a handler that has not seen the
    /// meeting.
    long_cold: Duration,
    fresh_cold: Duration,
    /// The median read of one page after the last but one event.
    long_page: Duration,
    fresh_page: Duration,
    /// The median read of the whole long stream.
    long_whole: Duration,
}

pub async fn report(options: &Options) -> anyhow::Result<Vec<Report>> {
    let (mut measured, mut baseline) = (Vec::new(), Vec::new());
    for _ in 0..options.runs {
        let m = sample(options.database, options.stream_events, options.seconds).await?;
        let mut long = m.long.figures();
        long.insert("first_command_cold_ms", m.long_cold.as_secs_f64() * 1000.0);
        long.insert("p99_long_over_fresh", m.long.p99_ms / m.fresh.p99_ms);
        long.insert(
            "cold_long_over_fresh",
            m.long_cold.as_secs_f64() / m.fresh_cold.as_secs_f64(),
        );
        long.insert("stream_events", options.stream_events as f64);
        long.insert("page_ms", m.long_page.as_secs_f64() * 1000.0);
        long.insert(
            "page_long_over_fresh",
            m.long_page.as_secs_f64() / m.fresh_page.as_secs_f64(),
        );
        long.insert("whole_stream_read_ms", m.long_whole.as_secs_f64() * 1000.0);
        let mut fresh = m.fresh.figures();
        fresh.insert("first_command_cold_ms", m.fresh_cold.as_secs_f64() * 1000.0);
        fresh.insert("page_ms", m.fresh_page.as_secs_f64() * 1000.0);
        measured.push(long);
        baseline.push(fresh);
    }
    Ok(vec![
        Report::new("long-stream", measured)
            .concurrency(1)
            .against("fresh meeting", baseline)
            .ratio("ops_per_sec", "ops_per_sec"),
    ])
}

fn alternate(n: usize) -> Command {
    if n % 2 == 0 {
        join_command()
    } else {
        Command::Leave
    }
}

async fn command(handler: &CommandHandler, meeting: MeetingId, n: usize) -> anyhow::Result<()> {
    handler
        .execute(meeting, &context("walker".into()), alternate(n), None)
        .await
        .map_err(|e| anyhow::anyhow!("command failed: {e}"))?;
    Ok(())
}

/// Cold first commands, each through a handler that has never seen the
/// meeting (as after a restart): so many that their median holds still.
const COLD_SAMPLES: usize = 12;

/// The median cold first command on each meeting, measured in turns so
/// that noise hits both alike (an even number: the walker ends absent).
async fn cold(
    store: &std::sync::Arc<dyn events::EventStore>,
    long: MeetingId,
    fresh: MeetingId,
) -> anyhow::Result<(Duration, Duration)> {
    let (mut on_long, mut on_fresh) = (Vec::new(), Vec::new());
    for n in 0..COLD_SAMPLES {
        for (meeting, times) in [(fresh, &mut on_fresh), (long, &mut on_long)] {
            let handler = CommandHandler::new(store.clone());
            let started = Instant::now();
            command(&handler, meeting, n).await?;
            times.push(started.elapsed());
        }
    }
    let median = |mut times: Vec<Duration>| {
        times.sort();
        times[times.len() / 2]
    };
    Ok((median(on_long), median(on_fresh)))
}

/// Reads timed at a time, in turns between the meetings.
const PAGE_SAMPLES: usize = 50;

/// The median of reading one event after the last but one of `long` and
/// of `fresh` (in turns), and of reading the whole of `long`.
async fn pages(
    store: &std::sync::Arc<dyn events::EventStore>,
    long: MeetingId,
    fresh: MeetingId,
) -> anyhow::Result<(Duration, Duration, Duration)> {
    let last_but_one = |meeting: MeetingId| {
        let store = store.clone();
        async move {
            let stream = store.read_stream(&meeting.stream_id(), 0).await?;
            anyhow::Ok(stream[stream.len() - 2].position)
        }
    };
    let (long_after, fresh_after) = (last_but_one(long).await?, last_but_one(fresh).await?);
    let (mut on_long, mut on_fresh, mut whole) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..PAGE_SAMPLES {
        for (meeting, after, times) in [
            (fresh, fresh_after, &mut on_fresh),
            (long, long_after, &mut on_long),
        ] {
            let started = Instant::now();
            let page = store
                .read_stream_after(&meeting.stream_id(), after, 1)
                .await?;
            times.push(started.elapsed());
            anyhow::ensure!(page.len() == 1, "one event after the last but one");
        }
    }
    for _ in 0..5 {
        let started = Instant::now();
        store.read_stream(&long.stream_id(), 0).await?;
        whole.push(started.elapsed());
    }
    let median = |mut times: Vec<Duration>| {
        times.sort();
        times[times.len() / 2]
    };
    Ok((median(on_long), median(on_fresh), median(whole)))
}

/// `seconds` of sequential join/leave commands through one handler.
async fn walk(
    store: &std::sync::Arc<dyn events::EventStore>,
    meeting: MeetingId,
    seconds: f64,
) -> anyhow::Result<Sample> {
    let handler = std::sync::Arc::new(CommandHandler::new(store.clone()));
    measure(1, seconds, move |_, n| {
        let handler = handler.clone();
        async move { command(&handler, meeting, n).await }
    })
    .await
}

async fn sample(backend: Backend, stream_events: usize, seconds: f64) -> anyhow::Result<Measured> {
    let db = BenchDb::create(backend).await?;
    let store = open_log(&db.url, 4).await?;
    let writer = CommandHandler::new(store.clone());
    let ids = active_meetings(&writer, 2).await?;
    let (long, fresh) = (ids[0], ids[1]);
    // scheduled + started are the first 2 events; an even number of
    // join/leave commands leaves the walker absent.
    for n in 0..(stream_events.saturating_sub(2) & !1) {
        command(&writer, long, n).await?;
    }
    let (long_cold, fresh_cold) = cold(&store, long, fresh).await?;
    let fresh_sample = walk(&store, fresh, seconds).await?;
    let long_sample = walk(&store, long, seconds).await?;
    let (long_page, fresh_page, long_whole) = pages(&store, long, fresh).await?;
    drop((writer, store));
    db.drop_db().await?;
    Ok(Measured {
        long: long_sample,
        fresh: fresh_sample,
        long_cold,
        fresh_cold,
        long_page,
        fresh_page,
        long_whole,
    })
}
