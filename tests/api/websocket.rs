//! The WebSocket gateway: live frames, resume with `after` across the
//! catch-up/live switch under concurrent appends (no gap, no duplicate),
//! refusals before the upgrade, ping/pong, and the slow-consumer close.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use meetings::http::{CLIENT_QUEUE, CLOSE_SLOW_CONSUMER};

use crate::helpers::{
    Setup, TestApp, TestDb, TestStream, setup_config, spawn_app_on, spawn_app_with,
};

pub(crate) type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub(crate) fn ws_url(app: &TestApp, meeting: &str, token: &str, after: Option<i64>) -> String {
    let base = app.base.replace("http://", "ws://");
    let after = after.map(|a| format!("&after={a}")).unwrap_or_default();
    format!("{base}/ws/meetings/{meeting}?token={token}{after}")
}

pub(crate) async fn open(app: &TestApp, meeting: &str, user: &str, after: Option<i64>) -> Socket {
    let url = ws_url(app, meeting, &app.token(user), after);
    tokio_tungstenite::connect_async(url)
        .await
        .expect("websocket opens")
        .0
}

/// The next JSON frame (skipping protocol pings), within a deadline.
pub(crate) async fn next_frame(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(20), socket.next())
            .await
            .expect("a frame in time")
            .expect("socket open")
            .expect("a message");
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).expect("json frame");
        }
    }
}

/// Event frames until `caught_up`, which is returned last.
pub(crate) async fn until_caught_up(socket: &mut Socket) -> (Vec<Value>, Value) {
    let mut frames = Vec::new();
    loop {
        let frame = next_frame(socket).await;
        if frame["type"] == "caught_up" {
            return (frames, frame);
        }
        frames.push(frame);
    }
}

fn path(meeting: &str, action: &str) -> String {
    format!("/api/v1/meetings/{meeting}/{action}")
}

async fn a_subscriber_sees_every_event_of_its_meeting_live(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let id = app.active_meeting("alice", json!({})).await;
    let other = app.active_meeting("alice", json!({})).await;
    let mut socket = open(&app, &id, "alice", None).await;
    let (backlog, caught_up) = until_caught_up(&mut socket).await;
    let types: Vec<&str> = backlog
        .iter()
        .map(|f| f["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["meeting_scheduled", "meeting_started"]);
    assert_eq!(caught_up["position"], backlog[1]["position"]);

    app.post(&path(&other, "join"), "bob", None).await; // another meeting: not sent
    let joined = app
        .post(
            &path(&id, "join"),
            "bob",
            Some(&json!({"device_type": "web"})),
        )
        .await;
    let frame = next_frame(&mut socket).await;
    assert_eq!(frame["type"], "participant_joined");
    assert_eq!(frame["position"], joined.body["position"]);
    assert_eq!(frame["meeting_id"], json!(id));
    assert_eq!(frame["user_id"], "bob", "the actor");
    assert_eq!(frame["data"]["device_type"], "web");
    assert!(chrono::DateTime::parse_from_rfc3339(frame["timestamp"].as_str().unwrap()).is_ok());

    app.patch(&path(&id, "config"), "alice", &json!({"lock_room": true}))
        .await;
    let frame = next_frame(&mut socket).await;
    assert_eq!(frame["type"], "room_config_updated");
    assert_eq!(frame["data"]["settings"], json!({"lock_room": true}));
}

async fn resuming_with_after_has_no_gap_and_no_duplicate_under_concurrent_appends(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let id = app
        .active_meeting("alice", json!({"max_participants": 1000}))
        .await;
    for n in 0..20 {
        app.post(&path(&id, "join"), &format!("early{n}"), None)
            .await;
    }
    let after = app.head().await - 7; // resume from the middle of the backlog

    // Writers keep appending to this meeting while the subscriber switches
    // from the log to live events.
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (client, base, id) = (app.client.clone(), app.base.clone(), id.clone());
            let tokens: Vec<String> = (0..40).map(|n| app.token(&format!("w{w}u{n}"))).collect();
            tokio::spawn(async move {
                for token in tokens {
                    let response = client
                        .post(format!("{base}{}", path(&id, "join")))
                        .bearer_auth(token)
                        .send()
                        .await
                        .unwrap();
                    assert!(response.status().is_success());
                }
            })
        })
        .collect();
    let mut socket = open(&app, &id, "alice", Some(after)).await;
    for writer in writers {
        writer.await.unwrap();
    }
    let expected: Vec<i64> = app
        .log()
        .await
        .into_iter()
        .filter(|e| e.stream_id.0 == format!("meeting-{id}") && e.position > after)
        .map(|e| e.position)
        .collect();
    let last = *expected.last().unwrap();

    let mut received = Vec::new();
    let mut caught_up = 0;
    while received.last() != Some(&last) {
        let frame = next_frame(&mut socket).await;
        if frame["type"] == "caught_up" {
            caught_up += 1;
            continue;
        }
        received.push(frame["position"].as_i64().unwrap());
    }
    assert_eq!(caught_up, 1);
    assert_eq!(
        received, expected,
        "every event after `after`, once, in order"
    );
}

async fn refusals_happen_before_the_upgrade(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let id = app.active_meeting("alice", json!({})).await;
    let status_of = |url: String| async move {
        match tokio_tungstenite::connect_async(url).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                response.status().as_u16()
            }
            Err(e) => panic!("unexpected {e}"),
            Ok(_) => 101,
        }
    };
    let base = app.base.replace("http://", "ws://");
    assert_eq!(status_of(format!("{base}/ws/meetings/{id}")).await, 401);
    assert_eq!(
        status_of(ws_url(&app, &id, "forged.token.here", None)).await,
        401
    );
    assert_eq!(
        status_of(ws_url(&app, &id, &app.token("mallory"), None)).await,
        403
    );
    assert_eq!(
        status_of(ws_url(&app, "zzz-zzzz-zzz", &app.token("alice"), None)).await,
        404
    );
    let auditor = app.token_with_roles("audit", &["auditor"]);
    assert_eq!(status_of(ws_url(&app, &id, &auditor, None)).await, 101);
}

async fn a_ping_frame_is_answered_with_pong(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let id = app.active_meeting("alice", json!({})).await;
    let mut socket = open(&app, &id, "alice", None).await;
    until_caught_up(&mut socket).await;
    socket
        .send(Message::Text(
            json!({"type": "ping", "request_id": "r1"})
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    assert_eq!(next_frame(&mut socket).await["type"], "pong");
}

async fn a_client_that_stops_reading_is_closed_with_a_resume_position(setup: Setup) {
    let (db, stream) = (TestDb::on(setup.backend()).await, TestStream::new());
    let mut config = setup_config(setup, &db, &stream);
    // The client comes back to read only after every command: however
    // slow the machine, the server must still be waiting for it then.
    config.websocket.send_timeout_seconds = 600;
    let app = spawn_app_with(config, db, stream).await;
    let id = app
        .active_meeting("alice", json!({"max_participants": 1000}))
        .await;
    let socket = open(&app, &id, "alice", None).await;
    // Long names make large frames, so the socket buffers fill quickly.
    let name = "n".repeat(8000);
    let meeting: events::MeetingId = id.parse().unwrap();
    // 1,200 users join and leave (in-process: nothing here is about HTTP).
    let commands = &app.app.commands;
    let mut appended = 0;
    for batch in 0..12 {
        let users = (0..100).map(|n| {
            let mut ctx = crate::helpers::ctx(&format!("b{batch}u{n}"));
            ctx.caller.name = name.clone();
            async move {
                for command in [crate::helpers::join(), command::meeting::Command::Leave] {
                    commands
                        .execute(meeting, &ctx, command, None)
                        .await
                        .unwrap();
                }
            }
        });
        futures::future::join_all(users).await;
        appended += 200;
    }
    assert!(
        appended > CLIENT_QUEUE,
        "more frames than the client's queue holds"
    );
    // Now read: the buffered frames, then the close with its code.
    let mut socket = socket;
    let close = loop {
        match tokio::time::timeout(Duration::from_secs(30), socket.next())
            .await
            .expect("in time")
        {
            Some(Ok(Message::Close(close))) => break close,
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    let close = close.expect("a close frame with a code");
    assert_eq!(close.code, CloseCode::from(CLOSE_SLOW_CONSUMER));
    assert!(close.reason.contains("after="), "{}", close.reason);
}

on_setups!(
    [postgres, sqlite, postgres_in_process, sqlite_nats]
    a_subscriber_sees_every_event_of_its_meeting_live,
    resuming_with_after_has_no_gap_and_no_duplicate_under_concurrent_appends,
);
on_setups!(
    [postgres, sqlite]
    refusals_happen_before_the_upgrade,
    a_ping_frame_is_answered_with_pong,
    a_client_that_stops_reading_is_closed_with_a_resume_position,
);
