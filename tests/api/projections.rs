//! The projection runner on PostgreSQL and SQLite: a batch applied twice changes
//! nothing, a restarted runner resumes from its checkpoint without double
//! counting, and a replay rebuilds exactly what the live run built.

use std::sync::Arc;
use std::time::Duration;

use command::CommandHandler;
use command::meeting::Command;
use command::meeting::policy::ConfigUpdate;
use events::lease::Leases;
use events::settings::SettingsChange;
use events::{EventStore, MeetingId};
use live::feed::{Feed, Hub};
use meetings::app::Log;
use projections::Projection;
use projections::runner::{apply_batch, replay, replay_in_batches};
use serde_json::json;
use tokio::sync::watch;

use crate::helpers::{
    Setup, TestDb, ctx, eventually, join, read_model_snapshot, schedule, spawn_app_on,
};

struct World {
    _db: TestDb,
    store: Arc<dyn EventStore>,
    leases: Arc<dyn Leases>,
    commands: Arc<CommandHandler>,
    reads: sqlx::AnyPool,
}

async fn world(setup: Setup) -> World {
    let db = TestDb::on(setup.backend()).await;
    let Log { store, leases } = db.log().await;
    let commands = Arc::new(CommandHandler::new(store.clone()));
    let reads = db.reads().await;
    World {
        _db: db,
        store,
        leases,
        commands,
        reads,
    }
}

impl World {
    async fn unlock(&self, id: MeetingId) {
        let unlock = SettingsChange {
            lock_room: Some(false),
            ..Default::default()
        };
        let command = Command::UpdateConfig(ConfigUpdate {
            settings: unlock,
            max_participants: None,
        });
        run(&self.commands, id, "host", command).await;
    }

    /// A runner of the meetings projection on this world's log (no bus:
    /// it follows the log alone), and a watch of its checkpoint.
    fn start_meetings_runner(
        &self,
        stop: watch::Receiver<bool>,
    ) -> (tokio::task::JoinHandle<()>, watch::Receiver<i64>) {
        let feed = Feed::new(self.store.clone(), Hub::new());
        let (progress, watcher) = watch::channel(0);
        let task = tokio::spawn(projections::runner::run(
            self.reads.clone(),
            feed,
            Projection::Meetings,
            self.leases.clone(),
            progress,
            stop,
        ));
        (task, watcher)
    }
}

async fn run(commands: &CommandHandler, id: MeetingId, user: &str, command: Command) {
    commands
        .execute(id, &ctx(user), command, None)
        .await
        .unwrap();
}

/// A varied history: joins, a leave and a rejoin, a config change, an end.
async fn some_history(commands: &CommandHandler) -> MeetingId {
    let id = schedule(commands, "host", true).await;
    for user in ["host", "bob", "carol"] {
        run(commands, id, user, join()).await;
    }
    run(commands, id, "bob", Command::Leave).await;
    run(commands, id, "bob", join()).await;
    let change = SettingsChange {
        lock_room: Some(true),
        ..Default::default()
    };
    run(
        commands,
        id,
        "host",
        Command::UpdateConfig(ConfigUpdate {
            settings: change,
            max_participants: Some(10),
        }),
    )
    .await;
    id
}

async fn counts(reads: &sqlx::AnyPool, id: MeetingId) -> (i64, i64) {
    sqlx::query_as("SELECT present_count, attendance_count FROM rm_meetings WHERE meeting_id = $1")
        .bind(id.to_string())
        .fetch_one(reads)
        .await
        .unwrap()
}

async fn applying_the_same_batch_twice_changes_nothing(setup: Setup) {
    let w = world(setup).await;
    let id = some_history(&w.commands).await;
    let events: Vec<_> = w
        .store
        .read_all(0, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(Arc::new)
        .collect();
    let head = events.len() as i64;
    for projection in Projection::ALL {
        assert_eq!(
            apply_batch(&w.reads, projection, &events).await.unwrap(),
            head
        );
    }
    let once = read_model_snapshot(&w.reads).await;
    assert_eq!(counts(&w.reads, id).await, (3, 3));

    for projection in Projection::ALL {
        // The whole batch again, and an overlapping tail of it.
        assert_eq!(
            apply_batch(&w.reads, projection, &events).await.unwrap(),
            head
        );
        assert_eq!(
            apply_batch(&w.reads, projection, &events[3..])
                .await
                .unwrap(),
            head
        );
    }
    assert_eq!(read_model_snapshot(&w.reads).await, once);
}

async fn a_restarted_runner_resumes_from_its_checkpoint_without_double_counting(setup: Setup) {
    let w = world(setup).await;
    let id = some_history(&w.commands).await;
    let reached = |watcher: watch::Receiver<i64>, position: i64| async move {
        eventually(Duration::from_secs(20), || {
            let at = *watcher.borrow();
            async move { (at >= position).then_some(()) }
        })
        .await
    };

    let (_stop, stopped) = watch::channel(false);
    let (first, watcher) = w.start_meetings_runner(stopped.clone());
    reached(watcher, w.store.head_position().await.unwrap()).await;
    first.abort(); // a crash: no goodbye
    let _ = first.await;
    assert_eq!(counts(&w.reads, id).await, (3, 3));

    w.unlock(id).await;
    run(&w.commands, id, "dave", join()).await;
    run(&w.commands, id, "carol", Command::Leave).await;
    let (second, watcher) = w.start_meetings_runner(stopped);
    reached(watcher, w.store.head_position().await.unwrap()).await;
    assert_eq!(
        counts(&w.reads, id).await,
        (3, 4),
        "dave in, carol out, nothing twice"
    );
    second.abort();
}

async fn a_replay_rebuilds_exactly_what_the_live_run_built(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let mut ids = Vec::new();
    for n in 0..3 {
        let id = app
            .active_meeting("host", json!({"title": format!("m{n}")}))
            .await;
        for user in ["host", "bob", "carol", "dave"] {
            app.post(&format!("/api/v1/meetings/{id}/join"), user, None)
                .await;
        }
        app.post(&format!("/api/v1/meetings/{id}/leave"), "carol", None)
            .await;
        app.patch(
            &format!("/api/v1/meetings/{id}/config"),
            "host",
            &json!({"enable_chat": false}),
        )
        .await;
        ids.push(id);
    }
    app.post(&format!("/api/v1/meetings/{}/end", ids[0]), "host", None)
        .await;
    app.create_meeting("host", json!({"title": "later"})).await;
    everything_else(&app).await;
    let head = app.wait_projected().await;
    let reads = app.app.reads.clone();
    let live = read_model_snapshot(&reads).await;
    assert!(live.len() > 20);
    let store = app.app.store.clone();
    app.app.stop().await.unwrap();

    // One projection at a time, each in one batch.
    for projection in Projection::ALL {
        assert_eq!(
            replay(&reads, store.clone(), &[projection]).await.unwrap(),
            head
        );
    }
    same_rows(&live, &read_model_snapshot(&reads).await);
    // All together in batches of 7: the projections run apart, and
    // meetings straddle batches (their later rows meet rows of earlier
    // batches, the way a live runner meets them).
    assert_eq!(
        replay_in_batches(&reads, store.clone(), &Projection::ALL, 7)
            .await
            .unwrap(),
        head
    );
    same_rows(&live, &read_model_snapshot(&reads).await);
}

fn same_rows(live: &[String], rebuilt: &[String]) {
    let only_live: Vec<&String> = live.iter().filter(|r| !rebuilt.contains(r)).collect();
    let only_rebuilt: Vec<&String> = rebuilt.iter().filter(|r| !live.contains(r)).collect();
    assert!(
        only_live.is_empty() && only_rebuilt.is_empty(),
        "rebuild differs from live:\nlive only: {only_live:#?}\nrebuilt only: {only_rebuilt:#?}"
    );
}

/// One meeting through every other kind of event: members and roles,
/// media and hands, public and private chat, reactions, breakout rooms,
/// recordings, the policy, an update and a delete.
async fn everything_else(app: &crate::helpers::TestApp) {
    use reqwest::Method;
    let id = app
        .active_meeting("host", json!({"settings": {"enable_recording": true}}))
        .await;
    let at = |action: &str| crate::features::at(&id, action);
    let steps: Vec<(Method, String, &str, Option<serde_json::Value>)> = vec![
        (
            Method::POST,
            at("participants"),
            "host",
            Some(json!({"user_id": "carol", "role": "co_host"})),
        ),
        (Method::POST, at("join"), "host", None),
        (Method::POST, at("join"), "bob", None),
        (Method::POST, at("join"), "carol", None),
        (
            Method::PUT,
            at("participants/bob/role"),
            "host",
            Some(json!({"role": "guest"})),
        ),
        (
            Method::PUT,
            at("participants/status"),
            "bob",
            Some(json!({"is_muted": true, "is_hand_raised": true})),
        ),
        (
            Method::POST,
            at("chat"),
            "bob",
            Some(json!({"content": "hello"})),
        ),
        (
            Method::POST,
            at("chat"),
            "bob",
            Some(json!({"content": "psst", "recipient_id": "carol"})),
        ),
        (
            Method::POST,
            at("reactions"),
            "carol",
            Some(json!({"reaction_type": "clap"})),
        ),
        (
            Method::POST,
            at("breakout-rooms"),
            "host",
            Some(json!({"room_count": 2, "auto_assign": true})),
        ),
        // Leaving takes bob out of his breakout room; back, he is put in
        // one again, which the close keeps (a replay applies all of this in
        // one batch: the leave must not undo the later assignment).
        (Method::POST, at("leave"), "bob", None),
        (Method::POST, at("join"), "bob", None),
    ];
    for (method, path, user, body) in steps {
        app.ok(method, &path, user, body).await;
    }
    let rooms = app.fresh_get(&at("breakout-rooms"), "host").await;
    let room = rooms.body["rooms"][0]["room_id"].clone();
    assert!(room.is_string(), "{}", rooms.body);
    let back = json!({"participant_user_id": "bob", "breakout_room_id": room});
    let steps: Vec<(Method, String, &str, Option<serde_json::Value>)> = vec![
        (
            Method::POST,
            at("breakout-rooms/assign"),
            "host",
            Some(back),
        ),
        (Method::POST, at("breakout-rooms/close"), "carol", None),
        (
            Method::POST,
            at("breakout-rooms"),
            "host",
            Some(json!({"room_count": 1, "auto_assign": true, "time_limit_minutes": 30})),
        ),
        (Method::POST, at("recording/start"), "host", None),
        (Method::POST, at("recording/stop"), "host", None),
        (
            Method::POST,
            at("security/policy"),
            "host",
            Some(json!({"require_waiting_room": true, "lock_meeting": true})),
        ),
        (
            Method::PUT,
            at(""),
            "carol",
            Some(json!({"title": "renamed", "max_participants": 9})),
        ),
        (
            Method::PUT,
            at("participants/carol/role"),
            "host",
            Some(json!({"role": "host"})),
        ),
        (Method::POST, at("leave"), "bob", None),
        (Method::DELETE, at(""), "carol", None),
    ];
    for (method, path, user, body) in steps {
        app.ok(method, &path, user, body).await;
    }
}

async fn two_runners_of_one_projection_never_apply_an_event_twice(setup: Setup) {
    let w = world(setup).await;
    let id = some_history(&w.commands).await;
    let (_stop, stopped) = watch::channel(false);
    let (tasks, watchers): (Vec<_>, Vec<_>) = (0..2)
        .map(|_| w.start_meetings_runner(stopped.clone()))
        .unzip();
    w.unlock(id).await;
    for user in ["dave", "erin", "frank"] {
        run(&w.commands, id, user, join()).await;
    }
    let head = w.store.head_position().await.unwrap();
    eventually(Duration::from_secs(20), || {
        let at = watchers.iter().map(|w| *w.borrow()).max().unwrap_or(0);
        async move { (at >= head).then_some(()) }
    })
    .await;
    assert_eq!(counts(&w.reads, id).await, (6, 6), "each join counted once");
    for task in tasks {
        task.abort();
    }
}

async fn the_replay_command_rebuilds_what_the_live_run_built(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let id = app.active_meeting("host", json!({})).await;
    for user in ["host", "bob"] {
        app.post(&format!("/api/v1/meetings/{id}/join"), user, None)
            .await;
    }
    app.post(&format!("/api/v1/meetings/{id}/end"), "host", None)
        .await;
    app.wait_projected().await;
    let reads = app.app.reads.clone();
    let live = read_model_snapshot(&reads).await;
    let url = app._db.url.clone();
    app.app.stop().await.unwrap();

    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_meetings"))
        .args(["replay", "--projection", "all"])
        .env("DATABASE_URL", &url)
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        printed.contains("meetings rebuilt to position")
            && printed.contains("participants rebuilt"),
        "{printed}"
    );
    assert_eq!(read_model_snapshot(&reads).await, live);
}

on_setups!(
    [postgres, sqlite]
    applying_the_same_batch_twice_changes_nothing,
    a_restarted_runner_resumes_from_its_checkpoint_without_double_counting,
    a_replay_rebuilds_exactly_what_the_live_run_built,
    two_runners_of_one_projection_never_apply_an_event_twice,
    the_replay_command_rebuilds_what_the_live_run_built,
);
