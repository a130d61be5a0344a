//! One meeting's cached state, and all that keeps it true to the log: it
//! is brought up to the log's tail (from its snapshot the first time),
//! moves only when the log took an append, is forgotten when an append's
//! outcome is unknown, and writes a snapshot when reading the events since
//! the last one would cost more than writing the state.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use events::{EventStore, MeetingId, RecordedEvent, Snapshot, StoreError, StreamId};

use crate::error::AppError;
use crate::meeting::{Meeting, SNAPSHOT_SCHEMA, evolve};

/// The fewest events between two snapshots of a meeting.
pub const SNAPSHOT_MIN_EVENTS: usize = 32;
/// How long a meeting counts as written by another process after a
/// conflict.
const CONTENDED_FOR: Duration = Duration::from_secs(1);
/// Cached meetings kept before idle ones are dropped.
const CACHE_CAPACITY: usize = 50_000;

/// The state of one meeting as this process last saw it.
#[derive(Default)]
pub(super) struct Slot {
    /// False until the slot has been read from the log.
    loaded: bool,
    pub(super) state: Option<Meeting>,
    pub(super) version: i64,
    pub(super) position: i64,
    /// Until then another process is writing this meeting too: read the
    /// log's tail before deciding, so this process's next command does not
    /// race ahead of the ones retrying after a conflict.
    contended_until: Option<Instant>,
    /// The version of the latest snapshot this process read or wrote.
    snapshot_version: i64,
}

impl Slot {
    pub(super) fn loaded(&self) -> bool {
        self.loaded
    }

    /// Whether another process wrote the meeting lately.
    pub(super) fn contended(&self) -> bool {
        self.contended_until
            .is_some_and(|until| Instant::now() < until)
    }

    /// Another process writes this meeting too: for a while, read the
    /// log's tail before deciding.
    pub(super) fn contend(&mut self) {
        self.contended_until = Some(Instant::now() + CONTENDED_FOR);
    }

    /// The outcome of an append is unknown (or the cache cannot be
    /// trusted): read everything again next time.
    pub(super) fn forget(&mut self) {
        *self = Self::default();
    }

    /// The log holds the meeting as `state` at `version` (its last event at
    /// `position`): after an append it took, or its events this process had
    /// not seen. Keeps a snapshot when one is due.
    pub(super) fn committed(
        &mut self,
        state: Option<Meeting>,
        version: i64,
        position: i64,
        store: &Arc<dyn EventStore>,
        stream_id: &StreamId,
    ) {
        self.state = state;
        self.version = version;
        self.position = position;
        self.keep_snapshot(store, stream_id);
    }

    /// Applies the events appended since the slot was last synced (a slot
    /// never loaded starts from the stream's snapshot, if it has one); on
    /// failure the slot is forgotten.
    pub(super) async fn refresh(
        &mut self,
        store: &Arc<dyn EventStore>,
        stream_id: &StreamId,
    ) -> Result<(), AppError> {
        let result = async {
            if !self.loaded {
                self.load_snapshot(store.as_ref(), stream_id).await?;
            }
            let tail = store.read_stream(stream_id, self.version).await?;
            self.apply(&tail)
        };
        match result.await {
            Ok(()) => {
                self.loaded = true;
                self.keep_snapshot(store, stream_id);
                Ok(())
            }
            Err(e) => {
                self.forget();
                Err(e)
            }
        }
    }

    /// Folds recorded events of this stream into the state.
    fn apply(&mut self, tail: &[RecordedEvent]) -> Result<(), AppError> {
        for recorded in tail {
            let event = recorded
                .decode()
                .map_err(|e| AppError::Infra(StoreError::Backend(Box::new(e))))?;
            self.state = evolve(self.state.take(), &event);
            self.version = recorded.stream_version;
            self.position = recorded.position;
        }
        Ok(())
    }

    /// Starts from the stream's snapshot, when there is one this code can
    /// fold on (another schema, or one that does not read back, is passed
    /// over: the log has everything).
    async fn load_snapshot(
        &mut self,
        store: &dyn EventStore,
        stream_id: &StreamId,
    ) -> Result<(), AppError> {
        let Some(snapshot) = store.read_snapshot(stream_id).await? else {
            return Ok(());
        };
        if snapshot.schema_version != SNAPSHOT_SCHEMA {
            return Ok(());
        }
        match serde_json::from_str::<Meeting>(&snapshot.state) {
            Ok(meeting) => {
                self.state = Some(meeting);
                self.version = snapshot.version;
                self.position = snapshot.position;
                self.snapshot_version = snapshot.version;
            }
            Err(e) => tracing::warn!(%stream_id, error = %e, "a snapshot that does not read back"),
        }
        Ok(())
    }

    /// Writes a snapshot (in the background) once reading the events since
    /// the last one would cost more than writing the state: after as many
    /// events as the state has entries, and at least
    /// [`SNAPSHOT_MIN_EVENTS`].
    fn keep_snapshot(&mut self, store: &Arc<dyn EventStore>, stream_id: &StreamId) {
        let Some(meeting) = &self.state else { return };
        let due = (self.version - self.snapshot_version) as usize
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
        self.snapshot_version = self.version;
        let snapshot = Snapshot {
            stream_id: stream_id.clone(),
            version: self.version,
            position: self.position,
            schema_version: SNAPSHOT_SCHEMA,
            state,
        };
        let store = store.clone();
        tokio::spawn(async move {
            if let Err(e) = store.write_snapshot(&snapshot).await {
                tracing::debug!(error = %e, "snapshot not written; a later one will be");
            }
        });
    }
}

/// Every meeting's slot: commands on one meeting take its slot's lock, so
/// they run one at a time in this process and never conflict with each
/// other.
#[derive(Default)]
pub(super) struct Slots {
    map: Mutex<HashMap<MeetingId, Arc<tokio::sync::Mutex<Slot>>>>,
}

impl Slots {
    /// The meeting's slot (a new, unloaded one the first time). Past
    /// [`CACHE_CAPACITY`], the slots nobody holds are dropped first.
    pub(super) fn of(&self, meeting_id: MeetingId) -> Arc<tokio::sync::Mutex<Slot>> {
        // A poisoned lock only means another thread panicked while holding
        // this map; the map itself is still consistent.
        let mut slots = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if slots.len() >= CACHE_CAPACITY && !slots.contains_key(&meeting_id) {
            slots.retain(|_, slot| Arc::strong_count(slot) > 1);
        }
        slots.entry(meeting_id).or_default().clone()
    }
}
