//! The command API over HTTP: every status and code of create, start, join,
//! leave, config and end; bad input changes nothing; concurrent joins.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Setup, TestApp, spawn_app_on};

fn path(meeting: &str, action: &str) -> String {
    format!("/api/v1/meetings/{meeting}/{action}")
}

/// Asserts a refusal: status, code, the documented error body, and that
/// nothing was appended.
async fn assert_refused(
    app: &TestApp,
    response: crate::helpers::Response,
    status: StatusCode,
    code: &str,
    head_before: i64,
) {
    assert_eq!(response.status, status, "{:?}", response.body);
    assert_eq!(response.code(), code, "{:?}", response.body);
    assert_eq!(response.body["status"], "error");
    assert!(response.body["message"].is_string());
    assert!(response.body["details"].is_object());
    assert!(
        response.body["timestamp"]
            .as_str()
            .is_some_and(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok())
    );
    assert_eq!(
        app.head().await,
        head_before,
        "a refused command appends nothing"
    );
}

async fn creating_a_meeting_answers_201_with_its_link_location_and_position(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let response = app
        .post(
            "/api/v1/meetings",
            "alice",
            Some(&json!({
                "title": "Weekly sync",
                "description": "Planning",
                "starts_at": "2030-01-01T10:00:00Z",
                "ends_at": "2030-01-01T11:00:00Z",
                "max_participants": 25,
                "settings": {"waiting_room": true, "enable_recording": true}
            })),
        )
        .await;
    assert_eq!(response.status, StatusCode::CREATED, "{:?}", response.body);
    let body = &response.body;
    let id = body["meeting_id"].as_str().unwrap();
    let code = body["room_code"].as_str().unwrap();
    assert!(events::RoomCode::parse(code).is_some(), "{code}");
    assert_eq!(
        body["meeting_link"],
        json!(format!("{}/meeting/{code}", app.base))
    );
    assert_eq!(body["status"], "scheduled");
    assert_eq!(body["max_participants"], 25);
    assert_eq!(body["settings"]["waiting_room"], true);
    assert_eq!(body["settings"]["enable_chat"], true);
    assert_eq!(body["settings"]["lock_room"], false);
    assert_eq!(body["position"], 1);
    assert_eq!(response.position_header(), Some(1));
    assert_eq!(
        response.headers["location"],
        format!("/api/v1/meetings/{id}").as_str()
    );

    let log = app.log().await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].event_type, "meeting_scheduled");
    assert_eq!(log[0].stream_id.0, format!("meeting-{id}"));
    assert_eq!(log[0].metadata.value()["actor"]["user_id"], "alice");
}

async fn start_now_creates_an_active_meeting_in_one_call(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let body = app
        .create_meeting("alice", json!({"title": "Now", "start_now": true}))
        .await;
    assert_eq!(body["status"], "active");
    assert_eq!(body["position"], 2);
    let types: Vec<String> = app.log().await.into_iter().map(|e| e.event_type).collect();
    assert_eq!(types, ["meeting_scheduled", "meeting_started"]);
}

async fn invalid_create_requests_are_422_and_append_nothing(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let token = app.token("alice");
    let cases: Vec<(&str, String)> = vec![
        ("title", json!({}).to_string()),
        ("title", json!({"title": ""}).to_string()),
        ("title", json!({"title": "x".repeat(201)}).to_string()),
        ("title", json!({"title": 5}).to_string()),
        ("description", json!({"title": "t", "description": "d".repeat(5001)}).to_string()),
        ("max_participants", json!({"title": "t", "max_participants": 0}).to_string()),
        ("max_participants", json!({"title": "t", "max_participants": 1001}).to_string()),
        ("max_participants", json!({"title": "t", "max_participants": "ten"}).to_string()),
        ("ends_at", json!({"title": "t", "starts_at": "2030-01-01T10:00:00Z", "ends_at": "2030-01-01T09:00:00Z"}).to_string()),
        ("starts_at", json!({"title": "t", "starts_at": "tomorrow"}).to_string()),
        ("settings.lock_room", json!({"title": "t", "settings": {"lock_room": "yes"}}).to_string()),
        ("settings", json!({"title": "t", "settings": {"unknown_flag": true}}).to_string()),
        ("body", "{not json".to_string()),
    ];
    for (field, raw) in cases {
        let response = app
            .client
            .post(format!("{}/api/v1/meetings", app.base))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(raw.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{raw}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "VALIDATION_FAILED", "{raw}");
        assert_eq!(body["status"], "error");
        let named = body["details"]["field"].as_str().unwrap_or("");
        assert!(
            named.starts_with(field),
            "{raw}: field {named:?}, expected {field:?}"
        );
    }
    assert_eq!(app.head().await, 0);
}

async fn a_meeting_is_addressed_by_id_or_by_room_code(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let body = app.create_meeting("alice", json!({"title": "Codes"})).await;
    let code = body["room_code"].as_str().unwrap();
    let started = app.post(&path(code, "start"), "alice", None).await;
    assert_eq!(started.status, StatusCode::OK, "{:?}", started.body);
    assert_eq!(started.body["meeting_id"], body["meeting_id"]);

    for unknown in [
        "zzz-zzzz-zzz",
        "01a1ff79-2ba5-7266-bcb6-723c3b39a780",
        "not-a-code",
    ] {
        let head = app.head().await;
        let response = app.post(&path(unknown, "join"), "bob", None).await;
        assert_refused(
            &app,
            response,
            StatusCode::NOT_FOUND,
            "MEETING_NOT_FOUND",
            head,
        )
        .await;
    }
}

async fn starting_follows_the_lifecycle_rules(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let id = app
        .create_meeting("alice", json!({"title": "Lifecycle"}))
        .await["meeting_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let head = app.head().await;
    let by_guest = app.post(&path(&id, "start"), "bob", None).await;
    assert_refused(
        &app,
        by_guest,
        StatusCode::FORBIDDEN,
        "INSUFFICIENT_PERMISSION",
        head,
    )
    .await;

    let started = app.post(&path(&id, "start"), "alice", None).await;
    assert_eq!(started.status, StatusCode::OK);
    assert_eq!(started.body["status"], "active");
    assert_eq!(started.body["started_by"], "alice");
    assert_eq!(started.body["position"], 2);
    assert_eq!(started.position_header(), Some(2));
    let present: Vec<String> = app.log().await.into_iter().map(|e| e.event_type).collect();
    assert!(
        !present.contains(&"participant_joined".to_owned()),
        "starting does not join the host"
    );

    let again = app.post(&path(&id, "start"), "alice", None).await;
    assert_refused(
        &app,
        again,
        StatusCode::CONFLICT,
        "MEETING_ALREADY_ACTIVE",
        2,
    )
    .await;

    assert_eq!(
        app.post(&path(&id, "end"), "alice", None).await.status,
        StatusCode::OK
    );
    let head = app.head().await;
    let after_end = app.post(&path(&id, "start"), "alice", None).await;
    assert_refused(&app, after_end, StatusCode::GONE, "MEETING_ENDED", head).await;
}

async fn joining_follows_the_room_rules(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let scheduled = app
        .create_meeting("alice", json!({"title": "Later", "max_participants": 2}))
        .await;
    let id = scheduled["meeting_id"].as_str().unwrap().to_owned();
    let head = app.head().await;
    let early = app.post(&path(&id, "join"), "bob", None).await;
    assert_refused(
        &app,
        early,
        StatusCode::BAD_REQUEST,
        "ROOM_NOT_ACTIVE",
        head,
    )
    .await;

    app.post(&path(&id, "start"), "alice", None).await;
    let joined = app
        .post(
            &path(&id, "join"),
            "bob",
            Some(
                &json!({"device_type": "desktop", "join_muted": true, "join_without_video": true}),
            ),
        )
        .await;
    assert_eq!(joined.status, StatusCode::OK, "{:?}", joined.body);
    assert_eq!(joined.body["role"], "participant");
    assert_eq!(joined.body["user_id"], "bob");
    assert_eq!(joined.body["user_name"], "Bob");
    assert_eq!(joined.body["is_muted"], true);
    assert_eq!(joined.body["is_video_enabled"], false);
    assert_eq!(joined.body["device_type"], "desktop");
    assert_eq!(joined.position_header(), joined.body["position"].as_i64());

    // The same user again: the same seat, no new event.
    let head = app.head().await;
    let again = app.post(&path(&id, "join"), "bob", None).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body["participant_id"], joined.body["participant_id"]);
    assert_eq!(app.head().await, head);

    let host = app.post(&path(&id, "join"), "alice", None).await;
    assert_eq!(host.body["role"], "host");

    // Two present of two: full.
    let head = app.head().await;
    let full = app.post(&path(&id, "join"), "carol", None).await;
    assert_refused(
        &app,
        full,
        StatusCode::FORBIDDEN,
        "MAX_PARTICIPANTS_REACHED",
        head,
    )
    .await;

    let config = app
        .patch(
            &path(&id, "config"),
            "alice",
            &json!({"lock_room": true, "max_participants": 10}),
        )
        .await;
    assert_eq!(config.status, StatusCode::OK);
    let head = app.head().await;
    let locked = app.post(&path(&id, "join"), "carol", None).await;
    assert_refused(&app, locked, StatusCode::FORBIDDEN, "MEETING_LOCKED", head).await;

    app.post(&path(&id, "end"), "alice", None).await;
    let head = app.head().await;
    let ended = app.post(&path(&id, "join"), "carol", None).await;
    assert_refused(&app, ended, StatusCode::GONE, "MEETING_ENDED", head).await;
}

async fn invalid_join_bodies_are_422_and_append_nothing(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let id = app.active_meeting("alice", json!({})).await;
    let head = app.head().await;
    for body in [
        json!({"join_muted": "yes"}),
        json!({"device_type": 7}),
        json!({"seat": 1}),
        json!({"device_type": "d".repeat(51)}),
    ] {
        let response = app.post(&path(&id, "join"), "bob", Some(&body)).await;
        assert_refused(
            &app,
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_FAILED",
            head,
        )
        .await;
    }
}

async fn leaving_needs_a_seat(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let id = app.active_meeting("alice", json!({})).await;
    let head = app.head().await;
    let stranger = app.post(&path(&id, "leave"), "bob", None).await;
    assert_refused(
        &app,
        stranger,
        StatusCode::NOT_FOUND,
        "PARTICIPANT_NOT_FOUND",
        head,
    )
    .await;

    let joined = app.post(&path(&id, "join"), "bob", None).await;
    let left = app.post(&path(&id, "leave"), "bob", None).await;
    assert_eq!(left.status, StatusCode::OK);
    assert_eq!(left.body["participant_id"], joined.body["participant_id"]);
    assert_eq!(left.body["duration_minutes"], 0);
    let last = app.log().await.pop().unwrap();
    assert_eq!(last.event_type, "participant_left");
    assert_eq!(last.data.value()["reason"], "left");

    let head = app.head().await;
    let twice = app.post(&path(&id, "leave"), "bob", None).await;
    assert_refused(
        &app,
        twice,
        StatusCode::NOT_FOUND,
        "PARTICIPANT_NOT_FOUND",
        head,
    )
    .await;
}

async fn config_updates_follow_the_spec(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let body = app
        .create_meeting("alice", json!({"title": "Config"}))
        .await;
    let id = body["meeting_id"].as_str().unwrap().to_owned();
    let code = body["room_code"].as_str().unwrap().to_owned();

    let head = app.head().await;
    let scheduled = app
        .patch(&path(&code, "config"), "alice", &json!({"lock_room": true}))
        .await;
    assert_refused(
        &app,
        scheduled,
        StatusCode::BAD_REQUEST,
        "ROOM_NOT_ACTIVE",
        head,
    )
    .await;
    let unknown = app
        .patch(
            &path("zzz-zzzz-zzz", "config"),
            "alice",
            &json!({"lock_room": true}),
        )
        .await;
    assert_refused(
        &app,
        unknown,
        StatusCode::NOT_FOUND,
        "MEETING_NOT_FOUND",
        head,
    )
    .await;

    app.post(&path(&id, "start"), "alice", None).await;
    let head = app.head().await;
    let guest = app
        .patch(&path(&code, "config"), "bob", &json!({"lock_room": true}))
        .await;
    assert_refused(
        &app,
        guest,
        StatusCode::FORBIDDEN,
        "INSUFFICIENT_PERMISSION",
        head,
    )
    .await;
    for bad in [
        json!({"max_participants": 0}),
        json!({"max_participants": 1001}),
        json!({"lock_room": 1}),
        json!({"volume": 11}),
    ] {
        let response = app.patch(&path(&code, "config"), "alice", &bad).await;
        assert_refused(
            &app,
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_FAILED",
            head,
        )
        .await;
    }

    let updated = app
        .patch(
            &path(&code, "config"),
            "alice",
            &json!({"lock_room": true, "enable_transcription": false, "max_participants": 10}),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{:?}", updated.body);
    let settings = &updated.body["settings"];
    assert_eq!(settings["lock_room"], true);
    assert_eq!(settings["enable_transcription"], false);
    assert_eq!(settings["max_participants"], 10);
    assert_eq!(
        settings["enable_chat"], true,
        "unspecified keys keep their values"
    );
    for key in [
        "enable_screen_share",
        "enable_recording",
        "waiting_room",
        "mute_on_entry",
    ] {
        assert!(settings[key].is_boolean(), "full settings include {key}");
    }
    assert_eq!(updated.position_header(), updated.body["position"].as_i64());

    let event = app.log().await.pop().unwrap();
    assert_eq!(event.event_type, "room_config_updated");
    assert_eq!(
        event.data.value()["settings"],
        json!({"lock_room": true, "max_participants": 10}),
        "only what changed"
    );

    app.post(&path(&id, "end"), "alice", None).await;
    let head = app.head().await;
    let ended = app
        .patch(
            &path(&code, "config"),
            "alice",
            &json!({"lock_room": false}),
        )
        .await;
    assert_refused(
        &app,
        ended,
        StatusCode::BAD_REQUEST,
        "ROOM_NOT_ACTIVE",
        head,
    )
    .await;
}

async fn ending_a_meeting_sends_everyone_out(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let id = app.active_meeting("alice", json!({})).await;
    for user in ["alice", "bob", "carol"] {
        app.post(&path(&id, "join"), user, None).await;
    }
    let head = app.head().await;
    let guest = app.post(&path(&id, "end"), "bob", None).await;
    assert_refused(
        &app,
        guest,
        StatusCode::FORBIDDEN,
        "INSUFFICIENT_PERMISSION",
        head,
    )
    .await;

    let ended = app.post(&path(&id, "end"), "alice", None).await;
    assert_eq!(ended.status, StatusCode::OK, "{:?}", ended.body);
    assert_eq!(ended.body["status"], "ended");
    assert_eq!(ended.body["duration_minutes"], 0);
    assert!(ended.body["ended_at"].is_string());
    let log = app.log().await;
    let tail: Vec<(String, Value)> = log[log.len() - 4..]
        .iter()
        .map(|e| (e.event_type.clone(), e.data.value()["reason"].clone()))
        .collect();
    assert_eq!(
        tail,
        vec![
            ("participant_left".into(), json!("meeting_ended")),
            ("participant_left".into(), json!("meeting_ended")),
            ("participant_left".into(), json!("meeting_ended")),
            ("meeting_ended".into(), json!("ended")),
        ]
    );
    assert_eq!(ended.body["position"], json!(log.len()));

    let head = app.head().await;
    let again = app.post(&path(&id, "end"), "alice", None).await;
    assert_refused(&app, again, StatusCode::GONE, "MEETING_ENDED", head).await;
    let scheduled = app
        .create_meeting("alice", json!({"title": "Not yet"}))
        .await;
    let head = app.head().await;
    let early = app
        .post(
            &path(scheduled["meeting_id"].as_str().unwrap(), "end"),
            "alice",
            None,
        )
        .await;
    assert_refused(
        &app,
        early,
        StatusCode::BAD_REQUEST,
        "ROOM_NOT_ACTIVE",
        head,
    )
    .await;
}

async fn forty_concurrent_joins_all_land_once(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let id = app
        .active_meeting("alice", json!({"max_participants": 40}))
        .await;
    let joins = (0..40).map(|i| {
        let app = &app;
        let id = id.clone();
        async move {
            app.post(&path(&id, "join"), &format!("user{i}"), None)
                .await
        }
    });
    let responses = futures::future::join_all(joins).await;
    for response in &responses {
        assert_eq!(response.status, StatusCode::OK, "{:?}", response.body);
    }
    let joined: Vec<_> = app
        .log()
        .await
        .into_iter()
        .filter(|e| e.event_type == "participant_joined")
        .map(|e| e.data.value()["user_id"].as_str().unwrap().to_owned())
        .collect();
    let distinct: std::collections::HashSet<_> = joined.iter().collect();
    assert_eq!(joined.len(), 40);
    assert_eq!(distinct.len(), 40);
    let head = app.head().await;
    let one_more = app.post(&path(&id, "join"), "late", None).await;
    assert_refused(
        &app,
        one_more,
        StatusCode::FORBIDDEN,
        "MAX_PARTICIPANTS_REACHED",
        head,
    )
    .await;
}

async fn unknown_routes_answer_in_the_error_format(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let response = app
        .send(Method::GET, "/api/v1/nothing-here", None, None, &[])
        .await;
    assert_eq!(response.status, StatusCode::NOT_FOUND);
    assert_eq!(response.body["status"], "error");
}

on_setups!(
    [postgres, sqlite]
    creating_a_meeting_answers_201_with_its_link_location_and_position,
    start_now_creates_an_active_meeting_in_one_call,
    invalid_create_requests_are_422_and_append_nothing,
    a_meeting_is_addressed_by_id_or_by_room_code,
    starting_follows_the_lifecycle_rules,
    joining_follows_the_room_rules,
    invalid_join_bodies_are_422_and_append_nothing,
    leaving_needs_a_seat,
    config_updates_follow_the_spec,
    ending_a_meeting_sends_everyone_out,
    forty_concurrent_joins_all_land_once,
    unknown_routes_answer_in_the_error_format,
);
