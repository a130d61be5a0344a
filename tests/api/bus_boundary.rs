//! NATS as a trust boundary (issue 28, finding 3): nodes on an
//! authenticated NATS; events and forwarded commands that a node did not
//! seal do nothing; a forwarded command is decided at its holder's time;
//! a hung holder's meeting moves on and the log takes its command once.

use std::time::{Duration, Instant};

use async_nats::HeaderMap;
use async_nats::jetstream::{self, stream};
use chrono::Utc;
use command::meeting::chat::SendChat;
use command::meeting::{Caller, Command, Context};
use command::{Answered, CommandHandler, Forwarded, Router};
use events::{CommandId, MeetingId, MessageId, RecordedEvent};
use futures::StreamExt;
use live::seal::Seal;
use serde_json::{Value, json};

use crate::helpers::{
    PrivateNats, TestDb, TestStream, eventually, free_port, nats_client, nats_url, seal,
    spawn_app_with, test_config, unique_prefix,
};
use crate::websocket::{next_frame, open, until_caught_up};

const NODE_USER: &str = "meetings";
const NODE_PASSWORD: &str = "a-password-only-the-nodes-know";
/// Another service on the deployment's NATS account: it may publish and
/// subscribe, but it does not hold `NODE_SHARED_SECRET`.
const OTHER_USER: &str = "another-service";
const OTHER_PASSWORD: &str = "that-service's-own-password";

/// A NATS of the test's own that admits only the nodes and one other
/// service, each with a password: (the server, the nodes' URL, the other
/// service's URL). Without credentials nobody gets in.
async fn authenticated_nats() -> (PrivateNats, String, String) {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("meetings-nats-{}", uuid::Uuid::new_v4()));
    let users = format!(
        "authorization {{ users = [ \
         {{ user: {NODE_USER:?}, password: {NODE_PASSWORD:?} }}, \
         {{ user: {OTHER_USER:?}, password: {OTHER_PASSWORD:?} }} ] }}\n"
    );
    let nats = PrivateNats::start_configured(port, dir, &users).await;
    let url = |user: &str, password: &str| format!("nats://{user}:{password}@127.0.0.1:{port}");
    (
        nats,
        url(NODE_USER, NODE_PASSWORD),
        url(OTHER_USER, OTHER_PASSWORD),
    )
}

/// A node on PostgreSQL and the NATS at `nats_url`.
async fn node_on(nats_url: &str) -> crate::helpers::TestApp {
    let (db, stream) = (TestDb::create().await, TestStream::new());
    let mut config = test_config(&db, &stream);
    config.nats_url = Some(nats_url.to_owned());
    spawn_app_with(config, db, stream).await
}

/// A node runs on a NATS that admits only its own users (user and
/// password in `NATS_URL`); anyone else is turned away by the server, and
/// what the node publishes there is sealed.
#[tokio::test]
async fn a_node_runs_on_a_nats_that_admits_only_its_users() {
    let (nats, nodes, _) = authenticated_nats().await;
    let address = format!("nats://127.0.0.1:{}", nats.port);
    let anonymous = async_nats::ConnectOptions::new().connect(&address).await;
    assert!(anonymous.is_err(), "an anonymous client is refused");
    let guessed =
        async_nats::ConnectOptions::with_user_and_password(NODE_USER.into(), "guess".into())
            .connect(&address)
            .await;
    assert!(guessed.is_err(), "a wrong password is refused");

    let app = node_on(&nodes).await;
    let id = app.active_meeting("alice", json!({})).await;
    let mut socket = open(&app, &id, "alice", None).await;
    until_caught_up(&mut socket).await;
    let joined = app
        .post(&format!("/api/v1/meetings/{id}/join"), "bob", None)
        .await;
    let frame = next_frame(&mut socket).await;
    assert_eq!(frame["type"], "participant_joined");
    assert_eq!(frame["position"], joined.body["position"]);

    // Every event went through that NATS, sealed by the node.
    let client =
        async_nats::ConnectOptions::with_user_and_password(NODE_USER.into(), NODE_PASSWORD.into())
            .connect(&address)
            .await
            .unwrap();
    let head = app.head().await;
    let sealed = eventually(Duration::from_secs(30), || {
        let (js, name) = (jetstream::new(client.clone()), app.stream.name());
        async move {
            let mut events = js.get_stream(name).await.ok()?;
            let last = events.info().await.ok()?.state.last_sequence;
            let mut sealed = 0;
            for sequence in 1..=last {
                let message = events.get_raw_message(sequence).await.ok()?;
                let tag = message.headers.get(live::seal::HEADER)?;
                sealed += usize::from(seal().verify(&[&message.payload], tag.as_str()));
            }
            (sealed as i64 == head).then_some(sealed)
        }
    })
    .await;
    assert_eq!(sealed as i64, head);
    drop(app);
    let (_, dir) = nats.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// A chat message at the log's next position, chained to `last` (its
/// hash is right): what someone who can publish on the bus would forge.
fn forged_chat(last: &RecordedEvent, meeting: MeetingId, content: &str) -> RecordedEvent {
    let data = json!({
        "meeting_id": meeting,
        "message_id": MessageId::new(),
        "sender_id": "mallory",
        "sender_name": "Mallory",
        "content": content,
        "sent_at": Utc::now(),
    });
    let metadata = json!({
        "actor": {"user_id": "mallory", "name": "Mallory", "kind": "admin"},
        "correlation_id": uuid::Uuid::now_v7(),
        "causation_id": uuid::Uuid::now_v7(),
    });
    let mut event = RecordedEvent {
        position: last.position + 1,
        event_id: events::EventId::new(),
        stream_id: meeting.stream_id(),
        stream_version: last.stream_version + 1,
        event_type: "chat_message_sent".into(),
        schema_version: 1,
        data: (&data).into(),
        metadata: (&metadata).into(),
        recorded_at: Utc::now(),
        prev_hash: last.hash.clone(),
        hash: Vec::new(),
    };
    event.hash = events::hash::recorded_hash(&event).to_vec();
    event
}

/// Publishes an event on the bus as a stranger would, sealed with `with`
/// (or not at all).
async fn publish(
    client: &async_nats::Client,
    prefix: &str,
    event: &RecordedEvent,
    with: Option<&Seal>,
) {
    let payload = serde_json::to_vec(event).unwrap();
    let mut headers = HeaderMap::new();
    headers.insert("Nats-Msg-Id", event.event_id.to_string().as_str());
    headers.insert("Meetings-Position", event.position.to_string().as_str());
    headers.insert("Meetings-Event-Type", event.event_type.as_str());
    if let Some(seal) = with {
        headers.insert(live::seal::HEADER, seal.sign(&[&payload]).as_str());
    }
    let meeting = event.stream_id.0.trim_start_matches("meeting-");
    let subject = format!("{prefix}.events.{meeting}.{}", event.event_type);
    client
        .publish_with_headers(subject, headers, payload.into())
        .await
        .unwrap();
    client.flush().await.unwrap();
}

/// A counter of the process's metrics (every app of the test binary
/// shares the one recorder), 0 before its first use.
async fn counter(app: &crate::helpers::TestApp, name: &str) -> f64 {
    let text = app.text("/metrics").await;
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A stranger who can publish on the deployment's NATS put a chat at
/// the log's next position: a viewer got it, the read model kept it, and
/// the real event at that position was dropped. Now an unsealed event
/// (or one sealed with another key) is dropped by the node, and one that
/// is sealed but does not chain to the log's last event is read from the
/// log instead: viewers and read models see the real events only. (The
/// stranger here is another service with its own password on the
/// deployment's authenticated NATS.)
#[tokio::test]
async fn nothing_on_the_bus_reaches_a_subscriber_unless_it_is_the_logs_own() {
    let (_nats, nodes, other) = authenticated_nats().await;
    let app = node_on(&nodes).await;
    let id = app.active_meeting("alice", json!({})).await;
    let meeting: MeetingId = id.parse().unwrap();
    app.post(&format!("/api/v1/meetings/{id}/join"), "bob", None)
        .await;
    let mut viewer = open(&app, &id, "alice", None).await;
    until_caught_up(&mut viewer).await;
    app.wait_projected().await;
    let client = nats_client(&other).await;
    let chat = |content: &str| json!({ "content": content });
    let chat_path = format!("/api/v1/meetings/{id}/chat");

    // Unsealed, and sealed with another deployment's key: dropped.
    let unsealed = counter(&app, "meetings_bus_unsealed_total").await;
    let last = app.log().await.pop().unwrap();
    let forged = forged_chat(&last, meeting, "forged");
    let stranger = Seal::new(b"another deployment's key, thirty-two bytes or more");
    publish(&client, &app.stream.prefix, &forged, None).await;
    publish(&client, &app.stream.prefix, &forged, Some(&stranger)).await;
    eventually(Duration::from_secs(10), || async {
        (counter(&app, "meetings_bus_unsealed_total").await >= unsealed + 2.0).then_some(())
    })
    .await;
    let real = app.post(&chat_path, "bob", Some(&chat("real"))).await;
    let frame = next_frame(&mut viewer).await;
    assert_eq!(frame["position"], real.body["position"]);
    assert_eq!(frame["data"]["content"], "real");

    // Sealed with the deployment's key, but not the log's next event.
    let unchained = counter(&app, "meetings_feed_unchained_total").await;
    let last = app.log().await.pop().unwrap();
    let mut misplaced = forged_chat(&last, meeting, "misplaced");
    misplaced.prev_hash = vec![7; 32];
    misplaced.hash = events::hash::recorded_hash(&misplaced).to_vec();
    publish(&client, &app.stream.prefix, &misplaced, Some(&seal())).await;
    eventually(Duration::from_secs(10), || async {
        (counter(&app, "meetings_feed_unchained_total").await > unchained).then_some(())
    })
    .await;
    let again = app.post(&chat_path, "bob", Some(&chat("again"))).await;
    let frame = next_frame(&mut viewer).await;
    assert_eq!(frame["position"], again.body["position"]);
    assert_eq!(frame["data"]["content"], "again");

    // The read model holds the log's messages and nothing else.
    let position = again.body["position"].as_i64().unwrap().to_string();
    let listed = app
        .get(&chat_path, "alice", &[("x-min-position", &position)])
        .await;
    let contents: Vec<&str> = listed.body["messages"]
        .as_array()
        .expect("a list of messages")
        .iter()
        .filter_map(|m| m["content"].as_str())
        .collect();
    assert_eq!(contents, ["real", "again"], "{:?}", listed.body);
}

/// The caller, roles and time a forwarded command carries were taken as
/// they came: an `End` as `mallory` with the role admin at 2001-01-01
/// ended the meeting. Now a forwarded command runs only when a node
/// sealed it, only if it was sent within a few seconds of the holder's
/// clock, at the holder's time; and the same command sent again is taken
/// by the log once. (Sent by another service on the deployment's
/// authenticated NATS; the sealed ones as a node would.)
#[tokio::test]
async fn a_forwarded_command_runs_only_when_a_node_sealed_it_and_at_the_holders_time() {
    let (_nats, nodes, other) = authenticated_nats().await;
    let app = node_on(&nodes).await;
    let node = app
        .app
        .node
        .clone()
        .expect("a node that routes hot meetings");
    let id = app.active_meeting("alice", json!({})).await;
    let meeting: MeetingId = id.parse().unwrap();
    app.post(&format!("/api/v1/meetings/{id}/join"), "bob", None)
        .await;
    let head = app.head().await;
    let client = nats_client(&other).await;
    let subject = format!("{}.commands.{node}", app.stream.prefix);
    let ask = |body: Vec<u8>, with: Option<Seal>| {
        let (client, subject) = (client.clone(), subject.clone());
        async move {
            let mut headers = HeaderMap::new();
            if let Some(seal) = with {
                headers.insert(live::seal::HEADER, seal.sign(&[&body]).as_str());
            }
            let request = async_nats::Request::new()
                .payload(body.into())
                .headers(headers)
                .timeout(Some(Duration::from_secs(2)));
            client.send_request(subject, request).await
        }
    };
    let mallory = Context {
        caller: Caller {
            roles: vec!["admin".into()],
            ..Caller::person("mallory", "Mallory")
        },
        at: "2001-01-01T00:00:00Z".parse().unwrap(),
        request_id: None,
    };
    let end = Forwarded {
        command_id: CommandId::new(),
        meeting_id: meeting,
        ctx: mallory,
        command: Command::End,
        idempotency: None,
    };
    let body = serde_json::to_vec(&end).unwrap();
    let stranger = Seal::new(b"another deployment's key, thirty-two bytes or more");
    for with in [None, Some(stranger)] {
        let answer = ask(body.clone(), with).await;
        assert!(
            matches!(&answer, Err(e) if e.kind() == async_nats::RequestErrorKind::TimedOut),
            "not run, not answered: {answer:?}"
        );
    }
    let answer = ask(body, Some(seal())).await.expect("a sealed answer");
    let answered: Answered = serde_json::from_slice(&answer.payload).unwrap();
    assert!(matches!(answered, Answered::Failed { .. }), "{answered:?}");
    assert_eq!(app.head().await, head, "nothing appended");
    let status = app
        .get(&format!("/api/v1/meetings/{id}"), "alice", &[])
        .await;
    assert_eq!(status.body["status"], "active");

    // Sealed and sent just now (by the sender's clock, 20 s behind): run
    // at the holder's time, and once however often it arrives.
    let bob = Context {
        caller: Caller::person("bob", "Bob"),
        at: Utc::now() - chrono::Duration::seconds(20),
        request_id: None,
    };
    let message_id = MessageId::new();
    let chat = Forwarded {
        command_id: CommandId::new(),
        meeting_id: meeting,
        ctx: bob,
        command: Command::Chat(SendChat {
            message_id,
            content: "through the holder".into(),
            recipient_id: None,
            file: None,
        }),
        idempotency: None,
    };
    let body = serde_json::to_vec(&chat).unwrap();
    let before = Utc::now();
    let mut positions = Vec::new();
    for _ in 0..2 {
        let answer = ask(body.clone(), Some(seal())).await.expect("answered");
        match serde_json::from_slice::<Answered>(&answer.payload).unwrap() {
            Answered::Done { position, .. } => positions.push(position),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(positions[0], positions[1], "the second is the first");
    let chats: Vec<Value> = app
        .log()
        .await
        .iter()
        .filter(|e| e.event_type == "chat_message_sent")
        .map(|e| e.data.value())
        .collect();
    assert_eq!(chats.len(), 1, "{chats:?}");
    assert_eq!(chats[0]["message_id"], json!(message_id));
    let sent_at: chrono::DateTime<Utc> = chats[0]["sent_at"].as_str().unwrap().parse().unwrap();
    assert!(
        sent_at >= before,
        "{sent_at} is the holder's time, not the message's"
    );
}

/// A holder that took a command and never answered (hung, or killed with
/// its messages unread) stalled its meeting for 5 s, and its in-flight
/// commands answered 503. Now the sender finds out it is gone within a
/// second and runs the command itself; should the old holder run it
/// after all, the log takes it once (its events are named after the
/// command).
#[tokio::test]
async fn a_hung_holders_meeting_moves_on_within_a_second_and_its_command_is_taken_once() {
    let (db, prefix) = (TestDb::create().await, unique_prefix());
    let node = crate::hot_meetings::node(&db, &prefix).await;
    let meeting = crate::helpers::schedule(&node.handler, "alice", true).await;
    let bob = crate::helpers::ctx("bob");
    node.handler
        .execute(meeting, &bob, crate::helpers::join(), None)
        .await
        .unwrap();
    // A node that takes commands and answers nothing, probes included,
    // named in the bucket as the meeting's holder.
    let client = nats_client(&nats_url()).await;
    let mut swallowed = client
        .subscribe(format!("{prefix}.commands.hung"))
        .await
        .unwrap();
    let bucket = format!("{}_HOLDERS", prefix.to_uppercase());
    let js = jetstream::new(client.clone());
    js.get_or_create_stream(stream::Config {
        name: format!("KV_{bucket}"),
        subjects: vec![format!("$KV.{bucket}.>")],
        max_messages_per_subject: 1,
        max_age: Duration::from_secs(60),
        storage: stream::StorageType::Memory,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        ..Default::default()
    })
    .await
    .unwrap();
    let holders = js.get_key_value(&bucket).await.unwrap();
    holders
        .put(meeting.to_string(), "hung".into())
        .await
        .unwrap();
    // A node that read the meeting before the chat, and wakes up late.
    let late = CommandHandler::new(db.store().await);
    late.inspect(meeting, |_| ()).await.unwrap();

    node.router.contended(meeting);
    let chat = Command::Chat(SendChat {
        message_id: MessageId::new(),
        content: "while the holder hangs".into(),
        recipient_id: None,
        file: None,
    });
    let started = Instant::now();
    let done = node
        .handler
        .execute(meeting, &bob, chat, None)
        .await
        .expect("run here once the holder is found gone");
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(1500),
        "moved on after {took:?} (a second, and room for a slow machine)"
    );
    let forwarded: Forwarded = loop {
        let message = tokio::time::timeout(Duration::from_secs(5), swallowed.next())
            .await
            .expect("the hung holder got the command")
            .unwrap();
        if !message.payload.is_empty() {
            break serde_json::from_slice(&message.payload).unwrap();
        }
    };
    let again = late
        .execute_here(
            forwarded.command_id,
            meeting,
            &forwarded.ctx,
            forwarded.command,
            None,
        )
        .await
        .expect("the late run answers");
    assert_eq!(again.position, done.position, "the log had it already");
    let store = db.store().await;
    let chats = store
        .read_stream(&meeting.stream_id(), 0)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event_type == "chat_message_sent")
        .count();
    assert_eq!(chats, 1);
}

/// A relay resumes after the last message in the stream; one a stranger
/// published with a position ahead of the relay's made it skip the events
/// in between on the bus. Now it resumes after the last sealed message.
#[tokio::test]
async fn a_relay_resumes_after_the_last_sealed_message_only() {
    use events::{Append, NewEvent};
    let db = TestDb::create().await;
    let log = db.log().await;
    let stream = TestStream::new();
    let client = nats_client(&nats_url()).await;
    let bus: std::sync::Arc<dyn live::bus::Bus> = std::sync::Arc::new(
        live::nats::JetStreamLog::new(client.clone(), &stream.prefix, seal()),
    );
    let meeting = MeetingId::new().stream_id();
    let event = |n: i64| NewEvent {
        event_id: events::EventId::new(),
        event_type: "meeting_details_updated".into(),
        schema_version: 1,
        data: json!({ "n": n }),
        metadata: json!({ "n": n }),
    };
    let relay = |stopped| {
        tokio::spawn(live::relay::run(
            log.store.clone(),
            bus.clone(),
            log.leases.clone(),
            stopped,
        ))
    };
    log.store
        .append(Append::new(
            meeting.clone(),
            0,
            (1..=3).map(event).collect(),
        ))
        .await
        .unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let first = relay(stopped);
    stream.wait_for_position(3).await;
    stop.send(true).unwrap();
    first.await.unwrap();

    log.store
        .append(Append::new(
            meeting.clone(),
            3,
            (4..=6).map(event).collect(),
        ))
        .await
        .unwrap();
    let mut ahead = log.store.read_all(5, 1).await.unwrap().remove(0);
    ahead.data = (&json!({"forged": true})).into();
    let payload = serde_json::to_vec(&ahead).unwrap();
    let mut headers = HeaderMap::new();
    headers.insert("Meetings-Position", "6");
    jetstream::new(client)
        .publish_with_headers(
            format!("{}.events.x.forged", stream.prefix),
            headers,
            payload.into(),
        )
        .await
        .unwrap()
        .await
        .unwrap();

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let second = relay(stopped);
    let sealed = eventually(Duration::from_secs(30), || async {
        let sealed: Vec<i64> = stream
            .messages()
            .await
            .into_iter()
            .filter(|m| m.sealed)
            .map(|m| m.position)
            .collect();
        (sealed.len() >= 6).then_some(sealed)
    })
    .await;
    assert_eq!(sealed, [1, 2, 3, 4, 5, 6]);
    stop.send(true).unwrap();
    second.await.unwrap();
}
