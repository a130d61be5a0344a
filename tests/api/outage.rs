//! A PostgreSQL outage (hardening 5, and 9 of the second round): on a
//! PostgreSQL server of the test's own (another port and data folder; the
//! shared one is never stopped), stopped under the node while clients
//! keep calling, and started again. While it is down, commands, queries
//! and `/readyz` answer 503 DATABASE_UNAVAILABLE with `Retry-After`
//! within a second, under load too; once it is back, the node serves
//! again by itself.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use std::time::Instant;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestDb, TestStream, eventually, spawn_app_with, test_config};

/// A PostgreSQL server in a folder of its own, run as the `postgres` user
/// when the tests run as root (PostgreSQL refuses to run as root).
struct PrivatePostgres {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
}

impl PrivatePostgres {
    async fn start() -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL is installed (scripts/test provisions it)")
            .filter_map(|entry| entry.ok().map(|e| e.path().join("bin")))
            .find(|bin| bin.join("initdb").exists())
            .expect("initdb");
        let dir = std::env::temp_dir().join(format!("meetings-pg-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let server = Self { dir, bin, port };
        if as_root() {
            run(tokio::process::Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&server.dir))
            .await;
        }
        let data = server.dir.join("data");
        run(server.command("initdb").arg("-D").arg(&data).args([
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
        ]))
        .await;
        server.pg_ctl("start").await;
        server
    }

    /// A PostgreSQL program, as the user that owns the folder.
    fn command(&self, program: &str) -> tokio::process::Command {
        let path = self.bin.join(program);
        let mut command = if as_root() {
            let mut command = tokio::process::Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            tokio::process::Command::new(path)
        };
        command.stdout(Stdio::null()).stderr(Stdio::null());
        command
    }

    async fn pg_ctl(&self, action: &str) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.display()
        );
        let mut command = self.command("pg_ctl");
        command
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-o", &options, "-l"])
            .arg(self.dir.join("log"))
            .args(["-w", "-m", "fast", action]);
        run(&mut command).await;
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = std::process::Command::new(if as_root() { "runuser" } else { "true" })
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether the tests run as root (the owner of this process's entry).
fn as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

async fn run(command: &mut tokio::process::Command) {
    let status = command.status().await.expect("runs");
    assert!(status.success(), "{command:?}");
}

/// One request of the load: when it was sent, how long it took, and its
/// status (none: it failed to be answered at all).
struct Answered {
    sent: Instant,
    took: Duration,
    status: Option<StatusCode>,
}

#[tokio::test]
async fn a_database_outage_is_503_within_a_second_under_load_and_the_node_recovers() {
    let postgres = PrivatePostgres::start().await;
    let db = TestDb::create().await;
    let stream = TestStream::new();
    let mut config = test_config(&db, &stream);
    config.database_url = postgres.url();
    config.nats_url = None;
    // The pools would wait this long for a connection: the probe answers
    // first.
    config.database_acquire_timeout_seconds = 3;
    let app = spawn_app_with(config, db, stream).await;
    let id = app.active_meeting("alice", json!({})).await;
    let joined = app
        .post(&format!("/api/v1/meetings/{id}/join"), "bob", None)
        .await;
    assert_eq!(joined.status, StatusCode::OK);

    // Sixteen clients keep reading and joining while the database stops.
    let stopped_at = Arc::new(Mutex::new(None::<Instant>));
    let load: Vec<_> = (0..16)
        .map(|n| {
            let (client, base) = (app.client.clone(), app.base.clone());
            let token = app.token(&format!("load{n}"));
            let stopped_at = stopped_at.clone();
            let id = id.clone();
            tokio::spawn(async move {
                let mut answered = Vec::new();
                let mut after_stop = 0;
                while after_stop < 8 {
                    let (method, path) = if n % 2 == 0 {
                        (
                            reqwest::Method::GET,
                            format!("/api/v1/meetings/{id}/status"),
                        )
                    } else {
                        (reqwest::Method::POST, format!("/api/v1/meetings/{id}/join"))
                    };
                    let sent = Instant::now();
                    let response = client
                        .request(method, format!("{base}{path}"))
                        .bearer_auth(&token)
                        .timeout(Duration::from_secs(10))
                        .send()
                        .await;
                    answered.push(Answered {
                        sent,
                        took: sent.elapsed(),
                        status: response.ok().map(|r| r.status()),
                    });
                    if stopped_at.lock().unwrap().is_some_and(|at| sent > at) {
                        after_stop += 1;
                    }
                }
                answered
            })
        })
        .collect();
    postgres.pg_ctl("stop").await;
    let stopped = Instant::now();
    *stopped_at.lock().unwrap() = Some(stopped);
    let mut answers = Vec::new();
    for task in load {
        answers.extend(task.await.unwrap());
    }
    for answer in &answers {
        let waited =
            (answer.sent + answer.took).saturating_duration_since(answer.sent.max(stopped));
        assert!(
            waited <= Duration::from_millis(1500),
            "answered {waited:?} after the database stopped (a second, and room for a slow machine)"
        );
        if answer.sent > stopped + Duration::from_secs(1) {
            assert_eq!(answer.status, Some(StatusCode::SERVICE_UNAVAILABLE));
        }
    }
    assert!(answers.iter().filter(|a| a.sent > stopped).count() >= 16 * 8);

    // A client that waits no longer than a second gets its answer.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let call = |method: reqwest::Method, path: String, body: Option<serde_json::Value>| {
        let mut request = client
            .request(method, format!("{}{path}", app.base))
            .bearer_auth(app.token("carol"));
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send()
    };
    let requests = [
        (
            reqwest::Method::POST,
            format!("/api/v1/meetings/{id}/join"),
            None,
        ),
        (
            reqwest::Method::POST,
            "/api/v1/meetings".to_owned(),
            Some(json!({"title": "t"})),
        ),
        (
            reqwest::Method::GET,
            format!("/api/v1/meetings/{id}/status"),
            None,
        ),
        (reqwest::Method::GET, "/api/v1/meetings".to_owned(), None),
        (reqwest::Method::GET, "/readyz".to_owned(), None),
    ];
    for (method, path, body) in requests {
        let response = call(method, path.clone(), body)
            .await
            .unwrap_or_else(|e| panic!("{path} answered in time: {e}"));
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert!(response.headers().contains_key("retry-after"), "{path}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["code"], "DATABASE_UNAVAILABLE", "{path}");
    }

    postgres.pg_ctl("start").await;
    eventually(Duration::from_secs(30), || async {
        let joined = app
            .post(&format!("/api/v1/meetings/{id}/join"), "carol", None)
            .await;
        (joined.status == StatusCode::OK).then_some(())
    })
    .await;
    let ready = client
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
}
