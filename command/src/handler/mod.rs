//! Runs commands against the event log.
//!
//! For each command: take the meeting's [`slot`] (commands on one meeting
//! run one at a time in this process, so they do not conflict with each
//! other), decide on the cached state, and append with the expected
//! version ([`single`]). The log is read only when the cache cannot be
//! trusted: on a cache miss, on a conflict (another process appended:
//! catch up and decide again), for a while after a conflict (the log then
//! decides the command again itself, [`redecide`]), and before answering
//! a refusal or a no-op decided on cached state, because those append
//! nothing and so are never checked by the log. Appends from all meetings
//! meet in the store's group committer, so throughput scales with
//! concurrency.
//!
//! A meeting other nodes write too may have its commands run on its
//! holder ([`crate::route`]): [`CommandHandler::execute`] sends them
//! there, and the holder writes what queued together ([`together`]).
//! Every command gets an id here, which names the events it decides
//! wherever it runs, so the log takes a command once.

mod redecide;
mod single;
mod slot;
mod together;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use events::{
    CommandId, EventId, EventStore, MeetingEvent, MeetingId, Metadata, NewEvent, RoomCode,
};
use rand::SeedableRng;

use crate::error::AppError;
use crate::meeting::{Command, Context, Meeting, decide};
use crate::outcome::{Executed, IdempotencyKey};
use crate::route::{Forwarded, Route, Router};
pub use single::CONFLICT_BUDGET;
use single::Outcome;
pub use slot::SNAPSHOT_MIN_EVENTS;
use slot::{Slot, Slots};

/// Attempts to find a free room code.
const ROOM_CODE_ATTEMPTS: usize = 8;

/// Counts a command by its name and outcome, and times it (the metrics
/// `meetings_commands_total` and `meetings_command_duration_seconds`).
fn observe(
    command: &'static str,
    started: std::time::Instant,
    result: &Result<Executed, AppError>,
) {
    let outcome = match result {
        Ok(_) => "ok",
        Err(AppError::Domain(_) | AppError::IdempotencyKeyReused) => "refused",
        Err(AppError::NotFound) => "not_found",
        Err(AppError::Conflict) => "conflict",
        Err(AppError::Infra(_)) => "error",
    };
    metrics::counter!("meetings_commands_total", "command" => command, "outcome" => outcome)
        .increment(1);
    metrics::histogram!("meetings_command_duration_seconds", "command" => command)
        .record(started.elapsed().as_secs_f64());
}

/// The events command `id` decided, each named after the command and its
/// place among them ([`EventId::of_command`]).
fn named(id: CommandId, events: &[MeetingEvent], metadata: &Metadata) -> Vec<NewEvent> {
    events
        .iter()
        .enumerate()
        .map(|(i, e)| NewEvent::with_id(EventId::of_command(id, i), e, metadata))
        .collect()
}

pub struct CommandHandler {
    store: Arc<dyn EventStore>,
    slots: Slots,
    /// Version conflicts met (and retried) since start.
    conflicts: AtomicU64,
    /// Where a meeting other nodes write too has its commands run (none:
    /// this node is the deployment, or runs everything itself).
    router: Option<Arc<dyn Router>>,
    /// Commands sent to another node and answered there, since start.
    forwarded: AtomicU64,
}

impl CommandHandler {
    pub fn new(store: Arc<dyn EventStore>) -> Self {
        Self {
            store,
            slots: Slots::default(),
            conflicts: AtomicU64::new(0),
            router: None,
            forwarded: AtomicU64::new(0),
        }
    }

    /// Runs the commands of meetings other nodes write too where `router`
    /// says (see [`crate::route`]).
    pub fn with_router(mut self, router: Arc<dyn Router>) -> Self {
        self.router = Some(router);
        self
    }

    /// How many commands were executed by another node (the meeting's
    /// holder) and answered from there, since start.
    pub fn forwarded(&self) -> u64 {
        self.forwarded.load(Ordering::Relaxed)
    }

    /// How many appends met a version conflict (another process wrote the
    /// meeting first) and were decided again, since start.
    pub fn conflicts(&self) -> u64 {
        self.conflicts.load(Ordering::Relaxed)
    }

    pub fn store(&self) -> &Arc<dyn EventStore> {
        &self.store
    }

    /// Resolves a path segment (a meeting id or a room code) to a meeting.
    pub async fn resolve(&self, reference: &str) -> Result<MeetingId, AppError> {
        if let Ok(id) = reference.parse::<MeetingId>() {
            return Ok(id);
        }
        let code = RoomCode::parse(reference).ok_or(AppError::NotFound)?;
        let stream = self.store.resolve_alias(&code.alias()).await?;
        stream
            .as_ref()
            .and_then(MeetingId::from_stream_id)
            .ok_or(AppError::NotFound)
    }

    /// Looks at the meeting as the log has it now (the cache, brought up to
    /// the log's tail first); `None` when it does not exist.
    pub async fn inspect<R>(
        &self,
        meeting_id: MeetingId,
        look: impl FnOnce(Option<&Meeting>) -> R,
    ) -> Result<R, AppError> {
        let slot = self.slots.of(meeting_id);
        let mut slot = slot.lock().await;
        slot.refresh(&self.store, &meeting_id.stream_id()).await?;
        Ok(look(slot.state.as_ref()))
    }

    /// Decides `command` on the meeting as the log has it now, appending
    /// nothing: whether it would be accepted. For work only an accepted
    /// command may cause (storing a password's hash), so the rule that
    /// refuses it still lives once, in `decide`.
    pub async fn check(
        &self,
        meeting_id: MeetingId,
        ctx: &Context,
        command: &Command,
    ) -> Result<(), AppError> {
        self.inspect(meeting_id, |meeting| decide(meeting, ctx, command))
            .await?
            .map(drop)
            .map_err(AppError::Domain)
    }

    /// Schedules a new meeting under a fresh room code.
    pub async fn schedule(
        &self,
        ctx: &Context,
        mut command: crate::meeting::lifecycle::ScheduleMeeting,
        idempotency: Option<IdempotencyKey>,
    ) -> Result<Executed, AppError> {
        let started = std::time::Instant::now();
        let id = CommandId::new();
        let result = self.schedule_once(id, ctx, &mut command, idempotency).await;
        observe("schedule", started, &result);
        result
    }

    async fn schedule_once(
        &self,
        id: CommandId,
        ctx: &Context,
        command: &mut crate::meeting::lifecycle::ScheduleMeeting,
        idempotency: Option<IdempotencyKey>,
    ) -> Result<Executed, AppError> {
        let mut rng = rand::rngs::StdRng::from_entropy();
        for _ in 0..ROOM_CODE_ATTEMPTS {
            let schedule = Command::Schedule(command.clone());
            match self
                .run(command.meeting_id, id, ctx, schedule, idempotency.clone())
                .await?
            {
                Outcome::Done(done) => return Ok(*done),
                Outcome::AliasTaken => command.room_code = RoomCode::random(&mut rng),
            }
        }
        Err(AppError::Conflict)
    }

    /// Runs one command on one meeting: on the meeting's holder when
    /// other nodes write it too, else here. The command gets an id of its
    /// own here, which names the events it decides wherever it runs.
    pub async fn execute(
        &self,
        meeting_id: MeetingId,
        ctx: &Context,
        command: Command,
        idempotency: Option<IdempotencyKey>,
    ) -> Result<Executed, AppError> {
        let id = CommandId::new();
        let Some(router) = &self.router else {
            return self
                .execute_here(id, meeting_id, ctx, command, idempotency)
                .await;
        };
        let Route::There(node) = router.route(meeting_id).await else {
            return self
                .execute_here(id, meeting_id, ctx, command, idempotency)
                .await;
        };
        let name = command.name();
        let forwarded = Forwarded {
            command_id: id,
            meeting_id,
            ctx: ctx.clone(),
            command,
            idempotency,
        };
        match router.forward(&node, &forwarded).await {
            // Counted in `meetings_commands_total` by the node that ran it.
            Some(result) => {
                self.forwarded.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("meetings_commands_forwarded_total", "command" => name)
                    .increment(1);
                result
            }
            // Nobody took it, or the holder is gone: run here. Whatever
            // the holder may have committed of it has the same event ids,
            // so the log takes it once.
            None => {
                let Forwarded {
                    command,
                    idempotency,
                    ..
                } = forwarded;
                self.execute_here(id, meeting_id, ctx, command, idempotency)
                    .await
            }
        }
    }

    /// Runs command `id` on one meeting on this node (what a holder does
    /// with the commands forwarded to it).
    pub async fn execute_here(
        &self,
        id: CommandId,
        meeting_id: MeetingId,
        ctx: &Context,
        command: Command,
        idempotency: Option<IdempotencyKey>,
    ) -> Result<Executed, AppError> {
        let (name, started) = (command.name(), std::time::Instant::now());
        let result = match self.run(meeting_id, id, ctx, command, idempotency).await {
            Ok(Outcome::Done(done)) => Ok(*done),
            // Only a schedule claims an alias, and it goes through `schedule`.
            Ok(Outcome::AliasTaken) => Err(AppError::Conflict),
            Err(e) => Err(e),
        };
        observe(name, started, &result);
        result
    }

    /// Another node writes this meeting too: for a while, read the log's
    /// tail before deciding (and let the log decide again), and tell the
    /// router.
    fn contended(&self, meeting_id: MeetingId, slot: &mut Slot) {
        slot.contend();
        if let Some(router) = &self.router {
            router.contended(meeting_id);
        }
    }
}
