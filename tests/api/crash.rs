//! The server as a real process: kill -9 in the middle of a burst of
//! commands, restart, and check that every command that got a 2xx has its
//! events in the log (and on NATS), none twice. Also: SIGTERM drains. On
//! PostgreSQL with NATS and on the embedded SQLite default.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::helpers::{SECRET, Setup, TestDb, TestStream, eventually, nats_url};
use crate::relay::assert_published_exactly_once;

pub struct Server {
    pub child: Child,
    pub base: String,
    /// Every line it printed after the first.
    pub printed: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// Every line of its log (standard error).
    pub logged: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

async fn start_server(setup: Setup, db: &TestDb, stream: &TestStream) -> Server {
    let mut command = Command::new(env!("CARGO_BIN_EXE_meetings"));
    command
        .arg("serve")
        .env("MEETINGS_ADDR", "127.0.0.1:0")
        .env("DATABASE_URL", &db.url)
        .env("NATS_PREFIX", &stream.prefix)
        .env("JWT_SECRET", SECRET);
    if setup.nats() {
        command.env("NATS_URL", nats_url());
    } else {
        command.env_remove("NATS_URL");
    }
    launch(command).await
}

/// Starts a server process and waits for the line with its address. Its
/// log (`RUST_LOG=warn` unless the command sets it) is passed on to this
/// process's standard error and kept in [`Server::logged`].
pub async fn launch(mut command: Command) -> Server {
    let sets_log = command
        .as_std()
        .get_envs()
        .any(|(name, value)| name == "RUST_LOG" && value.is_some());
    if !sets_log {
        command.env("RUST_LOG", "warn");
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start meetings");
    let logged = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut log = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let keep_log = logged.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = log.next_line().await {
            eprintln!("{line}");
            keep_log.lock().unwrap().push(line);
        }
    });
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("server printed its address in time")
        .expect("read stdout")
        .expect("a line");
    let base = line
        .strip_prefix("meetings listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    // Keep reading what else it prints, as a terminal would.
    let printed = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = printed.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            keep.lock().unwrap().push(line);
        }
    });
    Server {
        child,
        base,
        printed,
        logged,
    }
}

fn token(user: &str) -> String {
    meetings::auth::JwtKeys::new(SECRET.as_bytes(), None, None)
        .issue(user, user, None, &[], chrono::Duration::hours(1))
        .unwrap()
}

async fn post(
    client: &reqwest::Client,
    url: String,
    user: &str,
    body: Value,
) -> Result<(StatusCode, Value), reqwest::Error> {
    let response = client
        .post(url)
        .bearer_auth(token(user))
        .json(&body)
        .send()
        .await?;
    let status = response.status();
    let body = response.json().await?;
    Ok((status, body))
}

async fn a_kill_9_loses_no_acknowledged_command_and_duplicates_none(setup: Setup) {
    let db = TestDb::on(setup.backend()).await;
    let stream = TestStream::new();
    let mut server = start_server(setup, &db, &stream).await;
    let client = reqwest::Client::new();

    let mut meetings = Vec::new();
    for i in 0..8 {
        let (status, body) = post(
            &client,
            format!("{}/api/v1/meetings", server.base),
            "host",
            json!({"title": format!("m{i}"), "start_now": true, "max_participants": 1000}),
        )
        .await
        .unwrap();
        assert_eq!(status, StatusCode::CREATED);
        meetings.push(body["meeting_id"].as_str().unwrap().to_owned());
    }

    // 32 clients join as fast as they can; the server dies under them.
    let acknowledged = Arc::new(std::sync::Mutex::new(Vec::<(i64, String, String)>::new()));
    let count = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for worker in 0..32 {
        let (client, base, meetings) = (client.clone(), server.base.clone(), meetings.clone());
        let (acknowledged, count) = (acknowledged.clone(), count.clone());
        clients.push(tokio::spawn(async move {
            for n in 0..200 {
                let user = format!("w{worker}-u{n}");
                let meeting = &meetings[(worker + n) % meetings.len()];
                match post(
                    &client,
                    format!("{base}/api/v1/meetings/{meeting}/join"),
                    &user,
                    json!({}),
                )
                .await
                {
                    Ok((status, body)) if status.is_success() => {
                        let position = body["position"].as_i64().unwrap();
                        acknowledged
                            .lock()
                            .unwrap()
                            .push((position, meeting.clone(), user));
                        count.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok((status, body)) => panic!("unexpected {status}: {body}"),
                    Err(_) => return, // the server is gone
                }
            }
        }));
    }
    eventually(Duration::from_secs(60), || async {
        (count.load(Ordering::SeqCst) >= 300).then_some(())
    })
    .await;
    server.child.start_kill().expect("kill -9");
    server.child.wait().await.unwrap();
    for client in clients {
        client.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() >= 300);

    // Restart on the same database; the relay catches up.
    let server = start_server(setup, &db, &stream).await;
    let store = db.store().await;
    let log = store.read_all(0, 1_000_000).await.unwrap();
    let by_position: HashMap<i64, &events::RecordedEvent> =
        log.iter().map(|e| (e.position, e)).collect();
    for (position, meeting, user) in &acknowledged {
        let event = by_position
            .get(position)
            .unwrap_or_else(|| panic!("acknowledged position {position} is not in the log"));
        assert_eq!(event.event_type, "participant_joined");
        assert_eq!(event.data.value()["user_id"], json!(user));
        assert_eq!(event.stream_id.0, format!("meeting-{meeting}"));
    }
    let mut joins: HashMap<(String, String), usize> = HashMap::new();
    for event in log.iter().filter(|e| e.event_type == "participant_joined") {
        let key = (
            event.stream_id.0.clone(),
            event.data.value()["user_id"].as_str().unwrap().to_owned(),
        );
        *joins.entry(key).or_default() += 1;
    }
    assert!(
        joins.values().all(|n| *n == 1),
        "no join is in the log twice"
    );
    if setup.nats() {
        assert_published_exactly_once(&stream, store.as_ref()).await;
    }

    // And the restarted server serves.
    let (status, _) = post(
        &client,
        format!("{}/api/v1/meetings/{}/join", server.base, meetings[0]),
        "after",
        json!({}),
    )
    .await
    .unwrap();
    assert_eq!(status, StatusCode::OK);
}

async fn sigterm_lets_in_flight_requests_finish(setup: Setup) {
    let db = TestDb::on(setup.backend()).await;
    let stream = TestStream::new();
    let mut server = start_server(setup, &db, &stream).await;
    let client = reqwest::Client::new();
    let (_, body) = post(
        &client,
        format!("{}/api/v1/meetings", server.base),
        "host",
        json!({"title": "t", "start_now": true}),
    )
    .await
    .unwrap();
    let meeting = body["meeting_id"].as_str().unwrap().to_owned();

    let started = Arc::new(AtomicUsize::new(0));
    let requests: Vec<_> = (0..40)
        .map(|i| {
            let (client, base, meeting, started) = (
                client.clone(),
                server.base.clone(),
                meeting.clone(),
                started.clone(),
            );
            tokio::spawn(async move {
                started.fetch_add(1, Ordering::SeqCst);
                post(
                    &client,
                    format!("{base}/api/v1/meetings/{meeting}/join"),
                    &format!("u{i}"),
                    json!({}),
                )
                .await
            })
        })
        .collect();
    eventually(Duration::from_secs(10), || async {
        (started.load(Ordering::SeqCst) == 40).then_some(())
    })
    .await;
    let pid = server.child.id().expect("pid") as i32;
    // Our own child, by its pid.
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::time::timeout(Duration::from_secs(30), server.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "graceful exit, got {exit:?}");

    // Every request the server accepted before the signal was answered:
    // nothing was applied without its answer reaching the client.
    let store = db.store().await;
    let mut answered = 0;
    for request in requests {
        // An error is a request sent after the listener closed: refused.
        if let Ok((status, body)) = request.await.unwrap() {
            assert!(status.is_success(), "{status}: {body}");
            answered += 1;
        }
    }
    let joins = store
        .read_all(0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event_type == "participant_joined")
        .count();
    assert!(answered > 0);
    assert_eq!(joins, answered, "every applied join was answered");
}

on_setups!(
    [postgres, sqlite]
    a_kill_9_loses_no_acknowledged_command_and_duplicates_none,
    sigterm_lets_in_flight_requests_finish,
);
