//! Group commit, the part every backend shares: given the appends waiting
//! in a committer's queue and what the log already holds ([`Known`]),
//! decide each append in queue order and lay out the rows one transaction
//! writes ([`Plan`]).
//!
//! A backend's committer only does the I/O around it: open a write
//! transaction that serialises position assignment, read the head and the
//! [`Known`] state, write the [`Plan`], commit. Appends refused by a check
//! get their own answer; the rest of the batch commits. Two appends to one
//! stream in one batch see each other, because each decision updates
//! [`Known`] before the next.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::AbortHandle;
use uuid::Uuid;

use crate::envelope::RecordedEvent;
use crate::hash::{HashInput, chain};
use crate::ids::StreamId;
use crate::recent::Recent;
use crate::store::{Append, AppendError, Appended, EventStore, StoreError, StoredReply};

/// Most appends one transaction carries.
pub const MAX_BATCH: usize = 512;
/// How many appends wait at most for a committer before callers feel
/// back-pressure.
pub const QUEUE_DEPTH: usize = 4096;

/// What the log holds that a batch must check, read under the write lock.
#[derive(Debug, Default)]
pub struct Known {
    /// Current version of each stream that has events.
    pub versions: HashMap<String, i64>,
    /// Where already-written event ids sit: (position, stream_version).
    pub existing: HashMap<Uuid, (i64, i64)>,
    pub aliases: HashSet<String>,
    pub replies: HashMap<(String, String), StoredReply>,
}

impl Known {
    /// What a batch assumes when it is written without reading the log
    /// first: every stream at the version its first append in the batch
    /// expects, and no event id, alias or idempotency key in the log. The
    /// writer must verify exactly this (see [`Writer::write_unchecked`]).
    pub fn assumed(appends: &[Append]) -> Self {
        let mut known = Self::default();
        for append in appends {
            known
                .versions
                .entry(append.stream_id.0.clone())
                .or_insert(append.expected_version);
        }
        known
    }

    /// The (stream, version) pairs of [`Known::assumed`] that must exist
    /// in the log (streams assumed empty are checked by the insert itself).
    pub fn streams_to_check(&self) -> Vec<(String, i64)> {
        self.versions
            .iter()
            .filter(|(_, version)| **version > 0)
            .map(|(stream, version)| (stream.clone(), *version))
            .collect()
    }
}

/// What a batch must look up to fill [`Known`].
pub struct Lookups {
    pub stream_ids: Vec<String>,
    pub event_ids: Vec<Uuid>,
    pub aliases: Vec<String>,
    /// (scope, key) of every idempotency record.
    pub idempotency: Vec<(String, String)>,
}

impl Lookups {
    pub fn of(appends: &[Append]) -> Self {
        Self {
            stream_ids: appends
                .iter()
                .map(|a| a.stream_id.0.clone())
                .collect::<HashSet<_>>()
                .into_iter()
                .collect(),
            event_ids: appends
                .iter()
                .flat_map(|a| a.events.iter().map(|e| e.event_id.0))
                .collect(),
            aliases: appends.iter().filter_map(|a| a.alias.clone()).collect(),
            idempotency: appends
                .iter()
                .filter_map(|a| a.idempotency.as_ref())
                .map(|r| (r.scope.clone(), r.key.clone()))
                .collect(),
        }
    }
}

/// The events of one batch, column by column.
#[derive(Debug, Default)]
pub struct EventColumns {
    pub position: Vec<i64>,
    pub event_id: Vec<Uuid>,
    pub stream_id: Vec<String>,
    pub stream_version: Vec<i64>,
    pub event_type: Vec<String>,
    pub schema_version: Vec<i16>,
    /// Canonical JSON text (see [`crate::hash`]), so it hashes the same
    /// when read back.
    pub data: Vec<String>,
    pub metadata: Vec<String>,
    pub prev_hash: Vec<Vec<u8>>,
    pub hash: Vec<Vec<u8>>,
}

/// Everything one batch writes besides the events' columns.
#[derive(Debug, Default)]
pub struct BatchWrites {
    pub alias: Vec<String>,
    pub alias_stream: Vec<String>,
    pub idem_scope: Vec<String>,
    pub idem_key: Vec<String>,
    pub idem_fingerprint: Vec<String>,
    pub idem_reply: Vec<String>,
    pub idem_position: Vec<i64>,
}

/// One transaction's worth of decisions and rows.
#[derive(Debug)]
pub struct Plan {
    /// One answer per append, in queue order.
    pub outcomes: Vec<Result<Appended, AppendError>>,
    pub rows: EventColumns,
    pub writes: BatchWrites,
    pub recorded_at: DateTime<Utc>,
    /// The head after the batch (unchanged when nothing is written).
    pub head_position: i64,
    pub head_hash: Vec<u8>,
}

impl Plan {
    /// Whether the batch writes anything.
    pub fn writes_events(&self) -> bool {
        !self.rows.position.is_empty()
    }
}

/// Decides every append against the log's head and `known`, in order.
pub fn plan(appends: &[Append], mut known: Known, head_position: i64, head_hash: Vec<u8>) -> Plan {
    let recorded_at = now_micros();
    let mut position = head_position;
    let mut hash = head_hash;
    let mut rows = EventColumns::default();
    let mut writes = BatchWrites::default();
    let mut outcomes = Vec::with_capacity(appends.len());

    for append in appends {
        let outcome = decide(append, &known).map(|()| {
            let first_position = position + 1;
            let mut version = append.expected_version;
            for event in &append.events {
                position += 1;
                version += 1;
                let data = canonical_text(&event.data);
                let metadata = canonical_text(&event.metadata);
                let next = chain(
                    &hash,
                    &HashInput {
                        position,
                        event_id: event.event_id.0,
                        stream_id: &append.stream_id.0,
                        stream_version: version,
                        event_type: &event.event_type,
                        schema_version: event.schema_version,
                        data: data.as_bytes(),
                        metadata: metadata.as_bytes(),
                        recorded_at,
                    },
                );
                rows.position.push(position);
                rows.event_id.push(event.event_id.0);
                rows.stream_id.push(append.stream_id.0.clone());
                rows.stream_version.push(version);
                rows.event_type.push(event.event_type.clone());
                rows.schema_version.push(event.schema_version);
                rows.data.push(data);
                rows.metadata.push(metadata);
                rows.prev_hash
                    .push(std::mem::replace(&mut hash, next.to_vec()));
                rows.hash.push(next.to_vec());
                known.existing.insert(event.event_id.0, (position, version));
            }
            known.versions.insert(append.stream_id.0.clone(), version);
            if let Some(alias) = &append.alias {
                known.aliases.insert(alias.clone());
                writes.alias.push(alias.clone());
                writes.alias_stream.push(append.stream_id.0.clone());
            }
            if let Some(record) = &append.idempotency {
                let stored = StoredReply {
                    fingerprint: record.fingerprint.clone(),
                    reply: record.reply.clone(),
                    position,
                };
                known
                    .replies
                    .insert((record.scope.clone(), record.key.clone()), stored);
                writes.idem_scope.push(record.scope.clone());
                writes.idem_key.push(record.key.clone());
                writes.idem_fingerprint.push(record.fingerprint.clone());
                writes.idem_reply.push(canonical_text(&record.reply));
                writes.idem_position.push(position);
            }
            Appended::Committed {
                first_position,
                last_position: position,
                stream_version: version,
                recorded_at,
            }
        });
        outcomes.push(outcome.or_else(Refusal::into_outcome));
    }
    Plan {
        outcomes,
        rows,
        writes,
        recorded_at,
        head_position: position,
        head_hash: hash,
    }
}

/// Canonical JSON text of a value (what the log stores and hashes).
pub fn canonical_text(value: &serde_json::Value) -> String {
    String::from_utf8(crate::hash::canonical_json(value)).unwrap_or_default()
}

/// Why an append of the batch is not written.
enum Refusal {
    Error(AppendError),
    Done(Appended),
}

impl Refusal {
    fn into_outcome(self) -> Result<Appended, AppendError> {
        match self {
            Self::Error(e) => Err(e),
            Self::Done(done) => Ok(done),
        }
    }
}

/// Checks one append against the log and the batch so far, in the order
/// that makes retries safe: a used idempotency key first, then event ids
/// already written, then the stream version, then the alias.
fn decide(append: &Append, known: &Known) -> Result<(), Refusal> {
    if let Some(record) = &append.idempotency {
        let key = (record.scope.clone(), record.key.clone());
        if let Some(stored) = known.replies.get(&key) {
            return Err(Refusal::Done(Appended::Replayed(stored.clone())));
        }
    }
    let written: Vec<(i64, i64)> = append
        .events
        .iter()
        .filter_map(|e| known.existing.get(&e.event_id.0).copied())
        .collect();
    if let Some(&(last_position, stream_version)) = written.iter().max() {
        return Err(Refusal::Done(Appended::AlreadyCommitted {
            last_position,
            stream_version,
        }));
    }
    let actual = known
        .versions
        .get(&append.stream_id.0)
        .copied()
        .unwrap_or(0);
    if actual != append.expected_version {
        return Err(Refusal::Error(AppendError::Conflict {
            stream_id: append.stream_id.clone(),
            expected: append.expected_version,
            actual,
        }));
    }
    if let Some(alias) = &append.alias
        && known.aliases.contains(alias)
    {
        return Err(Refusal::Error(AppendError::AliasTaken(alias.clone())));
    }
    // PostgreSQL's JSONB cannot hold U+0000; every backend refuses it, so
    // the rules are the same everywhere (and one append, not the batch,
    // fails).
    let has_nul = append
        .events
        .iter()
        .any(|e| contains_nul(&e.data) || contains_nul(&e.metadata));
    if has_nul {
        return Err(Refusal::Error(AppendError::InvalidPayload(
            "text must not contain U+0000".into(),
        )));
    }
    Ok(())
}

fn contains_nul(value: &serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(contains_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || contains_nul(v)),
        _ => false,
    }
}

/// Now, at the microsecond precision the log stores (the hash covers it).
pub fn now_micros() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}

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
    /// Writes the plan's events, aliases, replies and the new head.
    async fn write(&mut self, plan: &Plan) -> Result<(), Self::Error>;
    /// Commits (or, when nothing was written, rolls back).
    async fn finish(&mut self, commit: bool) -> Result<(), Self::Error>;
    /// After a failed batch: rolls back, or drops a broken connection so
    /// the next batch starts on a new one.
    async fn reset(&mut self);

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
                for reply in replies {
                    let error = StoreError::Backend(message.clone().into());
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
    let plan = plan(appends, known, position, hash);
    if plan.writes_events() {
        writer.write(&plan).await?;
    }
    writer.finish(plan.writes_events()).await?;
    Ok(plan)
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

/// The reads a group-committed log's backend answers (its pool).
#[async_trait::async_trait]
pub trait LogReads: Send + Sync + 'static {
    type Error: std::error::Error + Send + Sync + 'static;

    async fn read_stream(
        &self,
        stream_id: &str,
        after_version: i64,
    ) -> Result<Vec<RecordedEvent>, Self::Error>;
    async fn read_all(
        &self,
        after_position: i64,
        limit: i64,
    ) -> Result<Vec<RecordedEvent>, Self::Error>;
    async fn read_payloads(
        &self,
        after_position: i64,
        limit: i64,
    ) -> Result<Vec<crate::envelope::Payload>, Self::Error>;
    async fn resolve_alias(&self, alias: &str) -> Result<Option<String>, Self::Error>;
    async fn idempotent_reply(
        &self,
        scope: &str,
        key: &str,
    ) -> Result<Option<StoredReply>, Self::Error>;
    async fn head_position(&self) -> Result<i64, Self::Error>;
}

/// Implements [`LogReads`] for a pool type by calling the functions of the
/// invoking module's `sql` module (one per statement, as every backend
/// has them).
#[cfg(any(feature = "postgres", feature = "sqlite"))]
macro_rules! log_reads_from_sql_module {
    ($pool:ty) => {
        #[async_trait::async_trait]
        impl $crate::batch::LogReads for $pool {
            type Error = sqlx::Error;

            async fn read_stream(
                &self,
                stream_id: &str,
                after_version: i64,
            ) -> Result<Vec<$crate::envelope::RecordedEvent>, sqlx::Error> {
                sql::read_stream(self, stream_id, after_version).await
            }

            async fn read_all(
                &self,
                after: i64,
                limit: i64,
            ) -> Result<Vec<$crate::envelope::RecordedEvent>, sqlx::Error> {
                sql::read_all(self, after, limit).await
            }

            async fn read_payloads(
                &self,
                after: i64,
                limit: i64,
            ) -> Result<Vec<$crate::envelope::Payload>, sqlx::Error> {
                sql::read_payloads(self, after, limit).await
            }

            async fn resolve_alias(&self, alias: &str) -> Result<Option<String>, sqlx::Error> {
                sql::resolve_alias(self, alias).await
            }

            async fn idempotent_reply(
                &self,
                scope: &str,
                key: &str,
            ) -> Result<Option<$crate::store::StoredReply>, sqlx::Error> {
                sql::idempotent_reply(self, scope, key).await
            }

            async fn head_position(&self) -> Result<i64, sqlx::Error> {
                sql::head_position(self).await
            }
        }
    };
}
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub(crate) use log_reads_from_sql_module;

fn backend<E: std::error::Error + Send + Sync + 'static>(e: E) -> StoreError {
    StoreError::Backend(Box::new(e))
}

/// An event log whose appends go through one group committer per process
/// and whose reads go to `pool`: the [`EventStore`] of every SQL backend.
pub struct GroupCommitLog<P> {
    pool: P,
    requests: mpsc::Sender<Request>,
    head: Arc<watch::Sender<i64>>,
    recent: Arc<Recent>,
    _tasks: Arc<Tasks>,
}

impl<P: Clone> Clone for GroupCommitLog<P> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            requests: self.requests.clone(),
            head: self.head.clone(),
            recent: self.recent.clone(),
            _tasks: self._tasks.clone(),
        }
    }
}

impl<P: LogReads> GroupCommitLog<P> {
    /// Starts the committer on `writer`, and `follow` (which moves the head
    /// watch it is given as other processes commit), on a migrated log.
    pub async fn launch<W, F>(
        pool: P,
        writer: W,
        follow: impl FnOnce(Arc<watch::Sender<i64>>) -> F,
    ) -> Result<Self, StoreError>
    where
        W: Writer,
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let current = pool.head_position().await.map_err(backend)?;
        let head = Arc::new(watch::channel(current).0);
        let (requests, queue) = mpsc::channel(QUEUE_DEPTH);
        let recent = Arc::new(Recent::default());
        let committer = tokio::spawn(run(writer, queue, head.clone(), recent.clone()));
        let follower = tokio::spawn(follow(head.clone()));
        Ok(Self {
            pool,
            requests,
            head,
            recent,
            _tasks: Arc::new(Tasks(vec![
                committer.abort_handle(),
                follower.abort_handle(),
            ])),
        })
    }

    pub fn pool(&self) -> &P {
        &self.pool
    }
}

#[async_trait::async_trait]
impl<P: LogReads> EventStore for GroupCommitLog<P> {
    async fn append(&self, append: Append) -> Result<Appended, AppendError> {
        submit(&self.requests, append).await
    }

    async fn read_stream(
        &self,
        stream_id: &StreamId,
        after_version: i64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.pool
            .read_stream(&stream_id.0, after_version)
            .await
            .map_err(backend)
    }

    async fn read_all(
        &self,
        after_position: i64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.pool
            .read_all(after_position, limit)
            .await
            .map_err(backend)
    }

    async fn read_payloads(
        &self,
        after_position: i64,
        limit: usize,
    ) -> Result<Vec<crate::envelope::Payload>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.pool
            .read_payloads(after_position, limit)
            .await
            .map_err(backend)
    }

    fn recent(&self, after_position: i64, limit: usize) -> Option<Vec<RecordedEvent>> {
        self.recent.after(after_position, limit)
    }

    async fn resolve_alias(&self, alias: &str) -> Result<Option<StreamId>, StoreError> {
        Ok(self
            .pool
            .resolve_alias(alias)
            .await
            .map_err(backend)?
            .map(StreamId))
    }

    async fn idempotent_reply(
        &self,
        scope: &str,
        key: &str,
    ) -> Result<Option<StoredReply>, StoreError> {
        self.pool
            .idempotent_reply(scope, key)
            .await
            .map_err(backend)
    }

    async fn head_position(&self) -> Result<i64, StoreError> {
        let position = self.pool.head_position().await.map_err(backend)?;
        advance(&self.head, position);
        Ok(position)
    }

    fn watch_head(&self) -> watch::Receiver<i64> {
        self.head.subscribe()
    }
}
