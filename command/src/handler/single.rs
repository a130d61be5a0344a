//! One command on one meeting, optimistically: decide on the cached state,
//! append with the version it was decided on, and on a conflict catch up
//! and decide again (with growing, jittered pauses, for at most
//! [`CONFLICT_BUDGET`]). A refusal or a no-op decided on cached state is
//! decided again on fresh state before it is answered: it appends nothing,
//! so the log never checks it.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use events::{
    Append, AppendError, Appended, CommandId, IdempotencyRecord, MeetingId, RebaseWith, StoreError,
};

use super::CommandHandler;
use super::redecide::{Redecide, Redecided};
use crate::error::AppError;
use crate::meeting::{Command, Context, Decision, MeetingError, decide, evolve};
use crate::outcome::{Executed, IdempotencyKey};

/// How long a command keeps retrying after conflicts before a conflict is
/// reported. A budget of time, not of attempts: with several processes
/// writing one meeting, each round has one winner, so the rounds a command
/// needs are geometric; a count that is rarely exhausted at 2 writers is
/// often exhausted at 8.
pub const CONFLICT_BUDGET: Duration = Duration::from_secs(2);
/// First pause after a conflict; doubled per conflict up to 64x, with
/// jitter, so processes contending for one meeting stop colliding in
/// lockstep without leaving the meeting idle.
const CONFLICT_BACKOFF: Duration = Duration::from_micros(250);

/// How one run of a command ended, before it is told to the caller.
pub(super) enum Outcome {
    Done(Box<Executed>),
    /// The room code the schedule tried to claim is taken.
    AliasTaken,
}

impl Outcome {
    fn done(executed: Executed) -> Result<Self, AppError> {
        Ok(Self::Done(Box::new(executed)))
    }
}

impl CommandHandler {
    pub(super) async fn run(
        &self,
        meeting_id: MeetingId,
        id: CommandId,
        ctx: &Context,
        command: Command,
        idempotency: Option<IdempotencyKey>,
    ) -> Result<Outcome, AppError> {
        let slot = self.slots.of(meeting_id);
        let mut slot = slot.lock().await;
        let stream_id = meeting_id.stream_id();
        let alias = match &command {
            Command::Schedule(s) => Some(s.room_code.alias()),
            _ => None,
        };

        // Whether the slot has been checked against the log in this call.
        let mut fresh = false;
        if !slot.loaded() {
            slot.refresh(&self.store, &stream_id).await?;
            fresh = true;
        }
        let mut conflicts = 0;
        let mut first_conflict = None::<Instant>;
        loop {
            // Once caught up: if a request with this key has committed, its
            // reply is visible now (it commits with the events); one that
            // commits later conflicts with our version and brings us back.
            if fresh
                && let Some(key) = &idempotency
                && let Some(done) = self.replay(key).await?
            {
                return Outcome::done(done);
            }
            let decided = decide(slot.state.as_ref(), ctx, &command);
            // An append on a stale cache fails its version check, but a
            // refusal or a no-op appends nothing: only the log can confirm
            // those, so they are decided again on fresh state.
            let unconfirmed = decided.as_ref().map_or(true, |d| d.events.is_empty());
            if unconfirmed && !fresh {
                slot.refresh(&self.store, &stream_id).await?;
                fresh = true;
                continue;
            }
            let Decision {
                events,
                reply: answer,
            } = decided?;
            if events.is_empty() {
                return Outcome::done(Executed::at(answer, slot.position));
            }

            let metadata = ctx.metadata(id);
            // Another process writes this meeting too: let the log decide
            // again on what this cache has not seen, rather than conflict.
            let redecide = slot.contended().then(|| {
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
                events: super::named(id, &events, &metadata),
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
            let redecided = || redecide.as_ref().and_then(|r| r.taken());
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
                    let after = events.iter().fold(before, evolve);
                    slot.committed(
                        after,
                        stream_version,
                        last_position,
                        &self.store,
                        &stream_id,
                    );
                    return Outcome::done(Executed::at(answer, last_position));
                }
                Ok(Appended::Unchanged { .. }) | Err(AppendError::Refused(_)) => {
                    // Decided again on the log's newer events: nothing to
                    // write, or refused. The cache takes those events.
                    let Some(again) = redecided() else {
                        slot.forget();
                        return Err(AppError::Infra(StoreError::Backend(
                            "the log decided an append again that carried no rebase".into(),
                        )));
                    };
                    slot.committed(
                        again.state,
                        again.version,
                        again.position,
                        &self.store,
                        &stream_id,
                    );
                    self.contended(meeting_id, &mut slot);
                    let decision = again.decision?;
                    return Outcome::done(Executed::at(decision.reply, again.position));
                }
                Ok(Appended::Replayed(stored)) => {
                    let key = idempotency.as_ref().ok_or(AppError::IdempotencyKeyReused)?;
                    return Outcome::done(Executed::replayed(key, stored)?);
                }
                Ok(Appended::AlreadyCommitted { last_position, .. }) => {
                    // This command's events are in the log already: it ran
                    // on the meeting's holder too (whose answer this node
                    // did not get). The cache has not seen them.
                    slot.forget();
                    return Outcome::done(Executed::at(answer, last_position));
                }
                Err(AppendError::Conflict { .. }) => {
                    conflicts += 1;
                    self.conflicts.fetch_add(1, Ordering::Relaxed);
                    self.contended(meeting_id, &mut slot);
                    tracing::debug!(%meeting_id, conflicts, "version conflict, retrying");
                    let since = *first_conflict.get_or_insert_with(Instant::now);
                    if since.elapsed() >= CONFLICT_BUDGET {
                        return Err(AppError::Conflict);
                    }
                    tokio::time::sleep(backoff(conflicts)).await;
                    slot.refresh(&self.store, &stream_id).await?;
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
                    slot.forget();
                    return Err(AppError::Infra(e));
                }
            }
        }
    }

    async fn replay(&self, key: &IdempotencyKey) -> Result<Option<Executed>, AppError> {
        match self.store.idempotent_reply(&key.scope, &key.key).await? {
            Some(stored) => Executed::replayed(key, stored).map(Some),
            None => Ok(None),
        }
    }
}

/// A random pause in [0.5, 1.5) x 2^(conflicts-1) x the base, at most 64x.
fn backoff(conflicts: usize) -> Duration {
    use rand::Rng;
    let factor = 1u32 << (conflicts.saturating_sub(1)).min(6);
    CONFLICT_BACKOFF.mul_f64(f64::from(factor) * rand::thread_rng().gen_range(0.5..1.5))
}
