//! The SQL of the SQLite event log, one small function per statement.
//!
//! Ids and JSON are text, timestamps fixed-width RFC 3339 text (see
//! [`crate::time`]), hashes blobs. A batch passes its lookups as one JSON
//! array per kind (`json_each`), so a check is one statement however many
//! appends the batch holds.

use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection, SqliteExecutor};
use uuid::Uuid;

use crate::as_of_sql::{self, PAYLOAD_COLUMNS};
use crate::plan::{Known, Lookups, Plan};
use events::envelope::{Payload, RawJson, RecordedEvent};
use events::ids::{EventId, StreamId};
use events::store::{PastSnapshot, Snapshot, StoredReply, Until};

const COLUMNS: &str = "position, event_id, stream_id, stream_version, event_type, \
     schema_version, data, metadata, recorded_at, prev_hash, hash";

fn decode<E: std::error::Error + Send + Sync + 'static>(e: E) -> sqlx::Error {
    sqlx::Error::Decode(Box::new(e))
}

fn event(row: &SqliteRow) -> Result<RecordedEvent, sqlx::Error> {
    let event_id: String = row.try_get("event_id")?;
    let data: String = row.try_get("data")?;
    let metadata: String = row.try_get("metadata")?;
    Ok(RecordedEvent {
        position: row.try_get("position")?,
        event_id: EventId(Uuid::parse_str(&event_id).map_err(decode)?),
        stream_id: StreamId(row.try_get("stream_id")?),
        stream_version: row.try_get("stream_version")?,
        event_type: row.try_get("event_type")?,
        schema_version: row.try_get("schema_version")?,
        data: RawJson::from_string(data).map_err(decode)?,
        metadata: RawJson::from_string(metadata).map_err(decode)?,
        recorded_at: timestamp(row)?,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

pub async fn read_stream(
    db: impl SqliteExecutor<'_>,
    stream_id: &str,
    after_version: i64,
) -> Result<Vec<RecordedEvent>, sqlx::Error> {
    let query = format!(
        "SELECT {COLUMNS} FROM events WHERE stream_id = $1 AND stream_version > $2 \
         ORDER BY stream_version"
    );
    let rows = sqlx::query(&query)
        .bind(stream_id)
        .bind(after_version)
        .fetch_all(db)
        .await?;
    rows.iter().map(event).collect()
}

/// A page of one stream by position (`stream_page_sql`).
pub async fn read_stream_after(
    db: impl SqliteExecutor<'_>,
    stream_id: &str,
    after_position: i64,
    limit: i64,
) -> Result<Vec<RecordedEvent>, sqlx::Error> {
    let query = crate::stream_page_sql::stream_after(COLUMNS);
    let rows = sqlx::query(&query)
        .bind(stream_id)
        .bind(after_position)
        .bind(limit)
        .fetch_all(db)
        .await?;
    rows.iter().map(event).collect()
}

pub async fn read_all(
    db: impl SqliteExecutor<'_>,
    after_position: i64,
    limit: i64,
) -> Result<Vec<RecordedEvent>, sqlx::Error> {
    let query =
        format!("SELECT {COLUMNS} FROM events WHERE position > $1 ORDER BY position LIMIT $2");
    let rows = sqlx::query(&query)
        .bind(after_position)
        .bind(limit)
        .fetch_all(db)
        .await?;
    rows.iter().map(event).collect()
}

pub async fn read_payloads(
    db: impl SqliteExecutor<'_>,
    after_position: i64,
    limit: i64,
) -> Result<Vec<Payload>, sqlx::Error> {
    let query = format!(
        "SELECT {PAYLOAD_COLUMNS} FROM events WHERE position > $1 ORDER BY position LIMIT $2"
    );
    let rows = sqlx::query(&query)
        .bind(after_position)
        .bind(limit)
        .fetch_all(db)
        .await?;
    rows.iter().map(payload).collect()
}

fn payload(row: &SqliteRow) -> Result<Payload, sqlx::Error> {
    Ok(Payload {
        position: row.try_get("position")?,
        event_type: row.try_get("event_type")?,
        schema_version: row.try_get("schema_version")?,
        data: RawJson::from_string(row.try_get("data")?).map_err(decode)?,
        recorded_at: timestamp(row)?,
    })
}

fn timestamp(row: &SqliteRow) -> Result<DateTime<Utc>, sqlx::Error> {
    let text: String = row.try_get("recorded_at")?;
    Ok(DateTime::parse_from_rfc3339(&text)
        .map_err(decode)?
        .with_timezone(&Utc))
}

/// A stream up to a position or a time (timestamps are fixed-width text,
/// so they compare as text).
pub async fn read_stream_until(
    db: impl SqliteExecutor<'_>,
    stream_id: &str,
    after_version: i64,
    until: Until,
) -> Result<Vec<Payload>, sqlx::Error> {
    let query = as_of_sql::stream_until(until);
    let query = sqlx::query(&query).bind(stream_id);
    let query = match until {
        Until::Position(position) => query.bind(position),
        Until::Time(time) => query.bind(events::time::text(time)),
    };
    let rows = query.bind(after_version).fetch_all(db).await?;
    rows.iter().map(payload).collect()
}

/// The latest past snapshot of a schema at or before a bound.
pub async fn read_past_snapshot(
    db: impl SqliteExecutor<'_>,
    stream_id: &str,
    schema_version: i32,
    until: Until,
) -> Result<Option<PastSnapshot>, sqlx::Error> {
    let query = as_of_sql::past_snapshot(until);
    let query = sqlx::query(&query).bind(stream_id).bind(schema_version);
    let query = match until {
        Until::Position(position) => query.bind(position),
        Until::Time(time) => query.bind(events::time::text(time)),
    };
    let Some(row) = query.fetch_optional(db).await? else {
        return Ok(None);
    };
    Ok(Some(PastSnapshot {
        snapshot: Snapshot {
            stream_id: StreamId(stream_id.to_owned()),
            version: row.try_get("version")?,
            position: row.try_get("position")?,
            schema_version,
            state: row.try_get("state")?,
        },
        recorded_at: timestamp(&row)?,
    }))
}

/// Written at the file's gate, as every write of this process.
pub async fn write_past_snapshot(
    pool: &sqlx::SqlitePool,
    past: &PastSnapshot,
) -> Result<(), sqlx::Error> {
    let gate = crate::gate::for_file(pool.connect_options().get_filename());
    let _turn = gate.lock().await;
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    sqlx::query(as_of_sql::KEEP_PAST_SNAPSHOT)
        .bind(&past.snapshot.stream_id.0)
        .bind(past.snapshot.version)
        .bind(past.snapshot.position)
        .bind(events::time::text(past.recorded_at))
        .bind(past.snapshot.schema_version)
        .bind(&past.snapshot.state)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

pub async fn head_position(db: impl SqliteExecutor<'_>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT position FROM event_log_head")
        .fetch_one(db)
        .await
}

/// Takes the file's write lock (waiting up to the busy timeout).
pub async fn begin_immediate(conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
    use sqlx::Executor;
    conn.execute("BEGIN IMMEDIATE").await?;
    Ok(())
}

pub async fn head(conn: &mut SqliteConnection) -> Result<(i64, Vec<u8>), sqlx::Error> {
    sqlx::query_as("SELECT position, hash FROM event_log_head")
        .fetch_one(conn)
        .await
}

fn json_array<T: serde::Serialize>(items: &[T]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".into())
}

/// Everything a batch checks, read under the write lock.
pub async fn known(conn: &mut SqliteConnection, lookups: &Lookups) -> Result<Known, sqlx::Error> {
    let mut known = Known::default();
    let versions: Vec<(String, i64)> = sqlx::query_as(
        // The latest version of each stream is one backward probe of the
        // (stream_id, stream_version) index, however long the stream.
        "SELECT s.value, (SELECT stream_version FROM events WHERE stream_id = s.value \
             ORDER BY stream_version DESC LIMIT 1) AS version \
         FROM json_each($1) s WHERE version IS NOT NULL",
    )
    .bind(json_array(&lookups.stream_ids))
    .fetch_all(&mut *conn)
    .await?;
    known.versions.extend(versions);

    let event_ids: Vec<String> = lookups.event_ids.iter().map(Uuid::to_string).collect();
    let existing: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT event_id, position, stream_version FROM events \
         WHERE event_id IN (SELECT value FROM json_each($1))",
    )
    .bind(json_array(&event_ids))
    .fetch_all(&mut *conn)
    .await?;
    for (id, position, version) in existing {
        if let Ok(id) = Uuid::parse_str(&id) {
            known.existing.insert(id, (position, version));
        }
    }

    if !lookups.aliases.is_empty() {
        let taken: Vec<String> = sqlx::query_scalar(
            "SELECT alias FROM stream_aliases WHERE alias IN (SELECT value FROM json_each($1))",
        )
        .bind(json_array(&lookups.aliases))
        .fetch_all(&mut *conn)
        .await?;
        known.aliases.extend(taken);
    }

    if !lookups.idempotency.is_empty() {
        let replies: Vec<(String, String, String, String, i64)> = sqlx::query_as(
            "SELECT i.scope, i.key, i.fingerprint, i.reply, i.position \
             FROM json_each($1) j JOIN idempotency_keys i \
               ON i.scope = j.value ->> 0 AND i.key = j.value ->> 1",
        )
        .bind(json_array(&lookups.idempotency))
        .fetch_all(&mut *conn)
        .await?;
        for (scope, key, fingerprint, reply, position) in replies {
            let stored = StoredReply {
                fingerprint,
                reply: serde_json::from_str(&reply).map_err(decode)?,
                position,
            };
            known.replies.insert((scope, key), stored);
        }
    }
    Ok(known)
}

/// Writes a batch: the events, the claimed aliases, the remembered replies
/// and the new head (prepared statements, reused for every row).
pub async fn write_batch(conn: &mut SqliteConnection, plan: &Plan) -> Result<(), sqlx::Error> {
    let (rows, writes) = (&plan.rows, &plan.writes);
    let recorded_at = events::time::text(plan.recorded_at);
    for i in 0..rows.position.len() {
        sqlx::query(
            "INSERT INTO events (position, event_id, stream_id, stream_version, event_type, \
                 schema_version, data, metadata, recorded_at, prev_hash, hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(rows.position[i])
        .bind(rows.event_id[i].to_string())
        .bind(&rows.stream_id[i])
        .bind(rows.stream_version[i])
        .bind(&rows.event_type[i])
        .bind(rows.schema_version[i])
        .bind(&rows.data[i])
        .bind(&rows.metadata[i])
        .bind(&recorded_at)
        .bind(&rows.prev_hash[i])
        .bind(&rows.hash[i])
        .execute(&mut *conn)
        .await?;
    }
    for (alias, stream_id) in writes.alias.iter().zip(&writes.alias_stream) {
        sqlx::query("INSERT INTO stream_aliases (alias, stream_id) VALUES ($1, $2)")
            .bind(alias)
            .bind(stream_id)
            .execute(&mut *conn)
            .await?;
    }
    for i in 0..writes.idem_key.len() {
        sqlx::query(
            "INSERT INTO idempotency_keys (scope, key, fingerprint, reply, position, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&writes.idem_scope[i])
        .bind(&writes.idem_key[i])
        .bind(&writes.idem_fingerprint[i])
        .bind(&writes.idem_reply[i])
        .bind(writes.idem_position[i])
        .bind(&recorded_at)
        .execute(&mut *conn)
        .await?;
    }
    sqlx::query("UPDATE event_log_head SET position = $1, hash = $2")
        .bind(plan.head_position)
        .bind(&plan.head_hash)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub async fn finish(conn: &mut SqliteConnection, commit: bool) -> Result<(), sqlx::Error> {
    use sqlx::Executor;
    conn.execute(if commit { "COMMIT" } else { "ROLLBACK" })
        .await?;
    Ok(())
}

/// The stream's snapshot, if one was written.
pub async fn read_snapshot(
    db: impl SqliteExecutor<'_>,
    stream_id: &str,
) -> Result<Option<Snapshot>, sqlx::Error> {
    let row: Option<(i64, i64, i32, String)> = sqlx::query_as(
        "SELECT version, position, schema_version, state FROM snapshots WHERE stream_id = $1",
    )
    .bind(stream_id)
    .fetch_optional(db)
    .await?;
    Ok(
        row.map(|(version, position, schema_version, state)| Snapshot {
            stream_id: StreamId(stream_id.to_owned()),
            version,
            position,
            schema_version,
            state,
        }),
    )
}

/// Keeps a snapshot unless the one there is of a later version (and the
/// same schema).
const WRITE_SNAPSHOT: &str = "INSERT INTO snapshots \
     (stream_id, version, position, schema_version, state) VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version, \
         position = excluded.position, schema_version = excluded.schema_version, \
         state = excluded.state \
     WHERE snapshots.version < excluded.version \
         OR snapshots.schema_version <> excluded.schema_version";

fn write_snapshot_query(
    snapshot: &Snapshot,
) -> sqlx::query::Query<'_, sqlx::Sqlite, <sqlx::Sqlite as sqlx::Database>::Arguments<'_>> {
    sqlx::query(WRITE_SNAPSHOT)
        .bind(&snapshot.stream_id.0)
        .bind(snapshot.version)
        .bind(snapshot.position)
        .bind(snapshot.schema_version)
        .bind(&snapshot.state)
}

/// Written like every other write of this process to the file: at its
/// turn at the file's gate, the write lock taken up front.
pub async fn write_snapshot(
    pool: &sqlx::SqlitePool,
    snapshot: &Snapshot,
) -> Result<(), sqlx::Error> {
    let gate = crate::gate::for_file(pool.connect_options().get_filename());
    let _turn = gate.lock().await;
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    write_snapshot_query(snapshot).execute(&mut *tx).await?;
    tx.commit().await
}

pub async fn resolve_alias(
    db: impl SqliteExecutor<'_>,
    alias: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT stream_id FROM stream_aliases WHERE alias = $1")
        .bind(alias)
        .fetch_optional(db)
        .await
}

pub async fn idempotent_reply(
    db: impl SqliteExecutor<'_>,
    scope: &str,
    key: &str,
) -> Result<Option<StoredReply>, sqlx::Error> {
    let row: Option<(String, String, i64)> = sqlx::query_as(
        "SELECT fingerprint, reply, position FROM idempotency_keys WHERE scope = $1 AND key = $2",
    )
    .bind(scope)
    .bind(key)
    .fetch_optional(db)
    .await?;
    row.map(|(fingerprint, reply, position)| {
        Ok(StoredReply {
            fingerprint,
            reply: serde_json::from_str(&reply).map_err(decode)?,
            position,
        })
    })
    .transpose()
}
