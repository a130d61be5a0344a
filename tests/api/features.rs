//! The full feature set end to end, on PostgreSQL and SQLite: listing,
//! editing and deleting meetings, info/exists without a token, attendance,
//! roles, removal and bans, participant status, the waiting room, the
//! password, domains, chat, reactions and their rate limit, WebSocket
//! client frames, breakout rooms (with a time limit that survives a
//! restart) and recordings.

use std::time::Duration;

use futures::SinkExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{Setup, TestApp, eventually, setup_config, spawn_app_on, spawn_app_with};
use crate::websocket::{next_frame, open, until_caught_up};

on_setups!([postgres, sqlite]
    listing_finds_the_callers_meetings_by_status_and_keyword,
    updating_a_meeting_changes_its_details_until_it_ends,
    deleting_cancels_a_scheduled_meeting_and_ends_an_active_one_first,
    info_and_exists_answer_without_a_token_and_reveal_nothing_else,
    attendance_lists_every_session_per_user_with_total_minutes,
    roles_are_given_and_handing_over_hosting_leaves_one_host,
    a_banned_participant_is_removed_and_cannot_rejoin,
    participants_set_their_status_and_screen_sharing_can_be_disabled,
    the_waiting_room_holds_joins_until_admitted_or_rejected_even_when_locked,
    a_meeting_password_is_kept_only_as_a_hash_and_checked_on_join,
    the_policy_checks_the_email_domain_and_blocks_users,
    chat_is_newest_last_with_paging_and_refused_when_disabled,
    reactions_are_rate_limited_per_participant_with_headers,
    websocket_client_frames_run_commands_and_are_acked_or_refused,
    breakout_rooms_open_assign_within_capacity_and_close,
    recordings_run_one_at_a_time_and_keep_the_reported_file,
);

on_setups!([postgres, sqlite] a_breakout_time_limit_closes_the_rooms_by_itself_across_a_restart);

pub(crate) fn at(meeting: &str, action: &str) -> String {
    if action.is_empty() {
        format!("/api/v1/meetings/{meeting}")
    } else {
        format!("/api/v1/meetings/{meeting}/{action}")
    }
}

impl TestApp {
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        user: &str,
        body: Option<Value>,
    ) -> crate::helpers::Response {
        let token = self.token(user);
        self.send(method, path, Some(&token), body.as_ref(), &[])
            .await
    }

    /// A GET once the read models have applied everything so far.
    pub async fn fresh_get(&self, path: &str, user: &str) -> crate::helpers::Response {
        let head = self.head().await.to_string();
        let token = self.token(user);
        self.send(
            Method::GET,
            path,
            Some(&token),
            None,
            &[("x-min-position", &head)],
        )
        .await
    }

    pub async fn ok(&self, method: Method, path: &str, user: &str, body: Option<Value>) -> Value {
        let response = self.call(method.clone(), path, user, body).await;
        assert!(
            response.status.is_success(),
            "{method} {path} as {user}: {} {:?}",
            response.status,
            response.body
        );
        response.body
    }

    pub async fn join_as(&self, meeting: &str, user: &str) -> Value {
        self.ok(Method::POST, &at(meeting, "join"), user, None)
            .await
    }
}

async fn listing_finds_the_callers_meetings_by_status_and_keyword(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let hosted = app
        .create_meeting(
            "alice",
            json!({"title": "Quarterly Planning", "description": "budget"}),
        )
        .await["meeting_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let joined = app
        .active_meeting("bob", json!({"title": "Bob's 100% standup"}))
        .await;
    app.join_as(&joined, "alice").await;
    let invited = app
        .active_meeting("carol", json!({"title": "Design review"}))
        .await;
    app.ok(
        Method::POST,
        &at(&invited, "participants"),
        "carol",
        Some(json!({"user_id": "alice", "role": "co_host"})),
    )
    .await;
    let _other = app
        .active_meeting("dave", json!({"title": "Not alice's"}))
        .await;

    let page = app.fresh_get("/api/v1/meetings", "alice").await;
    assert_eq!(page.status, StatusCode::OK, "{:?}", page.body);
    assert_eq!(page.body["total"], 3);
    let ids: Vec<&str> = page.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["meeting_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [invited.as_str(), joined.as_str(), hosted.as_str()],
        "newest first"
    );

    let active = app
        .get("/api/v1/meetings?status=active", "alice", &[])
        .await;
    assert_eq!(active.body["total"], 2);
    let planning = app
        .get("/api/v1/meetings?keyword=PLANNING", "alice", &[])
        .await;
    assert_eq!(planning.body["items"][0]["meeting_id"], hosted.as_str());
    assert_eq!(planning.body["total"], 1);
    let by_description = app
        .get("/api/v1/meetings?keyword=Budget", "alice", &[])
        .await;
    assert_eq!(by_description.body["total"], 1);
    let percent = app
        .get("/api/v1/meetings?keyword=100%25", "alice", &[])
        .await;
    assert_eq!(percent.body["total"], 1, "% is matched literally");
    let paged = app
        .get("/api/v1/meetings?page=2&page_size=2", "alice", &[])
        .await;
    assert_eq!(paged.body["items"].as_array().unwrap().len(), 1);
    let bad = app
        .get("/api/v1/meetings?status=paused", "alice", &[])
        .await;
    assert_eq!(
        (bad.status, bad.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED")
    );
    let none = app
        .send(Method::GET, "/api/v1/meetings", None, None, &[])
        .await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
}

async fn updating_a_meeting_changes_its_details_until_it_ends(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let id = app.active_meeting("alice", json!({})).await;
    let updated = app
        .ok(
            Method::PUT,
            &at(&id, ""),
            "alice",
            Some(json!({
                "title": "Renamed", "description": "new", "max_participants": 7,
                "settings": {"enable_chat": false}
            })),
        )
        .await;
    assert_eq!(updated["title"], "Renamed");
    assert_eq!(updated["max_participants"], 7);
    assert_eq!(updated["settings"]["enable_chat"], false);
    let details = app.fresh_get(&at(&id, ""), "alice").await;
    assert_eq!(details.body["title"], "Renamed");
    assert_eq!(details.body["description"], "new");
    assert_eq!(details.body["settings"]["enable_chat"], false);
    assert_eq!(details.body["max_participants"], 7);
    let bad = app
        .call(
            Method::PUT,
            &at(&id, ""),
            "alice",
            Some(json!({"title": ""})),
        )
        .await;
    assert_eq!(
        (bad.status, bad.body["details"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("title"))
    );
    let stranger = app
        .call(
            Method::PUT,
            &at(&id, ""),
            "mallory",
            Some(json!({"title": "x"})),
        )
        .await;
    assert_eq!(
        (stranger.status, stranger.code()),
        (StatusCode::FORBIDDEN, "INSUFFICIENT_PERMISSION")
    );
    app.ok(Method::POST, &at(&id, "end"), "alice", None).await;
    let gone = app
        .call(
            Method::PUT,
            &at(&id, ""),
            "alice",
            Some(json!({"title": "x"})),
        )
        .await;
    assert_eq!(
        (gone.status, gone.code()),
        (StatusCode::GONE, "MEETING_ENDED")
    );
}

async fn deleting_cancels_a_scheduled_meeting_and_ends_an_active_one_first(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let scheduled = app.create_meeting("alice", json!({"title": "Later"})).await["meeting_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cancelled = app
        .ok(Method::DELETE, &at(&scheduled, ""), "alice", None)
        .await;
    assert_eq!(cancelled["status"], "cancelled");

    let active = app.active_meeting("alice", json!({})).await;
    app.join_as(&active, "bob").await;
    let refused = app
        .call(Method::DELETE, &at(&active, ""), "bob", None)
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    app.ok(Method::DELETE, &at(&active, ""), "alice", None)
        .await;
    let types: Vec<String> = app
        .log()
        .await
        .iter()
        .filter(|e| e.stream_id.0.ends_with(&active))
        .map(|e| e.event_type.clone())
        .collect();
    assert_eq!(
        &types[types.len() - 3..],
        ["participant_left", "meeting_ended", "meeting_cancelled"]
    );
    let ended = app
        .log()
        .await
        .into_iter()
        .find(|e| e.event_type == "meeting_ended")
        .unwrap();
    assert_eq!(ended.data.value()["reason"], "deleted");
    let left = app
        .log()
        .await
        .into_iter()
        .find(|e| e.event_type == "participant_left")
        .unwrap();
    assert_eq!(left.data.value()["reason"], "meeting_ended");
    let status = app.fresh_get(&at(&active, "status"), "alice").await;
    assert_eq!(status.body["status"], "cancelled");
    let again = app
        .call(Method::DELETE, &at(&active, ""), "alice", None)
        .await;
    assert_eq!(
        (again.status, again.code()),
        (StatusCode::GONE, "MEETING_ENDED")
    );
}

async fn info_and_exists_answer_without_a_token_and_reveal_nothing_else(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let created = app
        .create_meeting(
            "alice",
            json!({"title": "Design review", "description": "Secret agenda", "start_now": true, "max_participants": 12}),
        )
        .await;
    let id = created["meeting_id"].as_str().unwrap();
    let code = created["room_code"].as_str().unwrap();
    // The link works the moment it is created: exists reads the log.
    let exists = app
        .send(Method::GET, &at(code, "exists"), None, None, &[])
        .await;
    assert_eq!(exists.status, StatusCode::OK);
    assert_eq!(exists.body, json!({"exists": true, "meeting_id": id}));
    app.join_as(id, "bob").await;
    let head = app.head().await.to_string();
    let info = app
        .send(
            Method::GET,
            &at(code, "info"),
            None,
            None,
            &[("x-min-position", &head)],
        )
        .await;
    assert_eq!(info.status, StatusCode::OK, "{:?}", info.body);
    let mut keys: Vec<&String> = info.body.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "created_at",
            "exists",
            "max_participants",
            "meeting_id",
            "num_participants",
            "room_code",
            "starts_at",
            "status",
            "title"
        ],
        "what a join page shows before anyone joins: {:?}",
        info.body
    );
    assert_eq!(info.body["num_participants"], 1);
    assert_eq!(info.body["max_participants"], 12);
    assert_eq!(info.body["exists"], true);
    assert_eq!(info.body["title"], "Design review");
    assert_eq!(info.body["status"], "active");
    assert_eq!(info.body["room_code"], code);
    let text = info.body.to_string();
    assert!(
        !text.contains("Secret agenda") && !text.contains("alice"),
        "{text}"
    );
    let missing = app
        .send(Method::GET, &at("zzz-zzzz-zzz", "exists"), None, None, &[])
        .await;
    assert_eq!(missing.body, json!({"exists": false, "meeting_id": null}));
    let unknown = uuid::Uuid::now_v7().to_string();
    let missing = app
        .send(Method::GET, &at(&unknown, "exists"), None, None, &[])
        .await;
    assert_eq!(missing.body["exists"], false);
    let no_info = app
        .send(Method::GET, &at(&unknown, "info"), None, None, &[])
        .await;
    assert_eq!(
        (no_info.status, no_info.code()),
        (StatusCode::NOT_FOUND, "MEETING_NOT_FOUND")
    );
}

async fn attendance_lists_every_session_per_user_with_total_minutes(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let id = app.active_meeting("alice", json!({})).await;
    app.join_as(&id, "bob").await;
    app.ok(Method::POST, &at(&id, "leave"), "bob", None).await;
    app.join_as(&id, "bob").await;
    app.join_as(&id, "carol").await;
    let attendance = app.fresh_get(&at(&id, "attendance"), "alice").await;
    assert_eq!(attendance.status, StatusCode::OK, "{:?}", attendance.body);
    let attendees = attendance.body["attendees"].as_array().unwrap();
    assert_eq!(attendees.len(), 2);
    assert_eq!(attendees[0]["user_id"], "bob");
    let sessions = attendees[0]["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions[0]["leave_reason"], "left");
    assert!(sessions[1]["left_at"].is_null());
    assert!(attendees[0]["total_minutes"].as_f64().unwrap() >= 0.0);
    let refused = app.get(&at(&id, "attendance"), "bob", &[]).await;
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::FORBIDDEN, "INSUFFICIENT_PERMISSION")
    );
    let auditor = app.token_with_roles("eve", &["auditor"]);
    let audited = app
        .send(
            Method::GET,
            &at(&id, "attendance"),
            Some(&auditor),
            None,
            &[],
        )
        .await;
    assert_eq!(audited.status, StatusCode::OK);
}

async fn roles_are_given_and_handing_over_hosting_leaves_one_host(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let id = app.active_meeting("alice", json!({})).await;
    for who in ["alice", "bob", "carol"] {
        app.join_as(&id, who).await;
    }
    let invited = app
        .ok(
            Method::POST,
            &at(&id, "participants"),
            "alice",
            Some(json!({"user_id": "dave", "role": "co_host"})),
        )
        .await;
    assert_eq!(invited["role"], "co_host");
    // Dave, an invited co-host, skips nothing he need not: he joins as co-host.
    let seat = app.join_as(&id, "dave").await;
    assert_eq!(seat["role"], "co_host");
    let refused = app
        .call(
            Method::PUT,
            &at(&id, "participants/carol/role"),
            "dave",
            Some(json!({"role": "co_host"})),
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::FORBIDDEN,
        "only the host gives roles"
    );
    app.ok(
        Method::PUT,
        &at(&id, "participants/bob/role"),
        "alice",
        Some(json!({"role": "host"})),
    )
    .await;
    let participants = app.fresh_get(&at(&id, "participants"), "bob").await;
    let roles: Vec<(String, String)> = participants.body["participants"]
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
    assert_eq!(
        roles.iter().filter(|(_, r)| r == "host").count(),
        1,
        "{roles:?}"
    );
    assert!(roles.contains(&("bob".into(), "host".into())));
    assert!(roles.contains(&("alice".into(), "co_host".into())));
    let details = app.get(&at(&id, ""), "bob", &[]).await;
    assert_eq!(details.body["host_id"], "bob");
    let end = app.call(Method::POST, &at(&id, "end"), "alice", None).await;
    assert_eq!(
        end.status,
        StatusCode::FORBIDDEN,
        "alice is no longer the host"
    );
    app.ok(Method::POST, &at(&id, "end"), "bob", None).await;
}

async fn a_banned_participant_is_removed_and_cannot_rejoin(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let id = app.active_meeting("alice", json!({})).await;
    app.join_as(&id, "bob").await;
    app.join_as(&id, "carol").await;
    let removed = app
        .ok(
            Method::DELETE,
            &format!("{}?ban=true", at(&id, "participants/bob")),
            "alice",
            None,
        )
        .await;
    assert_eq!(removed["banned"], true);
    let rejoin = app.call(Method::POST, &at(&id, "join"), "bob", None).await;
    assert_eq!(
        (rejoin.status, rejoin.code()),
        (StatusCode::FORBIDDEN, "INSUFFICIENT_PERMISSION")
    );
    app.ok(
        Method::DELETE,
        &at(&id, "participants/carol"),
        "alice",
        None,
    )
    .await;
    app.join_as(&id, "carol").await;
    let absent = app
        .call(Method::DELETE, &at(&id, "participants/zed"), "alice", None)
        .await;
    assert_eq!(
        (absent.status, absent.code()),
        (StatusCode::NOT_FOUND, "PARTICIPANT_NOT_FOUND")
    );
    let left = app
        .log()
        .await
        .into_iter()
        .find(|e| e.event_type == "participant_left")
        .unwrap();
    assert_eq!(left.data.value()["reason"], "removed");
    let participants = app.fresh_get(&at(&id, "participants"), "alice").await;
    assert_eq!(participants.body["count"], 1);
}

async fn participants_set_their_status_and_screen_sharing_can_be_disabled(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let id = app.active_meeting("alice", json!({})).await;
    app.join_as(&id, "alice").await;
    app.join_as(&id, "bob").await;
    let status = app.ok(Method::PUT, &at(&id, "participants/status"), "bob", Some(json!({
        "is_muted": true, "is_video_enabled": false, "is_screen_sharing": true, "is_hand_raised": true
    }))).await;
    assert_eq!(status["is_hand_raised"], true);
    assert_eq!(status["is_screen_sharing"], true);
    let participants = app.fresh_get(&at(&id, "participants"), "alice").await;
    let bob = participants.body["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["user_id"] == "bob")
        .unwrap()
        .clone();
    assert_eq!(
        (
            bob["is_muted"].clone(),
            bob["is_video_enabled"].clone(),
            bob["is_screen_sharing"].clone(),
            bob["is_hand_raised"].clone()
        ),
        (json!(true), json!(false), json!(true), json!(true))
    );
    // The host mutes someone else; bob cannot mute the host.
    let unmute = app
        .ok(
            Method::PUT,
            &at(&id, "participants/status"),
            "bob",
            Some(json!({"is_muted": false})),
        )
        .await;
    assert_eq!(unmute["is_muted"], false);
    let muted = app
        .ok(
            Method::PUT,
            &at(&id, "participants/status"),
            "alice",
            Some(json!({"user_id": "bob", "is_muted": true})),
        )
        .await;
    assert_eq!(
        (muted["user_id"].clone(), muted["is_muted"].clone()),
        (json!("bob"), json!(true))
    );
    let refused = app
        .call(
            Method::PUT,
            &at(&id, "participants/status"),
            "bob",
            Some(json!({"user_id": "alice", "is_muted": true})),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    app.ok(
        Method::PUT,
        &at(&id, "participants/status"),
        "bob",
        Some(json!({"is_screen_sharing": false})),
    )
    .await;
    app.ok(
        Method::PATCH,
        &at(&id, "config"),
        "alice",
        Some(json!({"enable_screen_share": false})),
    )
    .await;
    let share = app
        .call(
            Method::PUT,
            &at(&id, "participants/status"),
            "bob",
            Some(json!({"is_screen_sharing": true})),
        )
        .await;
    assert_eq!(
        (share.status, share.code()),
        (StatusCode::FORBIDDEN, "SCREEN_SHARE_DISABLED")
    );
}

async fn the_waiting_room_holds_joins_until_admitted_or_rejected_even_when_locked(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let id = app.active_meeting("alice", json!({})).await;
    app.ok(
        Method::POST,
        &at(&id, "security/policy"),
        "alice",
        Some(json!({"require_waiting_room": true})),
    )
    .await;
    let waiting = app.call(Method::POST, &at(&id, "join"), "bob", None).await;
    assert_eq!(
        (waiting.status, waiting.code()),
        (StatusCode::ACCEPTED, "WAITING_ROOM_REQUIRED")
    );
    let bob = waiting.body["participant_id"].as_str().unwrap().to_owned();
    let carol = app
        .call(Method::POST, &at(&id, "join"), "carol", None)
        .await
        .body["participant_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let again = app.call(Method::POST, &at(&id, "join"), "bob", None).await;
    assert_eq!(
        (again.status, again.body["participant_id"].as_str()),
        (StatusCode::ACCEPTED, Some(bob.as_str()))
    );
    // Locking leaves people already waiting for the host to decide.
    app.ok(
        Method::PATCH,
        &at(&id, "config"),
        "alice",
        Some(json!({"lock_room": true})),
    )
    .await;
    let by_participant = app
        .call(
            Method::POST,
            &at(&id, &format!("waiting-room/{bob}/admit")),
            "carol",
            None,
        )
        .await;
    assert_eq!(by_participant.status, StatusCode::FORBIDDEN);
    let admitted = app
        .ok(
            Method::POST,
            &at(&id, &format!("waiting-room/{bob}/admit")),
            "alice",
            None,
        )
        .await;
    assert_eq!(
        (
            admitted["user_id"].as_str(),
            admitted["participant_id"].as_str()
        ),
        (Some("bob"), Some(bob.as_str()))
    );
    let rejected = app
        .ok(
            Method::POST,
            &at(&id, &format!("waiting-room/{carol}/reject")),
            "alice",
            None,
        )
        .await;
    assert_eq!(rejected["status"], "rejected");
    let gone = app
        .call(
            Method::POST,
            &at(&id, &format!("waiting-room/{carol}/admit")),
            "alice",
            None,
        )
        .await;
    assert_eq!(
        (gone.status, gone.code()),
        (StatusCode::NOT_FOUND, "PARTICIPANT_NOT_FOUND")
    );
    let participants = app.fresh_get(&at(&id, "participants"), "alice").await;
    let present: Vec<&str> = participants.body["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(present, ["bob"]);
}

async fn a_meeting_password_is_kept_only_as_a_hash_and_checked_on_join(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let created = app
        .create_meeting(
            "alice",
            json!({"title": "Board", "start_now": true, "password": "open sesame"}),
        )
        .await;
    assert!(!created.to_string().contains("open sesame"));
    let id = created["meeting_id"].as_str().unwrap();
    let missing = app.call(Method::POST, &at(id, "join"), "bob", None).await;
    assert_eq!(
        (missing.status, missing.code()),
        (StatusCode::FORBIDDEN, "INVALID_PASSWORD")
    );
    let wrong = app
        .call(
            Method::POST,
            &at(id, "join"),
            "bob",
            Some(json!({"password": "open says me"})),
        )
        .await;
    assert_eq!(
        (wrong.status, wrong.code()),
        (StatusCode::FORBIDDEN, "INVALID_PASSWORD")
    );
    app.ok(
        Method::POST,
        &at(id, "join"),
        "bob",
        Some(json!({"password": "open sesame"})),
    )
    .await;
    app.ok(Method::POST, &at(id, "join"), "alice", None).await;
    // A new password by policy replaces the old one.
    app.ok(
        Method::POST,
        &at(id, "security/policy"),
        "alice",
        Some(json!({"require_password": true, "password": "second"})),
    )
    .await;
    let old = app
        .call(
            Method::POST,
            &at(id, "join"),
            "carol",
            Some(json!({"password": "open sesame"})),
        )
        .await;
    assert_eq!(old.code(), "INVALID_PASSWORD");
    app.ok(
        Method::POST,
        &at(id, "join"),
        "carol",
        Some(json!({"password": "second"})),
    )
    .await;
    let short = app
        .call(
            Method::POST,
            "/api/v1/meetings",
            "alice",
            Some(json!({"title": "x", "password": "no"})),
        )
        .await;
    assert_eq!(short.body["details"]["field"], "password");
    for event in app.log().await {
        let text = format!("{} {}", event.data.get(), event.metadata.get());
        assert!(
            !text.contains("sesame") && !text.contains("second"),
            "{text}"
        );
    }
    let hashes: Vec<String> = sqlx::query_scalar("SELECT hash FROM meeting_secrets")
        .fetch_all(&app.app.reads)
        .await
        .unwrap();
    assert_eq!(hashes.len(), 2);
    assert!(
        hashes.iter().all(|h| h.starts_with("$argon2")),
        "{hashes:?}"
    );
}

async fn the_policy_checks_the_email_domain_and_blocks_users(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let id = app.active_meeting("alice", json!({})).await;
    app.join_as(&id, "mallory").await;
    let policy = app.ok(Method::POST, &at(&id, "security/policy"), "alice", Some(json!({
        "allowed_domains": ["example.com"], "blocked_users": ["mallory"], "chat_permissions": "co_hosts"
    }))).await;
    assert_eq!(policy["chat_permissions"], "co_hosts");
    assert_eq!(policy["password_set"], false);
    // Test tokens carry <user>@example.com; this one does not.
    let outsider = app
        .keys
        .issue(
            "olga",
            "Olga",
            Some("olga@other.org"),
            &[],
            chrono::Duration::hours(1),
        )
        .unwrap();
    let refused = app
        .send(Method::POST, &at(&id, "join"), Some(&outsider), None, &[])
        .await;
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::FORBIDDEN, "INSUFFICIENT_PERMISSION")
    );
    let blocked = app
        .call(Method::POST, &at(&id, "join"), "mallory", None)
        .await;
    assert_eq!(blocked.status, StatusCode::FORBIDDEN);
    app.join_as(&id, "bob").await;
    let chat = app
        .call(
            Method::POST,
            &at(&id, "chat"),
            "bob",
            Some(json!({"content": "hi"})),
        )
        .await;
    assert_eq!(
        (chat.status, chat.code()),
        (StatusCode::FORBIDDEN, "CHAT_DISABLED")
    );
    let participants = app.fresh_get(&at(&id, "participants"), "alice").await;
    assert_eq!(
        participants.body["count"], 1,
        "mallory was removed by the policy"
    );
    let not_host = app
        .call(
            Method::POST,
            &at(&id, "security/policy"),
            "bob",
            Some(json!({})),
        )
        .await;
    assert_eq!(not_host.status, StatusCode::FORBIDDEN);
}

async fn chat_is_newest_last_with_paging_and_refused_when_disabled(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let id = app.active_meeting("alice", json!({})).await;
    app.join_as(&id, "alice").await;
    app.join_as(&id, "bob").await;
    for n in 1..=5 {
        let sent = app
            .call(
                Method::POST,
                &at(&id, "chat"),
                "bob",
                Some(json!({"content": format!("m{n}")})),
            )
            .await;
        assert_eq!(sent.status, StatusCode::CREATED, "{:?}", sent.body);
        assert_eq!(sent.body["is_private"], false);
    }
    let all = app.fresh_get(&at(&id, "chat"), "alice").await;
    let contents: Vec<&str> = all.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(contents, ["m1", "m2", "m3", "m4", "m5"]);
    let page = app
        .get(
            &format!("{}?limit=2&offset=1", at(&id, "chat")),
            "alice",
            &[],
        )
        .await;
    let contents: Vec<&str> = page.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(
        contents,
        ["m3", "m4"],
        "offset skips the newest, the page is oldest first"
    );
    assert_eq!(page.body["total"], 5);
    let long = app
        .call(
            Method::POST,
            &at(&id, "chat"),
            "bob",
            Some(json!({"content": "x".repeat(1001)})),
        )
        .await;
    assert_eq!(long.body["details"]["field"], "content");
    let outsider = app
        .call(
            Method::POST,
            &at(&id, "chat"),
            "zed",
            Some(json!({"content": "hi"})),
        )
        .await;
    assert_eq!(outsider.status, StatusCode::NOT_FOUND);
    app.ok(
        Method::PATCH,
        &at(&id, "config"),
        "alice",
        Some(json!({"enable_chat": false})),
    )
    .await;
    let off = app
        .call(
            Method::POST,
            &at(&id, "chat"),
            "bob",
            Some(json!({"content": "hi"})),
        )
        .await;
    assert_eq!(
        (off.status, off.code()),
        (StatusCode::FORBIDDEN, "CHAT_DISABLED")
    );
    let stranger = app.get(&at(&id, "chat"), "zed", &[]).await;
    assert_eq!(stranger.status, StatusCode::FORBIDDEN);
}

async fn reactions_are_rate_limited_per_participant_with_headers(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let id = app.active_meeting("alice", json!({})).await;
    app.join_as(&id, "bob").await;
    app.join_as(&id, "carol").await;
    let mut limited = None;
    for _ in 0..20 {
        let response = app
            .call(
                Method::POST,
                &at(&id, "reactions"),
                "bob",
                Some(json!({"reaction_type": "thumbs_up"})),
            )
            .await;
        if response.status == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(response);
            break;
        }
        assert_eq!(response.status, StatusCode::OK, "{:?}", response.body);
    }
    let limited = limited.expect("the limit is reached within 20 reactions");
    assert_eq!(limited.code(), "RATE_LIMIT_EXCEEDED");
    assert_eq!(limited.headers["x-ratelimit-limit"], "10");
    assert_eq!(limited.headers["x-ratelimit-remaining"], "0");
    assert!(limited.headers.contains_key("x-ratelimit-reset"));
    assert_eq!(limited.body["details"]["limit"], 10);
    let reactions = app
        .log()
        .await
        .iter()
        .filter(|e| e.event_type == "reaction_sent")
        .count();
    assert_eq!(reactions, 10, "a refused reaction appends nothing");
    let carol = app
        .call(
            Method::POST,
            &at(&id, "reactions"),
            "carol",
            Some(json!({"reaction_type": "clap"})),
        )
        .await;
    assert_eq!(carol.status, StatusCode::OK, "the limit is per participant");
}

async fn websocket_client_frames_run_commands_and_are_acked_or_refused(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let id = app.active_meeting("alice", json!({})).await;
    app.join_as(&id, "bob").await;
    let mut socket = open(&app, &id, "bob", None).await;
    until_caught_up(&mut socket).await;
    let send = |frame: Value| Message::Text(frame.to_string().into());
    socket
        .send(send(
            json!({"type": "chat", "request_id": "r1", "data": {"content": "over ws"}}),
        ))
        .await
        .unwrap();
    let (mut ack, mut event) = (None, None);
    while ack.is_none() || event.is_none() {
        let frame = next_frame(&mut socket).await;
        match frame["type"].as_str() {
            Some("ack") => ack = Some(frame),
            Some("chat_message_sent") => event = Some(frame),
            _ => {}
        }
    }
    let (ack, event) = (ack.unwrap(), event.unwrap());
    assert_eq!(ack["request_id"], "r1");
    assert_eq!(ack["position"], event["position"]);
    assert_eq!(event["data"]["content"], "over ws");
    for (frame, event_type) in [
        (
            json!({"type": "hand_raise", "request_id": "r2", "data": {"is_hand_raised": true}}),
            "hand_raised",
        ),
        (
            json!({"type": "reaction", "request_id": "r3", "data": {"reaction_type": "wave"}}),
            "reaction_sent",
        ),
        (
            json!({"type": "participant_update", "request_id": "r4", "data": {"is_muted": true}}),
            "participant_media_changed",
        ),
    ] {
        socket.send(send(frame)).await.unwrap();
        let mut seen = (false, false);
        while seen != (true, true) {
            let frame = next_frame(&mut socket).await;
            seen.0 |= frame["type"] == "ack";
            seen.1 |= frame["type"] == event_type;
        }
    }
    socket.send(send(json!({"type": "participant_update", "request_id": "r5", "data": {"is_screen_sharing": true, "user_id": "alice"}}))).await.unwrap();
    let error = loop {
        let frame = next_frame(&mut socket).await;
        if frame["type"] == "error" {
            break frame;
        }
    };
    assert_eq!(
        (error["request_id"].as_str(), error["code"].as_str()),
        (Some("r5"), Some("INSUFFICIENT_PERMISSION"))
    );
    socket
        .send(send(json!({"type": "dance", "request_id": "r6"})))
        .await
        .unwrap();
    let error = loop {
        let frame = next_frame(&mut socket).await;
        if frame["type"] == "error" {
            break frame;
        }
    };
    assert_eq!(error["code"], "VALIDATION_FAILED");
    socket
        .send(send(json!({"type": "ping", "request_id": "r7"})))
        .await
        .unwrap();
    loop {
        if next_frame(&mut socket).await["type"] == "pong" {
            break;
        }
    }
}

async fn breakout_rooms_open_assign_within_capacity_and_close(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let id = app.active_meeting("alice", json!({})).await;
    for who in ["alice", "p1", "p2", "p3", "p4"] {
        app.join_as(&id, who).await;
    }
    let opened = app
        .call(
            Method::POST,
            &at(&id, "breakout-rooms"),
            "alice",
            Some(json!({
                "rooms": [{"name": "Small", "capacity": 1}, {"name": "Big"}],
                "auto_assign": true, "allow_participants_to_choose": true
            })),
        )
        .await;
    assert_eq!(opened.status, StatusCode::CREATED, "{:?}", opened.body);
    let rooms = opened.body["rooms"].as_array().unwrap();
    assert_eq!(
        (
            rooms[0]["current_participants"].clone(),
            rooms[1]["current_participants"].clone()
        ),
        (json!(1), json!(3)),
        "capacity holds, the rest spread"
    );
    let small = rooms[0]["room_id"].as_str().unwrap().to_owned();
    let big = rooms[1]["room_id"].as_str().unwrap().to_owned();
    let in_big = rooms[1]["participants"][0].as_str().unwrap().to_owned();
    let full = app
        .call(
            Method::POST,
            &at(&id, "breakout-rooms/assign"),
            "alice",
            Some(json!({"participant_user_id": in_big, "breakout_room_id": small})),
        )
        .await;
    assert_eq!(
        (full.status, full.code()),
        (StatusCode::FORBIDDEN, "MAX_PARTICIPANTS_REACHED")
    );
    let again = app
        .call(
            Method::POST,
            &at(&id, "breakout-rooms"),
            "alice",
            Some(json!({"room_count": 2})),
        )
        .await;
    assert_eq!(
        (again.status, again.code()),
        (StatusCode::CONFLICT, "BREAKOUT_ROOMS_OPEN")
    );
    app.ok(
        Method::POST,
        &at(&id, "breakout-rooms/assign"),
        "alice",
        Some(json!({"participant_user_id": "alice", "breakout_room_id": big})),
    )
    .await;
    let listed = app.fresh_get(&at(&id, "breakout-rooms"), "p1").await;
    assert_eq!(listed.body["is_open"], true);
    assert_eq!(listed.body["rooms"][1]["current_participants"], 4);
    app.ok(
        Method::POST,
        &at(&id, "breakout-rooms/close"),
        "alice",
        None,
    )
    .await;
    let closed = app.fresh_get(&at(&id, "breakout-rooms"), "p1").await;
    assert_eq!(
        (
            closed.body["is_open"].clone(),
            closed.body["rooms"].as_array().unwrap().len()
        ),
        (json!(false), 0)
    );
    let nothing = app
        .call(
            Method::POST,
            &at(&id, "breakout-rooms/close"),
            "alice",
            None,
        )
        .await;
    assert_eq!(
        (nothing.status, nothing.code()),
        (StatusCode::CONFLICT, "BREAKOUT_ROOMS_NOT_OPEN")
    );
}

async fn recordings_run_one_at_a_time_and_keep_the_reported_file(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let id = app
        .active_meeting("alice", json!({"settings": {"enable_recording": true}}))
        .await;
    app.join_as(&id, "bob").await;
    let refused = app
        .call(Method::POST, &at(&id, "recording/start"), "bob", None)
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let started = app
        .ok(Method::POST, &at(&id, "recording/start"), "alice", None)
        .await;
    let recording = started["recording_id"].as_str().unwrap().to_owned();
    let twice = app
        .call(Method::POST, &at(&id, "recording/start"), "alice", None)
        .await;
    assert_eq!(
        (twice.status, twice.code()),
        (StatusCode::CONFLICT, "RECORDING_IN_PROGRESS")
    );
    let status = app.fresh_get(&at(&id, "status"), "alice").await;
    assert_eq!(status.body["is_recording"], true);
    let stopped = app
        .ok(Method::POST, &at(&id, "recording/stop"), "alice", None)
        .await;
    assert!(stopped["duration"].as_i64().unwrap() >= 0);
    let second = app
        .ok(Method::POST, &at(&id, "recording/start"), "alice", None)
        .await["recording_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Ending the meeting stops the recording.
    app.ok(Method::POST, &at(&id, "end"), "alice", None).await;
    let recorder = app.token_with_roles("egress", &["admin"]);
    let file = json!({"file_url": "https://files.example.com/a.mp4", "size": 1024});
    let reported = app
        .send(
            Method::POST,
            &at(&id, &format!("recordings/{recording}/file")),
            Some(&recorder),
            Some(&file),
            &[],
        )
        .await;
    assert_eq!(reported.status, StatusCode::OK, "{:?}", reported.body);
    let by_bob = app
        .call(
            Method::POST,
            &at(&id, &format!("recordings/{recording}/file")),
            "bob",
            Some(file.clone()),
        )
        .await;
    assert_eq!(by_bob.status, StatusCode::FORBIDDEN);
    let unknown = app
        .call(
            Method::POST,
            &at(&id, &format!("recordings/{}/file", uuid::Uuid::now_v7())),
            "alice",
            Some(file),
        )
        .await;
    assert_eq!(
        (unknown.status, unknown.code()),
        (StatusCode::NOT_FOUND, "RECORDING_NOT_FOUND")
    );
    let list = app.fresh_get(&at(&id, "recordings"), "bob").await;
    let items = list.body["recordings"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["recording_id"], recording.as_str());
    assert_eq!(
        (items[0]["file_url"].as_str(), items[0]["size"].as_i64()),
        (Some("https://files.example.com/a.mp4"), Some(1024))
    );
    assert_eq!(items[1]["recording_id"], second.as_str());
    assert!(!items[1]["stopped_at"].is_null(), "the end stopped it");
    let status = app.get(&at(&id, "status"), "alice", &[]).await;
    assert_eq!(status.body["is_recording"], false);
}

async fn a_breakout_time_limit_closes_the_rooms_by_itself_across_a_restart(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let id = app.active_meeting("alice", json!({})).await;
    app.join_as(&id, "bob").await;
    app.ok(
        Method::POST,
        &at(&id, "breakout-rooms"),
        "alice",
        Some(json!({"room_count": 2, "auto_assign": true, "time_limit_minutes": 1})),
    )
    .await;
    app.wait_projected().await;
    // Restart: the deadline is in the log and the read models, not in
    // the stopped process.
    let crate::helpers::TestApp {
        app: first,
        stream,
        _db: db,
        ..
    } = app;
    let config = setup_config(setup, &db, &stream);
    first.stop().await.unwrap();
    let app = spawn_app_with(config, db, stream).await;
    // Polls the meeting's stream from the version last read, not the log.
    let stream = id.parse::<events::MeetingId>().unwrap().stream_id();
    let read = std::sync::atomic::AtomicI64::new(0);
    let closed = eventually(Duration::from_secs(150), || async {
        let from = read.load(std::sync::atomic::Ordering::Relaxed);
        let tail = app.app.store.read_stream(&stream, from).await.unwrap();
        if let Some(last) = tail.last() {
            read.store(last.stream_version, std::sync::atomic::Ordering::Relaxed);
        }
        tail.into_iter()
            .find(|e| e.event_type == "breakout_rooms_closed")
    })
    .await;
    assert_eq!(closed.data.value()["reason"], "time_limit");
    assert_eq!(closed.metadata.value()["actor"]["user_id"], "system");
    let opened = app
        .log()
        .await
        .into_iter()
        .find(|e| e.event_type == "breakout_rooms_opened")
        .unwrap();
    let deadline =
        chrono::DateTime::parse_from_rfc3339(opened.data.value()["closes_at"].as_str().unwrap())
            .unwrap();
    assert!(closed.recorded_at >= deadline, "not before the limit");
    let rooms = app.fresh_get(&at(&id, "breakout-rooms"), "bob").await;
    assert_eq!(rooms.body["is_open"], false);
}
