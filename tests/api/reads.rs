//! The query API over HTTP: history (the spec's acceptance criteria one by
//! one), X-Min-Position, one meeting's details, status and participants,
//! and who may read them.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    Setup, TestApp, TestDb, TestStream, eventually, spawn_app_on, spawn_app_with, test_config,
};

fn path(meeting: &str, action: &str) -> String {
    format!("/api/v1/meetings/{meeting}/{action}")
}

/// An active meeting of `host`, joined by `guests`, then ended.
async fn ended_meeting(app: &TestApp, host: &str, title: &str, guests: &[&str]) -> String {
    let id = app.active_meeting(host, json!({"title": title})).await;
    for guest in guests {
        app.post(&path(&id, "join"), guest, None).await;
    }
    let ended = app.post(&path(&id, "end"), host, None).await;
    assert_eq!(ended.status, StatusCode::OK);
    id
}

async fn history(app: &TestApp, user: &str, query: &str) -> crate::helpers::Response {
    let head = app.head().await.to_string();
    app.get(
        &format!("/api/v1/meetings/history{query}"),
        user,
        &[("x-min-position", &head)],
    )
    .await
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["meeting_id"].as_str().unwrap().to_owned())
        .collect()
}

async fn history_requires_a_valid_token(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let response = app
        .send(Method::GET, "/api/v1/meetings/history", None, None, &[])
        .await;
    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    assert_eq!(response.code(), "UNAUTHORIZED");
}

async fn history_lists_the_ended_meetings_the_caller_hosts(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let ended = ended_meeting(&app, "alice", "done", &[]).await;
    app.active_meeting("alice", json!({"title": "running"}))
        .await;
    app.create_meeting("alice", json!({"title": "scheduled"}))
        .await;
    let bobs = ended_meeting(&app, "bob", "bob's", &["alice"]).await;

    let page = history(&app, "alice", "").await;
    assert_eq!(page.status, StatusCode::OK, "{:?}", page.body);
    assert_eq!(
        ids(&page.body),
        vec![ended.clone()],
        "hosted and ended only"
    );
    assert_eq!(page.body["total"], 1);

    // The spec's open question: meetings joined as a guest, by role.
    let joined = history(&app, "alice", "?role=participant").await;
    assert_eq!(ids(&joined.body), vec![bobs.clone()]);
    let any = history(&app, "alice", "?role=any").await;
    assert_eq!(any.body["total"], 2);
    assert_eq!(history(&app, "carol", "").await.body["total"], 0);
}

async fn history_items_carry_the_spec_fields_and_count_distinct_users(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let id = app
        .active_meeting("alice", json!({"title": "Weekly Sync"}))
        .await;
    for (user, action) in [
        ("alice", "join"),
        ("bob", "join"),
        ("bob", "leave"),
        ("bob", "join"),
        ("carol", "join"),
    ] {
        let response = app.post(&path(&id, action), user, None).await;
        assert_eq!(response.status, StatusCode::OK, "{user} {action}");
    }
    app.post(&path(&id, "end"), "alice", None).await;

    let page = history(&app, "alice", "").await.body;
    assert_eq!(page["page"], 1);
    assert_eq!(page["page_size"], 20);
    let item = &page["items"][0];
    assert_eq!(item["meeting_id"], json!(id));
    assert_eq!(item["name"], "Weekly Sync");
    assert!(events::RoomCode::parse(item["room_code"].as_str().unwrap()).is_some());
    for field in ["created_at", "started_at", "ended_at"] {
        let at = item[field].as_str().unwrap_or_else(|| panic!("{field}"));
        assert!(
            chrono::DateTime::parse_from_rfc3339(at).is_ok(),
            "{field}: {at}"
        );
    }
    assert_eq!(item["duration_minutes"], 0);
    assert_eq!(
        item["participant_count"], 3,
        "alice, bob (twice) and carol: three users"
    );
}

async fn text_with_quotes_backslashes_and_array_syntax_reaches_the_read_models_unchanged(
    setup: Setup,
) {
    let app = spawn_app_on(setup).await;
    let title = r#"a "quoted" \ back\slash, {braces} NULL ünïcode"#;
    let id = ended_meeting(&app, "alice", title, &["bob"]).await;
    let page = history(&app, "alice", "").await.body;
    assert_eq!(page["items"][0]["meeting_id"], json!(id));
    assert_eq!(page["items"][0]["name"], title);
    assert_eq!(page["items"][0]["participant_count"], 1, "bob");
    let empty = ended_meeting(&app, "carol", "NULL", &[]).await;
    let page = history(&app, "carol", "").await.body;
    assert_eq!(page["items"][0]["meeting_id"], json!(empty));
    assert_eq!(
        page["items"][0]["name"], "NULL",
        "the text NULL, not a null"
    );
}

async fn history_is_most_recently_ended_first_and_paged(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let mut ended = Vec::new();
    for n in 0..5 {
        ended.push(ended_meeting(&app, "alice", &format!("m{n}"), &[]).await);
    }
    ended.reverse();

    let all = history(&app, "alice", "?page_size=100").await.body;
    assert_eq!(ids(&all), ended, "most recently ended first");

    let first = history(&app, "alice", "?page=1&page_size=2").await.body;
    assert_eq!(
        (
            first["total"].clone(),
            first["page"].clone(),
            first["page_size"].clone()
        ),
        (json!(5), json!(1), json!(2))
    );
    assert_eq!(ids(&first), ended[..2]);
    let last = history(&app, "alice", "?page=3&page_size=2").await.body;
    assert_eq!(ids(&last), ended[4..]);
    let beyond = history(&app, "alice", "?page=9&page_size=2").await.body;
    assert_eq!((beyond["total"].clone(), ids(&beyond).len()), (json!(5), 0));

    let capped = history(&app, "alice", "?page_size=500").await;
    assert_eq!(capped.status, StatusCode::OK);
    assert_eq!(capped.body["page_size"], 100, "capped, not refused");

    for bad in [
        "?page=0",
        "?page=-1",
        "?page_size=0",
        "?page=x",
        "?role=owner",
    ] {
        let response = history(&app, "alice", bad).await;
        assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert_eq!(response.code(), "VALIDATION_FAILED", "{bad}");
    }
}

async fn x_min_position_answers_once_the_command_is_visible(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let id = app.active_meeting("alice", json!({})).await;
    for user in ["alice", "bob", "carol"] {
        let joined = app.post(&path(&id, "join"), user, None).await;
        let position = joined.position_header().unwrap().to_string();
        // Straight after the command, no other wait.
        let status = app
            .get(
                &path(&id, "status"),
                "alice",
                &[("x-min-position", &position)],
            )
            .await;
        assert_eq!(status.status, StatusCode::OK);
        let participants = app
            .get(
                &path(&id, "participants"),
                user,
                &[("x-min-position", &position)],
            )
            .await;
        let present: Vec<&str> = participants.body["participants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["user_id"].as_str().unwrap())
            .collect();
        assert!(
            present.contains(&user),
            "{user} sees themselves: {present:?}"
        );
        assert_eq!(status.body["active_participants"], json!(present.len()));
    }
}

#[tokio::test]
async fn an_unreached_position_is_503_projection_lagging() {
    let db = TestDb::create().await;
    let stream = TestStream::new();
    let mut config = test_config(&db, &stream);
    config.min_position_wait_ms = 200;
    // No read model follows the log here: the position is in the log and
    // not reached.
    config.projections = false;
    let app = spawn_app_with(config, db, stream).await;
    let id = app.active_meeting("alice", json!({})).await;
    let head = app.head().await.to_string();
    let response = app
        .get(&path(&id, "status"), "alice", &[("x-min-position", &head)])
        .await;
    assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.code(), "PROJECTION_LAGGING");
    assert_eq!(response.headers["retry-after"], "1");

    let bad = app
        .get(&path(&id, "status"), "alice", &[("x-min-position", "soon")])
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
}

/// `MEETINGS_PROJECTIONS=false`: the node answers commands but keeps no
/// read model; a `meetings project` process elsewhere does, and the node's
/// queries wait for it through the checkpoint table.
#[tokio::test]
async fn an_api_node_reads_the_models_a_separate_projector_keeps() {
    let db = TestDb::create().await;
    let stream = TestStream::new();
    let mut config = test_config(&db, &stream);
    config.projections = false;
    config.min_position_wait_ms = 200;
    let (url, prefix) = (db.url.clone(), stream.prefix.clone());
    let app = spawn_app_with(config, db, stream).await;
    let id = app.active_meeting("alice", json!({})).await;
    app.post(&path(&id, "join"), "bob", None).await;
    let head = app.head().await.to_string();
    let alone = app
        .get(&path(&id, "status"), "alice", &[("x-min-position", &head)])
        .await;
    assert_eq!(
        (alone.status, alone.code()),
        (StatusCode::SERVICE_UNAVAILABLE, "PROJECTION_LAGGING"),
        "nothing projects in the API node"
    );

    let mut projector = tokio::process::Command::new(env!("CARGO_BIN_EXE_meetings"))
        .arg("project")
        .env("DATABASE_URL", &url)
        .env("NATS_URL", crate::helpers::nats_url())
        .env("NATS_PREFIX", &prefix)
        // The nodes' key for what comes over NATS (derived from it).
        .env("JWT_SECRET", crate::helpers::SECRET)
        .kill_on_drop(true)
        .spawn()
        .expect("the meetings binary starts");
    let status = eventually(Duration::from_secs(30), || {
        let app = &app;
        let (id, head) = (&id, &head);
        async move {
            let status = app
                .get(&path(id, "status"), "alice", &[("x-min-position", head)])
                .await;
            (status.status == StatusCode::OK).then_some(status)
        }
    })
    .await;
    assert_eq!(status.body["active_participants"], json!(1));
    // Stopped before the test's database is dropped under it.
    projector.kill().await.expect("the projector stops");
}

async fn details_status_and_participants_follow_the_spec(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let created = app
        .create_meeting("alice", json!({"title": "Board", "description": "Q3", "max_participants": 12, "settings": {"enable_recording": true}}))
        .await;
    let id = created["meeting_id"].as_str().unwrap().to_owned();
    let code = created["room_code"].as_str().unwrap().to_owned();
    app.post(&path(&id, "start"), "alice", None).await;
    app.post(
        &path(&id, "join"),
        "alice",
        Some(&json!({"device_type": "desktop"})),
    )
    .await;
    app.post(
        &path(&id, "join"),
        "bob",
        Some(&json!({"device_type": "mobile", "join_muted": true})),
    )
    .await;
    app.patch(&path(&id, "config"), "alice", &json!({"lock_room": true}))
        .await;
    let head = app.head().await.to_string();
    let fresh = [("x-min-position", head.as_str())];

    let details = app
        .get(&format!("/api/v1/meetings/{code}"), "alice", &fresh)
        .await;
    assert_eq!(details.status, StatusCode::OK, "{:?}", details.body);
    let d = &details.body;
    assert_eq!(
        (
            d["meeting_id"].as_str(),
            d["title"].as_str(),
            d["description"].as_str()
        ),
        (Some(id.as_str()), Some("Board"), Some("Q3"))
    );
    assert_eq!(d["status"], "active");
    assert_eq!(d["settings"]["lock_room"], true);
    assert_eq!(d["settings"]["enable_recording"], true);
    assert_eq!(d["settings"]["max_participants"], 12);
    assert_eq!(d["participant_count"], 2);

    let status = app.get(&path(&id, "status"), "alice", &fresh).await.body;
    assert_eq!(status["status"], "active");
    assert_eq!(status["is_active"], true);
    assert!(status["started_at"].is_string());
    assert!(status["ended_at"].is_null());
    assert_eq!(status["attendance_count"], 2);
    assert_eq!(status["is_recording"], false);
    assert_eq!(status["active_participants"], 2);

    let list = app
        .get(&path(&id, "participants"), "alice", &fresh)
        .await
        .body;
    assert_eq!(list["meeting_id"], json!(id));
    assert_eq!(list["count"], 2);
    let bob = &list["participants"][1];
    for field in [
        "participant_id",
        "user_id",
        "user_name",
        "role",
        "status",
        "is_muted",
        "is_video_enabled",
        "is_screen_sharing",
        "is_hand_raised",
        "joined_at",
        "device_type",
    ] {
        assert!(!bob[field].is_null(), "{field}");
    }
    assert_eq!(
        (
            bob["user_id"].as_str(),
            bob["role"].as_str(),
            bob["is_muted"].as_bool()
        ),
        (Some("bob"), Some("participant"), Some(true))
    );
    assert_eq!(list["participants"][0]["role"], "host");

    app.post(&path(&id, "end"), "alice", None).await;
    let head = app.head().await.to_string();
    let ended = app
        .get(&path(&id, "status"), "alice", &[("x-min-position", &head)])
        .await
        .body;
    assert_eq!(
        (ended["status"].as_str(), ended["is_active"].as_bool()),
        (Some("ended"), Some(false))
    );
    assert_eq!(ended["active_participants"], 0);
    assert_eq!(ended["attendance_count"], 2);
}

async fn only_the_host_attendees_admins_and_auditors_may_read_a_meeting(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let id = app.active_meeting("alice", json!({})).await;
    app.post(&path(&id, "join"), "bob", None).await;
    app.post(&path(&id, "leave"), "bob", None).await; // joined once: may still read
    let head = app.head().await.to_string();
    let fresh = ("x-min-position", head.as_str());

    let cases: Vec<(&str, String, StatusCode)> = vec![
        ("host", app.token("alice"), StatusCode::OK),
        ("attendee", app.token("bob"), StatusCode::OK),
        (
            "admin",
            app.token_with_roles("root", &["admin"]),
            StatusCode::OK,
        ),
        (
            "auditor",
            app.token_with_roles("audit", &["auditor"]),
            StatusCode::OK,
        ),
        ("outsider", app.token("mallory"), StatusCode::FORBIDDEN),
    ];
    for action in ["", "/status", "/participants"] {
        let url = format!("/api/v1/meetings/{id}{action}");
        for (who, token, expected) in &cases {
            let response = app
                .send(Method::GET, &url, Some(token), None, &[fresh])
                .await;
            assert_eq!(response.status, *expected, "{who} GET {url}");
            if *expected == StatusCode::FORBIDDEN {
                assert_eq!(response.code(), "INSUFFICIENT_PERMISSION");
            }
        }
        let anonymous = app.send(Method::GET, &url, None, None, &[]).await;
        assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED, "{url}");
    }
    let unknown = app
        .get("/api/v1/meetings/zzz-zzzz-zzz/status", "alice", &[])
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.code(), "MEETING_NOT_FOUND");
}

on_setups!(
    [postgres, sqlite, postgres_in_process, sqlite_nats]
    x_min_position_answers_once_the_command_is_visible,
);
on_setups!(
    [postgres, sqlite]
    history_requires_a_valid_token,
    history_lists_the_ended_meetings_the_caller_hosts,
    history_items_carry_the_spec_fields_and_count_distinct_users,
    text_with_quotes_backslashes_and_array_syntax_reaches_the_read_models_unchanged,
    history_is_most_recently_ended_first_and_paged,
    details_status_and_participants_follow_the_spec,
    only_the_host_attendees_admins_and_auditors_may_read_a_meeting,
);
