//! The feed on every setup (log backend x bus): a subscription from any position
//! gets every later event once, in order, across the switch from the log to
//! the live hub while appends continue.

use std::time::Duration;

use events::{Append, EventId, MeetingId, NewEvent};
use live::feed::{Feed, FeedItem, Hub};
use serde_json::json;
use tokio::sync::watch;

use crate::helpers::{Setup, TestDb, TestStream, setup_config};

fn event(n: i64) -> NewEvent {
    NewEvent {
        event_id: EventId::new(),
        event_type: "test_happened".into(),
        schema_version: 1,
        data: json!({"n": n}),
        metadata: json!({}),
    }
}

async fn a_subscription_switches_from_the_log_to_live_without_gap_or_duplicate(setup: Setup) {
    const BEFORE: i64 = 150;
    const DURING: i64 = 450;
    let db = TestDb::on(setup.backend()).await;
    let stream = TestStream::new();
    let log = db.log().await;
    let store = log.store.clone();
    let hub = Hub::new();
    let bus = meetings::app::open_bus(&setup_config(setup, &db, &stream), &hub)
        .await
        .unwrap();
    let (stop, stopped) = watch::channel(false);
    let relay = tokio::spawn(live::relay::run(
        store.clone(),
        bus.clone(),
        log.leases.clone(),
        stopped,
    ));
    let hub_task = bus.feed_hub(hub.clone());
    let feed = Feed::new(store.clone(), hub);

    let meetings: Vec<MeetingId> = (0..3).map(|_| MeetingId::new()).collect();
    let append = {
        let store = store.clone();
        move |n: i64| {
            let store = store.clone();
            let meeting = meetings[(n % 3) as usize];
            async move {
                store
                    .append(Append::new(meeting.stream_id(), n / 3, vec![event(n)]))
                    .await
                    .unwrap();
            }
        }
    };
    for n in 0..BEFORE {
        append(n).await;
    }
    let after = 40;
    let mut subscription = feed.subscribe(after);
    let writer = tokio::spawn({
        let append = append.clone();
        async move {
            for n in BEFORE..BEFORE + DURING {
                append(n).await;
            }
        }
    });

    let total = BEFORE + DURING;
    let mut positions = Vec::new();
    let mut caught_up = Vec::new();
    while positions.last().copied().unwrap_or(after) < total {
        let item = tokio::time::timeout(Duration::from_secs(20), subscription.next(100))
            .await
            .expect("the feed moves")
            .unwrap();
        match item {
            FeedItem::Events(events) => positions.extend(events.iter().map(|e| e.position)),
            FeedItem::CaughtUp { position } => caught_up.push(position),
        }
    }
    writer.await.unwrap();
    assert_eq!(positions, ((after + 1)..=total).collect::<Vec<_>>());
    assert_eq!(caught_up.len(), 1, "announced once");
    assert!(caught_up[0] >= BEFORE && caught_up[0] <= total);

    let _ = stop.send(true);
    relay.await.unwrap();
    if let Some(task) = hub_task {
        task.abort();
    }
}

async fn a_feed_keeps_moving_without_a_bus(setup: Setup) {
    let db = TestDb::on(setup.backend()).await;
    let store = db.store().await;
    let feed = Feed::new(store.clone(), Hub::new()); // nothing feeds the hub
    let mut subscription = feed.subscribe(0);
    assert!(matches!(
        subscription.next(10).await.unwrap(),
        FeedItem::CaughtUp { position: 0 }
    ));
    let meeting = MeetingId::new();
    store
        .append(Append::new(meeting.stream_id(), 0, vec![event(1)]))
        .await
        .unwrap();
    let item = tokio::time::timeout(Duration::from_secs(10), subscription.next(10))
        .await
        .unwrap()
        .unwrap();
    let FeedItem::Events(events) = item else {
        panic!("{item:?}")
    };
    assert_eq!(events[0].position, 1);
}

async fn a_subscription_outlives_its_hub_by_reading_the_log(setup: Setup) {
    let db = TestDb::on(setup.backend()).await;
    let store = db.store().await;
    let feed = Feed::new(store.clone(), Hub::new());
    let mut subscription = feed.subscribe(0);
    drop(feed); // the hub's only sender: the receiver is now closed
    assert!(matches!(
        subscription.next(10).await.unwrap(),
        FeedItem::CaughtUp { position: 0 }
    ));
    let meeting = MeetingId::new();
    store
        .append(Append::new(meeting.stream_id(), 0, vec![event(1)]))
        .await
        .unwrap();
    let item = tokio::time::timeout(Duration::from_secs(10), subscription.next(10))
        .await
        .expect("the log still carries it")
        .unwrap();
    let FeedItem::Events(events) = item else {
        panic!("{item:?}")
    };
    assert_eq!(events[0].position, 1);
}

on_setups!(
    [postgres, sqlite, postgres_in_process, sqlite_nats]
    a_subscription_switches_from_the_log_to_live_without_gap_or_duplicate,
);
/// Stream channels route by meeting: a subscriber gets its meeting's events (here
/// with no bus at all: the router reads the log) and none of another's; a
/// channel goes away with its last subscriber.
async fn a_room_carries_only_its_meetings_events_and_closes_with_its_last_subscriber(setup: Setup) {
    let db = TestDb::on(setup.backend()).await;
    let store = db.store().await;
    let feed = Feed::new(store.clone(), Hub::new()); // nothing feeds the hub
    let (_stop, stopped) = watch::channel(false);
    let (channels, router) = live::channels::StreamChannels::start(&feed, 0, stopped);
    let (mine, other) = (MeetingId::new(), MeetingId::new());
    let mut mine_live = channels.subscribe(&mine.stream_id());
    let second = channels.subscribe(&mine.stream_id());
    let watching_other = channels.subscribe(&other.stream_id());
    assert_eq!(channels.len(), 2);
    for (n, meeting) in [other, mine, other, mine].into_iter().enumerate() {
        let version = n as i64 / 2;
        store
            .append(Append::new(
                meeting.stream_id(),
                version,
                vec![event(n as i64)],
            ))
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let event = tokio::time::timeout(Duration::from_secs(10), mine_live.recv())
            .await
            .expect("the router delivers from the log")
            .unwrap();
        assert_eq!(
            event.stream_id,
            mine.stream_id(),
            "only my meeting's events"
        );
        seen.push(event.position);
    }
    assert_eq!(seen, vec![2, 4]);
    drop(watching_other);
    assert_eq!(
        channels.len(),
        1,
        "the other channel closed with its subscriber"
    );
    drop((mine_live, second));
    assert!(channels.is_empty());
    router.abort();
}

on_setups!(
    [postgres, sqlite]
    a_room_carries_only_its_meetings_events_and_closes_with_its_last_subscriber,
    a_feed_keeps_moving_without_a_bus,
    a_subscription_outlives_its_hub_by_reading_the_log,
);
