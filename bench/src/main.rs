//! `cargo run --release --bin bench -- <scenario> [--runs N] [--seconds S] [--levels 1,8,64] [--json]`
//!
//! Each scenario starts what it needs (a fresh database, the app on port 0)
//! and prints its figures next to a baseline measured in the same run, so
//! ratios hold on a noisy machine. Scenarios:
//!
//! - `append`: join commands on distinct meetings through the in-process
//!   command handler at concurrency 1, 8 and 64; baseline: a raw
//!   single-row INSERT of a same-sized row at the same concurrency and pool
//!   size.
//! - `http`: the same joins over HTTP on loopback at 64 connections, to a
//!   node that runs the projections too (`http`) and to an API node whose
//!   read models another process keeps (`http-api`); baseline: `append` at
//!   64 in the same run.
//! - `contention`: 8 writers (8 command handlers, as 8 nodes) on one
//!   meeting; baseline: one writer.
//! - `latency`: accepted -> WebSocket frame and -> read models at a fixed
//!   rate; baseline: NATS core publish -> receive.
//! - `fanout`: 10k WebSocket subscribers over 1k meetings: delivery
//!   p50/p99 and the server's resident memory per connection.
//! - `rebuild`: replaying 1M events into every read model; baseline: a
//!   plain SELECT of the same rows.
//! - `long-stream`: join/leave on a meeting with 10k events; baseline: the
//!   same on a fresh meeting.
//!
//! `--database sqlite` runs them on the embedded default instead (a fresh
//! SQLite file, the in-process bus; the raw INSERT baseline on a SQLite
//! file too).

/// mimalloc instead of the system allocator: the profiles of `http` and
/// `rebuild` showed glibc's malloc/free (with its chunk consolidation) as
/// the largest single cost of the process (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod contention;
mod fanout;
mod latency;
mod long_stream;
mod rebuild;
mod wire;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use command::CommandHandler;
use command::meeting::admission::JoinMeeting;
use command::meeting::lifecycle::ScheduleMeeting;
use command::meeting::{Caller, Command, Context};
use events::settings::SettingsChange;
use events::{MeetingId, ParticipantId, RoomCode, UserId};
use serde_json::json;

/// Joins per meeting before a worker moves to its next meeting (the limit
/// is 1000 present).
const JOINS_PER_MEETING: usize = 900;

struct Options {
    scenario: String,
    runs: usize,
    seconds: f64,
    json: bool,
    /// Concurrency levels of `append`.
    levels: Vec<usize>,
    /// Commands per second of `latency`.
    rate: f64,
    /// Events in the log of `rebuild`.
    events: usize,
    /// Events in the long stream of `long-stream`.
    stream_events: usize,
    /// Writers on one meeting in `contention`.
    writers: usize,
    /// WebSocket subscribers and meetings of `fanout`.
    subscribers: usize,
    meetings: usize,
}

/// The database every scenario of this run uses (`--database`).
static SQLITE: OnceLock<bool> = OnceLock::new();

fn on_sqlite() -> bool {
    SQLITE.get().copied().unwrap_or(false)
}

fn options() -> anyhow::Result<Options> {
    let mut args = std::env::args().skip(1);
    let mut options = Options {
        scenario: String::new(),
        runs: 3,
        seconds: 3.0,
        json: false,
        levels: vec![1, 8, 64],
        rate: 1000.0,
        events: 1_000_000,
        stream_events: 10_000,
        writers: 8,
        subscribers: 10_000,
        meetings: 1_000,
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--runs" => options.runs = args.next().context("--runs N")?.parse()?,
            "--seconds" => options.seconds = args.next().context("--seconds S")?.parse()?,
            "--json" => options.json = true,
            "--rate" => options.rate = args.next().context("--rate N")?.parse()?,
            "--events" => options.events = args.next().context("--events N")?.parse()?,
            "--stream-events" => {
                options.stream_events = args.next().context("--stream-events N")?.parse()?
            }
            "--writers" => options.writers = args.next().context("--writers N")?.parse()?,
            "--subscribers" => {
                options.subscribers = args.next().context("--subscribers N")?.parse()?
            }
            "--meetings" => options.meetings = args.next().context("--meetings N")?.parse()?,
            "--database" => {
                let sqlite = match args.next().as_deref() {
                    Some("postgres") => false,
                    Some("sqlite") => true,
                    _ => anyhow::bail!("--database postgres|sqlite"),
                };
                let _ = SQLITE.set(sqlite);
            }
            "--levels" => {
                let list = args.next().context("--levels 1,8,64")?;
                options.levels = list.split(',').map(str::parse).collect::<Result<_, _>>()?;
            }
            scenario if options.scenario.is_empty() => options.scenario = scenario.to_owned(),
            other => anyhow::bail!("unexpected argument {other}"),
        }
    }
    if options.scenario.is_empty() {
        anyhow::bail!(
            "usage: bench <append|contention|http|latency|fanout|rebuild|long-stream|all> [--runs N] [--seconds S] [--levels 1,8,64] [--rate N] [--writers N] [--subscribers N] [--meetings N] [--events N] [--stream-events N] [--database postgres|sqlite] [--json]"
        );
    }
    Ok(options)
}

/// Throughput and latency of one measurement.
#[derive(Clone, Copy, Debug)]
struct Sample {
    /// Operations measured.
    ops: usize,
    ops_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// Runs `op(worker, n)` from `concurrency` workers for `seconds` and
/// measures it; errors abort the benchmark.
async fn measure<F, Fut>(concurrency: usize, seconds: f64, op: F) -> anyhow::Result<Sample>
where
    F: Fn(usize, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let op = Arc::new(op);
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|worker| {
            let (op, stop) = (op.clone(), stop.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(4096);
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    op(worker, n).await?;
                    latencies.push(t.elapsed());
                    n += 1;
                }
                anyhow::Ok(latencies)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    for worker in workers {
        latencies.extend(worker.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let pct = |p: f64| {
        let i = ((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1));
        latencies
            .get(i)
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(0.0)
    };
    Ok(Sample {
        ops: latencies.len(),
        ops_per_sec: latencies.len() as f64 / elapsed,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
    })
}

/// A database of the benchmark's own, dropped at the end: a PostgreSQL
/// database, or a SQLite file in a folder of its own.
struct BenchDb {
    admin: String,
    name: String,
    url: String,
}

impl BenchDb {
    async fn create() -> anyhow::Result<Self> {
        let name = format!("bench_{}", uuid::Uuid::new_v4().simple());
        if on_sqlite() {
            let folder = std::env::temp_dir().join(&name);
            let url = format!("sqlite://{}", folder.join("meetings.db").display());
            return Ok(Self {
                admin: String::new(),
                name: folder.display().to_string(),
                url,
            });
        }
        let admin = std::env::var("BENCH_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/postgres".into());
        let pool = meetings::db::connect(&admin, 1).await?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&pool)
            .await?;
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
        let url = format!("{base}/{name}");
        Ok(Self { admin, name, url })
    }

    async fn drop_db(self) -> anyhow::Result<()> {
        if on_sqlite() {
            std::fs::remove_dir_all(&self.name)?;
            return Ok(());
        }
        let pool = meetings::db::connect(&self.admin, 1).await?;
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&pool)
        .await?;
        Ok(())
    }
}

fn caller(user: String) -> Caller {
    Caller {
        name: user.clone(),
        user_id: UserId(user),
        email: None,
        roles: vec![],
    }
}

fn context(user: String) -> Context {
    Context {
        caller: caller(user),
        at: chrono::Utc::now(),
        request_id: None,
    }
}

/// Creates `count` active meetings with room for 1000, concurrently.
async fn active_meetings(handler: &CommandHandler, count: usize) -> anyhow::Result<Vec<MeetingId>> {
    let create = |id: MeetingId| async move {
        let command = ScheduleMeeting {
            meeting_id: id,
            room_code: RoomCode::random(&mut rand::thread_rng()),
            title: "bench".into(),
            description: None,
            starts_at: None,
            ends_at: None,
            max_participants: Some(1000),
            settings: SettingsChange::default(),
            start_now: true,
            password_id: None,
        };
        handler
            .schedule(&context("host".into()), command, None)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        anyhow::Ok(id)
    };
    let ids: Vec<MeetingId> = (0..count).map(|_| MeetingId::new()).collect();
    for chunk in ids.chunks(256) {
        futures::future::try_join_all(chunk.iter().map(|id| create(*id))).await?;
    }
    Ok(ids)
}

/// Meetings for each worker, enough for `seconds` at a generous rate.
async fn meetings_per_worker(
    handler: &CommandHandler,
    concurrency: usize,
    seconds: f64,
) -> anyhow::Result<Arc<Vec<Vec<MeetingId>>>> {
    const CEILING_OPS_PER_SEC: f64 = 40_000.0;
    let per_worker = (CEILING_OPS_PER_SEC * seconds / concurrency as f64 / JOINS_PER_MEETING as f64)
        .ceil() as usize
        + 1;
    let all = active_meetings(handler, per_worker * concurrency).await?;
    Ok(Arc::new(
        all.chunks(per_worker).map(<[_]>::to_vec).collect(),
    ))
}

fn meeting_for(meetings: &[Vec<MeetingId>], worker: usize, n: usize) -> anyhow::Result<MeetingId> {
    meetings[worker]
        .get(n / JOINS_PER_MEETING)
        .copied()
        .context("the benchmark ran out of prepared meetings")
}

/// A join of a new seat.
fn join_command() -> Command {
    Command::Join(JoinMeeting {
        participant_id: ParticipantId::new(),
        device_type: Some("desktop".into()),
        ..Default::default()
    })
}

/// One join of a new user, through the in-process command handler.
async fn join_in_process(
    handler: &CommandHandler,
    meeting: MeetingId,
    user: String,
) -> anyhow::Result<()> {
    let command = join_command();
    handler
        .execute(meeting, &context(user), command, None)
        .await
        .map_err(|e| anyhow::anyhow!("join failed: {e}"))?;
    Ok(())
}

/// The event log with a pool of `connections`, on a fresh database.
async fn open_log(url: &str, connections: u32) -> anyhow::Result<Arc<dyn events::EventStore>> {
    let mut config =
        meetings::config::Config::for_tests(url.into(), None, String::new(), String::new());
    config.database_max_connections = connections;
    Ok(meetings::app::open_store(&config).await?.store)
}

/// A command handler on [`open_log`].
async fn open_store(url: &str, connections: u32) -> anyhow::Result<Arc<CommandHandler>> {
    Ok(Arc::new(CommandHandler::new(
        open_log(url, connections).await?,
    )))
}

async fn append_sample(concurrency: usize, seconds: f64) -> anyhow::Result<Sample> {
    let db = BenchDb::create().await?;
    let handler = open_store(&db.url, concurrency.max(2) as u32).await?;
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
async fn raw_insert_sample(concurrency: usize, seconds: f64) -> anyhow::Result<Sample> {
    let db = BenchDb::create().await?;
    if on_sqlite() {
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

/// Joins over HTTP to a node that runs the projection runners too
/// (`projections`), or to an API node whose read models another process
/// keeps (none runs during the measurement).
async fn http_sample(seconds: f64, projections: bool) -> anyhow::Result<Sample> {
    const CONNECTIONS: usize = 64;
    const SECRET: &str = "bench-secret";
    let db = BenchDb::create().await?;
    let mut config =
        meetings::config::Config::for_tests(db.url.clone(), None, "bench".into(), SECRET.into());
    config.database_max_connections = CONNECTIONS as u32;
    config.projections = projections;
    let app = meetings::app::App::start(config).await?;
    let meetings = meetings_per_worker(&app.commands, CONNECTIONS, seconds).await?;
    // Every join is a new user with their own token. Clients get tokens
    // from an identity provider before they call, so they are signed
    // before the clock starts; the server still verifies every one.
    let keys = meetings::auth::JwtKeys::new(SECRET.as_bytes(), None, None);
    let per_worker = meetings.first().map_or(0, Vec::len) * JOINS_PER_MEETING;
    let tokens: Vec<Vec<String>> = (0..CONNECTIONS)
        .map(|worker| {
            (0..per_worker)
                .map(|n| {
                    let user = format!("u{worker}-{n}");
                    keys.issue(&user, &user, None, &[], chrono::Duration::hours(1))
                })
                .collect::<Result<_, _>>()
        })
        .collect::<Result<_, _>>()?;
    let tokens = Arc::new(tokens);
    let mut connections = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        connections.push(tokio::sync::Mutex::new(
            wire::Connection::open(app.addr).await?,
        ));
    }
    let connections = Arc::new(connections);
    let sample = measure(CONNECTIONS, seconds, move |worker, n| {
        let (connections, tokens, meetings) =
            (connections.clone(), tokens.clone(), meetings.clone());
        async move {
            let meeting = meeting_for(&meetings, worker, n)?;
            let token = tokens[worker]
                .get(n)
                .context("the benchmark ran out of prepared tokens")?;
            // Each worker has its own connection: never waited for.
            let status = connections[worker]
                .lock()
                .await
                .post(
                    &format!("/api/v1/meetings/{meeting}/join"),
                    token,
                    r#"{"device_type":"desktop"}"#,
                )
                .await?;
            anyhow::ensure!((200..300).contains(&status), "join answered {status}");
            Ok(())
        }
    })
    .await?;
    app.stop().await?;
    db.drop_db().await?;
    Ok(sample)
}

/// min, median and max of one figure over the runs.
fn spread(samples: &[Sample], figure: fn(&Sample) -> f64) -> (f64, f64, f64) {
    let mut values: Vec<f64> = samples.iter().map(figure).collect();
    values.sort_by(f64::total_cmp);
    (
        values[0],
        values[values.len() / 2],
        values[values.len() - 1],
    )
}

struct Row {
    scenario: &'static str,
    concurrency: usize,
    measured: Vec<Sample>,
    baseline_name: &'static str,
    baseline: Vec<Sample>,
    /// Further figures of the scenario, per run.
    extra: serde_json::Value,
}

impl Row {
    fn print(&self) {
        let (lo, med, hi) = spread(&self.measured, |s| s.ops_per_sec);
        let (blo, bmed, bhi) = spread(&self.baseline, |s| s.ops_per_sec);
        let (_, p50, _) = spread(&self.measured, |s| s.p50_ms);
        let (_, p99, _) = spread(&self.measured, |s| s.p99_ms);
        let (_, bp99, _) = spread(&self.baseline, |s| s.p99_ms);
        let ratios: Vec<f64> = self
            .measured
            .iter()
            .zip(&self.baseline)
            .map(|(m, b)| m.ops_per_sec / b.ops_per_sec)
            .collect();
        let (rlo, rmed, rhi) = {
            let mut r = ratios.clone();
            r.sort_by(f64::total_cmp);
            (r[0], r[r.len() / 2], r[r.len() - 1])
        };
        println!(
            "{:<7} c={:<3} {:>8.0} cmd/s (min {:>7.0} max {:>7.0})  p50 {:>6.2} ms  p99 {:>6.2} ms | {} {:>8.0}/s (min {:>7.0} max {:>7.0}) p99 {:>6.2} ms | ratio {:.2} (min {:.2} max {:.2})",
            self.scenario,
            self.concurrency,
            med,
            lo,
            hi,
            p50,
            p99,
            self.baseline_name,
            bmed,
            blo,
            bhi,
            bp99,
            rmed,
            rlo,
            rhi
        );
        if !self.extra.is_null() {
            println!("        {}", self.extra);
        }
    }

    fn json(&self) -> serde_json::Value {
        let figures = |samples: &[Sample]| {
            samples
                .iter()
                .map(|s| json!({"ops_per_sec": s.ops_per_sec, "p50_ms": s.p50_ms, "p99_ms": s.p99_ms}))
                .collect::<Vec<_>>()
        };
        json!({
            "scenario": self.scenario,
            "concurrency": self.concurrency,
            "runs": figures(&self.measured),
            "baseline": self.baseline_name,
            "baseline_runs": figures(&self.baseline),
            "extra": self.extra,
        })
    }
}

async fn append(options: &Options) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    for &concurrency in &options.levels {
        let (mut measured, mut baseline) = (Vec::new(), Vec::new());
        for _ in 0..options.runs {
            // Interleaved so that machine noise hits both alike.
            measured.push(append_sample(concurrency, options.seconds).await?);
            baseline.push(raw_insert_sample(concurrency, options.seconds).await?);
        }
        let row = Row {
            scenario: "append",
            concurrency,
            measured,
            baseline_name: "raw INSERT",
            baseline,
            extra: serde_json::Value::Null,
        };
        if !options.json {
            row.print();
        }
        rows.push(row);
    }
    Ok(rows)
}

/// `http` (the whole node: API, relay, projection runners) and `http-api`
/// (an API node), each against `append` at 64 in the same run.
async fn http(options: &Options) -> anyhow::Result<Vec<Row>> {
    let (mut node, mut api, mut baseline) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..options.runs {
        node.push(http_sample(options.seconds, true).await?);
        api.push(http_sample(options.seconds, false).await?);
        baseline.push(append_sample(64, options.seconds).await?);
    }
    let rows = [("http", node), ("http-api", api)].map(|(scenario, measured)| Row {
        scenario,
        concurrency: 64,
        measured,
        baseline_name: "append@64",
        baseline: baseline.clone(),
        extra: serde_json::Value::Null,
    });
    if !options.json {
        rows.iter().for_each(Row::print);
    }
    Ok(rows.into())
}

async fn contention(options: &Options) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    for (scenario, nodes) in [("contention", false), ("contention-nodes", true)] {
        let (mut measured, mut baseline) = (Vec::new(), Vec::new());
        let (mut conflicts, mut errors) = (Vec::new(), Vec::new());
        for _ in 0..options.runs {
            let many = contention::sample(options.writers, nodes, options.seconds).await?;
            measured.push(many.sample);
            conflicts.push(many.conflicts);
            errors.push(many.errors);
            baseline.push(contention::sample(1, nodes, options.seconds).await?.sample);
        }
        let row = Row {
            scenario,
            concurrency: options.writers,
            measured,
            baseline_name: "1 writer",
            baseline,
            extra: json!({"writers_are_nodes": nodes, "conflicts_retried": conflicts,
                          "errors": errors}),
        };
        if !options.json {
            row.print();
        }
        rows.push(row);
    }
    Ok(rows)
}

async fn long_stream(options: &Options) -> anyhow::Result<Vec<Row>> {
    let (mut measured, mut baseline) = (Vec::new(), Vec::new());
    let (mut cold_long, mut cold_fresh, mut p99_ratio) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..options.runs {
        let m = long_stream::sample(options.stream_events, options.seconds).await?;
        cold_long.push(m.long_cold.as_secs_f64() * 1000.0);
        cold_fresh.push(m.fresh_cold.as_secs_f64() * 1000.0);
        p99_ratio.push(m.long.p99_ms / m.fresh.p99_ms);
        measured.push(m.long);
        baseline.push(m.fresh);
    }
    let row = Row {
        scenario: "long-stream",
        concurrency: 1,
        measured,
        baseline_name: "fresh meeting",
        baseline,
        extra: json!({"stream_events": options.stream_events,
                      "p99_long_over_fresh": p99_ratio,
                      "first_command_cold_ms": {"long": cold_long, "fresh": cold_fresh}}),
    };
    if !options.json {
        row.print();
    }
    Ok(vec![row])
}

async fn fanout_report(options: &Options) -> anyhow::Result<()> {
    for run in 0..options.runs {
        let f = fanout::run(
            options.subscribers,
            options.meetings,
            options.rate,
            options.seconds,
        )
        .await?;
        let p = |q| latency::percentile(&f.delivery, q);
        let (p50, p99, p999) = (p(0.50), p(0.99), p(0.999));
        if options.json {
            println!(
                "{}",
                json!({"scenario": "fanout", "run": run, "subscribers": f.subscribers,
                       "meetings": f.meetings, "rate": f.rate, "commands": f.commands,
                       "delivered": f.delivery.len(), "expected": f.expected,
                       "delivery_ms": {"p50": p50, "p99": p99, "p999": p999},
                       "rss_kib": {"before": f.rss_before_kib, "connected": f.rss_connected_kib,
                                   "after": f.rss_after_kib},
                       "kib_per_connection": f.kib_per_connection(),
                       "connect_secs": f.connect_secs})
            );
        } else {
            println!(
                "fanout run {run}: {} subscribers over {} meetings, {} joins at {:.0}/s | delivered {}/{} | request sent -> frame p50 {p50:.2} p99 {p99:.2} p999 {p999:.2} ms | server RSS {} -> {} KiB connected ({:.1} KiB per connection), {} KiB after the load | connected in {:.1} s",
                f.subscribers,
                f.meetings,
                f.commands,
                f.rate,
                f.delivery.len(),
                f.expected,
                f.rss_before_kib,
                f.rss_connected_kib,
                f.kib_per_connection(),
                f.rss_after_kib,
                f.connect_secs
            );
        }
    }
    Ok(())
}

async fn rebuild_report(options: &Options) -> anyhow::Result<()> {
    let mut runs = Vec::new();
    for run in 0..options.runs {
        let m = rebuild::sample(options.events).await?;
        let ratio = m.replay_per_sec / m.select_per_sec;
        if options.json {
            println!(
                "{}",
                json!({"scenario": "rebuild", "run": run, "events": m.events,
                       "replay_events_per_sec": m.replay_per_sec,
                       "select_rows_per_sec": m.select_per_sec, "ratio": ratio,
                       "store_read_events_per_sec": m.store_read_per_sec,
                       "decode_events_per_sec": m.decode_per_sec})
            );
        } else {
            println!(
                "rebuild run {run}: {} events | replay into every read model {:.0} events/s | plain SELECT {:.0} rows/s | ratio {ratio:.3} | (store read alone {:.0}/s, decode alone {:.0}/s)",
                m.events,
                m.replay_per_sec,
                m.select_per_sec,
                m.store_read_per_sec,
                m.decode_per_sec
            );
        }
        runs.push(m);
    }
    if !options.json {
        let spread = |f: fn(&rebuild::Measured) -> f64| {
            let mut v: Vec<f64> = runs.iter().map(f).collect();
            v.sort_by(f64::total_cmp);
            (v[0], v[v.len() / 2], v[v.len() - 1])
        };
        let (lo, med, hi) = spread(|m| m.replay_per_sec);
        let (slo, smed, shi) = spread(|m| m.select_per_sec);
        let (rlo, rmed, rhi) = spread(|m| m.replay_per_sec / m.select_per_sec);
        println!(
            "rebuild  {med:.0} events/s (min {lo:.0} max {hi:.0}) | plain SELECT {smed:.0} rows/s (min {slo:.0} max {shi:.0}) | ratio {rmed:.3} (min {rlo:.3} max {rhi:.3})"
        );
    }
    Ok(())
}

/// `latency` at `--rate` commands/s (default 1000), over the runs.
async fn latency_report(options: &Options) -> anyhow::Result<()> {
    for run in 0..options.runs {
        let l = latency::run(options.rate, options.seconds).await?;
        let figures = |v: &[Duration]| {
            (
                latency::percentile(v, 0.50),
                latency::percentile(v, 0.99),
                latency::percentile(v, 0.999),
                v.len(),
            )
        };
        let (ws50, ws99, ws999, wsn) = figures(&l.websocket);
        let (rm50, rm99, rm999, rmn) = figures(&l.read_model);
        let (n50, n99, n999, nn) = figures(&l.nats);
        if options.json {
            println!(
                "{}",
                json!({"scenario": "latency", "run": run, "rate": l.rate,
                       "websocket_ms": {"p50": ws50, "p99": ws99, "p999": ws999, "n": wsn},
                       "read_model_ms": {"p50": rm50, "p99": rm99, "p999": rm999, "n": rmn},
                       "nats_ms": {"p50": n50, "p99": n99, "p999": n999, "n": nn}})
            );
        } else {
            println!(
                "latency run {run} at {:.0} cmd/s | accepted->websocket p50 {ws50:.2} p99 {ws99:.2} p999 {ws999:.2} ms (n={wsn}) | accepted->read model p50 {rm50:.2} p99 {rm99:.2} p999 {rm999:.2} ms (n={rmn}) | NATS publish->receive p50 {n50:.3} p99 {n99:.3} p999 {n999:.3} ms (n={nn})",
                l.rate
            );
        }
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if std::env::args().nth(1).as_deref() == Some("__serve") {
        return runtime.block_on(fanout::serve_child());
    }
    let options = options()?;
    runtime.block_on(async {
        let mut rows = Vec::new();
        match options.scenario.as_str() {
            "append" => rows.extend(append(&options).await?),
            "http" => rows.extend(http(&options).await?),
            "contention" => rows.extend(contention(&options).await?),
            "latency" => latency_report(&options).await?,
            "rebuild" => rebuild_report(&options).await?,
            "fanout" => fanout_report(&options).await?,
            "long-stream" => rows.extend(long_stream(&options).await?),
            "all" => {
                rows.extend(append(&options).await?);
                rows.extend(contention(&options).await?);
                rows.extend(http(&options).await?);
                rows.extend(long_stream(&options).await?);
                latency_report(&options).await?;
                fanout_report(&options).await?;
                rebuild_report(&options).await?;
            }
            other => anyhow::bail!(
                "unknown scenario {other} (append, contention, http, latency, fanout, rebuild, long-stream, all)"
            ),
        }
        if options.json {
            println!(
                "{}",
                serde_json::Value::Array(rows.iter().map(Row::json).collect())
            );
        }
        Ok(())
    })
}
