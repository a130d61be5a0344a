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

on_setups!(
    [postgres, sqlite]
    an_oversized_policy_is_refused_and_appends_nothing,
    a_co_host_cannot_give_a_role_by_inviting,
);
