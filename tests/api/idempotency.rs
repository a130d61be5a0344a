//! `Idempotency-Key`: a retry gets the first response and appends nothing.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{Setup, spawn_app_on};

async fn a_retried_create_returns_the_first_response_and_appends_nothing(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let token = app.token("alice");
    let body = json!({"title": "Once", "start_now": true});
    let key = [("idempotency-key", "create-123")];
    let first = app
        .send(
            Method::POST,
            "/api/v1/meetings",
            Some(&token),
            Some(&body),
            &key,
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    let head = app.head().await;

    let retry = app
        .send(
            Method::POST,
            "/api/v1/meetings",
            Some(&token),
            Some(&body),
            &key,
        )
        .await;
    assert_eq!(retry.status, StatusCode::CREATED);
    assert_eq!(
        retry.body, first.body,
        "the same response, same meeting and position"
    );
    assert_eq!(retry.headers["idempotent-replayed"], "true");
    assert_eq!(retry.position_header(), first.position_header());
    assert_eq!(app.head().await, head, "nothing appended");

    // Another caller's identical key is their own.
    let bob = app.token("bob");
    let theirs = app
        .send(
            Method::POST,
            "/api/v1/meetings",
            Some(&bob),
            Some(&body),
            &key,
        )
        .await;
    assert_eq!(theirs.status, StatusCode::CREATED);
    assert_ne!(theirs.body["meeting_id"], first.body["meeting_id"]);

    // The key reused for a different request is refused.
    let other = json!({"title": "Something else"});
    let reused = app
        .send(
            Method::POST,
            "/api/v1/meetings",
            Some(&token),
            Some(&other),
            &key,
        )
        .await;
    assert_eq!(reused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reused.body["details"]["field"], "Idempotency-Key");
}

async fn concurrent_retries_of_one_command_append_once(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let id = app.active_meeting("alice", json!({})).await;
    app.post(&format!("/api/v1/meetings/{id}/join"), "bob", None)
        .await;
    let head = app.head().await;
    let token = app.token("bob");
    let path = format!("/api/v1/meetings/{id}/leave");
    let key = [("idempotency-key", "leave-1")];
    let retries = (0..8).map(|_| app.send(Method::POST, &path, Some(&token), None, &key));
    let responses = futures::future::join_all(retries).await;
    for response in &responses {
        assert_eq!(response.status, StatusCode::OK, "{:?}", response.body);
        assert_eq!(response.body, responses[0].body);
    }
    assert_eq!(
        app.head().await,
        head + 1,
        "one participant_left, not eight"
    );
    // Without the key, a second leave is refused as usual.
    let again = app.post(&path, "bob", None).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
}

async fn an_invalid_idempotency_key_is_422(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let token = app.token("alice");
    let long = "k".repeat(256);
    let response = app
        .send(
            Method::POST,
            "/api/v1/meetings",
            Some(&token),
            Some(&json!({"title": "t"})),
            &[("idempotency-key", &long)],
        )
        .await;
    assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.head().await, 0);
}

on_setups!(
    [postgres, sqlite]
    a_retried_create_returns_the_first_response_and_appends_nothing,
    concurrent_retries_of_one_command_append_once,
    an_invalid_idempotency_key_is_422,
);
