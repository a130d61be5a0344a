//! Privacy: a third participant never sees a private chat message or a
//! waiting-room request, by query or by WebSocket (live or replayed from
//! the log), while the people they are for do.

use reqwest::Method;
use serde_json::{Value, json};

use crate::features::at;
use crate::helpers::{Setup, spawn_app_on};
use crate::websocket::{Socket, next_frame, open, until_caught_up};

on_setups!([postgres, sqlite, postgres_in_process] private_messages_and_waiting_requests_reach_only_their_audience);

/// Frames until a chat message with `content` (returned with the frames
/// before it).
async fn until_chat(socket: &mut Socket, content: &str) -> Vec<Value> {
    let mut frames = Vec::new();
    loop {
        let frame = next_frame(socket).await;
        let done = frame["type"] == "chat_message_sent" && frame["data"]["content"] == content;
        frames.push(frame);
        if done {
            return frames;
        }
    }
}

fn private_seen(frames: &[Value]) -> (bool, bool) {
    let chat = frames
        .iter()
        .any(|f| f["type"] == "chat_message_sent" && f["data"]["content"] == "for alice only");
    let waiting = frames.iter().any(|f| f["type"] == "participant_waiting");
    (chat, waiting)
}

async fn private_messages_and_waiting_requests_reach_only_their_audience(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let id = app.active_meeting("alice", json!({})).await;
    for who in ["alice", "bob", "carol"] {
        app.join_as(&id, who).await;
    }
    app.ok(
        Method::POST,
        &at(&id, "security/policy"),
        "alice",
        Some(json!({"require_waiting_room": true})),
    )
    .await;
    let mut alice = open(&app, &id, "alice", None).await;
    let mut bob = open(&app, &id, "bob", None).await;
    let mut carol = open(&app, &id, "carol", None).await;
    for socket in [&mut alice, &mut bob, &mut carol] {
        until_caught_up(socket).await;
    }

    let private = app
        .call(
            Method::POST,
            &at(&id, "chat"),
            "bob",
            Some(json!({"content": "for alice only", "recipient_id": "alice"})),
        )
        .await;
    assert_eq!(private.body["is_private"], true);
    let waiting = app.call(Method::POST, &at(&id, "join"), "dave", None).await;
    assert_eq!(waiting.code(), "WAITING_ROOM_REQUIRED");
    app.ok(
        Method::POST,
        &at(&id, "chat"),
        "bob",
        Some(json!({"content": "marker"})),
    )
    .await;

    // Live.
    assert_eq!(
        private_seen(&until_chat(&mut alice, "marker").await),
        (true, true),
        "the recipient, a moderator"
    );
    assert_eq!(
        private_seen(&until_chat(&mut bob, "marker").await),
        (true, false),
        "the sender"
    );
    assert_eq!(
        private_seen(&until_chat(&mut carol, "marker").await),
        (false, false),
        "a third participant"
    );
    // Replayed from the log.
    let mut replay = open(&app, &id, "carol", Some(0)).await;
    let (frames, _) = until_caught_up(&mut replay).await;
    assert!(frames.iter().any(|f| f["data"]["content"] == "marker"));
    assert_eq!(private_seen(&frames), (false, false));
    let mut replay = open(&app, &id, "alice", Some(0)).await;
    assert_eq!(
        private_seen(&until_caught_up(&mut replay).await.0),
        (true, true)
    );

    // By query.
    let contents = |body: &Value| -> Vec<String> {
        body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["content"].as_str().unwrap().to_owned())
            .collect()
    };
    let carol_chat = app.fresh_get(&at(&id, "chat"), "carol").await;
    assert_eq!(contents(&carol_chat.body), ["marker"]);
    assert_eq!(carol_chat.body["total"], 1);
    let alice_chat = app.get(&at(&id, "chat"), "alice", &[]).await;
    assert_eq!(contents(&alice_chat.body), ["for alice only", "marker"]);
    let bob_chat = app.get(&at(&id, "chat"), "bob", &[]).await;
    assert_eq!(contents(&bob_chat.body), ["for alice only", "marker"]);
    let carol_participants = app.get(&at(&id, "participants"), "carol", &[]).await;
    assert!(
        !carol_participants.body.to_string().contains("dave"),
        "waiting people are not participants"
    );
}
