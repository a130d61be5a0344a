//! `append`: join commands on distinct meetings through the in-process
//! command handler at each concurrency level (1, 8, 64); baseline in the
//! same run: a raw single-row INSERT of a same-sized row at the same
//! concurrency and pool size (on a SQLite file with the log's settings on
//! the embedded default).

use serde_json::json;

use crate::cli::Options;
use crate::db::{Backend, BenchDb};
use crate::fixtures::{join_in_process, meeting_for, meetings_per_worker, open_handler};
use crate::harness::{Report, Sample, measure};

pub async fn report(options: &Options) -> anyhow::Result<Vec<Report>> {
    let mut reports = Vec::new();
    for &concurrency in &options.levels {
        let (mut measured, mut baseline) = (Vec::new(), Vec::new());
        for _ in 0..options.runs {
            // Interleaved so that machine noise hits both alike.
            let sample = append_sample(options.database, concurrency, options.seconds).await?;
            measured.push(sample.figures());
            let raw = raw_insert_sample(options.database, concurrency, options.seconds).await?;
            baseline.push(raw.figures());
        }
        reports.push(
            Report::new("append", measured)
                .concurrency(concurrency)
                .against("raw INSERT", baseline)
                .ratio("ops_per_sec", "ops_per_sec"),
        );
    }
    Ok(reports)
}

pub async fn append_sample(
    backend: Backend,
    concurrency: usize,
    seconds: f64,
) -> anyhow::Result<Sample> {
    let db = BenchDb::create(backend).await?;
    let handler = open_handler(&db.url, concurrency.max(2) as u32).await?;
    let meetings = meetings_per_worker(&handler, concurrency, seconds).await?;
    let sample = measure(concurrency, seconds, move |worker, n| {
        let (handler, meetings) = (handler.clone(), meetings.clone());
        async move {
            let meeting = meeting_for(&meetings, worker, n)?;
            join_in_process(&handler, meeting, format!("u{worker}-{n}")).await
        }
    })
    .await?;
    db.drop_db().await?;
    Ok(sample)
}

/// A raw single-row INSERT of a row the size of a `participant_joined`
/// event, one transaction per row, with a pool of `concurrency`.
async fn raw_insert_sample(
    backend: Backend,
    concurrency: usize,
    seconds: f64,
) -> anyhow::Result<Sample> {
    let db = BenchDb::create(backend).await?;
    if backend == Backend::Sqlite {
        return raw_sqlite_insert_sample(db, concurrency, seconds).await;
    }
    let pool = meetings::db::connect(&db.url, concurrency.max(2) as u32).await?;
    sqlx::query("CREATE TABLE bench_raw (id BIGSERIAL PRIMARY KEY, payload JSONB NOT NULL)")
        .execute(&pool)
        .await?;
    let row = event_sized_row();
    let sample = measure(concurrency, seconds, move |_, _| {
        let (pool, row) = (pool.clone(), row.clone());
        async move {
            sqlx::query("INSERT INTO bench_raw (payload) VALUES ($1)")
                .bind(row)
                .execute(&pool)
                .await?;
            Ok(())
        }
    })
    .await?;
    db.drop_db().await?;
    Ok(sample)
}

/// The same on a SQLite file with the log's settings (WAL, synchronous
/// FULL): one transaction per row, every writer waiting for the file's lock.
async fn raw_sqlite_insert_sample(
    db: BenchDb,
    concurrency: usize,
    seconds: f64,
) -> anyhow::Result<Sample> {
    let pool = eventlog::sqlite::connect(&db.url, concurrency.max(2) as u32).await?;
    sqlx::query("CREATE TABLE bench_raw (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)")
        .execute(&pool)
        .await?;
    let row = event_sized_row().to_string();
    let sample = measure(concurrency, seconds, move |_, _| {
        let (pool, row) = (pool.clone(), row.clone());
        async move {
            sqlx::query("INSERT INTO bench_raw (payload) VALUES ($1)")
                .bind(row)
                .execute(&pool)
                .await?;
            Ok(())
        }
    })
    .await?;
    db.drop_db().await?;
    Ok(sample)
}

/// A row the size of a `participant_joined` event with its envelope.
fn event_sized_row() -> serde_json::Value {
    json!({
        "data": {"meeting_id": uuid::Uuid::now_v7(), "participant_id": uuid::Uuid::now_v7(),
                 "user_id": "u12-345", "user_name": "u12-345", "role": "participant",
                 "device_type": "desktop", "is_muted": false, "is_video_enabled": true,
                 "joined_at": chrono::Utc::now()},
        "metadata": {"actor": {"user_id": "u12-345", "name": "u12-345", "kind": "user"},
                     "correlation_id": uuid::Uuid::now_v7(), "causation_id": uuid::Uuid::now_v7()},
        "hash": "0".repeat(128),
    })
}
