//! `rebuild`: replays the log into every read model from position 0 and
//! measures events/s; baseline in the same run: reading the same rows with
//! a plain `SELECT ... ORDER BY position` and nothing else.
//!
//! The log is filled through the real domain (`decide`/`evolve`) with
//! meetings of 99 events each: scheduled, started, 48 joins and 48 leaves
//! by distinct users, ended; appended in chunks of 99 events per append
//! from 32 concurrent writers, so filling is not what is measured.

use std::sync::Arc;
use std::time::Instant;

use command::meeting::lifecycle::ScheduleMeeting;
use command::meeting::{Command, Meeting, decide, evolve};
use events::settings::SettingsChange;
use events::{Append, EventStore, MeetingId, NewEvent, RoomCode};
use futures::TryStreamExt;
use projections::Projection;

use crate::cli::Options;
use crate::db::{Backend, BenchDb};
use crate::fixtures::{context, join_command, open_log};
use crate::harness::{Figures, Report};

const JOINS_PER_MEETING: usize = 48;
const EVENTS_PER_MEETING: usize = 3 + 2 * JOINS_PER_MEETING;
const WRITERS: usize = 32;

struct Measured {
    events: i64,
    replay_per_sec: f64,
    select_per_sec: f64,
    /// Where the replay's time goes: reading the log through the store
    /// (rows to envelopes) and decoding the envelopes into typed events.
    store_read_per_sec: f64,
    decode_per_sec: f64,
}

pub async fn report(options: &Options) -> anyhow::Result<Vec<Report>> {
    let (mut measured, mut baseline) = (Vec::new(), Vec::new());
    for _ in 0..options.runs {
        let m = sample(options.database, options.events).await?;
        measured.push(Figures::from([
            ("events", m.events as f64),
            ("replay_events_per_sec", m.replay_per_sec),
            ("store_read_events_per_sec", m.store_read_per_sec),
            ("decode_events_per_sec", m.decode_per_sec),
        ]));
        baseline.push(Figures::from([("rows_per_sec", m.select_per_sec)]));
    }
    Ok(vec![
        Report::new("rebuild", measured)
            .against("plain SELECT", baseline)
            .ratio("replay_events_per_sec", "rows_per_sec"),
    ])
}

/// Reads the whole log through the store in replay-sized batches, then
/// decodes every event: events/s of each step.
async fn read_and_decode(store: &dyn EventStore) -> anyhow::Result<(f64, f64)> {
    let started = Instant::now();
    let mut all = Vec::new();
    let mut after = 0;
    loop {
        let batch = store
            .read_all(after, projections::runner::REPLAY_BATCH)
            .await?;
        let Some(last) = batch.last() else { break };
        after = last.position;
        all.extend(batch);
    }
    let read = all.len() as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    for event in &all {
        event.decode()?;
    }
    Ok((read, all.len() as f64 / started.elapsed().as_secs_f64()))
}

/// One meeting's whole life as new events, decided by the domain.
fn meeting_events(id: MeetingId) -> anyhow::Result<(Vec<NewEvent>, String)> {
    meeting_of(id, JOINS_PER_MEETING)
}

/// A meeting's life with `joins` joins, each followed by a leave: about
/// `3 + 2 * joins` events.
pub(super) fn meeting_of(id: MeetingId, joins: usize) -> anyhow::Result<(Vec<NewEvent>, String)> {
    let room_code = RoomCode::random(&mut rand::thread_rng());
    let alias = room_code.alias();
    let mut commands = vec![(
        "host".to_owned(),
        Command::Schedule(ScheduleMeeting {
            meeting_id: id,
            room_code,
            title: "rebuild".into(),
            description: None,
            starts_at: None,
            ends_at: None,
            max_participants: Some(100),
            settings: SettingsChange::default(),
            start_now: true,
            password_id: None,
        }),
    )];
    for n in 0..joins {
        commands.push((format!("u{n}"), join_command()));
        commands.push((format!("u{n}"), Command::Leave));
    }
    commands.push(("host".to_owned(), Command::End));
    let mut state: Option<Meeting> = None;
    let mut out = Vec::with_capacity(3 + 2 * joins);
    for (user, command) in commands {
        let ctx = context(user);
        let metadata = ctx.metadata(events::CommandId::new());
        let events = decide(state.as_ref(), &ctx, &command)
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .events;
        for event in &events {
            out.push(NewEvent::new(event, &metadata));
            state = evolve(state, event);
        }
    }
    Ok((out, alias))
}

/// Fills the log with about `total` events; returns the head.
pub(super) async fn fill(store: Arc<dyn EventStore>, total: usize) -> anyhow::Result<i64> {
    let meetings = total.div_ceil(EVENTS_PER_MEETING);
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let store = store.clone();
            tokio::spawn(async move {
                for _ in (writer..meetings).step_by(WRITERS) {
                    let id = MeetingId::new();
                    let (events, alias) = meeting_events(id)?;
                    let mut append = Append::new(id.stream_id(), 0, events);
                    append.alias = Some(alias);
                    store
                        .append(append)
                        .await
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for writer in writers {
        writer.await??;
    }
    Ok(store.head_position().await?)
}

/// The plain SELECT of every row of the log, in order; rows/s.
pub(super) async fn select_all(backend: Backend, url: &str) -> anyhow::Result<f64> {
    const SQL: &str = "SELECT position, event_id, stream_id, stream_version, event_type, \
                       schema_version, data, metadata, recorded_at, prev_hash, hash FROM events \
                       ORDER BY position";
    let started = Instant::now();
    let rows = if backend == Backend::Sqlite {
        let pool = eventlog::sqlite::connect(url, 1).await?;
        sqlx::query(SQL)
            .fetch(&pool)
            .try_fold(0u64, |n, _| async move { Ok(n + 1) })
            .await?
    } else {
        let pool = meetings::db::connect(url, 1).await?;
        sqlx::query(SQL)
            .fetch(&pool)
            .try_fold(0u64, |n, _| async move { Ok(n + 1) })
            .await?
    };
    Ok(rows as f64 / started.elapsed().as_secs_f64())
}

async fn sample(backend: Backend, total: usize) -> anyhow::Result<Measured> {
    let db = BenchDb::create(backend).await?;
    let store = open_log(&db.url, 8).await?;
    let head = fill(store.clone(), total).await?;
    let config =
        meetings::config::Config::for_tests(db.url.clone(), None, String::new(), String::new());
    let reads = meetings::app::open_reads(&config).await?;

    eprintln!("rebuild: the log holds {head} events; replaying");
    let started = Instant::now();
    let reached = projections::runner::replay(&reads, store.clone(), &Projection::ALL).await?;
    let replay_secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(reached == head, "the replay reached {reached}, not {head}");
    let select_per_sec = select_all(backend, &db.url).await?;
    let (store_read_per_sec, decode_per_sec) = read_and_decode(store.as_ref()).await?;

    reads.close().await;
    drop(store);
    db.drop_db().await?;
    Ok(Measured {
        events: head,
        replay_per_sec: head as f64 / replay_secs,
        select_per_sec,
        store_read_per_sec,
        decode_per_sec,
    })
}
