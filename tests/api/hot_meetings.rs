//! Hot meetings across nodes (PostgreSQL and NATS, as `meetings serve`
//! runs them): once nodes meet each other's writes on a meeting, its
//! commands go to one node, the holder, which writes whatever queued
//! together; every command still commits exactly once, rules hold across
//! batches, and a holder that is gone costs nothing but the routing.

use std::sync::Arc;

use command::CommandHandler;
use command::meeting::Command;
use meetings::forward::NatsRouter;
use tokio::sync::watch;

use serde_json::{Value, json};

use crate::helpers::{
    TestDb, TestStream, ctx, eventually, join, nats_url, schedule, spawn_app_with, test_config,
    unique_prefix,
};
use crate::two_nodes::{join_and_leave, present, rush};

/// A node as `meetings serve` builds it on PostgreSQL with NATS: its own
/// handler, cache, pool and committer, and a router answering the
/// commands forwarded to it until `stop`.
pub(crate) struct Node {
    pub(crate) handler: Arc<CommandHandler>,
    pub(crate) router: Arc<NatsRouter>,
    stop: watch::Sender<bool>,
}

pub(crate) async fn node(db: &TestDb, prefix: &str) -> Node {
    let client = crate::helpers::nats_client(&nats_url()).await;
    let router = NatsRouter::new(client, prefix, crate::helpers::seal());
    let handler = Arc::new(CommandHandler::new(db.store().await).with_router(router.clone()));
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(router.clone().serve(handler.clone(), stopped));
    Node {
        handler,
        router,
        stop,
    }
}

async fn nodes(db: &TestDb, prefix: &str, n: usize) -> Vec<Node> {
    let mut nodes = Vec::new();
    for _ in 0..n {
        nodes.push(node(db, prefix).await);
    }
    nodes
}

fn forwarded(nodes: &[Node]) -> u64 {
    nodes.iter().map(|n| n.handler.forwarded()).sum()
}

#[tokio::test]
async fn eight_nodes_writing_one_meeting_send_its_commands_to_one_holder() {
    const NODES: usize = 8;
    const ROUNDS: usize = 25;
    let (db, prefix) = (TestDb::create().await, unique_prefix());
    let nodes = nodes(&db, &prefix, NODES).await;
    let id = schedule(&nodes[0].handler, "host", true).await;
    let head = nodes[0].handler.store().head_position().await.unwrap();
    let handlers: Vec<_> = nodes.iter().map(|n| n.handler.clone()).collect();
    join_and_leave(&handlers, id, ROUNDS).await;
    let log = nodes[0]
        .handler
        .store()
        .read_all(head, 10_000)
        .await
        .unwrap();
    assert_eq!(log.len(), NODES * ROUNDS * 2, "one event per command");
    // Each writer's events alternate join, leave, as it sent them.
    for n in 0..NODES {
        let user = format!("writer{n}");
        let kinds: Vec<&str> = log
            .iter()
            .filter(|e| e.data.get().contains(&format!("\"{user}\"")))
            .map(|e| e.event_type.as_str())
            .collect();
        assert_eq!(kinds.len(), ROUNDS * 2, "{user}");
        assert!(
            kinds
                .chunks(2)
                .all(|pair| pair == ["participant_joined", "participant_left"]),
            "{user}: {kinds:?}"
        );
    }
    assert!(
        forwarded(&nodes) > 0,
        "the meeting's commands went to its holder"
    );
    assert!(
        present(&nodes[3].handler, id).await.is_empty(),
        "everyone who joined left"
    );
}

/// The holder decides what queued together, on one state: a seat taken
/// by the first command of a batch is not there for the next.
#[tokio::test]
async fn eight_nodes_filling_one_meeting_through_its_holder_never_overfill_it() {
    const NODES: usize = 8;
    const PER_NODE: usize = 12;
    let (db, prefix) = (TestDb::create().await, unique_prefix());
    let nodes = nodes(&db, &prefix, NODES).await;
    let id = schedule(&nodes[0].handler, "host", true).await;
    // The meeting is hot on every node before the rush: each has met the
    // others' writes.
    let warm = nodes.iter().enumerate().map(|(n, node)| {
        let node = node.handler.clone();
        async move {
            for k in 0..10 {
                let caller = ctx(&format!("warm{n}"));
                let command = if k % 2 == 0 { join() } else { Command::Leave };
                node.execute(id, &caller, command, None).await.unwrap();
            }
        }
    });
    futures::future::join_all(warm).await;
    let seats = command::meeting::policy::ConfigUpdate {
        max_participants: Some(20),
        ..Default::default()
    };
    nodes[0]
        .handler
        .execute(id, &ctx("host"), Command::UpdateConfig(seats), None)
        .await
        .unwrap();
    let before = forwarded(&nodes);
    let handlers: Vec<_> = nodes.iter().map(|n| n.handler.clone()).collect();
    let admitted = rush(&handlers, id, PER_NODE).await;
    assert!(forwarded(&nodes) > before, "joins went to the holder");
    assert_eq!(admitted.len(), 20, "exactly the seats there are");
    assert_eq!(
        present(&nodes[5].handler, id).await,
        admitted,
        "every answer is what the log holds"
    );
}

/// When the holder stops answering (`no responders`), a command that was
/// to go there runs where it arrived, once.
#[tokio::test]
async fn a_command_for_a_holder_that_is_gone_runs_where_it_arrives() {
    let (db, prefix) = (TestDb::create().await, unique_prefix());
    let nodes = nodes(&db, &prefix, 2).await;
    let id = schedule(&nodes[0].handler, "host", true).await;
    // Both write the meeting until one has sent commands to the other.
    let mut round = 0;
    while forwarded(&nodes) == 0 {
        assert!(round < 200, "no command was forwarded");
        let writes = nodes.iter().enumerate().map(|(n, node)| {
            let node = node.handler.clone();
            async move {
                let caller = ctx(&format!("w{n}"));
                let command = if round % 2 == 0 {
                    join()
                } else {
                    Command::Leave
                };
                node.execute(id, &caller, command, None).await.unwrap();
            }
        });
        futures::future::join_all(writes).await;
        round += 1;
    }
    let (holder, sender) = if nodes[1].handler.forwarded() > 0 {
        (&nodes[0], &nodes[1])
    } else {
        (&nodes[1], &nodes[0])
    };
    // The holder stops serving; wait until NATS has nobody on its subject.
    holder.stop.send(true).unwrap();
    let client = crate::helpers::nats_client(&nats_url()).await;
    let subject = format!("{prefix}.commands.{}", holder.router.node());
    eventually(std::time::Duration::from_secs(10), || {
        let (client, subject) = (client.clone(), subject.clone());
        async move {
            match client.request(subject, "{}".into()).await {
                Err(e) if e.kind() == async_nats::RequestErrorKind::NoResponders => Some(()),
                _ => None,
            }
        }
    })
    .await;
    let head = sender.handler.store().head_position().await.unwrap();
    let sent = sender.handler.forwarded();
    let joined = sender
        .handler
        .execute(id, &ctx("late"), join(), None)
        .await
        .expect("run where it arrived");
    assert_eq!(sender.handler.forwarded(), sent, "nothing was forwarded");
    assert_eq!(joined.position, head + 1, "committed once, here");
    let log = sender.handler.store().read_all(head, 10).await.unwrap();
    assert_eq!(log.len(), 1);
    assert!(log[0].data.get().contains("\"late\""));
}

/// Two whole nodes behind a balancer, over HTTP: once the meeting is hot,
/// a join through the node that does not hold it is executed by the
/// holder, answered like any join (its position in `X-Event-Position`),
/// readable at that position through either node, and counted in
/// `meetings_commands_forwarded_total`.
#[tokio::test]
async fn joins_through_two_nodes_reach_the_holder_and_read_back_on_either() {
    let (db, stream) = (TestDb::create().await, TestStream::new());
    let config = test_config(&db, &stream);
    let other = meetings::app::App::start(config.clone())
        .await
        .expect("a second node");
    let app = spawn_app_with(config, db, stream).await;
    let id = app
        .active_meeting("host", json!({"max_participants": 100}))
        .await;
    let bases = [app.base.clone(), format!("http://{}", other.addr)];
    let post = |base: String, user: String, action: &'static str| {
        let (client, token) = (app.client.clone(), app.token(&user));
        let url = format!("{base}/api/v1/meetings/{id}/{action}");
        async move {
            let response = client.post(url).bearer_auth(token).send().await.unwrap();
            let position = response
                .headers()
                .get("x-event-position")
                .and_then(|v| v.to_str().ok()?.parse::<i64>().ok());
            (response.status(), position)
        }
    };
    let forwarded = || app.app.commands.forwarded() + other.commands.forwarded();
    // Joins and leaves through both at once until the nodes have met.
    let mut round = 0;
    while forwarded() == 0 {
        assert!(round < 100, "the nodes never met on the meeting");
        let action = if round % 2 == 0 { "join" } else { "leave" };
        let calls = (0..8).map(|w| post(bases[w % 2].clone(), format!("w{w}"), action));
        for (status, _) in futures::future::join_all(calls).await {
            assert_eq!(status, 200, "round {round}");
        }
        round += 1;
    }
    for (n, base) in bases.iter().enumerate() {
        let user = format!("late{n}");
        let (status, position) = post(base.clone(), user.clone(), "join").await;
        assert_eq!(status, 200);
        let position = position.expect("X-Event-Position");
        let mut read = app.client.get(format!(
            "{}/api/v1/meetings/{id}/participants",
            bases[1 - n]
        ));
        read = read
            .bearer_auth(app.token(&user))
            .header("x-min-position", position.to_string());
        let body: Value = read.send().await.unwrap().json().await.unwrap();
        let users: Vec<&str> = body["participants"]
            .as_array()
            .expect("participants")
            .iter()
            .filter_map(|p| p["user_id"].as_str())
            .collect();
        assert!(users.contains(&user.as_str()), "{user} in {users:?}");
    }
    let metrics = app.text("/metrics").await;
    assert!(
        metrics.contains("meetings_commands_forwarded_total{command=\"join\"}")
            || metrics.contains("meetings_commands_forwarded_total{command=\"leave\"}"),
        "{}",
        metrics
            .lines()
            .filter(|l| l.contains("forwarded"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    other.stop().await.unwrap();
}
