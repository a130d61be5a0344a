//! Bearer tokens: anything but a valid, unexpired HS256 token signed with
//! JWT_SECRET is 401 UNAUTHORIZED and changes nothing.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{SECRET, Setup, spawn_app_on};

fn b64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

fn sign(alg: Algorithm, secret: &str, claims: serde_json::Value) -> String {
    jsonwebtoken::encode(
        &Header::new(alg),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn in_an_hour() -> i64 {
    chrono::Utc::now().timestamp() + 3600
}

async fn requests_without_a_valid_token_are_401_and_change_nothing(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let claims = json!({"sub": "mallory", "name": "M", "exp": in_an_hour()});
    let none_token = format!(
        "{}.{}.",
        b64url(br#"{"alg":"none","typ":"JWT"}"#),
        b64url(claims.to_string().as_bytes())
    );
    let cases: Vec<(&str, Option<String>)> = vec![
        ("missing", None),
        ("malformed", Some("Bearer not.a.token".into())),
        ("empty bearer", Some("Bearer ".into())),
        (
            "wrong scheme",
            Some(format!("Basic {}", app.token("alice"))),
        ),
        (
            "forged",
            Some(format!(
                "Bearer {}",
                sign(Algorithm::HS256, "another-secret", claims.clone())
            )),
        ),
        (
            "expired",
            Some(format!(
                "Bearer {}",
                sign(
                    Algorithm::HS256,
                    SECRET,
                    json!({"sub": "alice", "exp": chrono::Utc::now().timestamp() - 3600})
                )
            )),
        ),
        (
            "without exp",
            Some(format!(
                "Bearer {}",
                sign(Algorithm::HS256, SECRET, json!({"sub": "alice"}))
            )),
        ),
        ("alg none", Some(format!("Bearer {none_token}"))),
        (
            "other algorithm",
            Some(format!(
                "Bearer {}",
                sign(Algorithm::HS512, SECRET, claims.clone())
            )),
        ),
    ];
    let body = json!({"title": "Sneaky"});
    for (case, authorization) in cases {
        let mut headers = vec![];
        if let Some(value) = &authorization {
            headers.push(("authorization", value.as_str()));
        }
        let response = app
            .send(
                Method::POST,
                "/api/v1/meetings",
                None,
                Some(&body),
                &headers,
            )
            .await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{case}");
        assert_eq!(response.code(), "UNAUTHORIZED", "{case}");
        assert_eq!(response.body["status"], "error", "{case}");
    }
    assert_eq!(app.head().await, 0);

    // The control: the same request with a good token is accepted.
    let good = app.post("/api/v1/meetings", "alice", Some(&body)).await;
    assert_eq!(good.status, StatusCode::CREATED);
}

async fn an_unauthenticated_request_is_401_before_anything_else(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let response = app
        .send(
            Method::POST,
            "/api/v1/meetings/zzz-zzzz-zzz/join",
            None,
            Some(&json!({"join_muted": "x"})),
            &[],
        )
        .await;
    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
}

async fn the_token_command_prints_a_token_the_server_accepts(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_meetings"))
        .args([
            "token",
            "--sub",
            "alice",
            "--name",
            "Alice",
            "--roles",
            "admin,auditor",
        ])
        .env("JWT_SECRET", SECRET)
        .output()
        .await
        .unwrap();
    assert!(output.status.success());
    let token = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    let caller = app.keys.verify(&token).await.unwrap();
    assert_eq!(caller.user_id.as_str(), "alice");
    assert_eq!(caller.roles, ["admin", "auditor"]);
    let response = app
        .send(
            Method::POST,
            "/api/v1/meetings",
            Some(&token),
            Some(&json!({"title": "Mine"})),
            &[],
        )
        .await;
    assert_eq!(response.status, StatusCode::CREATED);
    assert_eq!(response.body["host_name"], "Alice");

    let refused = tokio::process::Command::new(env!("CARGO_BIN_EXE_meetings"))
        .args(["token", "--sub", "alice", "--name", "Alice"])
        .env_remove("JWT_SECRET")
        .output()
        .await
        .unwrap();
    assert!(!refused.status.success(), "no token without a secret");
}

/// A key of a few bytes is no key: the server refuses to start with one.
#[tokio::test]
async fn a_short_jwt_secret_refuses_to_start_the_server() {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_meetings"))
        .args(["serve", "--addr", "127.0.0.1:0"])
        .env("JWT_SECRET", "x")
        .env("DATABASE_URL", "sqlite://does-not-matter/never.db")
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("at least 32 bytes"), "{said}");
}

/// Finding 6: tokens from the future, too long-lived, or with a NUL in
/// their subject are 401 at the API, and a long name is cut in the events.
async fn doubtful_tokens_are_refused_and_long_names_cut(setup: Setup) {
    let app = spawn_app_on(setup).await;
    let now = chrono::Utc::now().timestamp();
    let sign = |claims: serde_json::Value| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap()
    };
    for claims in [
        json!({"sub": "alice", "exp": now + 3600, "nbf": now + 600}),
        json!({"sub": "alice", "exp": now + 3600, "iat": now + 600}),
        json!({"sub": "alice", "exp": 253_402_300_799_i64}),
        json!({"sub": "ali\u{0}ce", "exp": now + 3600}),
    ] {
        let response = app
            .send(
                Method::GET,
                "/api/v1/meetings",
                Some(&sign(claims.clone())),
                None,
                &[],
            )
            .await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{claims}");
    }
    // A 390 KB name makes a token larger than the server reads in headers.
    let huge = sign(json!({"sub": "alice", "name": "n".repeat(390_000), "exp": now + 3600}));
    let refused = app
        .send(Method::GET, "/api/v1/meetings", Some(&huge), None, &[])
        .await;
    assert_eq!(refused.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    let long = sign(json!({"sub": "alice", "name": "n".repeat(20_000), "exp": now + 3600}));
    let created = app
        .send(
            Method::POST,
            "/api/v1/meetings",
            Some(&long),
            Some(&json!({"title": "Mine"})),
            &[],
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let host_name = created.body["host_name"].as_str().unwrap();
    assert_eq!(host_name.chars().count(), events::text::MAX_NAME_CHARS);
}

on_setups!(
    [postgres, sqlite]
    requests_without_a_valid_token_are_401_and_change_nothing,
    an_unauthenticated_request_is_401_before_anything_else,
    the_token_command_prints_a_token_the_server_accepts,
    doubtful_tokens_are_refused_and_long_names_cut,
);
