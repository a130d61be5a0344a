//! Snapshots (hardening 14): loading a long stream reads its snapshot and
//! the events after it, and gives the meeting the whole log folds to; a
//! snapshot the code cannot fold on is passed over.

use std::time::Duration;

use command::CommandHandler;
use command::meeting::{Command, Meeting, SNAPSHOT_SCHEMA, fold};
use events::{EventStore, MeetingEvent, MeetingId, Snapshot};

use crate::helpers::{Setup, TestDb, ctx, eventually, join, schedule};

/// The meeting as the whole log folds it.
async fn folded(store: &dyn EventStore, id: MeetingId) -> Option<Meeting> {
    let events: Vec<MeetingEvent> = store
        .read_stream(&id.stream_id(), 0)
        .await
        .unwrap()
        .iter()
        .map(|e| e.decode().unwrap())
        .collect();
    fold(None, &events)
}

/// The meeting as a handler that never saw it loads it (after a restart).
async fn loaded(store: &std::sync::Arc<dyn EventStore>, id: MeetingId) -> Option<Meeting> {
    CommandHandler::new(store.clone())
        .inspect(id, |m| m.cloned())
        .await
        .unwrap()
}

async fn a_long_stream_loads_from_its_snapshot_as_the_log_folds_it(setup: Setup) {
    let db = TestDb::on(setup.backend()).await;
    let store = db.store().await;
    let writer = CommandHandler::new(store.clone());
    let id = schedule(&writer, "host", true).await;
    for n in 0..150 {
        let user = format!("u{}", n % 7);
        writer.execute(id, &ctx(&user), join(), None).await.unwrap();
        writer
            .execute(id, &ctx(&user), Command::Leave, None)
            .await
            .unwrap();
    }
    let stream = id.stream_id();
    let snapshot = eventually(Duration::from_secs(10), || async {
        store
            .read_snapshot(&stream)
            .await
            .unwrap()
            .filter(|s| s.version > 250)
    })
    .await;
    assert_eq!(snapshot.schema_version, SNAPSHOT_SCHEMA);
    let whole = folded(store.as_ref(), id).await;
    assert!(whole.is_some());
    assert_eq!(loaded(&store, id).await, whole);

    // A snapshot of another shape, or one that does not read back, is
    // passed over: the log alone gives the same meeting. (Their versions
    // are far ahead, so the good snapshot a loader writes in the
    // background, which is only kept when newer, never replaces them.)
    for (ahead, schema_version, state) in [
        (1_000_000, SNAPSHOT_SCHEMA + 1, snapshot.state.clone()),
        (1_000_001, SNAPSHOT_SCHEMA, "{not json".to_owned()),
    ] {
        let odd = Snapshot {
            version: snapshot.version + ahead,
            schema_version,
            state,
            ..snapshot.clone()
        };
        store.write_snapshot(&odd).await.unwrap();
        assert_eq!(store.read_snapshot(&stream).await.unwrap(), Some(odd));
        assert_eq!(loaded(&store, id).await, whole);
    }
}

on_setups!(
    [postgres, sqlite]
    a_long_stream_loads_from_its_snapshot_as_the_log_folds_it,
);
