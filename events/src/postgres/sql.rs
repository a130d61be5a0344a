//! The SQL of the PostgreSQL event log, one small function per statement.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use crate::envelope::RecordedEvent;
use crate::ids::{EventId, StreamId};
use crate::store::StoredReply;

#[derive(sqlx::FromRow)]
struct EventRow {
    position: i64,
    event_id: Uuid,
    stream_id: String,
    stream_version: i64,
    event_type: String,
    schema_version: i16,
    data: serde_json::Value,
    metadata: serde_json::Value,
    recorded_at: DateTime<Utc>,
    prev_hash: Vec<u8>,
    hash: Vec<u8>,
}

impl From<EventRow> for RecordedEvent {
    fn from(row: EventRow) -> Self {
        Self {
            position: row.position,
            event_id: EventId(row.event_id),
            stream_id: StreamId(row.stream_id),
            stream_version: row.stream_version,
            event_type: row.event_type,
            schema_version: row.schema_version,
            data: row.data,
            metadata: row.metadata,
            recorded_at: row.recorded_at,
            prev_hash: row.prev_hash,
            hash: row.hash,
        }
    }
}

const COLUMNS: &str = "position, event_id, stream_id, stream_version, event_type, \
     schema_version, data, metadata, recorded_at, prev_hash, hash";

#[tracing::instrument(level = "trace", skip(db))]
pub async fn read_stream(
    db: impl PgExecutor<'_>,
    stream_id: &str,
    after_version: i64,
) -> Result<Vec<RecordedEvent>, sqlx::Error> {
    let query = format!(
        "SELECT {COLUMNS} FROM events WHERE stream_id = $1 AND stream_version > $2 \
         ORDER BY stream_version"
    );
    let rows: Vec<EventRow> = sqlx::query_as(&query)
        .bind(stream_id)
        .bind(after_version)
        .fetch_all(db)
        .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

#[tracing::instrument(level = "trace", skip(db))]
pub async fn read_all(
    db: impl PgExecutor<'_>,
    after_position: i64,
    limit: i64,
) -> Result<Vec<RecordedEvent>, sqlx::Error> {
    let query =
        format!("SELECT {COLUMNS} FROM events WHERE position > $1 ORDER BY position LIMIT $2");
    let rows: Vec<EventRow> = sqlx::query_as(&query)
        .bind(after_position)
        .bind(limit)
        .fetch_all(db)
        .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

pub async fn head_position(db: impl PgExecutor<'_>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT position FROM event_log_head")
        .fetch_one(db)
        .await
}

/// Locks the head row for the rest of the transaction: the one point where
/// appends from every process queue up.
pub async fn lock_head(tx: &mut PgConnection) -> Result<(i64, Vec<u8>), sqlx::Error> {
    sqlx::query_as("SELECT position, hash FROM event_log_head FOR UPDATE")
        .fetch_one(tx)
        .await
}

pub async fn move_head(
    tx: &mut PgConnection,
    position: i64,
    hash: &[u8],
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE event_log_head SET position = $1, hash = $2")
        .bind(position)
        .bind(hash)
        .execute(tx)
        .await?;
    Ok(())
}

/// The current version of each stream that has events.
pub async fn stream_versions(
    tx: &mut PgConnection,
    stream_ids: &[String],
) -> Result<HashMap<String, i64>, sqlx::Error> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT stream_id, max(stream_version) FROM events \
         WHERE stream_id = ANY($1) GROUP BY stream_id",
    )
    .bind(stream_ids)
    .fetch_all(tx)
    .await?;
    Ok(rows.into_iter().collect())
}

/// Where the given event ids already sit in the log.
pub async fn existing_events(
    tx: &mut PgConnection,
    event_ids: &[Uuid],
) -> Result<HashMap<Uuid, (i64, i64)>, sqlx::Error> {
    let rows: Vec<(Uuid, i64, i64)> = sqlx::query_as(
        "SELECT event_id, position, stream_version FROM events WHERE event_id = ANY($1)",
    )
    .bind(event_ids)
    .fetch_all(tx)
    .await?;
    Ok(rows.into_iter().map(|(id, p, v)| (id, (p, v))).collect())
}

/// The rows of one batch, column by column, for one `INSERT ... UNNEST`.
#[derive(Default)]
pub struct EventColumns {
    pub position: Vec<i64>,
    pub event_id: Vec<Uuid>,
    pub stream_id: Vec<String>,
    pub stream_version: Vec<i64>,
    pub event_type: Vec<String>,
    pub schema_version: Vec<i16>,
    pub data: Vec<String>,
    pub metadata: Vec<String>,
    pub prev_hash: Vec<Vec<u8>>,
    pub hash: Vec<Vec<u8>>,
}

pub async fn insert_events(
    tx: &mut PgConnection,
    rows: &EventColumns,
    recorded_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO events (position, event_id, stream_id, stream_version, event_type, \
             schema_version, data, metadata, recorded_at, prev_hash, hash) \
         SELECT p, e, s, v, t, sv, d::jsonb, m::jsonb, $9, ph, h \
         FROM UNNEST($1::int8[], $2::uuid[], $3::text[], $4::int8[], $5::text[], \
                     $6::int2[], $7::text[], $8::text[], $10::bytea[], $11::bytea[]) \
              AS u(p, e, s, v, t, sv, d, m, ph, h)",
    )
    .bind(&rows.position)
    .bind(&rows.event_id)
    .bind(&rows.stream_id)
    .bind(&rows.stream_version)
    .bind(&rows.event_type)
    .bind(&rows.schema_version)
    .bind(&rows.data)
    .bind(&rows.metadata)
    .bind(recorded_at)
    .bind(&rows.prev_hash)
    .bind(&rows.hash)
    .execute(tx)
    .await?;
    Ok(())
}

pub async fn taken_aliases(
    tx: &mut PgConnection,
    aliases: &[String],
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT alias FROM stream_aliases WHERE alias = ANY($1)")
        .bind(aliases)
        .fetch_all(tx)
        .await
}

pub async fn insert_aliases(
    tx: &mut PgConnection,
    aliases: &[String],
    stream_ids: &[String],
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO stream_aliases (alias, stream_id) SELECT * FROM UNNEST($1::text[], $2::text[])")
        .bind(aliases)
        .bind(stream_ids)
        .execute(tx)
        .await?;
    Ok(())
}

pub async fn resolve_alias(
    db: impl PgExecutor<'_>,
    alias: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT stream_id FROM stream_aliases WHERE alias = $1")
        .bind(alias)
        .fetch_optional(db)
        .await
}

pub async fn idempotent_reply(
    db: impl PgExecutor<'_>,
    scope: &str,
    key: &str,
) -> Result<Option<StoredReply>, sqlx::Error> {
    let row: Option<(String, serde_json::Value, i64)> = sqlx::query_as(
        "SELECT fingerprint, reply, position FROM idempotency_keys WHERE scope = $1 AND key = $2",
    )
    .bind(scope)
    .bind(key)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|(fingerprint, reply, position)| StoredReply {
        fingerprint,
        reply,
        position,
    }))
}

/// The replies already stored under any of the (scope, key) pairs.
pub async fn idempotent_replies(
    tx: &mut PgConnection,
    scopes: &[String],
    keys: &[String],
) -> Result<HashMap<(String, String), StoredReply>, sqlx::Error> {
    let rows: Vec<(String, String, String, serde_json::Value, i64)> = sqlx::query_as(
        "SELECT i.scope, i.key, i.fingerprint, i.reply, i.position FROM idempotency_keys i \
         JOIN UNNEST($1::text[], $2::text[]) AS u(scope, key) \
           ON i.scope = u.scope AND i.key = u.key",
    )
    .bind(scopes)
    .bind(keys)
    .fetch_all(tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(scope, key, fingerprint, reply, position)| {
            (
                (scope, key),
                StoredReply {
                    fingerprint,
                    reply,
                    position,
                },
            )
        })
        .collect())
}

pub async fn insert_idempotency(
    tx: &mut PgConnection,
    scope: &str,
    key: &str,
    fingerprint: &str,
    reply: &serde_json::Value,
    position: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO idempotency_keys (scope, key, fingerprint, reply, position) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(scope)
    .bind(key)
    .bind(fingerprint)
    .bind(reply)
    .bind(position)
    .execute(tx)
    .await?;
    Ok(())
}

pub async fn notify_commit(tx: &mut PgConnection, position: i64) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(super::NOTIFY_CHANNEL)
        .bind(position.to_string())
        .execute(tx)
        .await?;
    Ok(())
}
