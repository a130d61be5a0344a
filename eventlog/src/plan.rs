//! Group commit's decisions, the part every backend shares: given the
//! appends waiting in a committer's queue and what the log already holds
//! ([`Known`]), decide each append in queue order and lay out the rows one
//! transaction writes ([`Plan`]). Pure: no I/O, no clock but the one
//! timestamp the batch is recorded at.
//!
//! A backend's writer only does the I/O around it (see
//! [`crate::committer`]): open a write transaction that serialises
//! position assignment, read the head and the [`Known`] state, write the
//! [`Plan`], commit. Appends refused by a check get their own answer; the
//! rest of the batch commits. Two appends to one stream in one batch see
//! each other, because each decision updates [`Known`] before the next.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use events::envelope::MAX_PAYLOAD_BYTES;
use events::hash::{HashInput, canonical_text, chain};
use events::store::{Append, AppendError, Appended, StoredReply};

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
    let recorded_at = events::time::now();
    let mut position = head_position;
    let mut hash = head_hash;
    let mut rows = EventColumns::default();
    let mut writes = BatchWrites::default();
    let mut outcomes = Vec::with_capacity(appends.len());

    for append in appends {
        // Each event's data and metadata as the log stores and hashes them.
        let encoded: Vec<(String, String)> = append
            .events
            .iter()
            .map(|e| (canonical_text(&e.data), canonical_text(&e.metadata)))
            .collect();
        let outcome = decide(append, &encoded, &known).map(|()| {
            let first_position = position + 1;
            let mut version = append.expected_version;
            for (event, (data, metadata)) in append.events.iter().zip(encoded) {
                position += 1;
                version += 1;
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
fn decide(append: &Append, encoded: &[(String, String)], known: &Known) -> Result<(), Refusal> {
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
    // Every event must fit the bus whole (NATS takes 1 MiB by default):
    // bounded here, where every event passes, whatever wrote it.
    let too_large = encoded
        .iter()
        .any(|(data, metadata)| data.len() + metadata.len() > MAX_PAYLOAD_BYTES);
    if too_large {
        return Err(Refusal::Error(AppendError::InvalidPayload(format!(
            "an event's data and metadata must be at most {} KiB encoded",
            MAX_PAYLOAD_BYTES / 1024
        ))));
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
