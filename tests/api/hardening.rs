//! What attacking the product found (issue 16), each as the request that
//! found it: oversized input, NUL and control characters, roles given
//! through the back door, bans, tokens, limits.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Setup, spawn_app_on};

fn at(id: &str, rest: &str) -> String {
    format!("/api/v1/meetings/{id}/{rest}")
}

/// Finding 1: a policy whose blocked users would make an event larger than the
/// bus takes is refused, and nothing is appended.
async fn an_oversized_policy_is_refused_and_appends_nothing(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let id = app.active_meeting("alice", json!({})).await;
    let head = app.head().await;
    let one_huge: Vec<String> = vec!["x".repeat(1 << 20)];
    let many_long: Vec<String> = (0..1000).map(|n| format!("{n:y>1400}")).collect();
    for blocked in [one_huge, many_long] {
        let body = json!({ "blocked_users": blocked });
        let refused = app
            .post(&at(&id, "security/policy"), "alice", Some(&body))
            .await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(refused.code(), "VALIDATION_FAILED");
        assert_eq!(refused.body["details"]["field"], "blocked_users");
    }
    assert_eq!(app.head().await, head, "nothing appended");
    let fine = app
        .post(
            &at(&id, "security/policy"),
            "alice",
            Some(&json!({ "blocked_users": ["mallory"] })),
        )
        .await;
    assert_eq!(fine.status, StatusCode::OK, "{:?}", fine.body);
}

/// Finding 3: a co-host cannot make anyone a co-host through an invitation.
async fn a_co_host_cannot_give_a_role_by_inviting(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let id = app.active_meeting("alice", json!({})).await;
    let made = app
        .post(
            &at(&id, "participants"),
            "alice",
            Some(&json!({"user_id": "carol", "role": "co_host"})),
        )
        .await;
    assert_eq!(made.status, StatusCode::OK);
    for (user, role) in [("zed", "co_host"), ("alice", "guest"), ("carol", "guest")] {
        let refused = app
            .post(
                &at(&id, "participants"),
                "carol",
                Some(&json!({"user_id": user, "role": role})),
            )
            .await;
        assert_ne!(refused.status, StatusCode::OK, "{user} as {role}");
    }
    let zed = app.post(&at(&id, "join"), "zed", None).await;
    assert_eq!(zed.body["role"], "participant");
}

/// Finding 7: a NUL anywhere at the edge is refused before it reaches a
/// database (PostgreSQL answered 500, SQLite matched everything), and so
/// are control characters in a search.
async fn nul_and_control_characters_are_refused_at_the_edge(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let id = app.active_meeting("alice", json!({})).await;
    for query in ["keyword=%00", "keyword=a%00b", "keyword=%01", "status=%00"] {
        let response = app
            .get(&format!("/api/v1/meetings?{query}"), "alice", &[])
            .await;
        assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert_eq!(response.code(), "VALIDATION_FAILED");
    }
    let path = app
        .get(&format!("/api/v1/meetings/{id}%00"), "alice", &[])
        .await;
    assert_eq!(path.status, StatusCode::UNPROCESSABLE_ENTITY);
    let head = app.head().await;
    for body in [
        r#"{"title": "a\u0000b"}"#,
        r#"{"title": "ok", "description": "x\u0000"}"#,
    ] {
        let response = app
            .client
            .post(format!("{}/api/v1/meetings", app.base))
            .bearer_auth(app.token("alice"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}"
        );
    }
    let bidi = app
        .post(
            "/api/v1/meetings",
            "alice",
            Some(&json!({"title": "\u{202E}cnys"})),
        )
        .await;
    assert_eq!(bidi.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bidi.body["details"]["field"], "title");
    assert_eq!(app.head().await, head, "nothing appended");
    let search = app
        .get("/api/v1/meetings?keyword=Stand", "alice", &[])
        .await;
    assert_eq!(search.status, StatusCode::OK);
}

/// Finding 10: a refusal names what is wrong: the participant the command
/// names, not the caller; a full breakout room, not the meeting; the host
/// who cannot be removed; a cancelled meeting.
async fn refusals_say_who_or_what_is_missing(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let id = app.active_meeting("alice", json!({})).await;
    app.post(&at(&id, "join"), "alice", None).await;
    let missing = app
        .send(
            reqwest::Method::DELETE,
            &at(&id, "participants/zed"),
            Some(&app.token("alice")),
            None,
            &[],
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.code(), "PARTICIPANT_NOT_FOUND");
    assert_eq!(missing.body["details"]["user_id"], "zed");
    let absent = app.post(&at(&id, "leave"), "bob", None).await;
    assert_eq!(absent.code(), "PARTICIPANT_NOT_FOUND");
    assert_eq!(absent.body["details"], json!({}), "the caller is the one missing");
    assert_ne!(absent.body["message"], missing.body["message"]);
}

on_setups!(
    [postgres, sqlite]
    an_oversized_policy_is_refused_and_appends_nothing,
    a_co_host_cannot_give_a_role_by_inviting,
    nul_and_control_characters_are_refused_at_the_edge,
    refusals_say_who_or_what_is_missing,
);
