//! `long-stream`: join/leave latency on a meeting whose stream already
//! holds 10k events; baseline in the same run: the same on a fresh meeting
//! of the same database. Both are measured through a command handler that
//! has never seen the meeting (as after a restart), so the first command
//! also loads the stream; that cold load is reported on its own.

use std::time::{Duration, Instant};

use command::CommandHandler;
use command::meeting::Command;
use events::MeetingId;

use crate::{BenchDb, Sample, active_meetings, context, join_command, measure, open_log};

pub struct Measured {
    pub long: Sample,
    pub fresh: Sample,
    /// The first command of a handler that has not seen the meeting.
    pub long_cold: Duration,
    pub fresh_cold: Duration,
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

/// The first command through a new handler (cold), then `seconds` of
/// sequential join/leave commands.
async fn walk(
    store: &std::sync::Arc<dyn events::EventStore>,
    meeting: MeetingId,
    seconds: f64,
) -> anyhow::Result<(Duration, Sample)> {
    let handler = std::sync::Arc::new(CommandHandler::new(store.clone()));
    let started = Instant::now();
    command(&handler, meeting, 0).await?; // a join
    let cold = started.elapsed();
    let sample = measure(1, seconds, move |_, n| {
        let handler = handler.clone();
        async move { command(&handler, meeting, n + 1).await }
    })
    .await?;
    Ok((cold, sample))
}

pub async fn sample(stream_events: usize, seconds: f64) -> anyhow::Result<Measured> {
    let db = BenchDb::create().await?;
    let store = open_log(&db.url, 4).await?;
    let writer = CommandHandler::new(store.clone());
    let ids = active_meetings(&writer, 2).await?;
    let (long, fresh) = (ids[0], ids[1]);
    // scheduled + started are the first 2 events; an even number of
    // join/leave commands leaves the walker absent.
    for n in 0..(stream_events.saturating_sub(2) & !1) {
        command(&writer, long, n).await?;
    }
    let (fresh_cold, fresh_sample) = walk(&store, fresh, seconds).await?;
    let (long_cold, long_sample) = walk(&store, long, seconds).await?;
    drop((writer, store));
    db.drop_db().await?;
    Ok(Measured {
        long: long_sample,
        fresh: fresh_sample,
        long_cold,
        fresh_cold,
    })
}
