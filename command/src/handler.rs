//! Runs commands against the event log.
//!
//! For each command: take the meeting's slot (commands on one meeting run
//! one at a time in this process, so they do not conflict with each other),
//! decide on the cached state, and append with the expected version. The
//! log is read only when the cache cannot be trusted: on a cache miss, on a
//! conflict (another process appended; reload the tail and decide again, up
//! for up to [`CONFLICT_BUDGET`], then [`AppError::Conflict`]; for a while
//! after a conflict it reads the tail before every command on that meeting,
//! so its next command does not race ahead of the others' retries), and before
//! answering a refusal or a no-op decided on cached state, because those
//! append nothing and so are never checked by the log. Appends from all meetings meet in the store's
//! group committer, so throughput scales with concurrency.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use events::{
    Append, AppendError, Appended, CommandId, EventId, EventStore, IdempotencyRecord, MeetingEvent,
    MeetingId, Metadata, NewEvent, RebaseWith, RecordedEvent, RoomCode, Snapshot, StoreError,
    StreamId,
};
use rand::SeedableRng;

use crate::error::AppError;
use crate::meeting::{
    Command, Context, Decision, Meeting, MeetingError, Reply, SNAPSHOT_SCHEMA, decide, evolve,
};
use crate::route::{Forwarded, Route, Router};

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

/// How long a command keeps retrying after conflicts before a conflict is
/// reported. A budget of time, not of attempts: with several processes
/// writing one meeting, each round has one winner, so the rounds a command
/// needs are geometric; a count that is rarely exhausted at 2 writers is
/// often exhausted at 8.
pub const CONFLICT_BUDGET: std::time::Duration = std::time::Duration::from_secs(2);
/// First pause after a conflict; doubled per conflict up to 64x, with
/// jitter, so processes contending for one meeting stop colliding in
/// lockstep without leaving the meeting idle.
const CONFLICT_BACKOFF: std::time::Duration = std::time::Duration::from_micros(250);
/// How long a meeting counts as written by another process after a
/// conflict.
const CONTENDED_FOR: std::time::Duration = std::time::Duration::from_secs(1);
/// Attempts to find a free room code.
const ROOM_CODE_ATTEMPTS: usize = 8;
/// Cached meetings kept before idle ones are dropped.
const CACHE_CAPACITY: usize = 50_000;
/// The fewest events between two snapshots of a meeting.
pub const SNAPSHOT_MIN_EVENTS: usize = 32;

/// A client's idempotency key for one request.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct IdempotencyKey {
    pub scope: String,
    pub key: String,
    pub fingerprint: String,
}

/// A command that succeeded.
#[derive(Debug, Clone)]
pub struct Executed {
    pub reply: Reply,
    /// The position a reader must reach to see the command's effect.
    pub position: i64,
    /// True when the reply was remembered from an earlier request with the
    /// same idempotency key and nothing was appended now.
    pub replayed: bool,
}

/// The state of one meeting as this process last saw it.
#[derive(Default)]
struct Slot {
    /// False until the slot has been read from the log.
    loaded: bool,
    state: Option<Meeting>,
    version: i64,
    position: i64,
    /// Until then another process is writing this meeting too: read the
    /// log's tail before deciding, so this process's next command does not
    /// race ahead of the ones retrying after a conflict.
    contended_until: Option<std::time::Instant>,
    /// The version of the latest snapshot this process read or wrote.
    snapshot_version: i64,
}

pub struct CommandHandler {
    store: Arc<dyn EventStore>,
    slots: Mutex<HashMap<MeetingId, Arc<tokio::sync::Mutex<Slot>>>>,
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
            slots: Mutex::new(HashMap::new()),
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
        let slot = self.slot(meeting_id);
        let mut slot = slot.lock().await;
        self.refresh(&meeting_id.stream_id(), &mut slot).await?;
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

    /// Runs commands on one meeting as one append when they can be (the
    /// holder's way with the commands forwarded to it: one commit for all
    /// that queued while the last one was written). Each answer is `None`
    /// for a command that must run on its own ([`Self::execute_here`]): one
    /// with an idempotency key, a schedule, one refused or changing nothing
    /// on the cached state (only the log can confirm those), and every one
    /// when another node wrote the meeting between the read and the append,
    /// or the log refused the whole. Those run after the others, as if
    /// they had come later.
    pub async fn execute_together(
        &self,
        meeting_id: MeetingId,
        commands: &[Forwarded],
    ) -> Vec<Option<Result<Executed, AppError>>> {
        let mut answers: Vec<Option<Result<Executed, AppError>>> =
            commands.iter().map(|_| None).collect();
        let started = std::time::Instant::now();
        let slot = self.slot(meeting_id);
        let mut slot = slot.lock().await;
        let stream_id = meeting_id.stream_id();
        // Another node wrote the meeting lately: decide on the log's tail
        // (the append still checks the version it read).
        let contended = slot
            .contended_until
            .is_some_and(|until| std::time::Instant::now() < until);
        if (contended || !slot.loaded) && self.refresh(&stream_id, &mut slot).await.is_err() {
            return answers;
        }
        // (index, reply, events after it in the append)
        let mut taken: Vec<(usize, Reply, usize)> = Vec::new();
        let mut events = Vec::new();
        let mut state = slot.state.clone();
        for (i, queued) in commands.iter().enumerate() {
            // A schedule claims its room code in the same append: alone.
            if queued.idempotency.is_some() || matches!(queued.command, Command::Schedule(_)) {
                continue;
            }
            let Ok(decision) = decide(state.as_ref(), &queued.ctx, &queued.command) else {
                continue;
            };
            if decision.events.is_empty() {
                continue;
            }
            let metadata = queued.ctx.metadata(queued.command_id);
            for event in &decision.events {
                state = evolve(state, event);
            }
            events.extend(named(queued.command_id, &decision.events, &metadata));
            taken.push((i, decision.reply, events.len()));
        }
        if taken.is_empty() {
            return answers;
        }
        let total = events.len();
        let append = Append::new(stream_id.clone(), slot.version, events);
        match self.store.append(append).await {
            Ok(Appended::Committed {
                last_position,
                stream_version,
                ..
            }) => {
                slot.state = state;
                slot.version = stream_version;
                slot.position = last_position;
                self.keep_snapshot(&stream_id, &mut slot);
                for (i, reply, through) in taken {
                    let result = Ok(Executed {
                        reply,
                        position: last_position - (total - through) as i64,
                        replayed: false,
                    });
                    observe(commands[i].command.name(), started, &result);
                    answers[i] = Some(result);
                }
            }
            Err(AppendError::Conflict { .. }) => {
                self.conflicts.fetch_add(1, Ordering::Relaxed);
                self.contended(meeting_id, &mut slot);
                self.refresh(&stream_id, &mut slot).await.ok();
            }
            Err(AppendError::Store(e)) => {
                // The outcome is unknown: forget the cached state, and
                // tell each caller so (running them again could run them
                // twice).
                *slot = Slot::default();
                let message = e.to_string();
                let unavailable = matches!(e, StoreError::Unavailable(_));
                for (i, ..) in taken {
                    let error = if unavailable {
                        StoreError::Unavailable(message.clone().into())
                    } else {
                        StoreError::Backend(message.clone().into())
                    };
                    let result = Err(AppError::Infra(error));
                    observe(commands[i].command.name(), started, &result);
                    answers[i] = Some(result);
                }
            }
            // Refused as a whole (a payload the log does not take) or any
            // answer a plain append does not give: each runs on its own.
            Ok(_) | Err(_) => *slot = Slot::default(),
        }
        answers
    }

    async fn run(
        &self,
        meeting_id: MeetingId,
        id: CommandId,
        ctx: &Context,
        command: Command,
        idempotency: Option<IdempotencyKey>,
    ) -> Result<Outcome, AppError> {
        let slot = self.slot(meeting_id);
        let mut slot = slot.lock().await;
        let stream_id = meeting_id.stream_id();
        let alias = match &command {
            Command::Schedule(s) => Some(s.room_code.alias()),
            _ => None,
        };

        // Whether the slot has been checked against the log in this call.
        let mut fresh = false;
        if !slot.loaded {
            self.refresh(&stream_id, &mut slot).await?;
            fresh = true;
        }
        let mut conflicts = 0;
        let mut first_conflict = None::<std::time::Instant>;
        loop {
            // Once caught up: if a request with this key has committed, its
            // reply is visible now (it commits with the events); one that
            // commits later conflicts with our version and brings us back.
            if fresh
                && let Some(key) = &idempotency
                && let Some(done) = self.replay(key).await?
            {
                return Ok(Outcome::Done(Box::new(done)));
            }
            let decided = decide(slot.state.as_ref(), ctx, &command);
            // An append on a stale cache fails its version check, but a
            // refusal or a no-op appends nothing: only the log can confirm
            // those, so they are decided again on fresh state.
            let unconfirmed = decided.as_ref().map_or(true, |d| d.events.is_empty());
            if unconfirmed && !fresh {
                self.refresh(&stream_id, &mut slot).await?;
                fresh = true;
                continue;
            }
            let Decision {
                events,
                reply: answer,
            } = decided?;
            if events.is_empty() {
                return Ok(Outcome::Done(Box::new(Executed {
                    reply: answer,
                    position: slot.position,
                    replayed: false,
                })));
            }

            let metadata = ctx.metadata(id);
            // Another process writes this meeting too: let the log decide
            // again on what this cache has not seen, rather than conflict.
            let contended = slot
                .contended_until
                .is_some_and(|until| std::time::Instant::now() < until);
            let redecide = contended.then(|| {
                Arc::new(Redecide {
                    id,
                    state: slot.state.clone(),
                    ctx: ctx.clone(),
                    command: command.clone(),
                    metadata: metadata.clone(),
                    outcome: Mutex::new(None),
                })
            });
            let append = Append {
                stream_id: stream_id.clone(),
                expected_version: slot.version,
                events: named(id, &events, &metadata),
                alias: alias.clone(),
                idempotency: match &idempotency {
                    None => None,
                    Some(key) => Some(IdempotencyRecord {
                        scope: key.scope.clone(),
                        key: key.key.clone(),
                        fingerprint: key.fingerprint.clone(),
                        reply: serde_json::to_value(&answer)
                            .map_err(|e| AppError::Infra(StoreError::Backend(Box::new(e))))?,
                    }),
                },
                rebase: redecide
                    .clone()
                    .map(|r| RebaseWith(r as Arc<dyn events::Rebase>)),
            };
            let redecided = || {
                redecide
                    .as_ref()
                    .and_then(|r| r.outcome.lock().unwrap_or_else(|p| p.into_inner()).take())
            };
            match self.store.append(append).await {
                Ok(Appended::Committed {
                    last_position,
                    stream_version,
                    ..
                }) => {
                    // The cache moves only once the log has the events:
                    // those decided here, or those the log decided again.
                    let (before, events, answer) = match redecided() {
                        Some(Redecided {
                            state,
                            decision: Ok(decision),
                            ..
                        }) => {
                            // Still written by others: keep letting the
                            // log decide again.
                            self.contended(meeting_id, &mut slot);
                            (state, decision.events, decision.reply)
                        }
                        _ => (slot.state.take(), events, answer),
                    };
                    slot.state = events.iter().fold(before, evolve);
                    slot.version = stream_version;
                    slot.position = last_position;
                    self.keep_snapshot(&stream_id, &mut slot);
                    return Ok(Outcome::Done(Box::new(Executed {
                        reply: answer,
                        position: last_position,
                        replayed: false,
                    })));
                }
                Ok(Appended::Unchanged { .. }) | Err(AppendError::Refused(_)) => {
                    // Decided again on the log's newer events: nothing to
                    // write, or refused. The cache takes those events.
                    let Some(again) = redecided() else {
                        *slot = Slot::default();
                        return Err(AppError::Infra(StoreError::Backend(
                            "the log decided an append again that carried no rebase".into(),
                        )));
                    };
                    slot.state = again.state;
                    slot.version = again.version;
                    slot.position = again.position;
                    self.contended(meeting_id, &mut slot);
                    let decision = again.decision?;
                    return Ok(Outcome::Done(Box::new(Executed {
                        reply: decision.reply,
                        position: again.position,
                        replayed: false,
                    })));
                }
                Ok(Appended::Replayed(stored)) => {
                    let key = idempotency.as_ref().ok_or(AppError::IdempotencyKeyReused)?;
                    return replayed(key, stored).map(|done| Outcome::Done(Box::new(done)));
                }
                Ok(Appended::AlreadyCommitted { last_position, .. }) => {
                    // This command's events are in the log already: it ran
                    // on the meeting's holder too (whose answer this node
                    // did not get). The cache has not seen them.
                    *slot = Slot::default();
                    return Ok(Outcome::Done(Box::new(Executed {
                        reply: answer,
                        position: last_position,
                        replayed: false,
                    })));
                }
                Err(AppendError::Conflict { .. }) => {
                    conflicts += 1;
                    self.conflicts.fetch_add(1, Ordering::Relaxed);
                    self.contended(meeting_id, &mut slot);
                    tracing::debug!(%meeting_id, conflicts, "version conflict, retrying");
                    let since = *first_conflict.get_or_insert_with(std::time::Instant::now);
                    if since.elapsed() >= CONFLICT_BUDGET {
                        return Err(AppError::Conflict);
                    }
                    tokio::time::sleep(backoff(conflicts)).await;
                    self.refresh(&stream_id, &mut slot).await?;
                    fresh = true;
                }
                Err(AppendError::AliasTaken(_)) => return Ok(Outcome::AliasTaken),
                Err(AppendError::InvalidPayload(reason)) => {
                    return Err(AppError::Domain(MeetingError::Validation {
                        field: "body".into(),
                        reason,
                    }));
                }
                Err(AppendError::Empty) => unreachable!("events is not empty"),
                Err(AppendError::Store(e)) => {
                    // The outcome is unknown: forget the cached state.
                    *slot = Slot::default();
                    return Err(AppError::Infra(e));
                }
            }
        }
    }

    /// Another node writes this meeting too: for a while, read the log's
    /// tail before deciding, and tell the router.
    fn contended(&self, meeting_id: MeetingId, slot: &mut Slot) {
        slot.contended_until = Some(std::time::Instant::now() + CONTENDED_FOR);
        if let Some(router) = &self.router {
            router.contended(meeting_id);
        }
    }

    async fn replay(&self, key: &IdempotencyKey) -> Result<Option<Executed>, AppError> {
        match self.store.idempotent_reply(&key.scope, &key.key).await? {
            Some(stored) => replayed(key, stored).map(Some),
            None => Ok(None),
        }
    }

    /// Applies the events appended since the slot was last synced (a slot
    /// never loaded starts from the stream's snapshot, if it has one); on
    /// failure the slot is forgotten.
    async fn refresh(&self, stream_id: &StreamId, slot: &mut Slot) -> Result<(), AppError> {
        let result = async {
            if !slot.loaded {
                self.load_snapshot(stream_id, slot).await?;
            }
            let tail = self.store.read_stream(stream_id, slot.version).await?;
            apply_tail(slot, &tail)
        };
        match result.await {
            Ok(()) => {
                slot.loaded = true;
                self.keep_snapshot(stream_id, slot);
                Ok(())
            }
            Err(e) => {
                *slot = Slot::default();
                Err(e)
            }
        }
    }

    /// Starts a slot from the stream's snapshot, when there is one this
    /// code can fold on (another schema, or one that does not read back,
    /// is passed over: the log has everything).
    async fn load_snapshot(&self, stream_id: &StreamId, slot: &mut Slot) -> Result<(), AppError> {
        let Some(snapshot) = self.store.read_snapshot(stream_id).await? else {
            return Ok(());
        };
        if snapshot.schema_version != SNAPSHOT_SCHEMA {
            return Ok(());
        }
        match serde_json::from_str::<Meeting>(&snapshot.state) {
            Ok(meeting) => {
                slot.state = Some(meeting);
                slot.version = snapshot.version;
                slot.position = snapshot.position;
                slot.snapshot_version = snapshot.version;
            }
            Err(e) => tracing::warn!(%stream_id, error = %e, "a snapshot that does not read back"),
        }
        Ok(())
    }

    /// Writes a snapshot of the slot (in the background) once reading the
    /// events since the last one would cost more than writing the state:
    /// after as many events as the state has entries, and at least
    /// [`SNAPSHOT_MIN_EVENTS`].
    fn keep_snapshot(&self, stream_id: &StreamId, slot: &mut Slot) {
        let Some(meeting) = &slot.state else { return };
        let due = (slot.version - slot.snapshot_version) as usize
            >= SNAPSHOT_MIN_EVENTS.max(meeting.entries());
        if !due {
            return;
        }
        let state = match serde_json::to_string(meeting) {
            Ok(state) => state,
            Err(e) => {
                tracing::warn!(%stream_id, error = %e, "cannot snapshot the meeting");
                return;
            }
        };
        slot.snapshot_version = slot.version;
        let snapshot = Snapshot {
            stream_id: stream_id.clone(),
            version: slot.version,
            position: slot.position,
            schema_version: SNAPSHOT_SCHEMA,
            state,
        };
        let store = self.store.clone();
        tokio::spawn(async move {
            if let Err(e) = store.write_snapshot(&snapshot).await {
                tracing::debug!(error = %e, "snapshot not written; a later one will be");
            }
        });
    }

    fn slot(&self, meeting_id: MeetingId) -> Arc<tokio::sync::Mutex<Slot>> {
        // A poisoned lock only means another thread panicked while holding
        // this map; the map itself is still consistent.
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        if slots.len() >= CACHE_CAPACITY && !slots.contains_key(&meeting_id) {
            slots.retain(|_, slot| Arc::strong_count(slot) > 1);
        }
        slots.entry(meeting_id).or_default().clone()
    }
}

/// A random pause in [0.5, 1.5) x 2^(conflicts-1) x the base, at most 64x.
fn backoff(conflicts: usize) -> std::time::Duration {
    use rand::Rng;
    let factor = 1u32 << (conflicts.saturating_sub(1)).min(6);
    CONFLICT_BACKOFF.mul_f64(f64::from(factor) * rand::thread_rng().gen_range(0.5..1.5))
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

fn apply_tail(slot: &mut Slot, tail: &[RecordedEvent]) -> Result<(), AppError> {
    for recorded in tail {
        let event: MeetingEvent = recorded
            .decode()
            .map_err(|e| AppError::Infra(StoreError::Backend(Box::new(e))))?;
        slot.state = evolve(slot.state.take(), &event);
        slot.version = recorded.stream_version;
        slot.position = recorded.position;
    }
    Ok(())
}

fn replayed(key: &IdempotencyKey, stored: events::StoredReply) -> Result<Executed, AppError> {
    if stored.fingerprint != key.fingerprint {
        return Err(AppError::IdempotencyKeyReused);
    }
    let reply: Reply = serde_json::from_value(stored.reply)
        .map_err(|e| AppError::Infra(StoreError::Backend(Box::new(e))))?;
    Ok(Executed {
        reply,
        position: stored.position,
        replayed: true,
    })
}

/// A command decided again by the log, under its write lock, on the
/// meeting's events this process had not seen ([`events::Rebase`]): the
/// same pure `decide`, on the state this process had with those events
/// folded in.
struct Redecide {
    id: CommandId,
    state: Option<Meeting>,
    ctx: Context,
    command: Command,
    metadata: Metadata,
    /// What the last call decided, for the handler once the log answers.
    outcome: Mutex<Option<Redecided>>,
}

struct Redecided {
    /// The meeting with the events the log had and this process had not.
    state: Option<Meeting>,
    version: i64,
    position: i64,
    decision: Result<Decision, MeetingError>,
}

impl events::Rebase for Redecide {
    fn rebase(
        &self,
        tail: &[RecordedEvent],
    ) -> Result<events::Rebased, Box<dyn std::error::Error + Send + Sync>> {
        let mut state = self.state.clone();
        for recorded in tail {
            state = evolve(state, &recorded.decode()?);
        }
        let decision = decide(state.as_ref(), &self.ctx, &self.command);
        let rebased = match &decision {
            Ok(decision) => Ok(events::Rebased {
                events: named(self.id, &decision.events, &self.metadata),
                reply: Some(serde_json::to_value(&decision.reply)?),
            }),
            Err(refusal) => {
                Err(Box::new(refusal.clone()) as Box<dyn std::error::Error + Send + Sync>)
            }
        };
        let last = tail.last();
        *self.outcome.lock().unwrap_or_else(|p| p.into_inner()) = Some(Redecided {
            state,
            version: last.map_or(0, |e| e.stream_version),
            position: last.map_or(0, |e| e.position),
            decision,
        });
        rebased
    }
}

/// How one run of a command ended, before it is told to the caller.
enum Outcome {
    Done(Box<Executed>),
    /// The room code the schedule tried to claim is taken.
    AliasTaken,
}
