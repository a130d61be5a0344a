//! Runs commands against the event log.
//!
//! For each command: take the meeting's slot (commands on one meeting run
//! one at a time in this process, so they do not conflict with each other),
//! bring the cached state up to date by reading the stream's tail (other
//! processes may have appended), decide, and append with the expected
//! version. A conflict (another process got there first) reloads the tail
//! and decides again, up to [`MAX_ATTEMPTS`] times, then gives up with
//! [`AppError::Conflict`]. Appends from all meetings meet in the store's
//! group committer, so throughput scales with concurrency.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use events::{
    Actor, ActorKind, Append, AppendError, Appended, EventStore, IdempotencyRecord, MeetingEvent,
    MeetingId, Metadata, NewEvent, RecordedEvent, RoomCode, StoreError, StreamId,
};
use rand::SeedableRng;
use uuid::Uuid;

use crate::error::AppError;
use crate::meeting::{Command, Context, Meeting, MeetingError, Reply, decide, evolve, reply};

/// Attempts per command before a conflict is reported.
pub const MAX_ATTEMPTS: usize = 8;
/// Attempts to find a free room code.
const ROOM_CODE_ATTEMPTS: usize = 8;
/// Cached meetings kept before idle ones are dropped.
const CACHE_CAPACITY: usize = 50_000;

/// A client's idempotency key for one request.
#[derive(Debug, Clone)]
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
    state: Option<Meeting>,
    version: i64,
    position: i64,
}

pub struct CommandHandler {
    store: Arc<dyn EventStore>,
    slots: Mutex<HashMap<MeetingId, Arc<tokio::sync::Mutex<Slot>>>>,
}

impl CommandHandler {
    pub fn new(store: Arc<dyn EventStore>) -> Self {
        Self {
            store,
            slots: Mutex::new(HashMap::new()),
        }
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

    /// Schedules a new meeting under a fresh room code.
    pub async fn schedule(
        &self,
        ctx: &Context,
        mut command: crate::meeting::ScheduleMeeting,
        idempotency: Option<IdempotencyKey>,
    ) -> Result<Executed, AppError> {
        let mut rng = rand::rngs::StdRng::from_entropy();
        for _ in 0..ROOM_CODE_ATTEMPTS {
            let schedule = Command::Schedule(command.clone());
            match self
                .run(command.meeting_id, ctx, schedule, idempotency.clone())
                .await?
            {
                Outcome::Done(done) => return Ok(*done),
                Outcome::AliasTaken => command.room_code = RoomCode::random(&mut rng),
            }
        }
        Err(AppError::Conflict)
    }

    /// Runs one command on one meeting.
    pub async fn execute(
        &self,
        meeting_id: MeetingId,
        ctx: &Context,
        command: Command,
        idempotency: Option<IdempotencyKey>,
    ) -> Result<Executed, AppError> {
        match self.run(meeting_id, ctx, command, idempotency).await? {
            Outcome::Done(done) => Ok(*done),
            // Only a schedule claims an alias, and it goes through `schedule`.
            Outcome::AliasTaken => Err(AppError::Conflict),
        }
    }

    async fn run(
        &self,
        meeting_id: MeetingId,
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

        for attempt in 0..MAX_ATTEMPTS {
            if let Err(e) = self.catch_up(&stream_id, &mut slot).await {
                *slot = Slot::default();
                return Err(e);
            }
            // After catching up: if a request with this key has committed,
            // its reply is visible now (it commits with the events), and a
            // request that commits later conflicts with our version and
            // brings us back here.
            if let Some(key) = &idempotency
                && let Some(done) = self.replay(key).await?
            {
                return Ok(Outcome::Done(Box::new(done)));
            }
            let events = decide(&slot.state, ctx, &command)?;
            let after = events.iter().fold(slot.state.clone(), evolve);
            let answer = reply(&slot.state, &after, ctx, &command, &events)
                .ok_or(AppError::Domain(MeetingError::NotFound))?;
            if events.is_empty() {
                return Ok(Outcome::Done(Box::new(Executed {
                    reply: answer,
                    position: slot.position,
                    replayed: false,
                })));
            }

            let metadata = metadata(ctx);
            let append = Append {
                stream_id: stream_id.clone(),
                expected_version: slot.version,
                events: events.iter().map(|e| NewEvent::new(e, &metadata)).collect(),
                alias: alias.clone(),
                idempotency: idempotency.as_ref().map(|key| IdempotencyRecord {
                    scope: key.scope.clone(),
                    key: key.key.clone(),
                    fingerprint: key.fingerprint.clone(),
                    reply: serde_json::to_value(&answer).unwrap_or_default(),
                }),
            };
            match self.store.append(append).await {
                Ok(Appended::Committed {
                    last_position,
                    stream_version,
                    ..
                }) => {
                    *slot = Slot {
                        state: after,
                        version: stream_version,
                        position: last_position,
                    };
                    return Ok(Outcome::Done(Box::new(Executed {
                        reply: answer,
                        position: last_position,
                        replayed: false,
                    })));
                }
                Ok(Appended::Replayed(stored)) => {
                    let key = idempotency.as_ref().ok_or(AppError::IdempotencyKeyReused)?;
                    return replayed(key, stored).map(|done| Outcome::Done(Box::new(done)));
                }
                Ok(Appended::AlreadyCommitted { last_position, .. }) => {
                    // Fresh event ids never exist; if they do, the cache
                    // cannot be trusted to reflect them.
                    *slot = Slot::default();
                    return Ok(Outcome::Done(Box::new(Executed {
                        reply: answer,
                        position: last_position,
                        replayed: false,
                    })));
                }
                Err(AppendError::Conflict { .. }) => {
                    tracing::debug!(%meeting_id, attempt, "version conflict, retrying");
                    continue;
                }
                Err(AppendError::AliasTaken(_)) => return Ok(Outcome::AliasTaken),
                Err(AppendError::InvalidPayload(reason)) => {
                    return Err(AppError::Domain(MeetingError::Validation {
                        field: "body",
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
        Err(AppError::Conflict)
    }

    async fn replay(&self, key: &IdempotencyKey) -> Result<Option<Executed>, AppError> {
        match self.store.idempotent_reply(&key.scope, &key.key).await? {
            Some(stored) => replayed(key, stored).map(Some),
            None => Ok(None),
        }
    }

    /// Applies the events appended since the slot was last synced.
    async fn catch_up(&self, stream_id: &StreamId, slot: &mut Slot) -> Result<(), AppError> {
        let tail = self.store.read_stream(stream_id, slot.version).await?;
        apply_tail(slot, &tail)
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

fn metadata(ctx: &Context) -> Metadata {
    let correlation = ctx.request_id.unwrap_or_else(Uuid::now_v7);
    Metadata {
        actor: Actor {
            user_id: ctx.caller.user_id.clone(),
            name: ctx.caller.name.clone(),
            kind: ActorKind::User,
        },
        correlation_id: correlation,
        causation_id: Uuid::now_v7(),
        request_id: ctx.request_id,
    }
}

/// How one run of a command ended, before it is told to the caller.
enum Outcome {
    Done(Box<Executed>),
    /// The room code the schedule tried to claim is taken.
    AliasTaken,
}
