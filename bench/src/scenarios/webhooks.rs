//! `webhooks`: webhooks out to a receiver on loopback (an HTTP server in
//! a child process: this binary with `__receive`), the app in this
//! process.
//! - latency: joins at `--rate` (1k/s by default) for `--seconds`, one
//!   subscription to everything: command accepted -> request received,
//!   p50/p99;
//! - throughput: ten subscriptions, then a burst of `--events` joins
//!   (2,000 by default) appended as fast as they go: deliveries/s until
//!   every subscription has received every join, against ten in-process
//!   feed subscribers (what the WebSocket gateway reads) taking the same
//!   events in the same run.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::cli::Options;
use crate::db::{Backend, BenchDb, nats_url};
use crate::fixtures::{SECRET, context, join_command, meetings_per_worker};
use crate::harness::{Figures, Report, percentile};

const MEETINGS: usize = 50;
const SUBSCRIPTIONS: usize = 10;

/// Requests received: (subscription, position) -> when (wall clock,
/// microseconds), first time only.
type Seen = Arc<Mutex<HashMap<(usize, i64), i64>>>;

pub async fn report(options: &Options) -> anyhow::Result<Vec<Report>> {
    let (mut latency, mut throughput, mut fanout) = (Vec::new(), Vec::new(), Vec::new());
    let burst = options.events.clamp(100, 20_000);
    for _ in 0..options.runs {
        let run = run(options.database, options.rate, options.seconds, burst).await?;
        latency.push(Figures::from([
            ("rate", run.rate),
            ("p50_ms", percentile(&run.latency, 0.50)),
            ("p99_ms", percentile(&run.latency, 0.99)),
            ("n", run.latency.len() as f64),
        ]));
        throughput.push(Figures::from([(
            "deliveries_per_sec",
            (SUBSCRIPTIONS * burst) as f64 / run.deliveries.as_secs_f64(),
        )]));
        fanout.push(Figures::from([(
            "deliveries_per_sec",
            (SUBSCRIPTIONS * burst) as f64 / run.fanout.as_secs_f64(),
        )]));
    }
    Ok(vec![
        Report::new("webhooks-latency", latency),
        Report::new("webhooks-throughput", throughput)
            .concurrency(SUBSCRIPTIONS)
            .against("in-process feed fanout", fanout)
            .ratio("deliveries_per_sec", "deliveries_per_sec"),
    ])
}

struct Run {
    rate: f64,
    latency: Vec<Duration>,
    deliveries: Duration,
    fanout: Duration,
}

/// The receiver child: serves `POST /hook/{n}` on loopback, prints its
/// address, then `n position micros` (wall clock) per request as it
/// arrives; stops when its stdin closes. A process of its own, as the
/// integrator's server is: it does not queue behind the app's tasks.
pub async fn receive_child() -> anyhow::Result<()> {
    use std::io::Write;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("{}", listener.local_addr()?);
    let out = Arc::new(Mutex::new(std::io::BufWriter::new(std::io::stdout())));
    let app = axum::Router::new().route(
        "/hook/{n}",
        axum::routing::post(
            move |axum::extract::Path(n): axum::extract::Path<usize>, body: axum::body::Bytes| {
                let out = out.clone();
                async move {
                    let at = micros_now();
                    let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                    if let Some(position) = body["data"]["position"].as_i64() {
                        let mut out = out.lock().unwrap();
                        let _ = writeln!(out, "{n} {position} {at}");
                        let _ = out.flush();
                    }
                    axum::http::StatusCode::NO_CONTENT
                }
            },
        ),
    );
    // Ends when the bench closes its stdin (or drops the child).
    std::thread::spawn(|| {
        let _ = std::io::stdin().read_line(&mut String::new());
        std::process::exit(0);
    });
    axum::serve(listener, app).await?;
    Ok(())
}

/// The wall clock in microseconds (the two processes share it).
fn micros_now() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// Starts the receiver child; its base URL, and the child (ends when
/// dropped). What it reports goes into `seen`.
async fn receiver(seen: Seen) -> anyhow::Result<(String, tokio::process::Child)> {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(std::env::current_exe()?)
        .arg("__receive")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let addr = lines
        .next_line()
        .await?
        .ok_or_else(|| anyhow::anyhow!("the receiver printed nothing"))?;
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            let mut parts = line.split(' ').map(str::parse::<i64>);
            if let (Some(Ok(n)), Some(Ok(position)), Some(Ok(at))) =
                (parts.next(), parts.next(), parts.next())
            {
                seen.lock()
                    .unwrap()
                    .entry((n as usize, position))
                    .or_insert(at);
            }
        }
    });
    Ok((format!("http://{addr}/hook"), child))
}

/// Subscribes receiver `n` to every event after the head, as an admin.
async fn subscribe(app: &meetings::app::App, base: &str, n: usize) -> anyhow::Result<()> {
    let now = chrono::Utc::now();
    meetings::webhooks::store::insert(
        &app.reads,
        &meetings::webhooks::store::Subscription {
            id: uuid::Uuid::now_v7().to_string(),
            url: format!("{base}/{n}"),
            event_types: vec!["*".into()],
            meeting_id: None,
            description: None,
            owner_id: "bench-admin".into(),
            owner_roles: vec!["admin".into()],
            enabled: true,
            disabled_reason: None,
            secret: meetings::webhooks::sign::new_secret(),
            previous_secret: None,
            previous_until: None,
            created_at: now,
            updated_at: now,
            position: app.store.head_position().await?,
            epoch: 0,
            attempts: 0,
            next_attempt_at: None,
        },
    )
    .await?;
    Ok(())
}

/// Appends one join and waits until subscriptions `ns` have it: their
/// workers are running (a subscription written straight to the database
/// is picked up by the dispatcher's next look, within a second).
async fn warm_up(
    app: &meetings::app::App,
    meeting: events::MeetingId,
    seen: &Seen,
    ns: std::ops::RangeInclusive<usize>,
    tag: &str,
) -> anyhow::Result<()> {
    let done = app
        .commands
        .execute(
            meeting,
            &context(format!("warm-{tag}")),
            join_command(),
            None,
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    until(seen, |seen| {
        ns.clone().all(|n| seen.contains_key(&(n, done.position)))
    })
    .await
}

/// Waits (at most a minute) until `done` holds of what was received.
async fn until(
    seen: &Seen,
    done: impl Fn(&HashMap<(usize, i64), i64>) -> bool,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done(&seen.lock().unwrap()) {
        anyhow::ensure!(Instant::now() < deadline, "webhooks did not arrive in time");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

async fn run(backend: Backend, rate: f64, seconds: f64, burst: usize) -> anyhow::Result<Run> {
    let db = BenchDb::create(backend).await?;
    let prefix = format!("bench{}", uuid::Uuid::new_v4().simple());
    let mut config = meetings::config::Config::for_tests(
        db.url.clone(),
        Some(nats_url()),
        prefix,
        SECRET.into(),
    );
    if backend == Backend::Sqlite {
        config.nats_url = None;
    }
    config.edge = std::mem::take(&mut config.edge).unlimited();
    config.webhooks.allow_private_networks = true;
    let app = meetings::app::App::start(config).await?;
    let meetings = meetings_per_worker(&app.commands, MEETINGS, seconds.max(1.0) / 10.0).await?;
    let seen: Seen = Arc::default();
    let (base, _receiver) = receiver(seen.clone()).await?;

    // Latency: one subscription, joins at the rate.
    subscribe(&app, &base, 0).await?;
    warm_up(&app, meetings[0][0], &seen, 0..=0, "latency").await?;
    let accepted: Arc<Mutex<HashMap<i64, i64>>> = Arc::default();
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let total = (rate * seconds) as usize;
    let started = Instant::now();
    let mut inflight = Vec::with_capacity(total);
    for n in 0..total {
        ticker.tick().await;
        let (commands, accepted) = (app.commands.clone(), accepted.clone());
        let meeting = meetings[n % MEETINGS][0];
        inflight.push(tokio::spawn(async move {
            if let Ok(done) = commands
                .execute(meeting, &context(format!("l{n}")), join_command(), None)
                .await
            {
                accepted.lock().unwrap().insert(done.position, micros_now());
            }
        }));
    }
    for task in inflight {
        task.await?;
    }
    let achieved = total as f64 / started.elapsed().as_secs_f64();
    let accepted = accepted.lock().unwrap().clone();
    until(&seen, |seen| {
        accepted.keys().all(|p| seen.contains_key(&(0, *p)))
    })
    .await?;
    let mut latency: Vec<Duration> = {
        let seen = seen.lock().unwrap();
        accepted
            .iter()
            .filter_map(|(p, at)| {
                seen.get(&(0, *p))
                    .map(|got| Duration::from_micros((got - at).max(0) as u64))
            })
            .collect()
    };
    latency.sort();

    // Throughput: ten subscriptions from the head, a burst of joins.
    for n in 1..=SUBSCRIPTIONS {
        subscribe(&app, &base, n).await?;
    }
    warm_up(&app, meetings[0][0], &seen, 1..=SUBSCRIPTIONS, "burst").await?;
    let from = app.store.head_position().await?;
    // The last position of the burst, once known.
    let target = Arc::new(std::sync::atomic::AtomicI64::new(i64::MAX));
    let feeds: Vec<_> = (0..SUBSCRIPTIONS)
        .map(|_| {
            let (mut feed, target) = (app.feed.subscribe(from), target.clone());
            tokio::spawn(async move {
                let mut last = from;
                loop {
                    let item =
                        tokio::time::timeout(Duration::from_millis(50), feed.next(512)).await;
                    if let Ok(Ok(live::feed::FeedItem::Events(events))) = item
                        && let Some(e) = events.last()
                    {
                        last = e.position;
                    }
                    if last >= target.load(std::sync::atomic::Ordering::SeqCst) {
                        return Instant::now();
                    }
                }
            })
        })
        .collect();
    let started = Instant::now();
    let started_micros = micros_now();
    let mut joins = Vec::with_capacity(burst);
    for n in 0..burst {
        let commands = app.commands.clone();
        let meeting = meetings[n % MEETINGS][0];
        joins.push(tokio::spawn(async move {
            commands
                .execute(meeting, &context(format!("b{n}")), join_command(), None)
                .await
                .map(|done| done.position)
        }));
    }
    let mut positions = Vec::with_capacity(burst);
    for join in joins {
        positions.push(join.await?.map_err(|e| anyhow::anyhow!("{e}"))?);
    }
    target.store(
        positions.iter().copied().max().unwrap_or(from),
        std::sync::atomic::Ordering::SeqCst,
    );
    let mut fanout = Duration::ZERO;
    for feed in feeds {
        fanout = fanout.max(feed.await?.saturating_duration_since(started));
    }
    let positions: std::collections::HashSet<i64> = positions.into_iter().collect();
    until(&seen, |seen| {
        (1..=SUBSCRIPTIONS).all(|n| positions.iter().all(|p| seen.contains_key(&(n, *p))))
    })
    .await?;
    let deliveries = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|((n, p), _)| *n >= 1 && positions.contains(p))
        .map(|(_, at)| Duration::from_micros((at - started_micros).max(0) as u64))
        .max()
        .unwrap_or_default();
    app.stop().await?;
    db.drop_db().await?;
    Ok(Run {
        rate: achieved,
        latency,
        deliveries,
        fanout,
    })
}
