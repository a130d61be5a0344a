//! `latency`: join commands at a fixed rate on 50 meetings, each watched by
//! a WebSocket subscriber; measures command accepted -> frame received and
//! command accepted -> every read model updated. Baseline in the same run:
//! NATS core publish -> receive in the same process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;

use crate::cli::Options;
use crate::db::{Backend, BenchDb, nats_url};
use crate::fixtures::{SECRET, context, join_command, meetings_per_worker};
use crate::harness::{Figures, Report, percentile};

const MEETINGS: usize = 50;

struct Latencies {
    rate: f64,
    websocket: Vec<Duration>,
    read_model: Vec<Duration>,
    nats: Vec<Duration>,
}

/// p50, p99 and p999 of sorted latencies as figures named `{what}_p50_ms`
/// and so on, with their count.
fn quantiles(figures: &mut Figures, names: [&'static str; 4], sorted: &[Duration]) {
    let [p50, p99, p999, n] = names;
    figures.insert(p50, percentile(sorted, 0.50));
    figures.insert(p99, percentile(sorted, 0.99));
    figures.insert(p999, percentile(sorted, 0.999));
    figures.insert(n, sorted.len() as f64);
}

pub async fn report(options: &Options) -> anyhow::Result<Vec<Report>> {
    let (mut measured, mut baseline) = (Vec::new(), Vec::new());
    for _ in 0..options.runs {
        let l = run(options.database, options.rate, options.seconds).await?;
        let mut figures = Figures::from([("rate", l.rate)]);
        let websocket = [
            "websocket_p50_ms",
            "websocket_p99_ms",
            "websocket_p999_ms",
            "websocket_n",
        ];
        quantiles(&mut figures, websocket, &l.websocket);
        let read_model = [
            "read_model_p50_ms",
            "read_model_p99_ms",
            "read_model_p999_ms",
            "read_model_n",
        ];
        quantiles(&mut figures, read_model, &l.read_model);
        measured.push(figures);
        let mut nats = Figures::new();
        quantiles(&mut nats, ["p50_ms", "p99_ms", "p999_ms", "n"], &l.nats);
        baseline.push(nats);
    }
    Ok(vec![
        Report::new("latency", measured).against("NATS publish->receive", baseline),
    ])
}

async fn run(backend: Backend, rate: f64, seconds: f64) -> anyhow::Result<Latencies> {
    let db = BenchDb::create(backend).await?;
    let nats_url = nats_url();
    let prefix = format!("bench{}", uuid::Uuid::new_v4().simple());
    let mut config = meetings::config::Config::for_tests(
        db.url.clone(),
        Some(nats_url.clone()),
        prefix.clone(),
        SECRET.into(),
    );
    if backend == Backend::Sqlite {
        // The embedded default: the in-process bus.
        config.nats_url = None;
    }
    // The budgets are not what is measured.
    config.edge = std::mem::take(&mut config.edge).unlimited();
    let app = meetings::app::App::start(config).await?;
    let meetings = meetings_per_worker(&app.commands, MEETINGS, seconds.max(1.0) / 10.0).await?;

    // When each position was accepted, and when it was seen where.
    let accepted: Arc<Mutex<HashMap<i64, Instant>>> = Arc::default();
    let seen_ws: Arc<Mutex<Vec<(i64, Instant)>>> = Arc::default();
    let keys = meetings::auth::JwtKeys::new(SECRET.as_bytes(), None, None);
    let token = keys.issue("host", "host", None, &[], chrono::Duration::hours(1))?;
    let mut sockets = Vec::new();
    for worker in meetings.iter() {
        let url = format!("ws://{}/ws/meetings/{}?token={token}", app.addr, worker[0]);
        let (mut socket, _) = tokio_tungstenite::connect_async(url).await?;
        let seen = seen_ws.clone();
        sockets.push(tokio::spawn(async move {
            while let Some(Ok(message)) = socket.next().await {
                if let tokio_tungstenite::tungstenite::Message::Text(text) = message {
                    let at = Instant::now();
                    if let Ok(frame) = serde_json::from_str::<serde_json::Value>(&text)
                        && frame["type"] == "participant_joined"
                        && let Some(position) = frame["position"].as_i64()
                    {
                        seen.lock().unwrap().push((position, at));
                    }
                }
            }
        }));
    }
    // Read models: the lowest checkpoint of the local runners.
    let seen_rm: Arc<Mutex<Vec<(i64, Instant)>>> = Arc::default();
    let watcher = {
        let mut locals = app.progress.local();
        let seen = seen_rm.clone();
        tokio::spawn(async move {
            loop {
                let lowest = locals.iter().map(|w| *w.borrow()).min().unwrap_or(0);
                seen.lock().unwrap().push((lowest, Instant::now()));
                let changes = locals.iter_mut().map(|w| Box::pin(w.changed()));
                if futures::future::select_all(changes).await.0.is_err() {
                    return;
                }
            }
        })
    };

    let interval = Duration::from_secs_f64(1.0 / rate);
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let total = (rate * seconds) as usize;
    let mut inflight = Vec::with_capacity(total);
    let started = Instant::now();
    for n in 0..total {
        ticker.tick().await;
        let (commands, accepted) = (app.commands.clone(), accepted.clone());
        let meeting = meetings[n % MEETINGS][0];
        inflight.push(tokio::spawn(async move {
            let done = commands
                .execute(meeting, &context(format!("l{n}")), join_command(), None)
                .await;
            if let Ok(done) = done {
                accepted
                    .lock()
                    .unwrap()
                    .insert(done.position, Instant::now());
            }
        }));
    }
    for task in inflight {
        task.await?;
    }
    let achieved = total as f64 / started.elapsed().as_secs_f64();
    let last = accepted.lock().unwrap().keys().copied().max().unwrap_or(0);
    // Wait (bounded) for the last command to be seen everywhere.
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let ws_done = seen_ws.lock().unwrap().iter().any(|(p, _)| *p == last);
        let rm_done = seen_rm.lock().unwrap().iter().any(|(p, _)| *p >= last);
        if ws_done && rm_done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let accepted = accepted.lock().unwrap().clone();
    let mut websocket: Vec<Duration> = seen_ws
        .lock()
        .unwrap()
        .iter()
        .filter_map(|(p, at)| accepted.get(p).map(|t| at.saturating_duration_since(*t)))
        .collect();
    // A read-model observation at checkpoint c covers every position <= c.
    let observations = seen_rm.lock().unwrap().clone();
    let mut read_model: Vec<Duration> = accepted
        .iter()
        .filter_map(|(p, t)| {
            observations
                .iter()
                .find(|(c, _)| c >= p)
                .map(|(_, at)| at.saturating_duration_since(*t))
        })
        .collect();
    websocket.sort();
    read_model.sort();
    for socket in sockets {
        socket.abort();
    }
    watcher.abort();
    app.stop().await?;
    db.drop_db().await?;

    let nats = nats_baseline(&nats_url, rate, seconds).await?;
    Ok(Latencies {
        rate: achieved,
        websocket,
        read_model,
        nats,
    })
}

/// NATS core publish -> receive in one process, at the same rate.
async fn nats_baseline(url: &str, rate: f64, seconds: f64) -> anyhow::Result<Vec<Duration>> {
    let client = async_nats::connect(url).await?;
    let subject = format!("bench.{}", uuid::Uuid::new_v4().simple());
    let mut subscription = client.subscribe(subject.clone()).await?;
    client.flush().await?;
    let total = (rate * seconds) as usize;
    let receiver = tokio::spawn(async move {
        let mut seen = Vec::with_capacity(total);
        while seen.len() < total {
            match tokio::time::timeout(Duration::from_secs(10), subscription.next()).await {
                Ok(Some(message)) => {
                    let at = Instant::now();
                    let sent: u128 = std::str::from_utf8(&message.payload)
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(0);
                    seen.push((sent, at));
                }
                _ => break,
            }
        }
        seen
    });
    let origin = Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    for _ in 0..total {
        ticker.tick().await;
        let sent = origin.elapsed().as_nanos();
        client
            .publish(subject.clone(), sent.to_string().into())
            .await?;
    }
    client.flush().await?;
    let seen = receiver.await?;
    let mut latencies: Vec<Duration> = seen
        .into_iter()
        .map(|(sent, at)| {
            at.duration_since(origin)
                .saturating_sub(Duration::from_nanos(sent as u64))
        })
        .collect();
    latencies.sort();
    Ok(latencies)
}
