//! The `EventStore` contract on every backend: conflicts, gapless
//! commit-ordered positions under concurrent appends, the hash chain,
//! immutability, idempotent appends, aliases and idempotency keys.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use events::hash::Verifier;
use events::{
    Append, AppendError, Appended, EventId, EventStore, IdempotencyRecord, NewEvent, StreamId,
};
use serde_json::json;

use crate::helpers::{Setup, TestDb};

async fn store(setup: Setup) -> (Arc<dyn EventStore>, TestDb) {
    let db = TestDb::on(setup.backend()).await;
    let store = db.store().await;
    (store, db)
}

fn event(n: usize) -> NewEvent {
    NewEvent {
        event_id: EventId::new(),
        event_type: "test_happened".into(),
        schema_version: 1,
        data: json!({ "n": n, "text": "ünïcode \"quoted\"", "nested": {"b": 1, "a": [1, 2]} }),
        metadata: json!({ "actor": {"user_id": "tester", "name": "T", "kind": "system"} }),
    }
}

fn stream(name: &str) -> StreamId {
    StreamId(format!("test-{name}"))
}

async fn appending_with_a_stale_version_is_a_typed_conflict(setup: Setup) {
    let (store, _db) = store(setup).await;
    let s = stream("a");
    store
        .append(Append::new(s.clone(), 0, vec![event(1), event(2)]))
        .await
        .unwrap();

    let stale = store
        .append(Append::new(s.clone(), 1, vec![event(3)]))
        .await;
    assert!(
        matches!(
            stale,
            Err(AppendError::Conflict {
                expected: 1,
                actual: 2,
                ..
            })
        ),
        "{stale:?}"
    );
    let recreate = store
        .append(Append::new(s.clone(), 0, vec![event(3)]))
        .await;
    assert!(matches!(
        recreate,
        Err(AppendError::Conflict {
            expected: 0,
            actual: 2,
            ..
        })
    ));

    // A version the stream has not reached is a conflict too, for a stream
    // with events and for one without.
    let ahead = store
        .append(Append::new(s.clone(), 7, vec![event(3)]))
        .await;
    assert!(
        matches!(
            ahead,
            Err(AppendError::Conflict {
                expected: 7,
                actual: 2,
                ..
            })
        ),
        "{ahead:?}"
    );
    let phantom = store
        .append(Append::new(stream("none"), 1, vec![event(3)]))
        .await;
    assert!(
        matches!(
            phantom,
            Err(AppendError::Conflict {
                expected: 1,
                actual: 0,
                ..
            })
        ),
        "{phantom:?}"
    );

    let ok = store
        .append(Append::new(s.clone(), 2, vec![event(3)]))
        .await
        .unwrap();
    assert!(matches!(
        ok,
        Appended::Committed {
            first_position: 3,
            last_position: 3,
            stream_version: 3,
            ..
        }
    ));
    assert_eq!(store.read_stream(&s, 0).await.unwrap().len(), 3);
}

async fn concurrent_appends_get_gapless_positions_in_commit_order(setup: Setup) {
    const DISTINCT: usize = 50;
    const SHARED: usize = 20;
    const PER_TASK: usize = 10;
    let (store, _db) = store(setup).await;
    let done = Arc::new(AtomicBool::new(false));

    // The reader: every batch must continue exactly where the last ended.
    let reader = {
        let store = store.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let mut last_seen = 0i64;
            let mut reads = 0usize;
            loop {
                let finished = done.load(Ordering::SeqCst);
                let batch = store.read_all(last_seen, 10_000).await.unwrap();
                for e in &batch {
                    assert_eq!(
                        e.position,
                        last_seen + 1,
                        "a reader saw a gap that filled later"
                    );
                    last_seen = e.position;
                }
                reads += 1;
                if finished && batch.is_empty() {
                    return (last_seen, reads);
                }
                tokio::task::yield_now().await;
            }
        })
    };

    let mut writers = Vec::new();
    for task in 0..DISTINCT {
        let store = store.clone();
        writers.push(tokio::spawn(async move {
            let s = stream(&format!("distinct-{task}"));
            for i in 0..PER_TASK {
                let append = Append::new(s.clone(), i as i64, vec![event(i)]);
                store.append(append).await.unwrap();
            }
        }));
    }
    for _ in 0..SHARED {
        let store = store.clone();
        writers.push(tokio::spawn(async move {
            let s = stream("shared");
            let mut written = 0;
            while written < PER_TASK {
                let version = store.read_stream(&s, 0).await.unwrap().len() as i64;
                match store
                    .append(Append::new(s.clone(), version, vec![event(written)]))
                    .await
                {
                    Ok(_) => written += 1,
                    Err(AppendError::Conflict { .. }) => continue,
                    Err(e) => panic!("{e}"),
                }
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    done.store(true, Ordering::SeqCst);
    let (last_seen, reads) = reader.await.unwrap();

    let total = ((DISTINCT + SHARED) * PER_TASK) as i64;
    assert_eq!(last_seen, total);
    assert!(reads > 1, "the reader polled while writers appended");
    let log = store.read_all(0, 100_000).await.unwrap();
    let positions: Vec<i64> = log.iter().map(|e| e.position).collect();
    assert_eq!(positions, (1..=total).collect::<Vec<_>>());
    let shared = store.read_stream(&stream("shared"), 0).await.unwrap();
    let versions: Vec<i64> = shared.iter().map(|e| e.stream_version).collect();
    assert_eq!(
        versions,
        (1..=(SHARED * PER_TASK) as i64).collect::<Vec<_>>()
    );

    // The chain over everything the writers raced to append verifies.
    let mut verifier = Verifier::default();
    for e in &log {
        verifier.check(e).unwrap();
    }
    assert_eq!(verifier.position(), total);
}

/// Two committers (two nodes) on one log, each batch written on the head
/// its committer last saw: whichever finds the head moved writes nothing
/// and goes through the checked path, so positions stay gapless and the
/// chain verifies across both.
async fn two_committers_on_one_log_interleave_without_gap(setup: Setup) {
    const PER_NODE: usize = 60;
    let db = TestDb::on(setup.backend()).await;
    let nodes = [db.store().await, db.store().await];
    let writers = nodes.iter().enumerate().map(|(n, store)| {
        let store = store.clone();
        async move {
            for i in 0..PER_NODE {
                // A shared stream too, so versions conflict across nodes.
                let own = Append::new(stream(&format!("node{n}-{i}")), 0, vec![event(i)]);
                store.append(own).await.unwrap();
                let shared = stream("shared");
                loop {
                    let version = store.read_stream(&shared, 0).await.unwrap().len() as i64;
                    match store
                        .append(Append::new(shared.clone(), version, vec![event(i)]))
                        .await
                    {
                        Ok(_) => break,
                        Err(AppendError::Conflict { .. }) => continue,
                        Err(e) => panic!("{e}"),
                    }
                }
            }
        }
    });
    futures::future::join_all(writers).await;
    let log = nodes[0].read_all(0, 100_000).await.unwrap();
    let total = (2 * PER_NODE * 2) as i64;
    let positions: Vec<i64> = log.iter().map(|e| e.position).collect();
    assert_eq!(positions, (1..=total).collect::<Vec<_>>());
    let shared = nodes[1].read_stream(&stream("shared"), 0).await.unwrap();
    let versions: Vec<i64> = shared.iter().map(|e| e.stream_version).collect();
    assert_eq!(versions, (1..=(2 * PER_NODE) as i64).collect::<Vec<_>>());
    let mut verifier = Verifier::default();
    for e in &log {
        verifier.check(e).unwrap();
    }
}

async fn the_hash_chain_verifies_and_detects_a_changed_payload(setup: Setup) {
    let (store, _db) = store(setup).await;
    for i in 0..5 {
        store
            .append(Append::new(stream("h"), i, vec![event(i as usize)]))
            .await
            .unwrap();
    }
    let log = store.read_all(0, 100).await.unwrap();
    assert_eq!(log[0].prev_hash, vec![0u8; 32]);
    let mut verifier = Verifier::default();
    for e in &log {
        verifier.check(e).unwrap();
    }
    let mut tampered = log.clone();
    tampered[2].data = (&json!({"n": 999})).into();
    let mut verifier = Verifier::default();
    let failure = tampered.iter().find_map(|e| verifier.check(e).err());
    assert_eq!(failure, Some(events::hash::ChainError::BadHash(3)));
}

async fn payloads_are_the_same_events_as_read_all_gives_with_their_data(setup: Setup) {
    let (store, _db) = store(setup).await;
    for i in 0..7 {
        store
            .append(Append::new(stream("p"), i, vec![event(i as usize)]))
            .await
            .unwrap();
    }
    let log = store.read_all(2, 4).await.unwrap();
    let payloads = store.read_payloads(2, 4).await.unwrap();
    let expected: Vec<events::Payload> = log
        .iter()
        .map(|e| events::Payload {
            position: e.position,
            event_type: e.event_type.clone(),
            schema_version: e.schema_version,
            data: e.data.clone(),
            recorded_at: e.recorded_at,
        })
        .collect();
    assert_eq!(payloads, expected);
    assert_eq!(
        payloads.iter().map(|p| p.position).collect::<Vec<_>>(),
        [3, 4, 5, 6]
    );
    assert_eq!(payloads[0].data.value(), event(2).data);
}

/// A stream read up to a bound stops at the bound, whether the bound is a
/// position (other streams' events between are skipped) or a time between
/// two commits.
async fn a_stream_read_until_a_bound_stops_at_it(setup: Setup) {
    let (store, _db) = store(setup).await;
    let (mine, other) = (stream("mine"), stream("other"));
    for i in 0..4 {
        store
            .append(Append::new(mine.clone(), i, vec![event(i as usize)]))
            .await
            .unwrap();
        store
            .append(Append::new(other.clone(), i, vec![event(i as usize)]))
            .await
            .unwrap();
    }
    let full = store.read_stream(&mine, 0).await.unwrap();
    let positions = |read: &[events::Payload]| read.iter().map(|p| p.position).collect::<Vec<_>>();

    let upto = store
        .read_stream_until(&mine, 0, events::Until::Position(full[2].position))
        .await
        .unwrap();
    assert_eq!(positions(&upto), [1, 3, 5]);
    assert_eq!(upto[2].data, full[2].data);
    assert_eq!(upto[2].recorded_at, full[2].recorded_at);
    let between = store
        .read_stream_until(&mine, 0, events::Until::Position(full[2].position + 1))
        .await
        .unwrap();
    assert_eq!(positions(&between), [1, 3, 5]);
    let before = store
        .read_stream_until(&mine, 0, events::Until::Position(0))
        .await
        .unwrap();
    assert!(before.is_empty());

    let at = full[1].recorded_at;
    let by_time = store
        .read_stream_until(&mine, 0, events::Until::Time(at))
        .await
        .unwrap();
    assert_eq!(positions(&by_time), [1, 3]);
    let just_before = store
        .read_stream_until(
            &mine,
            0,
            events::Until::Time(at - chrono::Duration::microseconds(1)),
        )
        .await
        .unwrap();
    assert!(
        just_before.len() == 1 || full[0].recorded_at == at,
        "{just_before:?}"
    );
}

/// A page of one stream after a position: only that stream's events,
/// after the position (one of another stream's, or between events, is as
/// good as any), at most the limit, in order.
async fn a_page_of_a_stream_after_a_position_is_only_that(setup: Setup) {
    let (store, _db) = store(setup).await;
    let (mine, other) = (stream("mine"), stream("other"));
    for i in 0..5 {
        for s in [&mine, &other] {
            store
                .append(Append::new(s.clone(), i, vec![event(i as usize)]))
                .await
                .unwrap();
        }
    }
    // mine holds positions 1, 3, 5, 7, 9; other 2, 4, 6, 8, 10.
    let page = |after: i64, limit: usize| {
        let (store, mine) = (store.clone(), mine.clone());
        async move {
            store
                .read_stream_after(&mine, after, limit)
                .await
                .unwrap()
                .iter()
                .map(|e| (e.position, e.stream_version))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(page(0, 100).await, [(1, 1), (3, 2), (5, 3), (7, 4), (9, 5)]);
    assert_eq!(page(3, 2).await, [(5, 3), (7, 4)]);
    assert_eq!(
        page(4, 1).await,
        [(5, 3)],
        "after another stream's position"
    );
    assert_eq!(page(9, 10).await, []);
    let full = store.read_stream(&mine, 0).await.unwrap();
    let read = store.read_stream_after(&mine, 6, 1).await.unwrap();
    assert_eq!(
        read[0], full[3],
        "the same event as a whole-stream read gives"
    );
}

/// A past snapshot is found by the last one at or before a bound, of the
/// schema asked; writing one of a version kept already changes nothing.
/// And a stream read after a version starts after it.
async fn past_snapshots_are_found_by_their_bound(setup: Setup) {
    let (store, _db) = store(setup).await;
    let s = stream("past");
    for i in 0..6 {
        store
            .append(Append::new(s.clone(), i, vec![event(i as usize)]))
            .await
            .unwrap();
    }
    let log = store.read_stream(&s, 0).await.unwrap();
    let keep = |at: usize, schema: i32, state: &str| events::PastSnapshot {
        snapshot: events::Snapshot {
            stream_id: s.clone(),
            version: log[at].stream_version,
            position: log[at].position,
            schema_version: schema,
            state: state.into(),
        },
        recorded_at: log[at].recorded_at,
    };
    for past in [
        keep(1, 2, "two"),
        keep(3, 2, "four"),
        keep(4, 1, "old schema"),
    ] {
        store.write_past_snapshot(&past).await.unwrap();
    }
    store
        .write_past_snapshot(&keep(3, 2, "rewritten"))
        .await
        .unwrap();
    let found = |until| {
        let store = store.clone();
        let s = s.clone();
        async move {
            store
                .read_past_snapshot(&s, 2, until)
                .await
                .unwrap()
                .map(|p| (p.snapshot.state, p.snapshot.version, p.recorded_at))
        }
    };
    use events::Until::{Position, Time};
    assert_eq!(found(Position(log[0].position)).await, None);
    assert_eq!(
        found(Position(log[2].position)).await,
        Some(("two".into(), 2, log[1].recorded_at))
    );
    assert_eq!(
        found(Position(log[5].position)).await,
        Some(("four".into(), 4, log[3].recorded_at)),
        "the newest of the schema asked, as first written"
    );
    assert_eq!(found(Time(log[3].recorded_at)).await.map(|f| f.1), Some(4));
    let tail = store
        .read_stream_until(&s, 4, Position(log[5].position))
        .await
        .unwrap();
    assert_eq!(
        tail.iter().map(|p| p.position).collect::<Vec<_>>(),
        [log[4].position, log[5].position]
    );
}

/// What a store keeps in memory of its own commits (for the relay) is the
/// log at those positions; it answers only from right after the position
/// asked, and never across what another committer wrote.
async fn recent_events_are_the_log_as_this_process_committed_it(setup: Setup) {
    let db = TestDb::on(setup.backend()).await;
    let (a, b) = (db.store().await, db.store().await);
    for i in 0..4 {
        let events = vec![event(i as usize), event(10 + i as usize)];
        a.append(Append::new(stream("r"), 2 * i, events))
            .await
            .unwrap();
    }
    assert_eq!(a.recent(0, 100).unwrap(), a.read_all(0, 100).await.unwrap());
    assert_eq!(a.recent(3, 2).unwrap(), a.read_all(3, 2).await.unwrap());
    assert_eq!(a.recent(8, 10), None, "nothing after the head");
    assert_eq!(b.recent(0, 10), None, "b committed nothing");

    // b writes position 9, then a writes 10: a never held 9, so what it
    // holds starts again at 10.
    b.append(Append::new(stream("other"), 0, vec![event(99)]))
        .await
        .unwrap();
    a.append(Append::new(stream("r"), 8, vec![event(4)]))
        .await
        .unwrap();
    assert_eq!(a.recent(0, 100), None);
    assert_eq!(a.recent(8, 10), None);
    let tail = a.recent(9, 10).unwrap();
    assert_eq!(tail, a.read_all(9, 10).await.unwrap());
    assert_eq!(tail[0].position, 10);
}

async fn the_database_refuses_to_update_or_delete_events(setup: Setup) {
    let (store, db) = store(setup).await;
    store
        .append(Append::new(stream("i"), 0, vec![event(1)]))
        .await
        .unwrap();

    let reads = db.reads().await;
    let mut statements = vec![
        "UPDATE events SET event_type = 'changed'",
        "DELETE FROM events",
    ];
    if setup.backend() == meetings::db::Backend::Postgres {
        statements.push("TRUNCATE events");
    }
    // PostgreSQL: insufficient_privilege from the trigger; SQLite:
    // SQLITE_CONSTRAINT_TRIGGER from RAISE(ABORT).
    let refused = match setup.backend() {
        meetings::db::Backend::Postgres => "42501",
        meetings::db::Backend::Sqlite => "1811",
    };
    for statement in statements {
        let error = sqlx::query(statement).execute(&reads).await.unwrap_err();
        let code = error
            .as_database_error()
            .and_then(|e| e.code())
            .map(|c| c.into_owned());
        assert_eq!(code.as_deref(), Some(refused), "{statement}: {error}");
    }
    assert_eq!(store.read_all(0, 10).await.unwrap().len(), 1);
}

async fn appending_an_event_id_that_exists_is_a_no_op(setup: Setup) {
    let (store, _db) = store(setup).await;
    let events = vec![event(1), event(2)];
    let first = store
        .append(Append::new(stream("d"), 0, events.clone()))
        .await
        .unwrap();
    assert!(matches!(
        first,
        Appended::Committed {
            last_position: 2,
            ..
        }
    ));

    // The same append again, as a client retry would send it.
    let again = store
        .append(Append::new(stream("d"), 0, events.clone()))
        .await
        .unwrap();
    assert_eq!(
        again,
        Appended::AlreadyCommitted {
            last_position: 2,
            stream_version: 2
        }
    );
    // Even in one batch with other work.
    let (a, b) = tokio::join!(
        store.append(Append::new(stream("d"), 0, events.clone())),
        store.append(Append::new(stream("e"), 0, vec![event(3)])),
    );
    assert!(matches!(a.unwrap(), Appended::AlreadyCommitted { .. }));
    assert!(matches!(
        b.unwrap(),
        Appended::Committed {
            last_position: 3,
            ..
        }
    ));
    assert_eq!(store.read_all(0, 10).await.unwrap().len(), 3);
}

async fn an_alias_is_claimed_once_atomically_with_its_stream(setup: Setup) {
    let (store, _db) = store(setup).await;
    let mut first = Append::new(stream("one"), 0, vec![event(1)]);
    first.alias = Some("room_code:abc-defg-hij".into());
    store.append(first).await.unwrap();

    let mut second = Append::new(stream("two"), 0, vec![event(2)]);
    second.alias = Some("room_code:abc-defg-hij".into());
    let refused = store.append(second).await;
    assert!(matches!(refused, Err(AppendError::AliasTaken(_))));
    assert!(
        store
            .read_stream(&stream("two"), 0)
            .await
            .unwrap()
            .is_empty(),
        "nothing of the refused append"
    );
    assert_eq!(
        store.resolve_alias("room_code:abc-defg-hij").await.unwrap(),
        Some(stream("one"))
    );
    assert_eq!(
        store.resolve_alias("room_code:zzz-zzzz-zzz").await.unwrap(),
        None
    );
}

async fn an_idempotency_key_replays_the_first_reply_and_writes_nothing(setup: Setup) {
    let (store, _db) = store(setup).await;
    let record = |reply: serde_json::Value| IdempotencyRecord {
        scope: "alice".into(),
        key: "k-1".into(),
        fingerprint: "f".into(),
        reply,
    };
    let mut first = Append::new(stream("k"), 0, vec![event(1)]);
    first.idempotency = Some(record(json!({"answer": 1})));
    let mut retry = Append::new(stream("k2"), 0, vec![event(2)]);
    retry.idempotency = Some(record(json!({"answer": 2})));

    // Both in flight at once: exactly one writes.
    let (a, b) = tokio::join!(store.append(first), store.append(retry.clone()));
    let outcomes = [a.unwrap(), b.unwrap()];
    let committed = outcomes
        .iter()
        .filter(|o| matches!(o, Appended::Committed { .. }))
        .count();
    assert_eq!(committed, 1, "{outcomes:?}");
    assert_eq!(store.read_all(0, 10).await.unwrap().len(), 1);

    let again = store.append(retry).await.unwrap();
    let Appended::Replayed(stored) = again else {
        panic!("{again:?}")
    };
    assert_eq!(stored.position, 1);
    let remembered = store
        .idempotent_reply("alice", "k-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(remembered.reply, stored.reply);
    assert_eq!(store.idempotent_reply("bob", "k-1").await.unwrap(), None);
}

/// Every event must fit the bus whole: the log refuses one whose encoded
/// data and metadata exceed the bound, alone in its append, and writes
/// nothing of that append; the rest of the batch commits.
async fn an_event_larger_than_the_bus_takes_is_refused_and_nothing_of_it_written(setup: Setup) {
    let (store, _db) = store(setup).await;
    let mut big = event(1);
    big.data = json!({ "text": "x".repeat(events::envelope::MAX_PAYLOAD_BYTES) });
    let (refused, fine) = tokio::join!(
        store.append(Append::new(stream("big"), 0, vec![event(0), big])),
        store.append(Append::new(stream("small"), 0, vec![event(2)])),
    );
    assert!(
        matches!(refused, Err(AppendError::InvalidPayload(_))),
        "{refused:?}"
    );
    assert!(matches!(fine, Ok(Appended::Committed { .. })), "{fine:?}");
    let log = store.read_all(0, 10).await.unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].stream_id, stream("small"));
    // Just under the bound is accepted.
    let mut fits = event(3);
    fits.data = json!({ "text": "x".repeat(events::envelope::MAX_PAYLOAD_BYTES - 1024) });
    store
        .append(Append::new(stream("fits"), 0, vec![fits]))
        .await
        .unwrap();
}

/// A rebase that appends one event per tail event it was shown (or, with
/// `refuse`, refuses; with nothing, appends nothing), and records what it
/// saw.
struct Echo {
    seen: std::sync::Mutex<Vec<i64>>,
    answer: &'static str,
}

impl events::Rebase for Echo {
    fn rebase(
        &self,
        tail: &[events::RecordedEvent],
    ) -> Result<events::Rebased, Box<dyn std::error::Error + Send + Sync>> {
        self.seen
            .lock()
            .unwrap()
            .extend(tail.iter().map(|e| e.stream_version));
        match self.answer {
            "refuse" => Err("full".into()),
            "nothing" => Ok(events::Rebased {
                events: vec![],
                reply: None,
            }),
            _ => Ok(events::Rebased {
                events: tail.iter().map(|_| event(99)).collect(),
                reply: None,
            }),
        }
    }
}

/// An append whose stream moved past its expected version is decided
/// again by its rebase, on exactly the events it had not seen, under the
/// write lock; an append at the right version is never rebased.
async fn a_moved_stream_is_decided_again_by_the_rebase_on_what_was_unseen(setup: Setup) {
    let (store, _db) = store(setup).await;
    let s = stream("r");
    store
        .append(Append::new(
            s.clone(),
            0,
            vec![event(1), event(2), event(3)],
        ))
        .await
        .unwrap();
    let with = |answer: &'static str| {
        let echo = std::sync::Arc::new(Echo {
            seen: Default::default(),
            answer,
        });
        (echo.clone(), events::RebaseWith(echo))
    };
    let (echo, rebase) = with("echo");
    let mut stale = Append::new(s.clone(), 1, vec![event(4)]);
    stale.rebase = Some(rebase);
    let done = store.append(stale).await.unwrap();
    assert!(
        matches!(
            done,
            Appended::Committed {
                stream_version: 5,
                ..
            }
        ),
        "{done:?}"
    );
    assert_eq!(*echo.seen.lock().unwrap(), vec![2, 3], "the unseen events");

    let (echo, rebase) = with("refuse");
    let mut refused = Append::new(s.clone(), 4, vec![event(6)]);
    refused.rebase = Some(rebase);
    let outcome = store.append(refused).await;
    assert!(
        matches!(outcome, Err(AppendError::Refused(_))),
        "{outcome:?}"
    );
    assert_eq!(*echo.seen.lock().unwrap(), vec![5]);

    let (_, rebase) = with("nothing");
    let mut nothing = Append::new(s.clone(), 2, vec![event(7)]);
    nothing.rebase = Some(rebase);
    let outcome = store.append(nothing).await.unwrap();
    assert!(
        matches!(
            outcome,
            Appended::Unchanged {
                stream_version: 5,
                ..
            }
        ),
        "{outcome:?}"
    );

    let (echo, rebase) = with("refuse");
    let mut current = Append::new(s.clone(), 5, vec![event(8)]);
    current.rebase = Some(rebase);
    store.append(current).await.unwrap();
    assert!(
        echo.seen.lock().unwrap().is_empty(),
        "not rebased when current"
    );
    assert_eq!(store.read_stream(&s, 0).await.unwrap().len(), 6);
}

on_setups!(
    [postgres, sqlite]
    appending_with_a_stale_version_is_a_typed_conflict,
    concurrent_appends_get_gapless_positions_in_commit_order,
    two_committers_on_one_log_interleave_without_gap,
    the_hash_chain_verifies_and_detects_a_changed_payload,
    payloads_are_the_same_events_as_read_all_gives_with_their_data,
    a_stream_read_until_a_bound_stops_at_it,
    a_page_of_a_stream_after_a_position_is_only_that,
    past_snapshots_are_found_by_their_bound,
    recent_events_are_the_log_as_this_process_committed_it,
    the_database_refuses_to_update_or_delete_events,
    appending_an_event_id_that_exists_is_a_no_op,
    an_alias_is_claimed_once_atomically_with_its_stream,
    an_idempotency_key_replays_the_first_reply_and_writes_nothing,
    an_event_larger_than_the_bus_takes_is_refused_and_nothing_of_it_written,
    a_moved_stream_is_decided_again_by_the_rebase_on_what_was_unseen,
);
