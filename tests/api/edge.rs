//! What a caller meets at the edge: errors in one format everywhere (404,
//! 405 with `Allow`, 413, 401 saying what was wrong with a
//! `WWW-Authenticate` challenge), request ids, CORS for browser origins,
//! WebSocket tokens from a header or a subprotocol, `/metrics`, and the
//! per-caller rate limits of spec 001.

use futures::SinkExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::helpers::{Response, SECRET, Setup, app_with, spawn_app_on};
use crate::websocket::{next_frame, until_caught_up};

on_setups!([postgres, sqlite]
    unknown_routes_and_wrong_methods_answer_in_the_error_format,
    a_refused_token_is_told_what_was_wrong_with_a_bearer_challenge,
    a_request_id_is_taken_or_made_and_travels_into_the_log,
    a_browser_origin_is_answered_by_the_list_and_refused_when_not_on_it,
    a_websocket_takes_its_token_from_a_header_or_a_subprotocol,
    metrics_count_commands_and_requests_by_template_and_show_positions,
    a_caller_over_a_category_budget_is_refused_and_nothing_is_appended,
    calls_without_a_token_are_limited_by_address_and_websocket_frames_by_caller,
);

fn error_body_is_documented(response: &Response, status: StatusCode, code: &str) {
    assert_eq!(response.status, status, "{:?}", response.body);
    assert_eq!(response.body["status"], "error", "{:?}", response.body);
    assert_eq!(response.code(), code, "{:?}", response.body);
    assert!(
        response.body["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    assert!(response.body["timestamp"].is_string());
    assert!(
        response.body["request_id"].is_string(),
        "{:?}",
        response.body
    );
}

async fn unknown_routes_and_wrong_methods_answer_in_the_error_format(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let token = app.token("alice");
    let unknown = app
        .send(Method::GET, "/api/v1/nothing-here", Some(&token), None, &[])
        .await;
    error_body_is_documented(&unknown, StatusCode::NOT_FOUND, "ROUTE_NOT_FOUND");

    let wrong = app
        .send(Method::PATCH, "/api/v1/meetings", Some(&token), None, &[])
        .await;
    error_body_is_documented(&wrong, StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED");
    let allow = wrong.headers["allow"].to_str().unwrap();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
    let options = app
        .send(Method::OPTIONS, "/api/v1/meetings/x/join", None, None, &[])
        .await;
    error_body_is_documented(
        &options,
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
    );
    assert_eq!(options.headers["allow"], "POST");

    let head = app.head().await;
    let huge = json!({"title": "x".repeat(3 * 1024 * 1024)});
    let too_large = app.post("/api/v1/meetings", "alice", Some(&huge)).await;
    error_body_is_documented(
        &too_large,
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
    );
    assert_eq!(app.head().await, head, "nothing appended");
}

async fn a_refused_token_is_told_what_was_wrong_with_a_bearer_challenge(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let path = "/api/v1/meetings";
    let missing = app.send(Method::GET, path, None, None, &[]).await;
    error_body_is_documented(&missing, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    assert_eq!(
        missing.headers["www-authenticate"],
        r#"Bearer realm="meetings""#
    );
    assert!(
        missing.body["message"]
            .as_str()
            .unwrap()
            .contains("missing")
    );

    let now = chrono::Utc::now().timestamp();
    let sign = |claims: Value, secret: &str| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    };
    let expired = sign(json!({"sub": "a", "exp": now - 3600}), SECRET);
    let forged = sign(
        json!({"sub": "a", "exp": now + 3600}),
        "another-secret-of-enough-length!!",
    );
    for (token, reason) in [
        (expired.as_str(), "token expired"),
        (forged.as_str(), "bad signature"),
        ("not.a.token", "malformed token"),
    ] {
        let refused = app.send(Method::GET, path, Some(token), None, &[]).await;
        error_body_is_documented(&refused, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
        assert!(
            refused.body["message"].as_str().unwrap().contains(reason),
            "{reason}: {:?}",
            refused.body
        );
        let challenge = refused.headers["www-authenticate"].to_str().unwrap();
        assert_eq!(
            challenge,
            format!(
                r#"Bearer realm="meetings", error="invalid_token", error_description="{reason}""#
            )
        );
        assert!(!challenge.contains(SECRET) && !challenge.contains(token));
    }
}

async fn a_request_id_is_taken_or_made_and_travels_into_the_log(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let token = app.token("alice");
    let body = json!({"title": "Ids"});
    let given = app
        .send(
            Method::POST,
            "/api/v1/meetings",
            Some(&token),
            Some(&body),
            &[("x-request-id", "trace-42.a:b")],
        )
        .await;
    assert_eq!(given.status, StatusCode::CREATED);
    assert_eq!(given.headers["x-request-id"], "trace-42.a:b");
    let last = app.log().await.pop().unwrap();
    let metadata: Value = serde_json::from_str(last.metadata.get()).unwrap();
    assert_eq!(metadata["request_id"], "trace-42.a:b");

    // Not an id we take (a space, too long): one is made instead.
    for bad in ["has space", &"x".repeat(129)] {
        let made = app
            .send(
                Method::GET,
                "/api/v1/nowhere",
                Some(&token),
                None,
                &[("x-request-id", bad)],
            )
            .await;
        let id = made.headers["x-request-id"].to_str().unwrap();
        assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
        assert_eq!(made.body["request_id"], id, "the error body names it too");
    }
}

async fn a_browser_origin_is_answered_by_the_list_and_refused_when_not_on_it(setup: Setup) {
    let app = app_with(setup, |c| {
        c.edge.cors_allowed_origins = Some("https://app.example.org, http://localhost:5173".into());
    })
    .await;
    let preflight = |origin: &'static str| {
        app.client
            .request(Method::OPTIONS, format!("{}/api/v1/meetings", app.base))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type, idempotency-key",
            )
            .send()
    };
    let allowed = preflight("https://app.example.org").await.unwrap();
    assert!(allowed.status().is_success(), "{}", allowed.status());
    let h = allowed.headers();
    assert_eq!(h["access-control-allow-origin"], "https://app.example.org");
    assert_eq!(h["access-control-allow-credentials"], "true");
    assert!(
        h["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );
    let headers = h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(
        headers.contains("authorization") && headers.contains("idempotency-key"),
        "{headers}"
    );

    let foreign = preflight("https://evil.example").await.unwrap();
    assert!(
        foreign
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );

    // A real request from an allowed origin can read the answer and its ids.
    let token = app.token("alice");
    let created = app
        .client
        .post(format!("{}/api/v1/meetings", app.base))
        .bearer_auth(&token)
        .header("origin", "http://localhost:5173")
        .json(&json!({"title": "From a browser", "start_now": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_eq!(
        created.headers()["access-control-allow-origin"],
        "http://localhost:5173"
    );
    let exposed = created.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(exposed.contains("x-request-id"), "{exposed}");
    let meeting = created.json::<Value>().await.unwrap()["meeting_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // The WebSocket checks the same list.
    let url = format!(
        "{}/ws/meetings/{meeting}?token={token}",
        app.base.replace("http://", "ws://")
    );
    for (origin, status) in [
        ("https://evil.example", 403),
        ("https://app.example.org", 101),
    ] {
        let mut request = url.as_str().into_client_request().unwrap();
        request
            .headers_mut()
            .insert("origin", origin.parse().unwrap());
        let got = match tokio_tungstenite::connect_async(request).await {
            Ok(_) => 101,
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) => r.status().as_u16(),
            Err(e) => panic!("{e}"),
        };
        assert_eq!(got, status, "{origin}");
    }

    // `*`: any origin, never with credentials.
    let open = app_with(setup, |c| c.edge.cors_allowed_origins = Some("*".into())).await;
    let any = open
        .client
        .request(Method::OPTIONS, format!("{}/api/v1/meetings", open.base))
        .header("origin", "https://anywhere.example")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert_eq!(any.headers()["access-control-allow-origin"], "*");
    assert!(
        any.headers()
            .get("access-control-allow-credentials")
            .is_none()
    );
}

async fn a_websocket_takes_its_token_from_a_header_or_a_subprotocol(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let meeting = app.active_meeting("alice", json!({})).await;
    let url = format!(
        "{}/ws/meetings/{meeting}",
        app.base.replace("http://", "ws://")
    );
    let token = app.token("alice");

    let mut by_header = url.as_str().into_client_request().unwrap();
    by_header
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(by_header)
        .await
        .expect("header token");
    let (frames, _) = until_caught_up(&mut socket).await;
    assert!(
        frames.iter().any(|f| f["type"] == "meeting_started"),
        "{frames:?}"
    );

    let mut by_protocol = url.as_str().into_client_request().unwrap();
    by_protocol.headers_mut().insert(
        "sec-websocket-protocol",
        format!("meetings.v1, bearer.{token}").parse().unwrap(),
    );
    let (mut socket, response) = tokio_tungstenite::connect_async(by_protocol)
        .await
        .expect("subprotocol token");
    assert_eq!(response.headers()["sec-websocket-protocol"], "meetings.v1");
    until_caught_up(&mut socket).await;
    socket
        .send(Message::text(
            json!({"type": "ping", "request_id": 1}).to_string(),
        ))
        .await
        .unwrap();
    assert_eq!(next_frame(&mut socket).await["type"], "pong");

    let mut forged = url.as_str().into_client_request().unwrap();
    forged.headers_mut().insert(
        "sec-websocket-protocol",
        "meetings.v1, bearer.not-a-token".parse().unwrap(),
    );
    match tokio_tungstenite::connect_async(forged).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 401),
        other => panic!("forged token let in: {:?}", other.map(|_| ())),
    }
}

/// The value of the sample `name{labels}` in exposition text, if present.
fn sample(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name_and_labels)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

async fn metrics_count_commands_and_requests_by_template_and_show_positions(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let meeting = app.active_meeting("alice", json!({})).await;
    let joined = app
        .post(&format!("/api/v1/meetings/{meeting}/join"), "bob", None)
        .await;
    assert_eq!(joined.status, StatusCode::OK);
    let head = app.wait_projected().await;

    let scrape = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(scrape.status(), StatusCode::OK);
    assert!(
        scrape.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = scrape.text().await.unwrap();

    let count = |name: &str| sample(&text, name).unwrap_or_else(|| panic!("{name} in\n{text}"));
    assert!(count(r#"meetings_commands_total{command="schedule",outcome="ok"}"#) >= 1.0);
    assert!(count(r#"meetings_commands_total{command="join",outcome="ok"}"#) >= 1.0);
    assert!(text.contains("meetings_command_duration_seconds_bucket{command=\"join\",le="));
    assert!(text.contains("meetings_append_batch_size_bucket{le="));
    assert!(
        count(
            r#"meetings_http_requests_total{method="POST",route="/api/v1/meetings/{meeting}/join",status="200"}"#
        ) >= 1.0
    );
    assert!(text.contains(
        r#"meetings_http_request_duration_seconds_bucket{method="POST",route="/api/v1/meetings""#
    ));
    assert!(!text.contains(&meeting), "a raw path or id as a label");
    assert!(!text.contains("bob"), "a user as a label");
    assert_eq!(count("meetings_log_head_position"), head as f64);
    for projection in ["meetings", "participants", "activity"] {
        let position = count(&format!(
            "meetings_projection_position{{projection=\"{projection}\"}}"
        ));
        assert!(
            position >= head as f64,
            "{projection} at {position}, head {head}"
        );
        assert_eq!(
            count(&format!(
                "meetings_projection_lag{{projection=\"{projection}\"}}"
            )),
            0.0
        );
    }
    assert!(text.contains("meetings_relay_position"), "{text}");
    assert!(text.contains("meetings_websocket_connections"), "{text}");

    let off = app_with(setup, |c| c.edge.metrics_enabled = false).await;
    let gone = off.send(Method::GET, "/metrics", None, None, &[]).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
}

async fn a_caller_over_a_category_budget_is_refused_and_nothing_is_appended(setup: Setup) {
    let app = app_with(setup, |c| c.edge.rate_limit_meetings_per_hour = 3).await;
    for remaining in ["2", "1", "0"] {
        let created = app
            .post("/api/v1/meetings", "alice", Some(&json!({"title": "T"})))
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
        assert_eq!(created.headers["x-ratelimit-limit"], "3");
        assert_eq!(created.headers["x-ratelimit-remaining"], remaining);
        let reset: i64 = created.headers["x-ratelimit-reset"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(reset > chrono::Utc::now().timestamp());
    }
    let head = app.head().await;
    let over = app
        .post("/api/v1/meetings", "alice", Some(&json!({"title": "T"})))
        .await;
    error_body_is_documented(&over, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMIT_EXCEEDED");
    assert_eq!(over.body["details"]["limit"], 3);
    assert_eq!(over.body["details"]["window"], 3600);
    assert!(over.body["details"]["reset_at"].is_string());
    assert_eq!(over.headers["x-ratelimit-remaining"], "0");
    let retry: u64 = over.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=1200).contains(&retry), "{retry}");
    assert_eq!(app.head().await, head, "nothing appended");

    // Another caller, and another category, have budgets of their own.
    let other = app
        .post("/api/v1/meetings", "bob", Some(&json!({"title": "T"})))
        .await;
    assert_eq!(other.status, StatusCode::CREATED);
    let meeting = other.body["meeting_id"].as_str().unwrap();
    let start = app
        .post(&format!("/api/v1/meetings/{meeting}/start"), "bob", None)
        .await;
    assert_eq!(start.status, StatusCode::OK);
    let joined = app
        .post(&format!("/api/v1/meetings/{meeting}/join"), "alice", None)
        .await;
    assert_eq!(joined.status, StatusCode::OK);
    assert_eq!(joined.headers["x-ratelimit-limit"], "1000");
    // Queries are not limited.
    let listed = app.get("/api/v1/meetings", "alice", &[]).await;
    assert_eq!(listed.status, StatusCode::OK);
    assert!(listed.headers.get("x-ratelimit-limit").is_none());
}

async fn calls_without_a_token_are_limited_by_address_and_websocket_frames_by_caller(setup: Setup) {
    let app = app_with(setup, |c| {
        c.edge.rate_limit_participants_per_hour = 2;
        c.edge.rate_limit_ws_messages_per_minute = 2;
    })
    .await;
    let meeting = app.active_meeting("alice", json!({})).await;
    let info = format!("/api/v1/meetings/{meeting}/info");
    for remaining in ["1", "0"] {
        let answer = app.send(Method::GET, &info, None, None, &[]).await;
        assert_eq!(
            answer.headers["x-ratelimit-remaining"], remaining,
            "{:?}",
            answer.body
        );
    }
    let head = app.head().await;
    let guest = app
        .send(
            Method::POST,
            &format!("/api/v1/meetings/{meeting}/join"),
            None,
            Some(&json!({"user_name": "Ann"})),
            &[],
        )
        .await;
    error_body_is_documented(&guest, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMIT_EXCEEDED");
    assert_eq!(app.head().await, head, "no guest joined");

    let mut socket = crate::websocket::open(&app, &meeting, "alice", None).await;
    until_caught_up(&mut socket).await;
    let mut answers = Vec::new();
    for n in 0..3 {
        socket
            .send(Message::text(
                json!({"type": "ping", "request_id": n}).to_string(),
            ))
            .await
            .unwrap();
        answers.push(next_frame(&mut socket).await);
    }
    assert_eq!(answers[0]["type"], "pong");
    assert_eq!(answers[1]["type"], "pong");
    assert_eq!(answers[2]["type"], "error", "{answers:?}");
    assert_eq!(answers[2]["code"], "RATE_LIMIT_EXCEEDED");
}
