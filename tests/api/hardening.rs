//! What attacking the product found (issue 16), each as the request that
//! found it: oversized input, NUL and control characters, roles given
//! through the back door, bans, tokens, limits.

use meetings::db::Backend;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Setup, TestDb, TestStream, setup_config, spawn_app_on, spawn_app_with};

fn at(id: &str, rest: &str) -> String {
    format!("/api/v1/meetings/{id}/{rest}")
}

/// Finding 1: a policy whose blocked users would make an event larger than the
/// bus takes is refused, and nothing is appended.
async fn an_oversized_policy_is_refused_and_appends_nothing(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let id = app.active_meeting("alice", json!({})).await;
    let head = app.head().await;
    let one_huge: Vec<String> = vec!["x".repeat(1 << 20)];
    let many_long: Vec<String> = (0..1000).map(|n| format!("{n:y>1400}")).collect();
    for blocked in [one_huge, many_long] {
        let body = json!({ "blocked_users": blocked });
        let refused = app
            .post(&at(&id, "security/policy"), "alice", Some(&body))
            .await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(refused.code(), "VALIDATION_FAILED");
        assert_eq!(refused.body["details"]["field"], "blocked_users");
    }
    assert_eq!(app.head().await, head, "nothing appended");
    let fine = app
        .post(
            &at(&id, "security/policy"),
            "alice",
            Some(&json!({ "blocked_users": ["mallory"] })),
        )
        .await;
    assert_eq!(fine.status, StatusCode::OK, "{:?}", fine.body);
}

/// Finding 3: a co-host cannot make anyone a co-host through an invitation.
async fn a_co_host_cannot_give_a_role_by_inviting(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let id = app.active_meeting("alice", json!({})).await;
    let made = app
        .post(
            &at(&id, "participants"),
            "alice",
            Some(&json!({"user_id": "carol", "role": "co_host"})),
        )
        .await;
    assert_eq!(made.status, StatusCode::OK);
    for (user, role) in [("zed", "co_host"), ("alice", "guest"), ("carol", "guest")] {
        let refused = app
            .post(
                &at(&id, "participants"),
                "carol",
                Some(&json!({"user_id": user, "role": role})),
            )
            .await;
        assert_ne!(refused.status, StatusCode::OK, "{user} as {role}");
    }
    let zed = app.post(&at(&id, "join"), "zed", None).await;
    assert_eq!(zed.body["role"], "participant");
}

/// Finding 7: a NUL anywhere at the edge is refused before it reaches a
/// database (PostgreSQL answered 500, SQLite matched everything), and so
/// are control characters in a search.
async fn nul_and_control_characters_are_refused_at_the_edge(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let id = app.active_meeting("alice", json!({})).await;
    for query in ["keyword=%00", "keyword=a%00b", "keyword=%01", "status=%00"] {
        let response = app
            .get(&format!("/api/v1/meetings?{query}"), "alice", &[])
            .await;
        assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert_eq!(response.code(), "VALIDATION_FAILED");
    }
    let path = app
        .get(&format!("/api/v1/meetings/{id}%00"), "alice", &[])
        .await;
    assert_eq!(path.status, StatusCode::UNPROCESSABLE_ENTITY);
    let head = app.head().await;
    for body in [
        r#"{"title": "a\u0000b"}"#,
        r#"{"title": "ok", "description": "x\u0000"}"#,
    ] {
        let response = app
            .client
            .post(format!("{}/api/v1/meetings", app.base))
            .bearer_auth(app.token("alice"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}"
        );
    }
    let bidi = app
        .post(
            "/api/v1/meetings",
            "alice",
            Some(&json!({"title": "\u{202E}cnys"})),
        )
        .await;
    assert_eq!(bidi.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bidi.body["details"]["field"], "title");
    assert_eq!(app.head().await, head, "nothing appended");
    let search = app
        .get("/api/v1/meetings?keyword=Stand", "alice", &[])
        .await;
    assert_eq!(search.status, StatusCode::OK);
}

/// Finding 10: a refusal names what is wrong: the participant the command
/// names, not the caller; a full breakout room, not the meeting; the host
/// who cannot be removed; a cancelled meeting.
async fn refusals_say_who_or_what_is_missing(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let id = app.active_meeting("alice", json!({})).await;
    app.post(&at(&id, "join"), "alice", None).await;
    let missing = app
        .send(
            reqwest::Method::DELETE,
            &at(&id, "participants/zed"),
            Some(&app.token("alice")),
            None,
            &[],
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.code(), "PARTICIPANT_NOT_FOUND");
    assert_eq!(missing.body["details"]["user_id"], "zed");
    let absent = app.post(&at(&id, "leave"), "bob", None).await;
    assert_eq!(absent.code(), "PARTICIPANT_NOT_FOUND");
    assert_eq!(
        absent.body["details"],
        json!({}),
        "the caller is the one missing"
    );
    assert_ne!(absent.body["message"], missing.body["message"]);
}

/// Finding 8: a body larger than the server reads is 413, and a position
/// the log never reached is refused at once rather than waited for.
async fn a_huge_body_is_413_and_a_position_beyond_the_head_is_refused_at_once(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let huge = format!(r#"{{"title": "{}"}}"#, "x".repeat(20 << 20));
    let response = app
        .client
        .post(format!("{}/api/v1/meetings", app.base))
        .bearer_auth(app.token("alice"))
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let id = app.active_meeting("alice", json!({})).await;
    let beyond = (app.head().await + 1000).to_string();
    let response = app
        .get(&at(&id, "status"), "alice", &[("x-min-position", &beyond)])
        .await;
    assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(response.body["details"]["field"], "X-Min-Position");
}

/// Finding 9: a WebSocket resume position beyond the head is refused
/// before the upgrade (it used to answer `caught_up`, then nothing).
async fn a_websocket_resume_beyond_the_head_is_refused(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let id = app.active_meeting("alice", json!({})).await;
    let base = app.base.replace("http://", "ws://");
    let url = format!(
        "{base}/ws/meetings/{id}?token={}&after=999999",
        app.token("alice")
    );
    match tokio_tungstenite::connect_async(url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY)
        }
        other => panic!(
            "expected a refusal, got {:?}",
            other.map(|(_, r)| r.status())
        ),
    }
}

/// Finding 11: right after a create, single-meeting reads answer the
/// meeting (they wait for the read models) instead of 404.
async fn a_meeting_is_readable_right_after_it_is_created(setup: Setup) {
    let app = spawn_app_on(setup).await;
    for _ in 0..10 {
        let id = app.active_meeting("alice", json!({})).await;
        for path in ["status", "info", "participants"] {
            let response = app.get(&at(&id, path), "alice", &[]).await;
            assert_eq!(response.status, StatusCode::OK, "{path}");
        }
        let details = app
            .get(&format!("/api/v1/meetings/{id}"), "alice", &[])
            .await;
        assert_eq!(details.status, StatusCode::OK);
    }
}

/// Finding 12: a deleted meeting no longer exists for its link, and the
/// README's own policy example is accepted.
async fn a_deleted_meeting_does_not_exist_and_the_readme_policy_example_works(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let created = app
        .create_meeting("alice", json!({"title": "Gone soon"}))
        .await;
    let (id, code) = (
        created["meeting_id"].as_str().unwrap(),
        created["room_code"].as_str().unwrap(),
    );
    let deleted = app
        .send(
            reqwest::Method::DELETE,
            &format!("/api/v1/meetings/{id}"),
            Some(&app.token("alice")),
            None,
            &[],
        )
        .await;
    assert_eq!(deleted.status, StatusCode::OK);
    for reference in [id, code] {
        let exists = app
            .send(
                reqwest::Method::GET,
                &at(reference, "exists"),
                None,
                None,
                &[],
            )
            .await;
        assert_eq!(exists.body["exists"], false, "{reference}");
    }

    let readme = include_str!("../../README.md");
    let example = readme
        .lines()
        .find(|line| line.contains("/security/policy \"$A\" '"))
        .and_then(|line| line.split('\'').nth(1))
        .expect("the README shows a policy example");
    let body: serde_json::Value = serde_json::from_str(example).unwrap();
    let id = app.active_meeting("alice", json!({})).await;
    let applied = app
        .post(&at(&id, "security/policy"), "alice", Some(&body))
        .await;
    assert_eq!(applied.status, StatusCode::OK, "{:?}", applied.body);
}

/// Finding 13: spec 001's chat bodies: its exact text body (file fields
/// null) and its file messages, answered and listed with the file.
async fn chat_takes_the_specs_text_and_file_messages(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let id = app.active_meeting("alice", json!({})).await;
    app.post(&at(&id, "join"), "bob", None).await;
    let text = json!({"content": "Hello everyone!", "message_type": "text", "recipient_id": null,
                      "file_url": null, "file_name": null, "file_type": null, "file_size": null});
    let sent = app.post(&at(&id, "chat"), "bob", Some(&text)).await;
    assert_eq!(sent.status, StatusCode::CREATED, "{:?}", sent.body);
    assert_eq!(sent.body["message_type"], "text");
    let file = json!({"content": "minutes", "message_type": "file",
                      "file_url": "https://files.example.com/minutes.pdf", "file_name": "minutes.pdf",
                      "file_type": "application/pdf", "file_size": 48213});
    let sent = app.post(&at(&id, "chat"), "bob", Some(&file)).await;
    assert_eq!(sent.status, StatusCode::CREATED, "{:?}", sent.body);
    assert_eq!(sent.body["message_type"], "file");
    assert_eq!(sent.body["file_name"], "minutes.pdf");
    let position = sent.position_header().unwrap().to_string();
    let listed = app
        .get(&at(&id, "chat"), "alice", &[("x-min-position", &position)])
        .await;
    let messages = listed.body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(
        messages[1]["file_url"],
        "https://files.example.com/minutes.pdf"
    );
    assert_eq!(messages[1]["file_size"], 48213);
    assert_eq!(messages[1]["message_type"], "file");
    assert!(
        messages[0].get("file_url").is_none(),
        "a text message names no file"
    );
    for (bad, field) in [
        (
            json!({"message_type": "file", "file_url": "javascript:alert(1)", "file_name": "x"}),
            "file_url",
        ),
        (
            json!({"message_type": "file", "file_url": "https://x.example/f"}),
            "file_name",
        ),
        (
            json!({"content": "hi", "file_url": "https://x.example/f"}),
            "file_url",
        ),
        (
            json!({"content": "hi", "message_type": "video"}),
            "message_type",
        ),
    ] {
        let refused = app.post(&at(&id, "chat"), "bob", Some(&bad)).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert_eq!(refused.body["details"]["field"], field, "{bad}");
    }
}

/// Finding 2: thousands of idle and half-sent connections are closed by
/// the server's header timeout while it keeps answering; past the
/// connection limit a new connection is closed at once.
#[tokio::test]
async fn idle_connections_are_closed_while_the_server_keeps_answering() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (db, stream) = (TestDb::on(Backend::Sqlite).await, TestStream::new());
    let mut config = setup_config(Setup::sqlite, &db, &stream);
    config.http.header_timeout_seconds = 3;
    config.http.max_connections = 2_500;
    // Every connection here comes from one address: this is about the
    // node's own limit, not the one per address (`attack`).
    config.http.max_connections_per_address = 0;
    let app = spawn_app_with(config, db, stream).await;
    let addr = app.app.addr;

    let mut idle = Vec::new();
    for n in 0..2_000 {
        let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
        if n % 2 == 0 {
            // Headers begun and never finished.
            socket
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                .await
                .unwrap();
        }
        idle.push(socket);
    }
    // Held open, and the server answers others all the same.
    for _ in 0..5 {
        let fresh = reqwest::Client::new();
        let health = fresh
            .get(format!("{}/healthz", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(health.status(), StatusCode::OK);
        let listed = app.get("/api/v1/meetings", "alice", &[]).await;
        assert_eq!(listed.status, StatusCode::OK);
    }
    // Then the server closes every one of them.
    let closed = futures::future::join_all(idle.iter_mut().map(|socket| async move {
        let mut buffer = [0u8; 1024];
        loop {
            match tokio::time::timeout(std::time::Duration::from_secs(30), socket.read(&mut buffer))
                .await
            {
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => continue,
                Err(_) => return false,
            }
        }
    }))
    .await;
    assert!(closed.iter().all(|c| *c), "every idle connection is closed");
}

/// Finding 2: past `MEETINGS_MAX_CONNECTIONS` a new connection is closed at
/// once, and the server answers again as soon as a slot is free.
#[tokio::test]
async fn connections_over_the_limit_are_closed_at_once() {
    use tokio::io::AsyncReadExt;
    let (db, stream) = (TestDb::on(Backend::Sqlite).await, TestStream::new());
    let mut config = setup_config(Setup::sqlite, &db, &stream);
    config.http.header_timeout_seconds = 2;
    config.http.max_connections = 50;
    let app = spawn_app_with(config, db, stream).await;
    let mut held = Vec::new();
    for _ in 0..50 {
        held.push(tokio::net::TcpStream::connect(app.app.addr).await.unwrap());
    }
    // The server has taken the 50 (they are open); the 51st is closed.
    let mut extra = tokio::net::TcpStream::connect(app.app.addr).await.unwrap();
    let mut buffer = [0u8; 16];
    let read =
        tokio::time::timeout(std::time::Duration::from_secs(1), extra.read(&mut buffer)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "{read:?}");
    drop(held);
    crate::helpers::eventually(std::time::Duration::from_secs(10), || async {
        let health = reqwest::get(format!("{}/healthz", app.base)).await.ok()?;
        (health.status() == StatusCode::OK).then_some(())
    })
    .await;
}

on_setups!(
    [postgres, sqlite]
    an_oversized_policy_is_refused_and_appends_nothing,
    a_co_host_cannot_give_a_role_by_inviting,
    nul_and_control_characters_are_refused_at_the_edge,
    refusals_say_who_or_what_is_missing,
    a_huge_body_is_413_and_a_position_beyond_the_head_is_refused_at_once,
    a_websocket_resume_beyond_the_head_is_refused,
    a_meeting_is_readable_right_after_it_is_created,
    a_deleted_meeting_does_not_exist_and_the_readme_policy_example_works,
    chat_takes_the_specs_text_and_file_messages,
);
