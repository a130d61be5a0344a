//! `http`: the joins of `append` over HTTP on loopback at 64 connections,
//! to a node that runs the projections too (`http`) and to an API node
//! whose read models another process keeps (`http-api`); baseline in the
//! same run: `append` at 64. The load comes from [`crate::wire`], a
//! minimal keep-alive client, one connection per worker.

use std::sync::Arc;

use anyhow::Context as _;

use super::append::append_sample;
use crate::cli::Options;
use crate::db::{Backend, BenchDb};
use crate::fixtures::{JOINS_PER_MEETING, SECRET, meeting_for, meetings_per_worker};
use crate::harness::{Report, Sample, measure};
use crate::wire;

const CONNECTIONS: usize = 64;

/// `http` (the whole node: API, relay, projection runners) and `http-api`
/// (an API node), each against `append` at 64 in the same run.
pub async fn report(options: &Options) -> anyhow::Result<Vec<Report>> {
    let (mut node, mut api, mut baseline) = (Vec::new(), Vec::new(), Vec::new());
    let backend = options.database;
    for _ in 0..options.runs {
        let edge = options.edge;
        node.push(
            http_sample(backend, options.seconds, true, edge)
                .await?
                .figures(),
        );
        api.push(
            http_sample(backend, options.seconds, false, edge)
                .await?
                .figures(),
        );
        let base = append_sample(backend, CONNECTIONS, options.seconds).await?;
        baseline.push(base.figures());
    }
    Ok([("http", node), ("http-api", api)]
        .map(|(scenario, measured)| {
            Report::new(scenario, measured)
                .concurrency(CONNECTIONS)
                .against("append@64", baseline.clone())
                .ratio("ops_per_sec", "ops_per_sec")
        })
        .into())
}

/// Joins over HTTP to a node that runs the projection runners too
/// (`projections`), or to an API node whose read models another process
/// keeps (none runs during the measurement).
async fn http_sample(
    backend: Backend,
    seconds: f64,
    projections: bool,
    edge: crate::cli::Edge,
) -> anyhow::Result<Sample> {
    let db = BenchDb::create(backend).await?;
    let mut config =
        meetings::config::Config::for_tests(db.url.clone(), None, "bench".into(), SECRET.into());
    config.database_max_connections = CONNECTIONS as u32;
    config.projections = projections;
    edge.apply(&mut config);
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
