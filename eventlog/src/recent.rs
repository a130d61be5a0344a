//! The events this process committed last, kept in memory so that the
//! relay publishes them without reading them back from the log.
//!
//! The committer hands every batch it wrote to [`Recent::push`] before it
//! moves the head watch, so a reader woken by the head finds it here. Only
//! a run of consecutive positions is kept: a batch that does not follow
//! the last one (another process wrote in between) starts the run anew,
//! and the oldest batches go once more than [`KEEP`] events are held. An
//! answer always starts right after the position asked for and has no
//! gap, so it is a prefix of what the log itself answers; what the run
//! does not hold is read from the log.
//!
//! In the `http` benchmark the relay's reads of the log were 6% of the
//! process and one more query per commit for PostgreSQL.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use crate::plan::EventColumns;
use events::envelope::{RawJson, RecordedEvent};
use events::ids::{EventId, StreamId};

/// About how many events are held (whole batches; at least the last one).
pub const KEEP: usize = 4096;

/// One committed batch, as the committer wrote it.
struct Committed {
    recorded_at: DateTime<Utc>,
    rows: EventColumns,
}

impl Committed {
    fn first(&self) -> i64 {
        self.rows.position.first().copied().unwrap_or(0)
    }

    fn last(&self) -> i64 {
        self.rows.position.last().copied().unwrap_or(0)
    }

    /// The event at `index` of the batch; None if its JSON does not parse
    /// back (never: the committer wrote canonical JSON).
    fn event(&self, index: usize) -> Option<RecordedEvent> {
        let rows = &self.rows;
        Some(RecordedEvent {
            position: rows.position[index],
            event_id: EventId(rows.event_id[index]),
            stream_id: StreamId(rows.stream_id[index].clone()),
            stream_version: rows.stream_version[index],
            event_type: rows.event_type[index].clone(),
            schema_version: rows.schema_version[index],
            data: RawJson::from_string(rows.data[index].clone()).ok()?,
            metadata: RawJson::from_string(rows.metadata[index].clone()).ok()?,
            recorded_at: self.recorded_at,
            prev_hash: rows.prev_hash[index].clone(),
            hash: rows.hash[index].clone(),
        })
    }
}

#[derive(Default)]
pub struct Recent {
    run: Mutex<Run>,
}

#[derive(Default)]
struct Run {
    batches: VecDeque<Arc<Committed>>,
    events: usize,
}

impl Recent {
    /// Keeps a batch the committer wrote (positions consecutive, as
    /// written).
    pub fn push(&self, recorded_at: DateTime<Utc>, rows: EventColumns) {
        if rows.position.is_empty() {
            return;
        }
        let batch = Arc::new(Committed { recorded_at, rows });
        let mut run = self.run.lock().unwrap_or_else(|e| e.into_inner());
        if run
            .batches
            .back()
            .is_some_and(|b| b.last() + 1 != batch.first())
        {
            run.batches.clear();
            run.events = 0;
        }
        run.events += batch.rows.position.len();
        run.batches.push_back(batch);
        while run.events > KEEP && run.batches.len() > 1 {
            if let Some(old) = run.batches.pop_front() {
                run.events -= old.rows.position.len();
            }
        }
    }

    /// At most `limit` events from `after + 1` on, in order, if this
    /// process holds `after + 1`; None otherwise (read the log).
    pub fn after(&self, after: i64, limit: usize) -> Option<Vec<RecordedEvent>> {
        let from = after.checked_add(1)?;
        if limit == 0 {
            return None;
        }
        let batches: Vec<Arc<Committed>> = {
            let run = self.run.lock().unwrap_or_else(|e| e.into_inner());
            // Batches are in position order: found by bisection, and only
            // as many taken as `limit` needs (a reader of one event right
            // after its commit takes one batch, not the rest of the run).
            let start = run.batches.partition_point(|b| b.last() < from);
            if run.batches.get(start)?.first() > from {
                return None;
            }
            let mut needed = limit as i64;
            let mut taken = Vec::new();
            for batch in run.batches.range(start..) {
                taken.push(batch.clone());
                needed -= batch.last() - batch.first().max(from) + 1;
                if needed <= 0 {
                    break;
                }
            }
            taken
        };
        let mut events = Vec::new();
        for batch in &batches {
            // Only the first batch starts before `from`.
            let skip = usize::try_from(from - batch.first()).unwrap_or(0);
            for index in skip..batch.rows.position.len() {
                if events.len() == limit {
                    return Some(events);
                }
                events.push(batch.event(index)?);
            }
        }
        (!events.is_empty()).then_some(events)
    }
}
