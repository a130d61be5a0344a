//! Group commit: one task turns every append waiting in its queue into one
//! transaction.
//!
//! A batch takes the head row lock, reads what it must check (stream
//! versions, existing event ids, aliases, idempotency keys) in a few set
//! queries, decides each append in queue order against that state (so two
//! appends to one stream in one batch see each other), writes every accepted
//! event with one `INSERT ... UNNEST`, moves the head and commits. Appends
//! refused by a check get their own answer; the rest of the batch commits.
//! If the transaction itself fails, every append in it gets the error, and
//! none of them was written.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot, watch};
use uuid::Uuid;

use super::advance;
use super::sql::{self, EventColumns};
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
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let requests = std::mem::take(&mut batch);
        let (appends, replies): (Vec<_>, Vec<_>) =
            requests.into_iter().map(|r| (r.append, r.reply)).unzip();
        match commit(&pool, &appends).await {
            Ok((outcomes, last_position)) => {
                advance(&head, last_position);
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(outcome);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, appends = appends.len(), "group commit failed");
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
    pool: &PgPool,
    appends: &[Append],
) -> Result<(Vec<Result<Appended, AppendError>>, i64), sqlx::Error> {
    let mut tx = pool.begin().await?;
    let (mut position, mut hash) = sql::lock_head(&mut tx).await?;
    let recorded_at = now_micros();
    let mut known = read_known(&mut tx, appends).await?;

    let mut rows = EventColumns::default();
    let mut new_aliases: (Vec<String>, Vec<String>) = Default::default();
    let mut new_replies = Vec::new();
    let mut outcomes = Vec::with_capacity(appends.len());

    for append in appends {
        let outcome = decide(append, &known).map(|()| {
            let first_position = position + 1;
            let mut version = append.expected_version;
            for event in &append.events {
                position += 1;
                version += 1;
                let data =
                    String::from_utf8(crate::hash::canonical_json(&event.data)).unwrap_or_default();
                let metadata = String::from_utf8(crate::hash::canonical_json(&event.metadata))
                    .unwrap_or_default();
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
                new_aliases.0.push(alias.clone());
                new_aliases.1.push(append.stream_id.0.clone());
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
                new_replies.push((record, position));
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

    if !rows.position.is_empty() {
        sql::insert_events(&mut tx, &rows, recorded_at).await?;
        if !new_aliases.0.is_empty() {
            sql::insert_aliases(&mut tx, &new_aliases.0, &new_aliases.1).await?;
        }
        for (record, at) in new_replies {
            sql::insert_idempotency(
                &mut tx,
                &record.scope,
                &record.key,
                &record.fingerprint,
                &record.reply,
                at,
            )
            .await?;
        }
        sql::move_head(&mut tx, position, &hash).await?;
        sql::notify_commit(&mut tx, position).await?;
        tx.commit().await?;
    } else {
        tx.rollback().await?;
    }
    Ok((outcomes, position))
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

async fn read_known(tx: &mut sqlx::PgConnection, appends: &[Append]) -> Result<Known, sqlx::Error> {
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
    let versions = sql::stream_versions(tx, &stream_ids).await?;
    let existing = sql::existing_events(tx, &event_ids).await?;

    let aliases: Vec<String> = appends.iter().filter_map(|a| a.alias.clone()).collect();
    let aliases = if aliases.is_empty() {
        HashSet::new()
    } else {
        sql::taken_aliases(tx, &aliases)
            .await?
            .into_iter()
            .collect()
    };

    let (scopes, keys): (Vec<String>, Vec<String>) = appends
        .iter()
        .filter_map(|a| a.idempotency.as_ref())
        .map(|r| (r.scope.clone(), r.key.clone()))
        .unzip();
    let replies = if keys.is_empty() {
        HashMap::new()
    } else {
        sql::idempotent_replies(tx, &scopes, &keys).await?
    };
    Ok(Known {
        versions,
        existing,
        aliases,
        replies,
    })
}

/// Now, at the microsecond precision the log stores (the hash covers it).
fn now_micros() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}
