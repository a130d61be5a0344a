//! What the scenarios share: callers and contexts, meetings set up through
//! the real command handler, the join command most scenarios measure, and
//! the event log opened as the server opens it.

use std::sync::Arc;

use anyhow::Context as _;
use command::CommandHandler;
use command::meeting::admission::JoinMeeting;
use command::meeting::lifecycle::ScheduleMeeting;
use command::meeting::{Caller, Command, Context};
use events::settings::SettingsChange;
use events::{MeetingId, ParticipantId, RoomCode};

/// The token key of every server a scenario starts (32 bytes or more, as
/// the server requires).
pub const SECRET: &str = "bench-secret-of-at-least-32-bytes!";

/// Joins per meeting before a worker moves to its next meeting (the limit
/// is 1000 present).
pub const JOINS_PER_MEETING: usize = 900;

pub fn caller(user: String) -> Caller {
    Caller::person(user.clone(), user)
}

pub fn context(user: String) -> Context {
    Context {
        caller: caller(user),
        at: chrono::Utc::now(),
        request_id: None,
    }
}

/// Creates `count` active meetings with room for 1000, concurrently.
pub async fn active_meetings(
    handler: &CommandHandler,
    count: usize,
) -> anyhow::Result<Vec<MeetingId>> {
    let create = |id: MeetingId| async move {
        let command = ScheduleMeeting {
            meeting_id: id,
            room_code: RoomCode::random(&mut rand::thread_rng()),
            title: "bench".into(),
            description: None,
            starts_at: None,
            ends_at: None,
            max_participants: Some(1000),
            settings: SettingsChange::default(),
            start_now: true,
            password_id: None,
        };
        handler
            .schedule(&context("host".into()), command, None)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        anyhow::Ok(id)
    };
    let ids: Vec<MeetingId> = (0..count).map(|_| MeetingId::new()).collect();
    for chunk in ids.chunks(256) {
        futures::future::try_join_all(chunk.iter().map(|id| create(*id))).await?;
    }
    Ok(ids)
}

/// Meetings for each worker, enough for `seconds` at a generous rate.
pub async fn meetings_per_worker(
    handler: &CommandHandler,
    concurrency: usize,
    seconds: f64,
) -> anyhow::Result<Arc<Vec<Vec<MeetingId>>>> {
    const CEILING_OPS_PER_SEC: f64 = 40_000.0;
    let per_worker = (CEILING_OPS_PER_SEC * seconds / concurrency as f64 / JOINS_PER_MEETING as f64)
        .ceil() as usize
        + 1;
    let all = active_meetings(handler, per_worker * concurrency).await?;
    Ok(Arc::new(
        all.chunks(per_worker).map(<[_]>::to_vec).collect(),
    ))
}

pub fn meeting_for(
    meetings: &[Vec<MeetingId>],
    worker: usize,
    n: usize,
) -> anyhow::Result<MeetingId> {
    meetings[worker]
        .get(n / JOINS_PER_MEETING)
        .copied()
        .context("the benchmark ran out of prepared meetings")
}

/// A join of a new seat.
pub fn join_command() -> Command {
    Command::Join(JoinMeeting {
        participant_id: ParticipantId::new(),
        device_type: Some("desktop".into()),
        ..Default::default()
    })
}

/// One join of a new user, through the in-process command handler.
pub async fn join_in_process(
    handler: &CommandHandler,
    meeting: MeetingId,
    user: String,
) -> anyhow::Result<()> {
    let command = join_command();
    handler
        .execute(meeting, &context(user), command, None)
        .await
        .map_err(|e| anyhow::anyhow!("join failed: {e}"))?;
    Ok(())
}

/// The event log with a pool of `connections`, on a fresh database.
pub async fn open_log(url: &str, connections: u32) -> anyhow::Result<Arc<dyn events::EventStore>> {
    let mut config =
        meetings::config::Config::for_tests(url.into(), None, String::new(), String::new());
    config.database_max_connections = connections;
    Ok(meetings::app::open_store(&config).await?.store)
}

/// A command handler on [`open_log`].
pub async fn open_handler(url: &str, connections: u32) -> anyhow::Result<Arc<CommandHandler>> {
    Ok(Arc::new(CommandHandler::new(
        open_log(url, connections).await?,
    )))
}
