//! `fanout`: WebSocket subscribers spread over meetings (10k over 1k by
//! default), joins paced at `--rate` over HTTP across the meetings; every
//! join is delivered to the meeting's subscribers. Measures delivery
//! (request sent -> frame received, so it includes the command itself)
//! p50/p99/p999, and the server's resident memory per connection.
//!
//! The server runs in a child process (this binary with `__serve`), so its
//! resident memory is its own: read from `/proc/<pid>/status` before the
//! subscribers connect and once they all have caught up.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::cli::Options;
use crate::db::{Backend, BenchDb, nats_url};
use crate::fixtures::SECRET;
use crate::harness::{Figures, Report, percentile};

/// Connections (and HTTP requests) opened at a time while setting up.
const SETUP_CONCURRENCY: usize = 64;

struct Fanout {
    commands: usize,
    /// Sorted delivery latencies.
    delivery: Vec<Duration>,
    expected: usize,
    rss_before_kib: u64,
    rss_connected_kib: u64,
    rss_after_kib: u64,
    connect_secs: f64,
}

pub async fn report(options: &Options) -> anyhow::Result<Vec<Report>> {
    let mut runs = Vec::new();
    for _ in 0..options.runs {
        let f = run(
            options.database,
            options.subscribers,
            options.meetings,
            options.rate,
            options.seconds,
        )
        .await?;
        let connected = f.rss_connected_kib as f64 - f.rss_before_kib as f64;
        runs.push(Figures::from([
            ("meetings", options.meetings as f64),
            ("commands", f.commands as f64),
            ("delivered", f.delivery.len() as f64),
            ("expected", f.expected as f64),
            ("delivery_p50_ms", percentile(&f.delivery, 0.50)),
            ("delivery_p99_ms", percentile(&f.delivery, 0.99)),
            ("delivery_p999_ms", percentile(&f.delivery, 0.999)),
            ("rss_before_kib", f.rss_before_kib as f64),
            ("rss_connected_kib", f.rss_connected_kib as f64),
            ("rss_after_kib", f.rss_after_kib as f64),
            ("kib_per_connection", connected / options.subscribers as f64),
            ("connect_secs", f.connect_secs),
        ]));
    }
    Ok(vec![
        Report::new("fanout", runs).concurrency(options.subscribers),
    ])
}

/// The child: serves the app on the database and bus in its environment,
/// prints its address, and stops when its stdin closes.
pub async fn serve_child() -> anyhow::Result<()> {
    let url = std::env::var("BENCH_CHILD_DATABASE_URL")?;
    let nats = std::env::var("BENCH_CHILD_NATS_URL").ok();
    let prefix = std::env::var("BENCH_CHILD_PREFIX")?;
    let mut config = meetings::config::Config::for_tests(url, nats, prefix, SECRET.into());
    config.database_max_connections = 16;
    // One user creates every meeting: the budgets are not what is measured.
    config.edge = std::mem::take(&mut config.edge).unlimited();
    // One client (the bench, with the host's token) opens every socket:
    // the bounds per client are not what is measured either.
    config.websocket.max_per_caller = 0;
    config.websocket.max_per_address = 0;
    config.http.max_connections_per_address = 0;
    let app = meetings::app::App::start(config).await?;
    println!("{}", app.addr);
    tokio::task::spawn_blocking(|| {
        let mut rest = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut rest)
    })
    .await??;
    app.stop().await
}

fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS in /proc/<pid>/status")
}

/// The soft limit on open files of this process.
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

async fn run(
    backend: Backend,
    subscribers: usize,
    meetings: usize,
    rate: f64,
    seconds: f64,
) -> anyhow::Result<Fanout> {
    let needed = subscribers as u64 + 1024;
    if let Some(limit) = open_files_limit()
        && limit < needed
    {
        anyhow::bail!("fanout needs {needed} open files, the limit is {limit}: raise `ulimit -n`");
    }
    let db = BenchDb::create(backend).await?;
    let mut child = tokio::process::Command::new(std::env::current_exe()?)
        .arg("__serve")
        .env("BENCH_CHILD_DATABASE_URL", &db.url)
        .env(
            "BENCH_CHILD_PREFIX",
            format!("bench{}", uuid::Uuid::new_v4().simple()),
        )
        .envs((backend == Backend::Postgres).then(|| ("BENCH_CHILD_NATS_URL", nats_url())))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().context("the server exited")?;
    let stdout = child.stdout.take().context("no stdout")?;
    let addr = BufReader::new(stdout)
        .lines()
        .next_line()
        .await?
        .context("the server printed no address")?;

    let keys = Arc::new(meetings::auth::JwtKeys::new(SECRET.as_bytes(), None, None));
    let host = keys.issue("host", "host", None, &[], chrono::Duration::hours(2))?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(SETUP_CONCURRENCY)
        .build()?;
    let base = format!("http://{addr}/api/v1/meetings");
    let ids: Vec<String> = futures::stream::iter(0..meetings)
        .map(|_| {
            let (client, base, host) = (client.clone(), base.clone(), host.clone());
            async move {
                let created: Value = client
                    .post(&base)
                    .bearer_auth(&host)
                    .json(&json!({"title": "fanout", "start_now": true, "max_participants": 1000}))
                    .send()
                    .await?
                    .error_for_status()?
                    .json()
                    .await?;
                created["meeting_id"]
                    .as_str()
                    .map(str::to_owned)
                    .context("no meeting_id")
            }
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .collect::<Vec<anyhow::Result<String>>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;

    // When each user's join was sent, and every delivery seen.
    let sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let delivered: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let rss_before_kib = rss_kib(pid)?;
    let connecting = Instant::now();
    let sockets: Vec<tokio::task::JoinHandle<()>> = futures::stream::iter(0..subscribers)
        .map(|n| {
            let url = format!("ws://{addr}/ws/meetings/{}?token={host}", ids[n % meetings]);
            let (sent, delivered) = (sent.clone(), delivered.clone());
            async move {
                let config = WebSocketConfig::default().read_buffer_size(4096);
                let (mut socket, _) =
                    tokio_tungstenite::connect_async_with_config(url, Some(config), false).await?;
                // Ready once the backlog is through.
                while let Some(message) = socket.next().await {
                    if let Message::Text(text) = message?
                        && serde_json::from_str::<Value>(&text)?["type"] == "caught_up"
                    {
                        break;
                    }
                }
                Ok::<_, anyhow::Error>(tokio::spawn(async move {
                    while let Some(Ok(message)) = socket.next().await {
                        let Message::Text(text) = message else {
                            continue;
                        };
                        let at = Instant::now();
                        let Ok(frame) = serde_json::from_str::<Value>(&text) else {
                            continue;
                        };
                        if frame["type"] != "participant_joined" {
                            continue;
                        }
                        let Some(user) = frame["data"]["user_id"].as_str() else {
                            continue;
                        };
                        let since = sent.lock().unwrap().get(user).copied();
                        if let Some(since) = since {
                            delivered
                                .lock()
                                .unwrap()
                                .push(at.saturating_duration_since(since));
                        }
                    }
                }))
            }
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    let connect_secs = connecting.elapsed().as_secs_f64();
    let rss_connected_kib = rss_kib(pid)?;

    // Joins paced at `rate`, round-robin over the meetings.
    let commands = (rate * seconds) as usize;
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut inflight = Vec::with_capacity(commands);
    for n in 0..commands {
        ticker.tick().await;
        let user = format!("f{n}");
        let token = keys.issue(&user, &user, None, &[], chrono::Duration::hours(1))?;
        let url = format!("{base}/{}/join", ids[n % meetings]);
        let (client, sent) = (client.clone(), sent.clone());
        inflight.push(tokio::spawn(async move {
            sent.lock().unwrap().insert(user, Instant::now());
            client
                .post(url)
                .bearer_auth(token)
                .json(&json!({"device_type": "desktop"}))
                .send()
                .await?
                .error_for_status()?;
            anyhow::Ok(())
        }));
    }
    for request in inflight {
        request.await??;
    }
    let per_meeting = subscribers / meetings;
    let expected = (0..commands)
        .map(|n| per_meeting + usize::from(n % meetings < subscribers % meetings))
        .sum();
    let deadline = Instant::now() + Duration::from_secs(30);
    while delivered.lock().unwrap().len() < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rss_after_kib = rss_kib(pid)?;
    for socket in sockets {
        socket.abort();
    }
    drop(child.stdin.take()); // the server stops
    let _ = tokio::time::timeout(Duration::from_secs(30), child.wait()).await;
    db.drop_db().await?;
    let mut delivery = std::mem::take(&mut *delivered.lock().unwrap());
    delivery.sort();
    Ok(Fanout {
        commands,
        delivery,
        expected,
        rss_before_kib,
        rss_connected_kib,
        rss_after_kib,
        connect_secs,
    })
}
