//! Two nodes (each with its own command handler, cache and committer) on one
//! event log: a stale cache never gives a wrong answer, and concurrent
//! commands through both land.

use std::sync::Arc;

use command::meeting::{Command, MeetingError};
use command::{AppError, CommandHandler};
use events::MeetingId;

use crate::helpers::{Setup, TestDb, ctx, join, schedule};

async fn node(db: &TestDb) -> Arc<CommandHandler> {
    Arc::new(CommandHandler::new(db.store().await))
}

async fn a_stale_cache_never_refuses_what_the_log_allows(setup: Setup) {
    let db = TestDb::on(setup.backend()).await;
    let (a, b) = (node(&db).await, node(&db).await);
    let id = schedule(&a, "host", false).await; // node A caches "scheduled"
    b.execute(id, &ctx("host"), Command::Start, None)
        .await
        .unwrap();
    let joined = a.execute(id, &ctx("bob"), join(), None).await;
    assert!(joined.is_ok(), "A saw the start made on B: {joined:?}");
}

async fn a_stale_cache_never_accepts_what_the_log_refuses(setup: Setup) {
    let db = TestDb::on(setup.backend()).await;
    let (a, b) = (node(&db).await, node(&db).await);
    let id = schedule(&a, "host", true).await; // node A caches "active"
    b.execute(id, &ctx("host"), Command::End, None)
        .await
        .unwrap();
    let joined = a.execute(id, &ctx("bob"), join(), None).await;
    assert!(
        matches!(joined, Err(AppError::Domain(MeetingError::Ended))),
        "{joined:?}"
    );
}

async fn a_seat_taken_on_one_node_is_the_same_seat_on_the_other(setup: Setup) {
    let db = TestDb::on(setup.backend()).await;
    let (a, b) = (node(&db).await, node(&db).await);
    let id = schedule(&a, "host", true).await;
    a.execute(id, &ctx("bob"), join(), None).await.unwrap(); // A caches bob present
    b.execute(id, &ctx("bob"), Command::Leave, None)
        .await
        .unwrap();
    let head = b.store().head_position().await.unwrap();
    // A's cache says bob is present (a no-op join), but the log says he left.
    a.execute(id, &ctx("bob"), join(), None).await.unwrap();
    assert_eq!(
        a.store().head_position().await.unwrap(),
        head + 1,
        "a new seat was recorded"
    );
}

async fn concurrent_joins_through_two_nodes_all_land(setup: Setup) {
    let db = TestDb::on(setup.backend()).await;
    let (a, b) = (node(&db).await, node(&db).await);
    let id = schedule(&a, "host", true).await;
    b.execute(id, &ctx("warmup"), join(), None).await.unwrap();
    let joins = (0..40).map(|i| {
        let node = if i % 2 == 0 { a.clone() } else { b.clone() };
        async move {
            node.execute(id, &ctx(&format!("user{i}")), join(), None)
                .await
        }
    });
    for result in futures::future::join_all(joins).await {
        result.unwrap();
    }
    let joined = a
        .store()
        .read_stream(&id.stream_id(), 0)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event_type == "participant_joined")
        .count();
    assert_eq!(joined, 41);
}

/// Eight nodes, each joining and leaving one meeting in a closed loop: the
/// pathological case for optimistic concurrency (every round has one
/// winner). Every command commits; conflicts are retried, never reported.
async fn eight_nodes_writing_one_meeting_all_commit(setup: Setup) {
    const NODES: usize = 8;
    const ROUNDS: usize = 15;
    let db = TestDb::on(setup.backend()).await;
    let mut nodes = Vec::new();
    for _ in 0..NODES {
        nodes.push(node(&db).await);
    }
    let id = schedule(&nodes[0], "host", true).await;
    let head = nodes[0].store().head_position().await.unwrap();
    join_and_leave(&nodes, id, ROUNDS).await;
    assert_eq!(
        nodes[0].store().head_position().await.unwrap(),
        head + (NODES * ROUNDS * 2) as i64,
        "one event per command"
    );
    let conflicts: u64 = nodes.iter().map(|n| n.conflicts()).sum();
    assert!(conflicts > 0, "the nodes did contend");
}

/// Eight nodes joining people into one meeting with ten seats, at once:
/// whichever node decides, and however stale its cache (the log decides
/// contended commands again under its write lock), exactly ten get in, the
/// rest are told the meeting is full, and every node's answer is what the
/// log holds.
async fn eight_nodes_filling_one_meeting_never_overfill_it(setup: Setup) {
    const NODES: usize = 8;
    const PER_NODE: usize = 6;
    let db = TestDb::on(setup.backend()).await;
    let mut nodes = Vec::new();
    for _ in 0..NODES {
        nodes.push(node(&db).await);
    }
    let id = schedule(&nodes[0], "host", true).await;
    let unlock = command::meeting::policy::ConfigUpdate {
        max_participants: Some(10),
        ..Default::default()
    };
    nodes[0]
        .execute(id, &ctx("host"), Command::UpdateConfig(unlock), None)
        .await
        .unwrap();
    // Every node knows the meeting (and so can go stale) before the rush.
    for node in &nodes {
        node.inspect(id, |m| m.map(|m| m.id)).await.unwrap();
    }
    let admitted = rush(&nodes, id, PER_NODE).await;
    assert_eq!(admitted.len(), 10, "exactly the seats there are");
    assert_eq!(
        present(&nodes[0], id).await,
        admitted,
        "every answer is what the log holds"
    );
}

/// Each node, as its own user `writer<n>`, joins and leaves `rounds`
/// times, all nodes at once; every command must commit.
pub async fn join_and_leave(nodes: &[Arc<CommandHandler>], id: MeetingId, rounds: usize) {
    let writers = nodes.iter().enumerate().map(|(n, node)| {
        let node = node.clone();
        async move {
            let caller = ctx(&format!("writer{n}"));
            for _ in 0..rounds {
                node.execute(id, &caller, join(), None).await?;
                node.execute(id, &caller, Command::Leave, None).await?;
            }
            Ok::<_, AppError>(())
        }
    });
    for result in futures::future::join_all(writers).await {
        result.unwrap();
    }
}

/// `per_node` new people join through each node at once; those who got
/// in, sorted (the rest were told the meeting is full).
pub async fn rush(nodes: &[Arc<CommandHandler>], id: MeetingId, per_node: usize) -> Vec<String> {
    let joiners = nodes.iter().enumerate().flat_map(|(n, node)| {
        (0..per_node).map(move |k| {
            let node = node.clone();
            async move {
                let user = format!("n{n}u{k}");
                let outcome = node.execute(id, &ctx(&user), join(), None).await;
                (user, outcome)
            }
        })
    });
    let mut admitted: Vec<String> = Vec::new();
    for (user, outcome) in futures::future::join_all(joiners).await {
        match outcome {
            Ok(_) => admitted.push(user),
            Err(AppError::Domain(MeetingError::Full)) => {}
            Err(e) => panic!("{user}: {e:?}"),
        }
    }
    admitted.sort();
    admitted
}

/// Who is in the meeting as the log has it, sorted.
pub async fn present(node: &CommandHandler, id: MeetingId) -> Vec<String> {
    let mut users = node
        .inspect(id, |m| {
            m.map(|m| m.present.keys().map(|u| u.0.clone()).collect::<Vec<_>>())
        })
        .await
        .unwrap()
        .unwrap();
    users.sort();
    users
}

on_setups!(
    [postgres, sqlite]
    eight_nodes_filling_one_meeting_never_overfill_it,
    eight_nodes_writing_one_meeting_all_commit,
    a_stale_cache_never_refuses_what_the_log_allows,
    a_stale_cache_never_accepts_what_the_log_refuses,
    a_seat_taken_on_one_node_is_the_same_seat_on_the_other,
    concurrent_joins_through_two_nodes_all_land,
);
