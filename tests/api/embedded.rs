//! The README's first command: `meetings` with no arguments and no
//! environment serves the API on a SQLite file under `data/` with the
//! in-process bus, creates its token key once, and keeps its data across a
//! kill -9.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::process::Command;

use crate::crash::{Server, launch};

/// `meetings` run in `dir` with none of the settings in the environment.
fn bare(dir: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_meetings"));
    command.current_dir(dir);
    for name in [
        "DATABASE_URL",
        "NATS_URL",
        "JWT_SECRET",
        "JWT_ISSUER",
        "JWT_AUDIENCE",
    ] {
        command.env_remove(name);
    }
    // Any free port instead of 8080, which another test may hold.
    command.env("MEETINGS_ADDR", "127.0.0.1:0");
    command
}

async fn token(dir: &std::path::Path, user: &str) -> String {
    let output = bare(dir)
        .args(["token", "--sub", user, "--name", user])
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

async fn call(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", server.base))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn with_no_settings_it_serves_on_sqlite_and_keeps_data_across_a_kill_9() {
    let dir = std::env::temp_dir().join(format!("meetings-embedded-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();

    // No token command works before a key exists.
    let before = bare(&dir)
        .args(["token", "--sub", "alice", "--name", "Alice"])
        .output()
        .await
        .unwrap();
    assert!(!before.status.success(), "no built-in key");

    let mut server = launch(bare(&dir)).await;
    assert!(dir.join("data/meetings.db").exists());
    // The hint names the program as it was started.
    let hint = format!(
        "get a token: {} token --sub",
        env!("CARGO_BIN_EXE_meetings")
    );
    crate::helpers::eventually(std::time::Duration::from_secs(10), || async {
        let printed = server.printed.lock().unwrap().clone();
        printed
            .iter()
            .any(|line| line.starts_with(&hint))
            .then_some(())
    })
    .await;
    let key = std::fs::read_to_string(dir.join("data/jwt_secret")).unwrap();
    assert_eq!(key.len(), 64, "a random 256-bit key, hex");

    let alice = token(&dir, "alice").await;
    let (status, created) = call(
        &server,
        reqwest::Method::POST,
        "/api/v1/meetings",
        &alice,
        Some(json!({"title": "Embedded", "start_now": true})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["meeting_id"].as_str().unwrap().to_owned();
    // The shared link leads to this server's join page, and the banner
    // to the console.
    let link = created["meeting_link"].as_str().unwrap();
    assert!(link.starts_with(&server.base), "{link}");
    let page = reqwest::get(link).await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("/assets/join.js"));
    let console = format!("console: {}/console", server.base);
    assert!(
        server
            .printed
            .lock()
            .unwrap()
            .iter()
            .any(|line| line.starts_with(&console)),
        "the banner names the console"
    );
    let (status, joined) = call(
        &server,
        reqwest::Method::POST,
        &format!("/api/v1/meetings/{id}/join"),
        &alice,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{joined}");
    let forged = meetings::auth::JwtKeys::new(b"another key", None, None)
        .issue("alice", "Alice", None, &[], chrono::Duration::hours(1))
        .unwrap();
    let (status, _) = call(
        &server,
        reqwest::Method::GET,
        &format!("/api/v1/meetings/{id}"),
        &forged,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    server.child.start_kill().unwrap();
    server.child.wait().await.unwrap();

    let server = launch(bare(&dir)).await;
    assert_eq!(
        std::fs::read_to_string(dir.join("data/jwt_secret")).unwrap(),
        key,
        "the key is created once"
    );
    let position = joined["position"].as_i64().unwrap().to_string();
    let response = reqwest::Client::new()
        .get(format!("{}/api/v1/meetings/{id}/participants", server.base))
        .bearer_auth(&alice)
        .header("X-Min-Position", position)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["participants"][0]["user_id"], "alice", "{body}");

    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn json_logs_carry_the_request_id_on_every_line_of_the_request() {
    let dir = std::env::temp_dir().join(format!("meetings-logs-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut command = bare(&dir);
    command
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "meetings=debug");
    let server = launch(command).await;
    let alice = token(&dir, "alice").await;
    let created = reqwest::Client::new()
        .post(format!("{}/api/v1/meetings", server.base))
        .bearer_auth(&alice)
        .header("X-Request-Id", "log-check-1")
        .json(&json!({"title": "Logged"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let lines: Vec<Value> =
        crate::helpers::eventually(std::time::Duration::from_secs(10), || async {
            let logged = server.logged.lock().unwrap().clone();
            let ours: Vec<Value> = logged
                .iter()
                .filter_map(|line| serde_json::from_str::<Value>(line).ok())
                .filter(|line| line["span"]["request_id"] == "log-check-1")
                .collect();
            ours.iter()
                .any(|line| line["fields"]["message"] == "answered")
                .then_some(ours)
        })
        .await;
    let answered = lines
        .iter()
        .find(|line| line["fields"]["message"] == "answered")
        .unwrap();
    assert_eq!(answered["fields"]["status"], 201);
    assert_eq!(answered["span"]["path"], "/api/v1/meetings");
    assert!(answered["timestamp"].is_string() && answered["level"] == "DEBUG");
    let every = server.logged.lock().unwrap().clone();
    assert!(
        every
            .iter()
            .all(|line| serde_json::from_str::<Value>(line).is_ok()),
        "every line is JSON: {every:?}"
    );
    std::fs::remove_dir_all(&dir).ok();
}
