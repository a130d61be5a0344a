//! Group commit: one task turns every append waiting in its queue into one
//! transaction.
//!
//! A batch costs four round trips on the committer's own connection: BEGIN
//! with the head row lock; one read of everything to check (stream
//! versions, existing event ids, aliases; idempotency keys when there are
//! any), which must follow the lock so its snapshot includes the previous
//! holder's commit; one statement that writes the events (`INSERT ...
//! UNNEST`), aliases, remembered replies and the new head and queues the
//! NOTIFY; and COMMIT. Each append is decided in queue order against that
//! state, so two appends to one stream in one batch see each other. Appends
//! refused by a check get their own answer; the rest of the batch commits.
//! If the transaction itself fails, every append in it gets the error, and
//! none of them was written.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use tokio::sync::{mpsc, oneshot, watch};
use uuid::Uuid;

use super::advance;
use super::sql::{self, BatchWrites, EventColumns};
use crate::hash::{HashInput, chain};
use crate::store::{Append, AppendError, Appended, StoreError, StoredReply};

/// Most appends one transaction carries.
const MAX_BATCH: usize = 512;

pub struct Request {
    pub append: Append,
    pub reply: oneshot::Sender<Result<Appended, AppendError>>,
}

pub async fn run(pool: PgPool, mut queue: mpsc::Receiver<Request>, head: Arc<watch::Sender<i64>>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    // The committer's own connection: no pool hand-off per batch.
    let mut connection: Option<PgConnection> = None;
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let requests = std::mem::take(&mut batch);
        let (appends, replies): (Vec<_>, Vec<_>) =
            requests.into_iter().map(|r| (r.append, r.reply)).unzip();
        let result = match connection.as_mut() {
            Some(conn) => commit(conn, &appends).await,
            None => match pool.acquire().await {
                Ok(conn) => commit(connection.insert(conn.detach()), &appends).await,
                Err(e) => Err(e),
            },
        };
        match result {
            Ok((outcomes, last_position)) => {
                advance(&head, last_position);
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(outcome);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, appends = appends.len(), "group commit failed");
                // Roll back if the connection still works; otherwise start
                // the next batch on a new one.
                if let Some(conn) = connection.as_mut()
                    && sql::finish(conn, false).await.is_err()
                {
                    connection = None;
                }
                let message = e.to_string();
                for reply in replies {
                    let error = StoreError::Backend(message.clone().into());
                    let _ = reply.send(Err(AppendError::Store(error)));
                }
            }
        }
    }
}

/// What the batch already knows when it decides each append.
struct Known {
    versions: HashMap<String, i64>,
    existing: HashMap<Uuid, (i64, i64)>,
    aliases: HashSet<String>,
    replies: HashMap<(String, String), StoredReply>,
}

async fn commit(
    conn: &mut PgConnection,
    appends: &[Append],
) -> Result<(Vec<Result<Appended, AppendError>>, i64), sqlx::Error> {
    let (mut position, mut hash) = sql::begin_and_lock_head(conn).await?;
    let recorded_at = now_micros();
    let mut known = read_known(conn, appends).await?;

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
                let next = chain(
                    &hash,
                    &HashInput {
                        position,
                        event_id: event.event_id.0,
                        stream_id: &append.stream_id.0,
                        stream_version: version,
                        event_type: &event.event_type,
                        schema_version: event.schema_version,
                        data: &event.data,
                        metadata: &event.metadata,
                        recorded_at,
                    },
                );
                rows.position.push(position);
                rows.event_id.push(event.event_id.0);
                rows.stream_id.push(append.stream_id.0.clone());
                rows.stream_version.push(version);
                rows.event_type.push(event.event_type.clone());
                rows.schema_version.push(event.schema_version);
                rows.data.push(canonical_text(&event.data));
                rows.metadata.push(canonical_text(&event.metadata));
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
        outcomes.push(outcome.or_else(|refusal| refusal.into_outcome()));
    }

    let wrote = !rows.position.is_empty();
    if wrote {
        sql::write_batch(conn, &rows, recorded_at, &writes, &hash).await?;
    }
    sql::finish(conn, wrote).await?;
    Ok((outcomes, position))
}

/// JSON text for a `::jsonb` cast (canonical, so the stored value hashes
/// the same when read back).
fn canonical_text(value: &serde_json::Value) -> String {
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
    // PostgreSQL's JSONB cannot hold U+0000; refuse the one append rather
    // than fail the whole batch.
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

async fn read_known(conn: &mut PgConnection, appends: &[Append]) -> Result<Known, sqlx::Error> {
    let stream_ids: Vec<String> = appends
        .iter()
        .map(|a| a.stream_id.0.clone())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let event_ids: Vec<Uuid> = appends
        .iter()
        .flat_map(|a| a.events.iter().map(|e| e.event_id.0))
        .collect();
    let aliases: Vec<String> = appends.iter().filter_map(|a| a.alias.clone()).collect();
    let checks = sql::read_checks(conn, &stream_ids, &event_ids, &aliases).await?;

    let (scopes, keys): (Vec<String>, Vec<String>) = appends
        .iter()
        .filter_map(|a| a.idempotency.as_ref())
        .map(|r| (r.scope.clone(), r.key.clone()))
        .unzip();
    let replies = if keys.is_empty() {
        HashMap::new()
    } else {
        sql::idempotent_replies(conn, &scopes, &keys).await?
    };
    Ok(Known {
        versions: checks.versions,
        existing: checks.existing,
        aliases: checks.taken_aliases.into_iter().collect(),
        replies,
    })
}

/// Now, at the microsecond precision the log stores (the hash covers it).
fn now_micros() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}
