//! The group committer: one task per process takes every append waiting
//! in its queue into the next write transaction, so one disk flush
//! carries many commands. [`Writer`] is a backend's side of it (the I/O of
//! one transaction); the decisions are [`crate::plan`]'s.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::AbortHandle;

use events::envelope::RecordedEvent;
use events::store::{Append, AppendError, Appended, StoreError};

use crate::plan::{Known, Lookups, Plan, plan};
use crate::recent::Recent;

/// Most appends one transaction carries.
pub const MAX_BATCH: usize = 512;
/// How many appends wait at most for a committer before callers feel
/// back-pressure.
pub const QUEUE_DEPTH: usize = 4096;

/// One append waiting for the committer, and where its answer goes.
pub struct Request {
    pub append: Append,
    pub reply: oneshot::Sender<Result<Appended, AppendError>>,
}

/// A backend's side of group commit: the I/O of one write transaction.
#[async_trait::async_trait]
pub trait Writer: Send + 'static {
    type Error: std::error::Error + Send + Sync + 'static;

    /// Opens the write transaction, taking the lock that serialises
    /// position assignment; returns the head (position, hash) under it.
    async fn begin(&mut self) -> Result<(i64, Vec<u8>), Self::Error>;
    /// Reads what the batch must check, inside the transaction.
    async fn known(&mut self, lookups: &Lookups) -> Result<Known, Self::Error>;
    /// A stream's events after a version, inside the transaction (for an
    /// append decided again, [`events::store::Rebase`]).
    async fn read_tail(
        &mut self,
        stream_id: &str,
        after_version: i64,
    ) -> Result<Vec<RecordedEvent>, Self::Error>;
    /// Writes the plan's events, aliases, replies and the new head.
    async fn write(&mut self, plan: &Plan) -> Result<(), Self::Error>;
    /// Commits (or, when nothing was written, rolls back).
    async fn finish(&mut self, commit: bool) -> Result<(), Self::Error>;
    /// After a failed batch: rolls back, or drops a broken connection so
    /// the next batch starts on a new one.
    async fn reset(&mut self);

    /// Whether an error says the database cannot be reached now.
    fn unavailable(_error: &Self::Error) -> bool {
        false
    }

    /// Whether this backend can write a batch planned without reading
    /// the log ([`Writer::write_unchecked`]).
    fn writes_unchecked(&self) -> bool {
        false
    }

    /// Writes, in one round trip and one transaction of its own, a plan
    /// made on the head this committer last wrote and on
    /// [`Known::assumed`]; `streams` are the (stream, version) pairs that
    /// must exist. Answers false, having written nothing, when the log is
    /// not as assumed (another process wrote, an id, alias or key exists,
    /// a version differs); the batch then takes the checked path.
    async fn write_unchecked(
        &mut self,
        _plan: &Plan,
        _head_position: i64,
        _streams: &[(String, i64)],
    ) -> Result<bool, Self::Error> {
        Ok(false)
    }
}

/// The committer task: every append waiting in `queue` joins the next
/// transaction. Runs until every sender is gone.
pub async fn run<W: Writer>(
    mut writer: W,
    mut queue: mpsc::Receiver<Request>,
    head: Arc<watch::Sender<i64>>,
    recent: Arc<Recent>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut state = CommitterState::default();
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (appends, replies): (Vec<_>, Vec<_>) = std::mem::take(&mut batch)
            .into_iter()
            .map(|r| (r.append, r.reply))
            .unzip();
        match commit(&mut writer, &appends, &mut state).await {
            Ok(mut plan) => {
                metrics::histogram!("meetings_append_batch_size").record(appends.len() as f64);
                state.head = Some((plan.head_position, plan.head_hash.clone()));
                // Held before the head moves: a reader it wakes finds it.
                recent.push(plan.recorded_at, std::mem::take(&mut plan.rows));
                advance(&head, plan.head_position);
                for (reply, outcome) in replies.into_iter().zip(plan.outcomes) {
                    let _ = reply.send(outcome);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, appends = appends.len(), "group commit failed");
                writer.reset().await;
                let message = e.to_string();
                let unavailable = W::unavailable(&e);
                for reply in replies {
                    let cause = message.clone().into();
                    let error = if unavailable {
                        StoreError::Unavailable(cause)
                    } else {
                        StoreError::Backend(cause)
                    };
                    let _ = reply.send(Err(AppendError::Store(error)));
                }
            }
        }
    }
}

/// Commits one batch. When the backend can and this committer knows the
/// head, the batch is first planned on assumptions and written in one
/// round trip; if the log was not as assumed, nothing was written and the
/// batch takes the checked path: lock, read, plan, write, commit.
async fn commit<W: Writer>(
    writer: &mut W,
    appends: &[Append],
    state: &mut CommitterState,
) -> Result<Plan, W::Error> {
    let quiet = state
        .checked_until
        .is_none_or(|until| std::time::Instant::now() >= until);
    if let Some((position, hash)) = state.head.take()
        && quiet
        && writer.writes_unchecked()
    {
        let known = Known::assumed(appends);
        let streams = known.streams_to_check();
        let plan = plan(appends, known, position, hash);
        let all_written = plan
            .outcomes
            .iter()
            .all(|o| matches!(o, Ok(Appended::Committed { .. })));
        if all_written {
            if writer.write_unchecked(&plan, position, &streams).await? {
                return Ok(plan);
            }
            // Another process is writing (or a retry met its own ids):
            // check every batch for a while rather than fail twice.
            state.checked_until = Some(std::time::Instant::now() + CHECKED_AFTER_MISS);
        }
    }
    let (position, hash) = writer.begin().await?;
    let known = writer.known(&Lookups::of(appends)).await?;
    let rebased = rebase(writer, appends, &known).await?;
    let plan = settle(appends, rebased, known, position, hash);
    if plan.writes_events() {
        writer.write(&plan).await?;
    }
    writer.finish(plan.writes_events()).await?;
    Ok(plan)
}

/// Plans the batch, with the appends decided again where a rebase did;
/// an append the rebase settled itself (refused, or with nothing left to
/// write) was planned as the conflict it would have been, so nothing of it
/// is written, and its answer is the rebase's.
fn settle(
    appends: &[Append],
    rebased: Option<Rebasing>,
    known: Known,
    position: i64,
    hash: Vec<u8>,
) -> Plan {
    let Some((again, settled)) = rebased else {
        return plan(appends, known, position, hash);
    };
    let mut plan = plan(&again, known, position, hash);
    for (index, outcome) in settled.into_iter().enumerate() {
        if let Some(outcome) = outcome {
            plan.outcomes[index] = outcome;
        }
    }
    plan
}

/// Appends decided again, and the answers of those the rebase settled.
type Rebasing = (Vec<Append>, Vec<Option<Result<Appended, AppendError>>>);

/// Decides again, under the write lock, each append whose stream moved
/// past the version it expected and that carries a [`Rebase`]: on the
/// stream's events it had not seen. None when no append needed it. A retry
/// of a request already in the log (its idempotency key or event ids) is
/// left as it is: it answers as the first time.
///
/// [`Rebase`]: events::store::Rebase
async fn rebase<W: Writer>(
    writer: &mut W,
    appends: &[Append],
    known: &Known,
) -> Result<Option<Rebasing>, W::Error> {
    let mut rebasing: Option<Rebasing> = None;
    for (index, append) in appends.iter().enumerate() {
        let Some(rebase) = &append.rebase else {
            continue;
        };
        let actual = known
            .versions
            .get(&append.stream_id.0)
            .copied()
            .unwrap_or(0);
        let replayed = append.idempotency.as_ref().is_some_and(|record| {
            known
                .replies
                .contains_key(&(record.scope.clone(), record.key.clone()))
        });
        let written = append
            .events
            .iter()
            .any(|e| known.existing.contains_key(&e.event_id.0));
        if actual <= append.expected_version || replayed || written {
            continue;
        }
        let tail = writer
            .read_tail(&append.stream_id.0, append.expected_version)
            .await?;
        let (again, settled) = rebasing
            .get_or_insert_with(|| (appends.to_vec(), appends.iter().map(|_| None).collect()));
        match rebase.0.rebase(&tail) {
            Ok(rebased) if rebased.events.is_empty() => {
                settled[index] = Some(Ok(Appended::Unchanged {
                    last_position: tail.last().map_or(0, |e| e.position),
                    stream_version: actual,
                }));
            }
            Ok(rebased) => {
                let append = &mut again[index];
                append.events = rebased.events;
                append.expected_version = actual;
                if let (Some(record), Some(reply)) = (&mut append.idempotency, rebased.reply) {
                    record.reply = reply;
                }
            }
            Err(refusal) => settled[index] = Some(Err(AppendError::Refused(refusal))),
        }
    }
    Ok(rebasing)
}

/// How long a committer checks every batch after an unchecked write found
/// the log not as assumed.
const CHECKED_AFTER_MISS: std::time::Duration = std::time::Duration::from_secs(1);

/// What a committer knows between batches.
#[derive(Default)]
struct CommitterState {
    /// The head it last wrote or read under the lock; None after a failure.
    head: Option<(i64, Vec<u8>)>,
    /// Until then every batch takes the checked path.
    checked_until: Option<std::time::Instant>,
}

/// Sends an append to a committer and waits for its answer.
pub async fn submit(
    requests: &mpsc::Sender<Request>,
    append: Append,
) -> Result<Appended, AppendError> {
    if append.events.is_empty() {
        return Err(AppendError::Empty);
    }
    let (reply, answer) = oneshot::channel();
    requests
        .send(Request { append, reply })
        .await
        .map_err(|_| StoreError::WriterGone)?;
    answer.await.map_err(|_| StoreError::WriterGone)?
}

/// Moves a head watch forward (never back).
pub fn advance(head: &watch::Sender<i64>, position: i64) {
    head.send_if_modified(|current| {
        if position > *current {
            *current = position;
            true
        } else {
            false
        }
    });
}

/// Background tasks of a store, stopped when the last handle is dropped.
pub struct Tasks(pub Vec<AbortHandle>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}
