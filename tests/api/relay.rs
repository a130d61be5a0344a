//! The relay: every committed event reaches JetStream once, in position
//! order, with the documented subject and headers; also across a crash of
//! the relay mid-stream, and across an outage of NATS.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use events::{Append, EventId, EventStore, MeetingId, NewEvent};
use live::bus::Bus;
use live::nats::JetStreamLog;
use meetings::app::Log;
use reqwest::StatusCode;
use serde_json::json;
use tokio::sync::watch;

use crate::helpers::{
    PrivateNats, Setup, TestDb, TestStream, eventually, free_port, nats_url, spawn_app_with,
    test_config,
};

fn meeting_event(n: i64) -> NewEvent {
    NewEvent {
        event_id: EventId::new(),
        event_type: "test_happened".into(),
        schema_version: 1,
        data: json!({ "n": n }),
        metadata: json!({}),
    }
}

/// Checks that the stream holds exactly positions 1..=head, once each, in
/// order, with headers and subjects as documented.
pub async fn assert_published_exactly_once(stream: &TestStream, store: &dyn EventStore) {
    let head = store.head_position().await.unwrap();
    let messages = stream.wait_for_position(head).await;
    let positions: Vec<i64> = messages.iter().map(|m| m.position).collect();
    assert_eq!(
        positions,
        (1..=head).collect::<Vec<_>>(),
        "each event once, in order"
    );
    let log = store.read_all(0, 1_000_000).await.unwrap();
    for (message, event) in messages.iter().zip(&log) {
        assert_eq!(message.msg_id, event.event_id.to_string());
        assert_eq!(message.event_type, event.event_type);
        let meeting = MeetingId::from_stream_id(&event.stream_id).unwrap();
        assert_eq!(
            message.subject,
            format!("{}.events.{}.{}", stream.prefix, meeting, event.event_type)
        );
        assert_eq!(message.payload["position"], json!(event.position));
    }
}

/// The log of `setup` and a JetStream bus on the test's stream.
async fn log_and_bus(setup: Setup, db: &TestDb, stream: &TestStream) -> (Log, Arc<dyn Bus>) {
    let client = async_nats::connect(nats_url()).await.unwrap();
    assert!(setup.nats());
    (
        db.log().await,
        Arc::new(JetStreamLog::new(
            client,
            &stream.prefix,
            crate::helpers::seal(),
        )),
    )
}

async fn the_relay_publishes_every_event_once_in_order_across_a_crash(setup: Setup) {
    const TOTAL: i64 = 600;
    let db = TestDb::on(setup.backend()).await;
    let stream = TestStream::new();
    let (log, bus) = log_and_bus(setup, &db, &stream).await;
    let store = log.store.clone();

    // Appends keep arriving on a few meetings while the relay runs.
    let appended = Arc::new(AtomicI64::new(0));
    let writer = {
        let store = store.clone();
        let appended = appended.clone();
        tokio::spawn(async move {
            let meetings: Vec<MeetingId> = (0..4).map(|_| MeetingId::new()).collect();
            for n in 0..TOTAL {
                let meeting = meetings[(n % 4) as usize];
                let version = n / 4;
                let append = Append::new(meeting.stream_id(), version, vec![meeting_event(n)]);
                store.append(append).await.unwrap();
                appended.store(n + 1, Ordering::SeqCst);
            }
        })
    };

    let (stop, stopped) = watch::channel(false);
    let first = tokio::spawn(live::relay::run(
        store.clone(),
        bus.clone(),
        log.leases.clone(),
        stopped.clone(),
    ));
    // Let it get part of the way, then kill it without a goodbye.
    stream.wait_for_position(100).await;
    first.abort();
    let _ = first.await;
    let published_at_crash = stream.messages().await.len() as i64;
    assert!(published_at_crash < TOTAL, "the crash happened mid-stream");

    let second = tokio::spawn(live::relay::run(
        store.clone(),
        bus,
        log.leases.clone(),
        stopped,
    ));
    writer.await.unwrap();
    assert_eq!(appended.load(Ordering::SeqCst), TOTAL);
    assert_published_exactly_once(&stream, store.as_ref()).await;
    let _ = stop.send(true);
    second.await.unwrap();
}

async fn only_one_relay_publishes_at_a_time(setup: Setup) {
    let db = TestDb::on(setup.backend()).await;
    let stream = TestStream::new();
    let log = db.log().await;
    let store = log.store.clone();
    let (stop, stopped) = watch::channel(false);
    let mut relays = Vec::new();
    for _ in 0..3 {
        let (_, bus) = log_and_bus(setup, &db, &stream).await;
        relays.push(tokio::spawn(live::relay::run(
            store.clone(),
            bus,
            log.leases.clone(),
            stopped.clone(),
        )));
    }
    let meeting = MeetingId::new();
    for n in 0..200 {
        store
            .append(Append::new(meeting.stream_id(), n, vec![meeting_event(n)]))
            .await
            .unwrap();
    }
    assert_published_exactly_once(&stream, store.as_ref()).await;
    let _ = stop.send(true);
    for relay in relays {
        relay.await.unwrap();
    }
}

#[tokio::test]
async fn commands_succeed_while_nats_is_down_and_the_relay_catches_up() {
    let dir = std::env::temp_dir().join(format!("meetings-nats-{}", uuid::Uuid::new_v4()));
    let nats = PrivateNats::start(free_port(), dir).await;
    let url = format!("nats://127.0.0.1:{}", nats.port);

    let db = TestDb::create().await;
    let stream = TestStream::new();
    let mut config = test_config(&db, &stream);
    config.nats_url = Some(url.clone());
    let app = spawn_app_with(config, db, stream).await;
    let meeting = app.active_meeting("alice", json!({})).await;

    let private_messages = |url: String, prefix: String| async move {
        let client = async_nats::connect(url).await.ok()?;
        let js = async_nats::jetstream::new(client);
        let mut stream = js
            .get_stream(format!("{}_EVENTS", prefix.to_uppercase()))
            .await
            .ok()?;
        let last = stream.info().await.ok()?.state.last_sequence;
        let message = stream.get_raw_message(last).await.ok()?;
        live::nats::position_header(&message.headers)
    };
    let prefix = app.stream.prefix.clone();
    eventually(Duration::from_secs(20), || {
        let (url, prefix) = (url.clone(), prefix.clone());
        async move { private_messages(url, prefix).await.filter(|p| *p == 2) }
    })
    .await;

    let (port, dir) = nats.stop().await;
    for user in ["bob", "carol", "dave"] {
        let joined = app
            .post(&format!("/api/v1/meetings/{meeting}/join"), user, None)
            .await;
        assert_eq!(joined.status, StatusCode::OK, "commands work without NATS");
    }
    let head = app.head().await;
    assert_eq!(head, 5);

    let nats = PrivateNats::start(port, dir.clone()).await;
    let last = eventually(Duration::from_secs(30), || {
        let (url, prefix) = (url.clone(), prefix.clone());
        async move { private_messages(url, prefix).await.filter(|p| *p == head) }
    })
    .await;
    assert_eq!(last, head);
    // Exactly once: one message per position.
    let client = async_nats::connect(url.clone()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let mut stream = js
        .get_stream(format!("{}_EVENTS", prefix.to_uppercase()))
        .await
        .unwrap();
    assert_eq!(stream.info().await.unwrap().state.messages, head as u64);
    drop(app);
    nats.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// An event the bus refuses (larger than the server's `max_payload`) is
/// left to the log: the relay publishes the events behind it, and a
/// restart does not get stuck on it either.
#[tokio::test]
async fn the_relay_gets_past_an_event_the_bus_refuses() {
    let dir = std::env::temp_dir().join(format!("meetings-nats-{}", uuid::Uuid::new_v4()));
    let nats = PrivateNats::start_with(free_port(), dir.clone(), Some(64 * 1024)).await;
    let url = format!("nats://127.0.0.1:{}", nats.port);
    let db = TestDb::create().await;
    let log = db.log().await;
    let prefix = crate::helpers::unique_prefix();
    let client = async_nats::connect(url.clone()).await.unwrap();
    let bus: Arc<dyn Bus> = Arc::new(JetStreamLog::new(
        client.clone(),
        &prefix,
        crate::helpers::seal(),
    ));

    // Written straight into the log: small, too large for this bus, small.
    let stream = MeetingId::new().stream_id();
    let mut big = meeting_event(2);
    big.data = json!({ "n": 2, "text": "x".repeat(100 * 1024) });
    let events = vec![meeting_event(1), big, meeting_event(3)];
    log.store
        .append(Append::new(stream.clone(), 0, events))
        .await
        .unwrap();

    let published = |client: async_nats::Client, prefix: String| async move {
        let js = async_nats::jetstream::new(client);
        let mut stream = js
            .get_stream(format!("{}_EVENTS", prefix.to_uppercase()))
            .await
            .ok()?;
        let last = stream.info().await.ok()?.state.last_sequence;
        let mut positions = Vec::new();
        for seq in 1..=last {
            let message = stream.get_raw_message(seq).await.ok()?;
            positions.extend(live::nats::position_header(&message.headers));
        }
        Some(positions)
    };
    let run_relay = |bus: Arc<dyn Bus>| {
        let (stop, stopped) = watch::channel(false);
        let relay = tokio::spawn(live::relay::run(
            log.store.clone(),
            bus,
            log.leases.clone(),
            stopped,
        ));
        (stop, relay)
    };
    let (stop, relay) = run_relay(bus.clone());
    let positions = eventually(Duration::from_secs(20), || {
        let (client, prefix) = (client.clone(), prefix.clone());
        async move {
            published(client, prefix)
                .await
                .filter(|p| p.last() == Some(&3))
        }
    })
    .await;
    assert_eq!(positions, vec![1, 3], "the large event is left to the log");

    // After a restart of the relay, what comes next is published too.
    stop.send(true).unwrap();
    relay.await.unwrap();
    log.store
        .append(Append::new(stream, 3, vec![meeting_event(4)]))
        .await
        .unwrap();
    let (stop, relay) = run_relay(bus);
    let positions = eventually(Duration::from_secs(20), || {
        let (client, prefix) = (client.clone(), prefix.clone());
        async move {
            published(client, prefix)
                .await
                .filter(|p| p.last() == Some(&4))
        }
    })
    .await;
    assert_eq!(positions, vec![1, 3, 4]);
    stop.send(true).unwrap();
    relay.await.unwrap();
    nats.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}

on_setups!(
    [postgres, sqlite_nats]
    the_relay_publishes_every_event_once_in_order_across_a_crash,
    only_one_relay_publishes_at_a_time,
);
