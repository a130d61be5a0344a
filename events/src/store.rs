//! The `EventStore` port: the one narrow interface every log backend
//! implements (PostgreSQL now, SQLite for the embedded default).
//!
//! Contract, checked by the store contract tests for every backend:
//! - `append` is atomic: all events of an [`Append`] commit or none do;
//! - the stream must be at `expected_version` (0 = must not exist), else
//!   [`AppendError::Conflict`], detected by an explicit version check;
//! - positions are global, 1-based, gapless and in commit order: a reader
//!   that has seen position N never later finds an unseen event below N;
//! - an append whose event ids are already in the log writes nothing and
//!   answers with the positions they already have;
//! - an append carrying an [`IdempotencyRecord`] whose key was used before
//!   writes nothing and answers with the first reply;
//! - an alias (a unique secondary name for a stream, such as a room code)
//!   can be claimed once, atomically with the append.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::watch;

use crate::envelope::{NewEvent, RecordedEvent};
use crate::ids::StreamId;

/// One atomic append to one stream.
#[derive(Debug, Clone)]
pub struct Append {
    pub stream_id: StreamId,
    /// The stream's current version as the caller saw it; 0 = no stream yet.
    pub expected_version: i64,
    pub events: Vec<NewEvent>,
    /// A unique alias to claim for the stream in the same transaction.
    pub alias: Option<String>,
    /// The reply to remember under a client's idempotency key.
    pub idempotency: Option<IdempotencyRecord>,
    /// How to decide the append again when the stream has moved past the
    /// expected version: then the log does so under its write lock, on the
    /// events the caller had not seen, instead of answering a conflict.
    pub rebase: Option<RebaseWith>,
}

impl Append {
    pub fn new(stream_id: StreamId, expected_version: i64, events: Vec<NewEvent>) -> Self {
        Self {
            stream_id,
            expected_version,
            events,
            alias: None,
            idempotency: None,
            rebase: None,
        }
    }
}

/// Decides an append again on the events of its stream it was not decided
/// on. Called by the log while it holds the write lock, so what it decides
/// is what the stream allows: it must be quick and do no I/O.
pub trait Rebase: Send + Sync {
    /// `tail`: the stream's events after the version the append expected,
    /// in order. Answers the events to append instead (none: nothing is
    /// left to do) and the reply to remember under the idempotency key, or
    /// why the append is refused now.
    fn rebase(
        &self,
        tail: &[RecordedEvent],
    ) -> Result<Rebased, Box<dyn std::error::Error + Send + Sync>>;
}

/// What a [`Rebase`] decided.
#[derive(Debug, Clone)]
pub struct Rebased {
    pub events: Vec<NewEvent>,
    pub reply: Option<serde_json::Value>,
}

/// A shared [`Rebase`] on an [`Append`].
#[derive(Clone)]
pub struct RebaseWith(pub std::sync::Arc<dyn Rebase>);

impl std::fmt::Debug for RebaseWith {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RebaseWith(..)")
    }
}

/// A client's idempotency key and the reply it must get on every retry.
#[derive(Debug, Clone, PartialEq)]
pub struct IdempotencyRecord {
    /// Who owns the key (keys of different callers never collide).
    pub scope: String,
    pub key: String,
    /// A digest of the request; a retry with another request is refused.
    pub fingerprint: String,
    pub reply: serde_json::Value,
}

/// A reply remembered under an idempotency key.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredReply {
    pub fingerprint: String,
    pub reply: serde_json::Value,
    /// The position of the last event the first request appended.
    pub position: i64,
}

/// A stream's state folded up to `version` (the event at `position`), kept
/// beside the log so that loading a long stream reads it and the events
/// after it. A cache: the log stays the truth, and `schema_version` names
/// the shape of `state` (JSON), so a reader ignores one it cannot fold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub stream_id: StreamId,
    pub version: i64,
    pub position: i64,
    pub schema_version: i32,
    pub state: String,
}

/// A snapshot of a stream as it stood at a past version, with the time
/// of the event at that version (for "as of a time").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PastSnapshot {
    pub snapshot: Snapshot,
    pub recorded_at: DateTime<Utc>,
}

/// What an append did.
#[derive(Debug, Clone, PartialEq)]
pub enum Appended {
    /// The events were written.
    Committed {
        first_position: i64,
        last_position: i64,
        stream_version: i64,
        recorded_at: DateTime<Utc>,
    },
    /// Every event id was already in the log; nothing was written.
    AlreadyCommitted {
        last_position: i64,
        stream_version: i64,
    },
    /// The idempotency key was used before; nothing was written.
    Replayed(StoredReply),
    /// Decided again on the stream's newer events ([`Rebase`]), the append
    /// had nothing left to write; the stream is at `stream_version`.
    Unchanged {
        last_position: i64,
        stream_version: i64,
    },
}

impl Appended {
    /// The position a reader must reach to see this append's effect.
    pub fn last_position(&self) -> i64 {
        match self {
            Self::Committed { last_position, .. }
            | Self::AlreadyCommitted { last_position, .. }
            | Self::Unchanged { last_position, .. } => *last_position,
            Self::Replayed(reply) => reply.position,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error("stream {stream_id} is at version {actual}, not {expected}")]
    Conflict {
        stream_id: StreamId,
        expected: i64,
        actual: i64,
    },
    #[error("alias {0} is taken")]
    AliasTaken(String),
    #[error("an append needs at least one event")]
    Empty,
    #[error("payload refused by the log: {0}")]
    InvalidPayload(String),
    /// Decided again on the stream's newer events ([`Rebase`]), the append
    /// is refused: the caller's own reason.
    #[error("refused when decided again: {0}")]
    Refused(Box<dyn std::error::Error + Send + Sync>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A failure of the backend itself (I/O, a broken row): never a rule.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("event log backend: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The database cannot be reached now (down, overloaded, timed out):
    /// worth trying again shortly.
    #[error("event log unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("event log writer stopped")]
    WriterGone,
}

/// How far into a stream [`EventStore::read_stream_until`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// Its events at or before this log position.
    Position(i64),
    /// Its events recorded at or before this time.
    Time(chrono::DateTime<chrono::Utc>),
}

#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Appends atomically; see the module contract.
    async fn append(&self, append: Append) -> Result<Appended, AppendError>;

    /// The stream's latest snapshot, if one was written.
    async fn read_snapshot(&self, stream_id: &StreamId) -> Result<Option<Snapshot>, StoreError>;

    /// Keeps a snapshot unless one of a later version is there already.
    async fn write_snapshot(&self, snapshot: &Snapshot) -> Result<(), StoreError>;

    /// The stream's events with a version above `after_version`, in order.
    async fn read_stream(
        &self,
        stream_id: &StreamId,
        after_version: i64,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// At most `limit` of the stream's events with a position above
    /// `after_position`, in order: a page of one meeting's log, read
    /// without reading what comes before it.
    async fn read_stream_after(
        &self,
        stream_id: &StreamId,
        after_position: i64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// The stream's events after `after_version` up to `until`
    /// (inclusive), in order, with only the columns a fold needs: the
    /// meeting as it stood then.
    async fn read_stream_until(
        &self,
        stream_id: &StreamId,
        after_version: i64,
        until: Until,
    ) -> Result<Vec<crate::envelope::Payload>, StoreError>;

    /// The latest past snapshot of the stream, of this schema, at or
    /// before `until`.
    async fn read_past_snapshot(
        &self,
        stream_id: &StreamId,
        schema_version: i32,
        until: Until,
    ) -> Result<Option<PastSnapshot>, StoreError>;

    /// Keeps a past snapshot (one of a version already kept changes
    /// nothing).
    async fn write_past_snapshot(&self, snapshot: &PastSnapshot) -> Result<(), StoreError>;

    /// At most `limit` events with a position above `after_position`, in order.
    async fn read_all(
        &self,
        after_position: i64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// [`read_all`](Self::read_all) with only the columns a read model
    /// needs.
    async fn read_payloads(
        &self,
        after_position: i64,
        limit: usize,
    ) -> Result<Vec<crate::envelope::Payload>, StoreError>;

    /// The stream an alias names.
    async fn resolve_alias(&self, alias: &str) -> Result<Option<StreamId>, StoreError>;

    /// The reply remembered under an idempotency key.
    async fn idempotent_reply(
        &self,
        scope: &str,
        key: &str,
    ) -> Result<Option<StoredReply>, StoreError>;

    /// Events right after `after_position` that this process committed
    /// itself and still holds in memory, at most `limit`, in order: a
    /// prefix of what [`read_all`](Self::read_all) answers, never empty.
    /// None when it does not hold the next position (read the log).
    fn recent(&self, _after_position: i64, _limit: usize) -> Option<Vec<RecordedEvent>> {
        None
    }

    /// The last committed position, read from the log.
    async fn head_position(&self) -> Result<i64, StoreError>;

    /// Follows the last committed position this process knows of: its own
    /// commits at once, other processes' commits as the backend signals them.
    /// A hint for waking readers, never a substitute for reading the log.
    fn watch_head(&self) -> watch::Receiver<i64>;
}
