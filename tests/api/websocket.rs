//! The WebSocket gateway: live frames, resume with `after` across the
//! catch-up/live switch under concurrent appends (no gap, no duplicate),
//! refusals before the upgrade, ping/pong, and the slow-consumer close.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use meetings::http::{
    CLIENT_QUEUE, CLOSE_IDLE, CLOSE_MEETING_OVER, CLOSE_NOT_ALLOWED, CLOSE_SLOW_CONSUMER,
};

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

/// The status of an upgrade attempt: 101, or the refusal's.
pub(crate) async fn upgrade_status(url: String) -> u16 {
    match tokio_tungstenite::connect_async(url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("unexpected {e}"),
        Ok(_) => 101,
    }
}

/// Frames until the server closes: the JSON frames and the close's code.
pub(crate) async fn until_closed(socket: &mut Socket) -> (Vec<Value>, u16) {
    let mut frames = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(20), socket.next())
            .await
            .expect("a frame in time")
        {
            Some(Ok(Message::Text(text))) => frames.push(serde_json::from_str(&text).unwrap()),
            Some(Ok(Message::Close(close))) => {
                return (frames, close.map_or(0, |c| u16::from(c.code)));
            }
            Some(Ok(_)) => {}
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

fn types(frames: &[Value]) -> Vec<&str> {
    frames.iter().filter_map(|f| f["type"].as_str()).collect()
}

/// Hardening 4: a ban closes the banned user's live connections (4003)
/// and refuses their reads from then on.
async fn a_ban_closes_the_live_connection_and_refuses_reads(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let id = app.active_meeting("alice", json!({})).await;
    app.post(&path(&id, "join"), "dave", None).await;
    let mut dave = open(&app, &id, "dave", None).await;
    until_caught_up(&mut dave).await;
    let banned = app
        .send(
            reqwest::Method::DELETE,
            &format!("{}?ban=true", path(&id, "participants/dave")),
            Some(&app.token("alice")),
            None,
            &[],
        )
        .await;
    assert_eq!(banned.status, reqwest::StatusCode::OK);
    let (frames, code) = until_closed(&mut dave).await;
    assert_eq!(
        types(&frames),
        ["participant_left"],
        "the ban itself, then the close"
    );
    assert_eq!(code, CLOSE_NOT_ALLOWED);
    // The log refuses the WebSocket at once; queries, once the read models
    // have the ban (a client that must know passes X-Min-Position).
    let again = ws_url(&app, &id, &app.token("dave"), Some(0));
    assert_eq!(upgrade_status(again).await, 403);
    let position = banned.position_header().unwrap().to_string();
    for read in ["chat", "participants"] {
        let refused = app
            .get(&path(&id, read), "dave", &[("x-min-position", &position)])
            .await;
        assert_eq!(refused.status, reqwest::StatusCode::FORBIDDEN, "{read}");
    }
}

/// Hardening 12: when the meeting ends, its last events are sent and the
/// connection closes (4000); connecting to an ended meeting sends its log,
/// then closes.
async fn the_connection_closes_once_the_meeting_is_over(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let id = app.active_meeting("alice", json!({})).await;
    app.post(&path(&id, "join"), "bob", None).await;
    let mut bob = open(&app, &id, "bob", None).await;
    until_caught_up(&mut bob).await;
    let deleted = app
        .send(
            reqwest::Method::DELETE,
            &format!("/api/v1/meetings/{id}"),
            Some(&app.token("alice")),
            None,
            &[],
        )
        .await;
    assert_eq!(deleted.status, reqwest::StatusCode::OK);
    let (frames, code) = until_closed(&mut bob).await;
    assert_eq!(
        types(&frames),
        ["participant_left", "meeting_ended", "meeting_cancelled"]
    );
    assert_eq!(code, CLOSE_MEETING_OVER);
    let mut late = open(&app, &id, "bob", None).await;
    let (frames, code) = until_closed(&mut late).await;
    assert_eq!(types(&frames).last(), Some(&"caught_up"));
    assert_eq!(code, CLOSE_MEETING_OVER);
}

/// Hardening 8: someone in the waiting room follows their own wait live:
/// their admission, then the meeting; someone turned away is closed.
async fn a_waiting_user_sees_their_own_admission_live(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let id = app
        .active_meeting("alice", json!({"settings": {"waiting_room": true}}))
        .await;
    let mut waits = Vec::new();
    for user in ["bob", "carol"] {
        let waiting = app.post(&path(&id, "join"), user, None).await;
        assert_eq!(waiting.status, reqwest::StatusCode::ACCEPTED);
        let participant = waiting.body["participant_id"].as_str().unwrap().to_owned();
        let mut socket = open(&app, &id, user, None).await;
        let (backlog, _) = until_caught_up(&mut socket).await;
        assert_eq!(
            types(&backlog),
            ["participant_waiting"],
            "only their own wait"
        );
        waits.push((participant, socket));
    }
    let (carol_id, mut carol) = waits.pop().unwrap();
    let (bob_id, mut bob) = waits.pop().unwrap();
    let admit = format!("waiting-room/{bob_id}/admit");
    assert_eq!(
        app.post(&path(&id, &admit), "alice", None).await.status,
        reqwest::StatusCode::OK
    );
    assert_eq!(next_frame(&mut bob).await["type"], "participant_admitted");
    assert_eq!(next_frame(&mut bob).await["type"], "participant_joined");
    app.post(&path(&id, "chat"), "bob", Some(&json!({"content": "in"})))
        .await;
    assert_eq!(
        next_frame(&mut bob).await["type"],
        "chat_message_sent",
        "a reader now"
    );
    let reject = format!("waiting-room/{carol_id}/reject");
    assert_eq!(
        app.post(&path(&id, &reject), "alice", None).await.status,
        reqwest::StatusCode::OK
    );
    let (frames, code) = until_closed(&mut carol).await;
    assert_eq!(
        types(&frames),
        ["participant_rejected"],
        "nothing of the meeting"
    );
    assert_eq!(code, CLOSE_NOT_ALLOWED);
}

/// Hardening 2: the server pings; a client that answers (any client that
/// reads: WebSocket libraries answer pings by themselves) stays, one that
/// sends nothing for the idle timeout is closed (4009).
async fn a_client_that_answers_no_ping_is_closed(setup: Setup) {
    let (db, stream) = (TestDb::on(setup.backend()).await, TestStream::new());
    let mut config = setup_config(setup, &db, &stream);
    config.websocket.ping_seconds = 1;
    config.websocket.idle_timeout_seconds = 3;
    let app = spawn_app_with(config, db, stream).await;
    let id = app.active_meeting("alice", json!({})).await;
    let silent = open(&app, &id, "alice", None).await;
    let mut reader = open(&app, &id, "alice", None).await;
    until_caught_up(&mut reader).await;
    // The reader keeps reading (and so answers every ping) until the
    // silent one is closed.
    let reading = tokio::spawn(async move {
        while let Some(Ok(message)) = reader.next().await {
            if let Message::Text(text) = message
                && text.contains("stop-reading")
            {
                break;
            }
        }
        reader
    });
    // Read raw: a WebSocket library reading the frames would answer the
    // pings. The server's close frame carries the code, then the socket
    // ends.
    let mut raw = silent.into_inner();
    let mut bytes = Vec::new();
    tokio::time::timeout(
        Duration::from_secs(30),
        tokio::io::AsyncReadExt::read_to_end(&mut raw, &mut bytes),
    )
    .await
    .expect("closed in time")
    .ok();
    let close = [0x88, 2 + b"no answer to pings".len() as u8];
    let at = bytes
        .windows(2)
        .position(|w| w == close)
        .expect("a close frame");
    assert_eq!(
        u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]),
        CLOSE_IDLE
    );
    // The reader outlived the idle timeout: still there, it answers.
    app.post(&path(&id, "join"), "alice", None).await;
    let chat = json!({"content": "stop-reading"});
    app.post(&path(&id, "chat"), "alice", Some(&chat)).await;
    let mut reader = reading.await.unwrap();
    reader
        .send(Message::Text(
            json!({"type": "ping", "request_id": "r"})
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    assert_eq!(next_frame(&mut reader).await["type"], "pong");
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
    a_ban_closes_the_live_connection_and_refuses_reads,
    the_connection_closes_once_the_meeting_is_over,
    a_waiting_user_sees_their_own_admission_live,
    a_client_that_answers_no_ping_is_closed,
);
