//! The log for auditors: `GET /api/v1/events` pages through the whole log
//! (larger than the server's own read page), streams it as NDJSON,
//! filters by meeting and type, and is refused to everyone else.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{Setup, TestApp, ctx, join, schedule, spawn_app_on};

on_setups!([postgres, sqlite]
    an_auditor_pages_through_the_whole_log_and_streams_it_as_ndjson,
    the_log_is_filtered_by_meeting_and_type_and_refused_to_others,
    the_chain_verifies_and_a_changed_event_is_named,
    an_export_verifies_offline_and_a_changed_byte_is_named,
    a_receipt_refuses_a_history_rewritten_and_rehashed_after_it,
    a_meeting_as_of_a_position_or_a_time_is_folded_from_its_events,
    a_meetings_own_log_hides_private_events_as_the_websocket_does,
    as_of_from_past_snapshots_is_the_fold_from_the_first_event,
);

/// A meeting with `joins` people in it, by commands in process.
async fn crowded(app: &TestApp, host: &str, joins: usize) -> events::MeetingId {
    let id = schedule(&app.app.commands, host, true).await;
    let commands = app.app.commands.clone();
    let joins = (0..joins).map(|n| {
        let commands = commands.clone();
        async move {
            commands
                .execute(id, &ctx(&format!("{host}-guest-{n}")), join(), None)
                .await
                .expect("join");
        }
    });
    futures::future::join_all(joins).await;
    id
}

/// The log as the store reads it, as JSON values.
async fn stored(app: &TestApp) -> Vec<Value> {
    app.log()
        .await
        .iter()
        .map(|e| serde_json::to_value(e).unwrap())
        .collect()
}

async fn an_auditor_pages_through_the_whole_log_and_streams_it_as_ndjson(setup: Setup) {
    let app = spawn_app_on(setup).await;
    crowded(&app, "alice", 550).await;
    crowded(&app, "bob", 550).await;
    let log = stored(&app).await;
    assert!(log.len() > 1_000, "more than the server reads at a time");
    let auditor = app.token_with_roles("audrey", &["auditor"]);

    // JSON pages of 400, each naming where the next starts.
    let mut paged = Vec::new();
    let mut after = 0;
    loop {
        let page = app
            .send(
                Method::GET,
                &format!("/api/v1/events?after={after}&limit=400"),
                Some(&auditor),
                None,
                &[],
            )
            .await;
        assert_eq!(page.status, StatusCode::OK, "{:?}", page.body);
        let events = page.body["events"].as_array().unwrap().clone();
        assert_eq!(page.body["head"], log.len() as i64);
        after = page.body["next_after"].as_i64().unwrap();
        if events.is_empty() {
            break;
        }
        assert!(events.len() <= 400);
        paged.extend(events);
    }
    assert_eq!(after, log.len() as i64);
    assert_eq!(paged, log, "every event as stored, hashes in hex");
    let first = &paged[0];
    for field in [
        "position",
        "event_id",
        "stream_id",
        "stream_version",
        "event_type",
        "schema_version",
        "data",
        "metadata",
        "recorded_at",
        "prev_hash",
        "hash",
    ] {
        assert!(!first[field].is_null(), "{field}");
    }
    assert_eq!(first["hash"].as_str().unwrap().len(), 64);

    // NDJSON: the whole log in one answer, one event per line.
    let response = app
        .client
        .get(format!("{}/api/v1/events", app.base))
        .bearer_auth(&auditor)
        .header("accept", "application/x-ndjson")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let text = response.text().await.unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines, log);
    let limited = app
        .client
        .get(format!("{}/api/v1/events?after=10&limit=5", app.base))
        .bearer_auth(&auditor)
        .header("accept", "application/x-ndjson")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let positions: Vec<i64> = limited
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["position"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(positions, vec![11, 12, 13, 14, 15]);

    // More than a JSON page may hold.
    let too_many = app
        .send(
            Method::GET,
            "/api/v1/events?limit=10001",
            Some(&auditor),
            None,
            &[],
        )
        .await;
    assert_eq!(too_many.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(too_many.body["details"]["field"], "limit");
}

async fn the_log_is_filtered_by_meeting_and_type_and_refused_to_others(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let first = crowded(&app, "alice", 3).await;
    let second = crowded(&app, "bob", 2).await;
    let admin = app.token_with_roles("root", &["admin"]);
    let get = |query: String| {
        let admin = admin.clone();
        let app = &app;
        async move {
            app.send(
                Method::GET,
                &format!("/api/v1/events?{query}"),
                Some(&admin),
                None,
                &[],
            )
            .await
        }
    };
    let only_second = get(format!("meeting={second}")).await;
    let events = only_second.body["events"].as_array().unwrap();
    assert_eq!(events.len(), 4, "scheduled, started, two joins: {events:?}");
    assert!(
        events
            .iter()
            .all(|e| e["stream_id"] == format!("meeting-{second}")),
        "{events:?}"
    );
    let joins = get("type=participant_joined".into()).await;
    let joined: Vec<&Value> = joins.body["events"].as_array().unwrap().iter().collect();
    assert_eq!(joined.len(), 5);
    assert!(
        joined
            .iter()
            .all(|e| e["event_type"] == "participant_joined")
    );
    let both = get(format!("meeting={first}&type=participant_joined&limit=2")).await;
    let two = both.body["events"].as_array().unwrap();
    assert_eq!(two.len(), 2);
    // The next page starts after the last event returned, not at the head.
    let rest = get(format!(
        "meeting={first}&type=participant_joined&after={}",
        both.body["next_after"]
    ))
    .await;
    assert_eq!(rest.body["events"].as_array().unwrap().len(), 1);
    let nobody = get(format!("meeting={}", events::MeetingId::new())).await;
    assert_eq!(nobody.body["events"].as_array().unwrap().len(), 0);
    let unknown = get("meeting=zzz-zzzz-zzz".into()).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{:?}", unknown.body);

    // Not an auditor or admin: 403; no token: 401.
    let plain = app.get("/api/v1/events", "alice", &[]).await;
    assert_eq!(plain.status, StatusCode::FORBIDDEN, "{:?}", plain.body);
    let anonymous = app
        .send(Method::GET, "/api/v1/events", None, None, &[])
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}

/// Changes one event's data behind the log's back, as a superuser could:
/// the immutability trigger switched off for the one statement.
async fn tamper(app: &TestApp, setup: Setup, position: i64) {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&app._db.url).await.unwrap();
    let statements: &[&str] = match setup.backend() {
        meetings::db::Backend::Postgres => &[
            "ALTER TABLE events DISABLE TRIGGER events_no_update_or_delete",
            "UPDATE events SET data = '{\"tampered\": true}' WHERE position = $1",
            "ALTER TABLE events ENABLE TRIGGER events_no_update_or_delete",
        ],
        meetings::db::Backend::Sqlite => &[
            "DROP TRIGGER events_no_update",
            "UPDATE events SET data = '{\"tampered\": true}' WHERE position = $1",
        ],
    };
    for statement in statements {
        let query = sqlx::query(statement);
        let query = if statement.contains("$1") {
            query.bind(position)
        } else {
            query
        };
        query.execute(&pool).await.unwrap();
    }
}

async fn the_chain_verifies_and_a_changed_event_is_named(setup: Setup) {
    let app = spawn_app_on(setup).await;
    crowded(&app, "alice", 20).await;
    let head = app.head().await;
    let log = app.log().await;
    let auditor = app.token_with_roles("audrey", &["auditor"]);
    let verify = |query: &'static str| {
        let auditor = auditor.clone();
        let app = &app;
        async move {
            app.send(
                Method::GET,
                &format!("/api/v1/audit/verify{query}"),
                Some(&auditor),
                None,
                &[],
            )
            .await
        }
    };
    let whole = verify("").await;
    assert_eq!(whole.status, StatusCode::OK, "{:?}", whole.body);
    assert_eq!(whole.body["verified"], true, "{:?}", whole.body);
    assert_eq!(whole.body["events_checked"], head);
    assert_eq!(whole.body["head_position"], head);
    assert_eq!(
        whole.body["head_hash"],
        hex::encode(&log.last().unwrap().hash)
    );
    let part = verify("?from=5&to=10").await;
    assert_eq!(
        (part.body["from"].as_i64(), part.body["to"].as_i64()),
        (Some(5), Some(10))
    );
    assert_eq!(part.body["events_checked"], 6);

    tamper(&app, setup, 7).await;
    let broken = verify("").await;
    assert_eq!(broken.body["verified"], false, "{:?}", broken.body);
    assert_eq!(broken.body["first_bad_position"], 7);
    assert!(broken.body["reason"].as_str().unwrap().contains("7"));
    assert_eq!(verify("?to=6").await.body["verified"], true);

    let plain = app.get("/api/v1/audit/verify", "alice", &[]).await;
    assert_eq!(plain.status, StatusCode::FORBIDDEN);
}

/// Runs `meetings <args>` on the test's database; (exit code, stdout).
async fn cli(app: &TestApp, args: &[&str]) -> (i32, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_meetings"))
        .args(args)
        .env("DATABASE_URL", &app._db.url)
        .env("RUST_LOG", "warn")
        .output()
        .await
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stdout).unwrap(),
    )
}

async fn an_export_verifies_offline_and_a_changed_byte_is_named(setup: Setup) {
    let app = spawn_app_on(setup).await;
    crowded(&app, "alice", 12).await;
    let head = app.head().await;
    let (code, online) = cli(&app, &["audit", "verify"]).await;
    assert_eq!(code, 0, "{online}");
    assert_eq!(
        serde_json::from_str::<Value>(&online).unwrap()["events_checked"],
        head
    );

    let (code, export) = cli(&app, &["export"]).await;
    assert_eq!(code, 0);
    assert_eq!(export.lines().count() as i64, head);
    let expected: Vec<Value> = stored(&app).await;
    let lines: Vec<Value> = export
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines, expected, "the same lines as GET /api/v1/events");
    let file = std::env::temp_dir().join(format!("export-{}.ndjson", uuid::Uuid::new_v4()));
    std::fs::write(&file, &export).unwrap();
    let path = file.to_str().unwrap();
    let (code, offline) = cli(&app, &["audit", "verify", "--file", path]).await;
    assert_eq!(code, 0, "{offline}");
    let offline: Value = serde_json::from_str(&offline).unwrap();
    assert_eq!(offline["events_checked"], head);
    assert_eq!(
        offline["head_hash"],
        serde_json::from_str::<Value>(&online).unwrap()["head_hash"]
    );

    // One byte of line 5's data changed (still valid JSON).
    let mut changed: Vec<String> = export.lines().map(str::to_owned).collect();
    changed[4] = changed[4].replacen("alice-guest", "blice-guest", 1);
    assert_ne!(
        changed[4],
        export.lines().nth(4).unwrap(),
        "the line holds a guest's name"
    );
    std::fs::write(&file, changed.join("\n")).unwrap();
    let (code, refused) = cli(&app, &["audit", "verify", "--file", path]).await;
    assert_eq!(code, 1, "{refused}");
    let refused: Value = serde_json::from_str(&refused).unwrap();
    assert_eq!(refused["first_bad_position"], 5, "{refused}");
    std::fs::remove_file(&file).ok();

    // One meeting's export.
    let (_, only) = cli(
        &app,
        &[
            "export",
            "--meeting",
            &lines[0]["stream_id"].as_str().unwrap()["meeting-".len()..],
        ],
    )
    .await;
    assert_eq!(only.lines().count() as i64, head, "one meeting in this log");
}

/// Rewrites the event at `position` and re-hashes every event after it,
/// as someone with the database's keys could: the chain is whole again.
async fn rewrite(app: &TestApp, setup: Setup, position: i64) {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&app._db.url).await.unwrap();
    let (off, update, on): (&str, &str, Option<&str>) = match setup.backend() {
        meetings::db::Backend::Postgres => (
            "ALTER TABLE events DISABLE TRIGGER events_no_update_or_delete",
            "UPDATE events SET data = $1::jsonb, prev_hash = $2, hash = $3 WHERE position = $4",
            Some("ALTER TABLE events ENABLE TRIGGER events_no_update_or_delete"),
        ),
        meetings::db::Backend::Sqlite => (
            "DROP TRIGGER events_no_update",
            "UPDATE events SET data = $1, prev_hash = $2, hash = $3 WHERE position = $4",
            None,
        ),
    };
    sqlx::query(off).execute(&pool).await.unwrap();
    let mut log = app.log().await;
    let mut previous = log[(position - 2).max(0) as usize].hash.clone();
    if position == 1 {
        previous = vec![0; 32];
    }
    for event in log.iter_mut().filter(|e| e.position >= position) {
        if event.position == position {
            event.data = (&serde_json::json!({"rewritten": true})).into();
        }
        event.prev_hash = previous.clone();
        event.hash = events::hash::recorded_hash(event).to_vec();
        sqlx::query(update)
            .bind(event.data.get().to_owned())
            .bind(event.prev_hash.clone())
            .bind(event.hash.clone())
            .bind(event.position)
            .execute(&pool)
            .await
            .unwrap();
        previous = event.hash.clone();
    }
    sqlx::query("UPDATE event_log_head SET hash = $1")
        .bind(previous)
        .execute(&pool)
        .await
        .unwrap();
    if let Some(on) = on {
        sqlx::query(on).execute(&pool).await.unwrap();
    }
}

async fn a_receipt_refuses_a_history_rewritten_and_rehashed_after_it(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let body = serde_json::json!({"title": "Receipts", "start_now": true});
    let created = app.post("/api/v1/meetings", "alice", Some(&body)).await;
    assert_eq!(created.status, StatusCode::CREATED);
    let position = created.body["position"].as_i64().unwrap();
    let hash = created.body["hash"].as_str().unwrap().to_owned();
    assert_eq!(hash.len(), 64);
    assert_eq!(created.headers["x-event-hash"], hash.as_str());
    let stored = app.log().await;
    assert_eq!(hex::encode(&stored[position as usize - 1].hash), hash);
    crowded(&app, "bob", 5).await;

    let check = |position: i64, hash: String| {
        let app = &app;
        async move {
            let answer = app
                .get(
                    &format!("/api/v1/audit/receipt?position={position}&hash={hash}"),
                    "alice",
                    &[],
                )
                .await;
            assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
            answer.body
        }
    };
    let held = check(position, hash.clone()).await;
    assert_eq!(held["valid"], true, "{held}");
    assert_eq!(
        held["head_position"],
        Value::Null,
        "the head is the auditors'"
    );
    let forged = check(position, "0".repeat(64)).await;
    assert_eq!(forged["valid"], false);
    let beyond = check(app.head().await + 10, hash.clone()).await;
    assert_eq!(
        (&beyond["valid"], &beyond["reason"]),
        (&forged["valid"], &forged["reason"]),
        "a reader cannot tell a position beyond the head from a wrong hash"
    );
    let audited = app
        .send(
            reqwest::Method::GET,
            &format!("/api/v1/audit/receipt?position={position}&hash={hash}"),
            Some(&app.token_with_roles("audrey", &["auditor"])),
            None,
            &[],
        )
        .await;
    assert_eq!(audited.body["head_position"], app.head().await);

    // The first event rewritten and everything after it re-hashed: the
    // chain verifies, the receipt does not.
    rewrite(&app, setup, 1).await;
    let auditor = app.token_with_roles("audrey", &["auditor"]);
    let verified = app
        .send(
            Method::GET,
            "/api/v1/audit/verify",
            Some(&auditor),
            None,
            &[],
        )
        .await;
    assert_eq!(verified.body["verified"], true, "{:?}", verified.body);
    let refused = check(position, hash.clone()).await;
    assert_eq!(refused["valid"], false, "{refused}");
    let why = app
        .send(
            Method::GET,
            &format!("/api/v1/audit/receipt?position={position}&hash={hash}"),
            Some(&auditor),
            None,
            &[],
        )
        .await;
    assert_eq!(why.body["valid"], false);
    assert!(
        why.body["reason"].as_str().unwrap().contains("rewritten"),
        "an auditor is told why: {:?}",
        why.body
    );
}

/// A command's position, and who was present (with role) and waiting
/// once it ran.
type Step = (i64, Vec<(&'static str, &'static str)>, Vec<&'static str>);

async fn a_meeting_as_of_a_position_or_a_time_is_folded_from_its_events(setup: Setup) {
    let app = spawn_app_on(setup).await;
    // Someone else's meeting first, so the log holds events before ours.
    app.active_meeting("zed", serde_json::json!({})).await;
    let id = app.active_meeting("alice", serde_json::json!({})).await;
    let at = |action: &str| format!("/api/v1/meetings/{id}/{action}");
    let mut steps: Vec<Step> = Vec::new();
    let mut step = |response: crate::helpers::Response,
                    present: Vec<(&'static str, &'static str)>,
                    waiting: Vec<&'static str>| {
        assert!(response.status.is_success(), "{:?}", response.body);
        steps.push((
            response.body["position"].as_i64().unwrap(),
            present,
            waiting,
        ));
    };
    step(
        app.post(&at("join"), "bob", None).await,
        vec![("bob", "participant")],
        vec![],
    );
    step(
        app.post(&at("join"), "carol", None).await,
        vec![("bob", "participant"), ("carol", "participant")],
        vec![],
    );
    let role = serde_json::json!({"role": "co_host"});
    let changed = app
        .send(
            Method::PUT,
            &at("participants/carol/role"),
            Some(&app.token("alice")),
            Some(&role),
            &[],
        )
        .await;
    step(
        changed,
        vec![("bob", "participant"), ("carol", "co_host")],
        vec![],
    );
    step(
        app.post(&at("leave"), "bob", None).await,
        vec![("carol", "co_host")],
        vec![],
    );
    let waiting_room = serde_json::json!({"waiting_room": true});
    step(
        app.patch(&at("config"), "alice", &waiting_room).await,
        vec![("carol", "co_host")],
        vec![],
    );
    let parked = app.post(&at("join"), "dave", None).await;
    assert_eq!(parked.status, StatusCode::ACCEPTED);
    step(parked, vec![("carol", "co_host")], vec!["dave"]);

    let as_of = |query: String, user: &'static str| {
        let app = &app;
        let path = at(&format!("as-of?{query}"));
        async move { app.get(&path, user, &[]).await }
    };
    for (position, present, waiting) in &steps {
        let then = as_of(format!("position={position}"), "alice").await;
        assert_eq!(then.status, StatusCode::OK, "{:?}", then.body);
        assert_eq!(then.body["position"], *position);
        let mut seen: Vec<(String, String)> = then.body["participants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["user_id"].as_str().unwrap().to_owned(),
                    p["role"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        seen.sort();
        let expected: Vec<(String, String)> = present
            .iter()
            .map(|(u, r)| (u.to_string(), r.to_string()))
            .collect();
        assert_eq!(seen, expected, "at {position}");
        let queued: Vec<&str> = then.body["waiting"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["user_id"].as_str().unwrap())
            .collect();
        assert_eq!(&queued, waiting, "at {position}");
        assert_eq!(then.body["status"], "active");
    }
    let settings_then = as_of(format!("position={}", steps[3].0), "alice").await;
    assert_eq!(settings_then.body["settings"]["waiting_room"], false);

    // A time between two of its events: the earlier state.
    let stream: Vec<_> = app
        .log()
        .await
        .into_iter()
        .filter(|e| e.stream_id.0 == format!("meeting-{id}"))
        .collect();
    let (k, next) = (&stream[2], &stream[3]);
    let between = k.recorded_at + (next.recorded_at - k.recorded_at) / 2;
    let then = as_of(
        format!(
            "at={}",
            between.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        ),
        "alice",
    )
    .await;
    assert_eq!(then.status, StatusCode::OK, "{:?}", then.body);
    assert_eq!(then.body["position"], k.position, "{:?}", then.body);

    // Before it existed: 404. Not its host, an auditor or an admin: 403.
    let before = as_of(format!("position={}", stream[0].position - 1), "alice").await;
    assert_eq!(before.status, StatusCode::NOT_FOUND);
    assert_eq!(
        as_of("position=1".into(), "carol").await.status,
        StatusCode::FORBIDDEN
    );
    let auditor = app.token_with_roles("audrey", &["auditor"]);
    let audited = app
        .send(
            Method::GET,
            &at(&format!("as-of?position={}", steps[0].0)),
            Some(&auditor),
            None,
            &[],
        )
        .await;
    assert_eq!(audited.status, StatusCode::OK);
}

async fn a_meetings_own_log_hides_private_events_as_the_websocket_does(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let id = app.active_meeting("alice", serde_json::json!({})).await;
    for user in ["bob", "carol", "dave"] {
        let joined = app
            .post(&format!("/api/v1/meetings/{id}/join"), user, None)
            .await;
        assert_eq!(joined.status, StatusCode::OK);
    }
    let private = serde_json::json!({"content": "just us", "recipient_id": "carol"});
    let sent = app
        .post(
            &format!("/api/v1/meetings/{id}/chat"),
            "bob",
            Some(&private),
        )
        .await;
    assert_eq!(sent.status, StatusCode::CREATED, "{:?}", sent.body);
    let public = serde_json::json!({"content": "hello all"});
    app.post(
        &format!("/api/v1/meetings/{id}/chat"),
        "dave",
        Some(&public),
    )
    .await;

    let read = |user: &'static str, query: &'static str| {
        let app = &app;
        let path = format!("/api/v1/meetings/{id}/events{query}");
        async move { app.get(&path, user, &[]).await }
    };
    let chats = |body: &Value| -> Vec<String> {
        body["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["event_type"] == "chat_message_sent")
            .map(|e| e["data"]["content"].as_str().unwrap().to_owned())
            .collect()
    };
    for (user, sees_private) in [
        ("bob", true),
        ("carol", true),
        ("dave", false),
        ("alice", false),
    ] {
        let log = read(user, "").await;
        assert_eq!(log.status, StatusCode::OK, "{user}: {:?}", log.body);
        let seen = chats(&log.body);
        assert_eq!(
            seen.contains(&"just us".to_owned()),
            sees_private,
            "{user}: {seen:?}"
        );
        assert!(seen.contains(&"hello all".to_owned()), "{user}");
    }
    let auditor = app.token_with_roles("audrey", &["auditor"]);
    let audited = app
        .send(
            Method::GET,
            &format!("/api/v1/meetings/{id}/events"),
            Some(&auditor),
            None,
            &[],
        )
        .await;
    assert_eq!(chats(&audited.body).len(), 2, "auditors see everything");
    let all = audited.body["events"].as_array().unwrap().len();

    // Pages: two at a time, following next_after.
    let first = read("bob", "?limit=2").await;
    assert_eq!(first.body["events"].as_array().unwrap().len(), 2);
    let after = first.body["next_after"].as_i64().unwrap();
    let rest = app
        .get(
            &format!("/api/v1/meetings/{id}/events?after={after}"),
            "bob",
            &[],
        )
        .await;
    assert_eq!(2 + rest.body["events"].as_array().unwrap().len(), all);

    assert_eq!(read("eve", "").await.status, StatusCode::FORBIDDEN);
}

/// A meeting longer than two past snapshots' spacing, asked about out of
/// order: every answer is the fold of its events from the first (done by
/// hand here), whether it started from a past snapshot or not, and the
/// snapshots are kept.
async fn as_of_from_past_snapshots_is_the_fold_from_the_first_event(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let id = crowded(&app, "alice", 700).await;
    let commands = app.app.commands.clone();
    // Everyone leaves, then 700 join again: ~2,100 events.
    let wave = |leave: bool| {
        let commands = commands.clone();
        (0..700).map(move |n| {
            let commands = commands.clone();
            async move {
                let command = if leave {
                    command::meeting::Command::Leave
                } else {
                    join()
                };
                commands
                    .execute(id, &ctx(&format!("alice-guest-{n}")), command, None)
                    .await
                    .expect("leave or join");
            }
        })
    };
    futures::future::join_all(wave(true)).await;
    futures::future::join_all(wave(false)).await;

    let store = app.app.store.clone();
    let stream = store.read_stream(&id.stream_id(), 0).await.unwrap();
    assert!(stream.len() as i64 > 2 * meetings::audit::PAST_SNAPSHOT_EVERY);
    let by_hand = |upto: usize| {
        let events: Vec<_> = stream[..upto].iter().map(|e| e.decode().unwrap()).collect();
        let m = command::meeting::fold(None, &events).unwrap();
        let mut present: Vec<Value> = m
            .present
            .values()
            .map(|s| serde_json::to_value(s).unwrap())
            .collect();
        present.sort_by_key(|v| v.to_string());
        (m.status, present, stream[upto - 1].position)
    };
    for upto in [2_050, 300, 1_500, 1_001, stream.len()] {
        let position = stream[upto - 1].position;
        let then = meetings::audit::as_of(
            store.as_ref(),
            id,
            meetings::audit::Until::Position(position),
        )
        .await
        .unwrap()
        .expect("the meeting existed");
        let mut present: Vec<Value> = then
            .participants
            .iter()
            .map(|s| serde_json::to_value(s).unwrap())
            .collect();
        present.sort_by_key(|v| v.to_string());
        assert_eq!(
            (then.status, present, then.position),
            by_hand(upto),
            "at event {upto}"
        );
    }
    let kept = store
        .read_past_snapshot(
            &id.stream_id(),
            command::meeting::SNAPSHOT_SCHEMA,
            meetings::audit::Until::Position(i64::MAX),
        )
        .await
        .unwrap()
        .expect("past snapshots kept");
    assert_eq!(
        kept.snapshot.version,
        2 * meetings::audit::PAST_SNAPSHOT_EVERY
    );
}
