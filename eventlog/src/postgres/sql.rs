//! The SQL of the PostgreSQL event log, one small function per statement.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use sqlx::types::Json;
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use crate::as_of_sql::{self, PAYLOAD_COLUMNS};
use crate::plan::Plan;
use events::envelope::{Payload, RecordedEvent};
use events::ids::{EventId, StreamId};
use events::store::{PastSnapshot, Snapshot, StoredReply, Until};

#[derive(sqlx::FromRow)]
struct EventRow {
    position: i64,
    event_id: Uuid,
    stream_id: String,
    stream_version: i64,
    event_type: String,
    schema_version: i16,
    data: Json<Box<RawValue>>,
    metadata: Json<Box<RawValue>>,
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
            data: row.data.0.into(),
            metadata: row.metadata.0.into(),
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

/// A page of one stream by position (`stream_page_sql`).
#[tracing::instrument(level = "trace", skip(db))]
pub async fn read_stream_after(
    db: impl PgExecutor<'_>,
    stream_id: &str,
    after_position: i64,
    limit: i64,
) -> Result<Vec<RecordedEvent>, sqlx::Error> {
    let query = crate::stream_page_sql::stream_after(COLUMNS);
    let rows: Vec<EventRow> = sqlx::query_as(&query)
        .bind(stream_id)
        .bind(after_position)
        .bind(limit)
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

#[derive(sqlx::FromRow)]
struct PayloadRow {
    position: i64,
    event_type: String,
    schema_version: i16,
    data: Json<Box<RawValue>>,
    recorded_at: DateTime<Utc>,
}

impl From<PayloadRow> for Payload {
    fn from(row: PayloadRow) -> Self {
        Payload {
            position: row.position,
            event_type: row.event_type,
            schema_version: row.schema_version,
            data: row.data.0.into(),
            recorded_at: row.recorded_at,
        }
    }
}

/// A stream up to a position or a time; the stream's index bounds the
/// scan, the bound stops sending rows past it.
#[tracing::instrument(level = "trace", skip(db))]
pub async fn read_stream_until(
    db: impl PgExecutor<'_>,
    stream_id: &str,
    after_version: i64,
    until: Until,
) -> Result<Vec<Payload>, sqlx::Error> {
    let query = as_of_sql::stream_until(until);
    let query = sqlx::query_as(&query).bind(stream_id);
    let query = match until {
        Until::Position(position) => query.bind(position),
        Until::Time(time) => query.bind(time),
    };
    let rows: Vec<PayloadRow> = query.bind(after_version).fetch_all(db).await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

#[tracing::instrument(level = "trace", skip(db))]
pub async fn read_payloads(
    db: impl PgExecutor<'_>,
    after_position: i64,
    limit: i64,
) -> Result<Vec<Payload>, sqlx::Error> {
    let query = format!(
        "SELECT {PAYLOAD_COLUMNS} FROM events WHERE position > $1 ORDER BY position LIMIT $2"
    );
    let rows: Vec<PayloadRow> = sqlx::query_as(&query)
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

/// Opens the append transaction and locks the head row for the rest of it
/// (one round trip). Appends from every process queue up on this lock.
pub async fn begin_and_lock_head(conn: &mut PgConnection) -> Result<(i64, Vec<u8>), sqlx::Error> {
    use sqlx::{Executor, Row};
    // A plain string runs as one simple query: both statements, one trip.
    let rows = conn
        .fetch_all("BEGIN; SELECT position, hash FROM event_log_head FOR UPDATE")
        .await?;
    let row = rows.first().ok_or(sqlx::Error::RowNotFound)?;
    Ok((row.try_get("position")?, row.try_get("hash")?))
}

/// What a batch must check, read in one round trip. It runs after the head
/// lock is held, so its snapshot includes every earlier append.
#[derive(Default)]
pub struct Checks {
    /// Current version of each stream that has events.
    pub versions: HashMap<String, i64>,
    /// Where already-written event ids sit: (position, stream_version).
    pub existing: HashMap<Uuid, (i64, i64)>,
    pub taken_aliases: Vec<String>,
}

pub async fn read_checks(
    conn: &mut PgConnection,
    stream_ids: &[String],
    event_ids: &[Uuid],
    aliases: &[String],
) -> Result<Checks, sqlx::Error> {
    let rows: Vec<(i16, String, i64, i64)> = sqlx::query_as(
        // The latest version of each stream is one backward index probe,
        // however long the stream.
        "SELECT 0::int2, s.id, v.version, 0::int8 FROM UNNEST($1::text[]) AS s(id) \
             CROSS JOIN LATERAL (SELECT stream_version AS version FROM events \
                 WHERE stream_id = s.id ORDER BY stream_version DESC LIMIT 1) v \
         UNION ALL \
         SELECT 1::int2, event_id::text, position, stream_version FROM events \
             WHERE event_id = ANY($2) \
         UNION ALL \
         SELECT 2::int2, alias, 0::int8, 0::int8 FROM stream_aliases WHERE alias = ANY($3)",
    )
    .bind(stream_ids)
    .bind(event_ids)
    .bind(aliases)
    .fetch_all(conn)
    .await?;
    let mut checks = Checks::default();
    for (kind, key, a, b) in rows {
        match kind {
            0 => {
                checks.versions.insert(key, a);
            }
            1 => {
                if let Ok(id) = Uuid::parse_str(&key) {
                    checks.existing.insert(id, (a, b));
                }
            }
            _ => checks.taken_aliases.push(key),
        }
    }
    Ok(checks)
}

/// The statement that writes a batch: the events, the claimed aliases, the
/// remembered replies, the new head, and the commit notification (which
/// PostgreSQL delivers only when the transaction commits).
///
/// `unchecked`: the batch was planned without reading the log (see
/// [`crate::committer::Writer::write_unchecked`]) and runs as a transaction of
/// its own. The head moves only from the position the plan started at,
/// and every write reads the head's update, so the head row is locked
/// before any event is inserted (no deadlock with a checked batch holding
/// it) and nothing is written when the head moved. The statement fails,
/// writing nothing, when the head moved (division by zero), when a stream
/// is not at the version assumed (division by zero), or when an event id,
/// position, stream version, alias or key already exists (unique
/// violation).
fn batch_sql(unchecked: bool) -> String {
    let (gate, head_update, checks) = if unchecked {
        (
            ", hd",
            "UPDATE event_log_head SET position = $19, hash = $20 WHERE position = $22 RETURNING 1",
            ", 1 / (SELECT count(*) FROM hd), \
             1 / (SELECT CASE WHEN count(*) = cardinality($23::text[]) THEN 1 ELSE 0 END \
                  FROM UNNEST($23::text[], $24::int8[]) AS x(s, v) \
                  CROSS JOIN LATERAL (SELECT 1 FROM events \
                      WHERE stream_id = x.s AND stream_version = x.v LIMIT 1) e)",
        )
    } else {
        (
            "",
            "UPDATE event_log_head SET position = $19, hash = $20",
            "",
        )
    };
    format!(
        "WITH hd AS ({head_update}), \
         ins AS ( \
             INSERT INTO events (position, event_id, stream_id, stream_version, event_type, \
                 schema_version, data, metadata, recorded_at, prev_hash, hash) \
             SELECT p, e, s, v, t, sv, d::jsonb, m::jsonb, $9, ph, h \
             FROM UNNEST($1::int8[], $2::uuid[], $3::text[], $4::int8[], $5::text[], \
                         $6::int2[], $7::text[], $8::text[], $10::bytea[], $11::bytea[]) \
                  AS u(p, e, s, v, t, sv, d, m, ph, h){gate}), \
         al AS ( \
             INSERT INTO stream_aliases (alias, stream_id) \
             SELECT a, st FROM UNNEST($12::text[], $13::text[]) AS u(a, st){gate}), \
         idem AS ( \
             INSERT INTO idempotency_keys (scope, key, fingerprint, reply, position) \
             SELECT sc, k, f, r::jsonb, p \
             FROM UNNEST($14::text[], $15::text[], $16::text[], $17::text[], $18::int8[]) \
                  AS u(sc, k, f, r, p){gate}) \
         SELECT pg_notify($21, $19::text){checks}"
    )
}

static CHECKED: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| batch_sql(false));
static UNCHECKED: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| batch_sql(true));

fn bind_batch<'q>(
    sql: &'q str,
    plan: &'q Plan,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    let (rows, writes) = (&plan.rows, &plan.writes);
    sqlx::query(sql)
        .bind(&rows.position)
        .bind(&rows.event_id)
        .bind(&rows.stream_id)
        .bind(&rows.stream_version)
        .bind(&rows.event_type)
        .bind(&rows.schema_version)
        .bind(&rows.data)
        .bind(&rows.metadata)
        .bind(plan.recorded_at)
        .bind(&rows.prev_hash)
        .bind(&rows.hash)
        .bind(&writes.alias)
        .bind(&writes.alias_stream)
        .bind(&writes.idem_scope)
        .bind(&writes.idem_key)
        .bind(&writes.idem_fingerprint)
        .bind(&writes.idem_reply)
        .bind(&writes.idem_position)
        .bind(plan.head_position)
        .bind(&plan.head_hash)
        .bind(super::NOTIFY_CHANNEL)
}

/// Writes a batch inside the checked transaction.
pub async fn write_batch(conn: &mut PgConnection, plan: &Plan) -> Result<(), sqlx::Error> {
    bind_batch(&CHECKED, plan).execute(conn).await?;
    Ok(())
}

/// Writes a batch planned without reading the log, as a transaction of
/// its own; false (nothing written) when the log was not as assumed.
pub async fn write_unchecked(
    conn: &mut PgConnection,
    plan: &Plan,
    head_position: i64,
    streams: &[(String, i64)],
) -> Result<bool, sqlx::Error> {
    let (ids, versions): (Vec<&str>, Vec<i64>) =
        streams.iter().map(|(s, v)| (s.as_str(), *v)).unzip();
    let written = bind_batch(&UNCHECKED, plan)
        .bind(head_position)
        .bind(ids)
        .bind(versions)
        .execute(conn)
        .await;
    match written {
        Ok(_) => Ok(true),
        // 23505: something exists already; 22012: the head moved or a
        // stream is not at the version assumed.
        Err(sqlx::Error::Database(e))
            if matches!(e.code().as_deref(), Some("23505") | Some("22012")) =>
        {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

pub async fn finish(conn: &mut PgConnection, commit: bool) -> Result<(), sqlx::Error> {
    use sqlx::Executor;
    conn.execute(if commit { "COMMIT" } else { "ROLLBACK" })
        .await?;
    Ok(())
}

/// The stream's snapshot, if one was written.
pub async fn read_snapshot(
    db: impl PgExecutor<'_>,
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
) -> sqlx::query::Query<'_, sqlx::Postgres, <sqlx::Postgres as sqlx::Database>::Arguments<'_>> {
    sqlx::query(WRITE_SNAPSHOT)
        .bind(&snapshot.stream_id.0)
        .bind(snapshot.version)
        .bind(snapshot.position)
        .bind(snapshot.schema_version)
        .bind(&snapshot.state)
}

pub async fn write_snapshot(
    db: impl PgExecutor<'_>,
    snapshot: &Snapshot,
) -> Result<(), sqlx::Error> {
    write_snapshot_query(snapshot).execute(db).await?;
    Ok(())
}

/// The latest past snapshot of a schema at or before a bound.
pub async fn read_past_snapshot(
    db: impl PgExecutor<'_>,
    stream_id: &str,
    schema_version: i32,
    until: Until,
) -> Result<Option<PastSnapshot>, sqlx::Error> {
    let query = as_of_sql::past_snapshot(until);
    let query = sqlx::query_as(&query).bind(stream_id).bind(schema_version);
    let query = match until {
        Until::Position(position) => query.bind(position),
        Until::Time(time) => query.bind(time),
    };
    let row: Option<(i64, i64, DateTime<Utc>, String)> = query.fetch_optional(db).await?;
    Ok(
        row.map(|(version, position, recorded_at, state)| PastSnapshot {
            snapshot: Snapshot {
                stream_id: StreamId(stream_id.to_owned()),
                version,
                position,
                schema_version,
                state,
            },
            recorded_at,
        }),
    )
}

pub async fn write_past_snapshot(
    db: impl PgExecutor<'_>,
    past: &PastSnapshot,
) -> Result<(), sqlx::Error> {
    sqlx::query(as_of_sql::KEEP_PAST_SNAPSHOT)
        .bind(&past.snapshot.stream_id.0)
        .bind(past.snapshot.version)
        .bind(past.snapshot.position)
        .bind(past.recorded_at)
        .bind(past.snapshot.schema_version)
        .bind(&past.snapshot.state)
        .execute(db)
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
