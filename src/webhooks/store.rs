//! The SQL of webhooks, one small function per statement: subscriptions
//! (`webhook_subscriptions`) and their delivery log
//! (`webhook_deliveries`), on the read-model database (portable SQL; times
//! as RFC 3339 text, flags as 0/1). What a client is promised (a
//! subscription, its secret) is written durably; progress is not, since a
//! delivery whose progress was lost is sent again with the same id.

use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

use query::decode::{flag, timestamp};

/// A subscription as stored.
#[derive(Debug, Clone)]
pub struct Subscription {
    pub id: String,
    pub url: String,
    pub event_types: Vec<String>,
    pub meeting_id: Option<String>,
    pub description: Option<String>,
    pub owner_id: String,
    pub owner_roles: Vec<String>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub secret: String,
    pub previous_secret: Option<String>,
    pub previous_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub position: i64,
    pub epoch: i64,
    pub attempts: i64,
    pub next_attempt_at: Option<DateTime<Utc>>,
}

impl Subscription {
    /// The secrets that sign a delivery at `now`: the current one, and the
    /// one before it during a rotation's grace period.
    pub fn signing_secrets(&self, now: DateTime<Utc>) -> Vec<&str> {
        let mut secrets = vec![self.secret.as_str()];
        if let (Some(previous), Some(until)) = (&self.previous_secret, self.previous_until)
            && now < until
        {
            secrets.push(previous);
        }
        secrets
    }

    /// Whether the subscription takes events of this type.
    pub fn wants(&self, event_type: &str) -> bool {
        self.event_types.iter().any(|t| t == "*" || t == event_type)
    }
}

const COLUMNS: &str = "id, url, event_types, meeting_id, description, owner_id, owner_roles, \
     enabled, disabled_reason, secret, previous_secret, previous_until, created_at, updated_at, \
     position, epoch, attempts, next_attempt_at";

fn list_of(row: &AnyRow, column: &str) -> Result<Vec<String>, sqlx::Error> {
    query::decode::decode(
        serde_json::from_str(&row.try_get::<String, _>(column)?),
        column,
    )
}

fn time(row: &AnyRow, column: &str) -> Result<DateTime<Utc>, sqlx::Error> {
    timestamp(row, column)?.ok_or_else(|| sqlx::Error::Decode(format!("{column}: missing").into()))
}

fn subscription(row: &AnyRow) -> Result<Subscription, sqlx::Error> {
    Ok(Subscription {
        id: row.try_get("id")?,
        url: row.try_get("url")?,
        event_types: list_of(row, "event_types")?,
        meeting_id: row.try_get("meeting_id")?,
        description: row.try_get("description")?,
        owner_id: row.try_get("owner_id")?,
        owner_roles: list_of(row, "owner_roles")?,
        enabled: flag(row, "enabled")?,
        disabled_reason: row.try_get("disabled_reason")?,
        secret: row.try_get("secret")?,
        previous_secret: row.try_get("previous_secret")?,
        previous_until: timestamp(row, "previous_until")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
        position: row.try_get("position")?,
        epoch: row.try_get("epoch")?,
        attempts: row.try_get("attempts")?,
        next_attempt_at: timestamp(row, "next_attempt_at")?,
    })
}

fn text(at: DateTime<Utc>) -> String {
    events::time::text(at)
}

fn json_list(items: &[String]) -> String {
    serde_json::to_string(items).expect("strings serialise")
}

pub async fn insert(pool: &AnyPool, s: &Subscription) -> Result<(), sqlx::Error> {
    let query = format!(
        "INSERT INTO webhook_subscriptions ({COLUMNS}) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
    );
    crate::db::execute_durably(
        pool,
        sqlx::query(&query)
            .bind(&s.id)
            .bind(&s.url)
            .bind(json_list(&s.event_types))
            .bind(&s.meeting_id)
            .bind(&s.description)
            .bind(&s.owner_id)
            .bind(json_list(&s.owner_roles))
            .bind(i64::from(s.enabled))
            .bind(&s.disabled_reason)
            .bind(&s.secret)
            .bind(&s.previous_secret)
            .bind(s.previous_until.map(text))
            .bind(text(s.created_at))
            .bind(text(s.updated_at))
            .bind(s.position)
            .bind(s.epoch)
            .bind(s.attempts)
            .bind(s.next_attempt_at.map(text)),
    )
    .await
}

pub async fn get(pool: &AnyPool, id: &str) -> Result<Option<Subscription>, sqlx::Error> {
    let query = format!("SELECT {COLUMNS} FROM webhook_subscriptions WHERE id = $1");
    sqlx::query(&query)
        .bind(id)
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(subscription)
        .transpose()
}

/// Every subscription, or one owner's; oldest first.
pub async fn list(pool: &AnyPool, owner: Option<&str>) -> Result<Vec<Subscription>, sqlx::Error> {
    let rows = match owner {
        Some(owner) => {
            let query = format!(
                "SELECT {COLUMNS} FROM webhook_subscriptions WHERE owner_id = $1 \
                 ORDER BY created_at, id"
            );
            sqlx::query(&query).bind(owner).fetch_all(pool).await?
        }
        None => {
            let query =
                format!("SELECT {COLUMNS} FROM webhook_subscriptions ORDER BY created_at, id");
            sqlx::query(&query).fetch_all(pool).await?
        }
    };
    rows.iter().map(subscription).collect()
}

/// The ids of the subscriptions to deliver.
pub async fn enabled(pool: &AnyPool) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM webhook_subscriptions WHERE enabled = 1 ORDER BY id")
        .fetch_all(pool)
        .await
}

/// What a `PATCH` may change.
pub async fn update(pool: &AnyPool, s: &Subscription) -> Result<(), sqlx::Error> {
    crate::db::execute_durably(
        pool,
        sqlx::query(
            "UPDATE webhook_subscriptions SET url = $2, event_types = $3, description = $4, \
             enabled = $5, disabled_reason = $6, updated_at = $7 WHERE id = $1",
        )
        .bind(&s.id)
        .bind(&s.url)
        .bind(json_list(&s.event_types))
        .bind(&s.description)
        .bind(i64::from(s.enabled))
        .bind(&s.disabled_reason)
        .bind(text(s.updated_at)),
    )
    .await
}

pub async fn delete(pool: &AnyPool, id: &str) -> Result<(), sqlx::Error> {
    crate::db::execute_durably(
        pool,
        sqlx::query("DELETE FROM webhook_subscriptions WHERE id = $1").bind(id),
    )
    .await?;
    sqlx::query("DELETE FROM webhook_deliveries WHERE subscription_id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

/// A new secret; the one before it signs too until `grace_until`.
pub async fn rotate(
    pool: &AnyPool,
    id: &str,
    secret: &str,
    grace_until: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    crate::db::execute_durably(
        pool,
        sqlx::query(
            "UPDATE webhook_subscriptions SET previous_secret = secret, previous_until = $3, \
             secret = $2, updated_at = $4 WHERE id = $1",
        )
        .bind(id)
        .bind(secret)
        .bind(text(grace_until))
        .bind(text(Utc::now())),
    )
    .await
}

/// Delivers again from after `after`: a new epoch, so a worker's progress
/// of the one before is refused and it starts over from here.
pub async fn replay(pool: &AnyPool, id: &str, after: i64) -> Result<(), sqlx::Error> {
    crate::db::execute_durably(
        pool,
        sqlx::query(
            "UPDATE webhook_subscriptions SET position = $2, epoch = epoch + 1, attempts = 0, \
             next_attempt_at = NULL, updated_at = $3 WHERE id = $1",
        )
        .bind(id)
        .bind(after)
        .bind(text(Utc::now())),
    )
    .await
}

/// The roles of an owner's token, on every subscription of theirs that
/// holds others; how many changed. Not written durably: the next call of
/// the owner writes them again.
pub async fn set_owner_roles(
    pool: &AnyPool,
    owner: &str,
    roles: &[String],
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE webhook_subscriptions SET owner_roles = $2, updated_at = $3 \
         WHERE owner_id = $1 AND owner_roles <> $2",
    )
    .bind(owner)
    .bind(json_list(roles))
    .bind(text(Utc::now()))
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Turns a subscription off (the receiver answered 410 Gone).
pub async fn disable(pool: &AnyPool, id: &str, reason: &str) -> Result<(), sqlx::Error> {
    crate::db::execute_durably(
        pool,
        sqlx::query(
            "UPDATE webhook_subscriptions SET enabled = 0, disabled_reason = $2, updated_at = $3 \
             WHERE id = $1",
        )
        .bind(id)
        .bind(reason)
        .bind(text(Utc::now())),
    )
    .await
}

/// One attempt at one event.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Delivery {
    /// The delivery log's cursor: ask with `after` = this for what follows.
    pub seq: i64,
    pub position: i64,
    /// The `webhook-id` sent.
    pub event_id: String,
    pub event_type: String,
    /// 1 for the first attempt at this event, 2 for its first retry, ...
    pub attempt: i64,
    /// `delivered` or `failed`.
    pub status: String,
    /// The event was given up on after this attempt (its retries ran
    /// out, or the receiver answered 410 Gone).
    #[serde(rename = "final")]
    pub last: bool,
    pub response_status: Option<i64>,
    pub latency_ms: i64,
    pub error: Option<String>,
    /// At most 1 KiB of the receiver's answer.
    pub response_body: Option<String>,
    pub attempted_at: DateTime<Utc>,
}

fn delivery(row: &AnyRow) -> Result<Delivery, sqlx::Error> {
    Ok(Delivery {
        seq: row.try_get("seq")?,
        position: row.try_get("position")?,
        event_id: row.try_get("event_id")?,
        event_type: row.try_get("event_type")?,
        attempt: row.try_get("attempt")?,
        status: row.try_get("status")?,
        last: flag(row, "final")?,
        response_status: row.try_get("response_status")?,
        latency_ms: row.try_get("latency_ms")?,
        error: row.try_get("error")?,
        response_body: row.try_get("response_body")?,
        attempted_at: time(row, "attempted_at")?,
    })
}

/// A page of the delivery log, oldest first.
pub async fn deliveries(
    pool: &AnyPool,
    id: &str,
    status: Option<&str>,
    after: i64,
    limit: i64,
) -> Result<Vec<Delivery>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT seq, position, event_id, event_type, attempt, status, final, response_status, \
         latency_ms, error, response_body, attempted_at FROM webhook_deliveries \
         WHERE subscription_id = $1 AND seq > $2 AND ($3 = '' OR status = $3) \
         ORDER BY seq LIMIT $4",
    )
    .bind(id)
    .bind(after)
    .bind(status.unwrap_or(""))
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter().map(delivery).collect()
}

/// Delivery rows one `INSERT` writes (13 values each: well under either
/// database's limit on bound values).
const ROWS_PER_INSERT: usize = 200;

/// `INSERT INTO webhook_deliveries ... VALUES (...), (...)` for `rows`
/// rows, numbered `$1`, `$2`, ... (as both databases read them through
/// `sqlx::Any`).
fn insert_deliveries(rows: usize) -> String {
    const COLUMNS: usize = 13;
    let mut sql = String::from(
        "INSERT INTO webhook_deliveries (subscription_id, seq, position, event_id, \
         event_type, attempt, status, final, response_status, latency_ms, error, \
         response_body, attempted_at) VALUES ",
    );
    for row in 0..rows {
        let values: Vec<String> = (1..=COLUMNS)
            .map(|c| format!("${}", row * COLUMNS + c))
            .collect();
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        sql.push_str(&values.join(", "));
        sql.push(')');
    }
    sql
}

/// Removes the delivery log's attempts made before `before`, but for each
/// subscription's last one (whose `seq` the next attempt counts on from);
/// answers how many went.
pub async fn prune(pool: &AnyPool, before: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "DELETE FROM webhook_deliveries WHERE attempted_at < $1 AND seq < \
         (SELECT MAX(d.seq) FROM webhook_deliveries d \
          WHERE d.subscription_id = webhook_deliveries.subscription_id)",
    )
    .bind(text(before))
    .execute(pool)
    .await?
    .rows_affected())
}

/// The delivery log's last cursor of a subscription.
pub async fn last_seq(pool: &AnyPool, id: &str) -> Result<i64, sqlx::Error> {
    let last: Option<i64> =
        sqlx::query_scalar("SELECT MAX(seq) FROM webhook_deliveries WHERE subscription_id = $1")
            .bind(id)
            .fetch_one(pool)
            .await?;
    Ok(last.unwrap_or(0))
}

/// Where a worker got to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub position: i64,
    pub attempts: i64,
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// Records a worker's progress and the attempts that made it, in one
/// transaction; false (and nothing written) when the subscription was
/// replayed (a new epoch) or deleted meanwhile.
pub async fn save(
    pool: &AnyPool,
    id: &str,
    epoch: i64,
    progress: Progress,
    attempts: &[Delivery],
) -> Result<bool, sqlx::Error> {
    let mut tx = projections::runner::begin_write(pool).await?;
    let moved = sqlx::query(
        "UPDATE webhook_subscriptions SET position = $3, attempts = $4, next_attempt_at = $5 \
         WHERE id = $1 AND epoch = $2",
    )
    .bind(id)
    .bind(epoch)
    .bind(progress.position)
    .bind(progress.attempts)
    .bind(progress.next_attempt_at.map(text))
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if moved != 1 {
        tx.rollback().await?;
        return Ok(false);
    }
    // Many rows a statement: one round trip for a save's attempts.
    for chunk in attempts.chunks(ROWS_PER_INSERT) {
        let sql = insert_deliveries(chunk.len());
        let mut insert = sqlx::query(&sql);
        for d in chunk {
            insert = insert
                .bind(id)
                .bind(d.seq)
                .bind(d.position)
                .bind(&d.event_id)
                .bind(&d.event_type)
                .bind(d.attempt)
                .bind(&d.status)
                .bind(i64::from(d.last))
                .bind(d.response_status)
                .bind(d.latency_ms)
                .bind(&d.error)
                .bind(&d.response_body)
                .bind(text(d.attempted_at));
        }
        insert.execute(&mut **tx).await?;
    }
    tx.commit().await?;
    Ok(true)
}
