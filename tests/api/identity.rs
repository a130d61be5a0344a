//! Tokens from an identity provider: RS256 with the keys of a JWKS served
//! here (fetched at start, fetched again for a key it has not seen, at most
//! once per interval), ES256 with a PEM key file, the roles and name from
//! configured claims, and the algorithm pinned by the key.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use meetings::config::Config;

use crate::helpers::{Setup, TestApp, TestDb, TestStream, setup_config, spawn_app_with};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/keys/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn jwk(name: &str) -> Value {
    serde_json::from_slice(&fixture(name)).expect("a JWK")
}

/// A JWKS document served on loopback, its keys swappable, its fetches
/// counted.
struct Provider {
    url: String,
    keys: Arc<std::sync::Mutex<Vec<Value>>>,
    fetches: Arc<AtomicUsize>,
}

async fn provider(keys: Vec<Value>) -> Provider {
    let keys = Arc::new(std::sync::Mutex::new(keys));
    let fetches = Arc::new(AtomicUsize::new(0));
    let (served, counted) = (keys.clone(), fetches.clone());
    let router = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            let (served, counted) = (served.clone(), counted.clone());
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
                let keys = served.lock().unwrap().clone();
                axum::Json(json!({ "keys": keys }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    Provider { url, keys, fetches }
}

async fn app_with(change: impl FnOnce(&mut Config)) -> TestApp {
    let setup = Setup::sqlite;
    let db = TestDb::on(setup.backend()).await;
    let stream = TestStream::new();
    let mut config = setup_config(setup, &db, &stream);
    change(&mut config);
    spawn_app_with(config, db, stream).await
}

/// A provider's token: Keycloak's shape (`preferred_username`,
/// `realm_access.roles`), signed with `key` as `algorithm`.
fn provider_token(
    key: &EncodingKey,
    algorithm: Algorithm,
    kid: Option<&str>,
    sub: &str,
    roles: &[&str],
) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "sub": sub, "exp": now + 600, "iat": now, "aud": ["meetings", "account"],
        "preferred_username": format!("{sub} from the provider"),
        "realm_access": {"roles": roles},
    });
    let mut header = Header::new(algorithm);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, &claims, key).unwrap()
}

async fn status(app: &TestApp, method: Method, path: &str, token: &str) -> (StatusCode, Value) {
    let answer = app.send(method, path, Some(token), None, &[]).await;
    (answer.status, answer.body)
}

#[tokio::test]
async fn a_providers_rs256_tokens_are_taken_with_their_roles_and_a_rotated_key_is_fetched() {
    let idp = provider(vec![jwk("rsa-1.jwk.json")]).await;
    let app = app_with(|c| {
        c.jwt.jwks_url = Some(idp.url.clone());
        c.jwt.jwks_min_refresh = Duration::ZERO;
        c.jwt.roles_claim = "realm_access.roles".into();
        c.jwt.name_claim = "preferred_username".into();
    })
    .await;
    assert_eq!(idp.fetches.load(Ordering::SeqCst), 1, "fetched at start");
    let rsa1 = EncodingKey::from_rsa_pem(&fixture("rsa-1.pem")).unwrap();
    let rsa2 = EncodingKey::from_rsa_pem(&fixture("rsa-2.pem")).unwrap();

    // Someone else's meeting: only an admin may read its attendance.
    let meeting = app.active_meeting("carol", json!({})).await;
    let attendance = format!("/api/v1/meetings/{meeting}/attendance");
    let admin = provider_token(&rsa1, Algorithm::RS256, Some("rsa-1"), "ada", &["admin"]);
    let plain = provider_token(&rsa1, Algorithm::RS256, Some("rsa-1"), "bob", &["user"]);
    assert_eq!(
        status(&app, Method::GET, &attendance, &admin).await.0,
        StatusCode::OK
    );
    assert_eq!(
        status(&app, Method::GET, &attendance, &plain).await.0,
        StatusCode::FORBIDDEN
    );
    let (joined, seat) = status(
        &app,
        Method::POST,
        &format!("/api/v1/meetings/{meeting}/join"),
        &plain,
    )
    .await;
    assert_eq!(joined, StatusCode::OK, "{seat}");
    assert_eq!(seat["user_name"], "bob from the provider");

    // The provider rotates to a key with no `alg` (its type says RS256).
    *idp.keys.lock().unwrap() = vec![jwk("rsa-2.jwk.json")];
    let rotated = provider_token(&rsa2, Algorithm::RS256, Some("rsa-2"), "bob", &[]);
    assert_eq!(
        status(&app, Method::GET, "/api/v1/meetings", &rotated)
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        idp.fetches.load(Ordering::SeqCst),
        2,
        "fetched again for the new kid"
    );

    // The algorithm is the key's: HS256 "signed" with the public key, a
    // token that says `none`, or RS256 under a kid the provider lacks.
    let public = fixture("rsa-2.pub.pem");
    let confused = provider_token(
        &EncodingKey::from_secret(&public),
        Algorithm::HS256,
        Some("rsa-2"),
        "eve",
        &["admin"],
    );
    let (refused, body) = status(&app, Method::GET, "/api/v1/meetings", &confused).await;
    assert_eq!(refused, StatusCode::UNAUTHORIZED);
    assert!(
        body["message"].as_str().unwrap().contains("bad signature"),
        "{body}"
    );
    // {"alg":"none","typ":"JWT"} . {"sub":"eve","exp":4102444800} . (no signature)
    let none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJldmUiLCJleHAiOjQxMDI0NDQ4MDB9.";
    assert_eq!(
        status(&app, Method::GET, "/api/v1/meetings", none).await.0,
        StatusCode::UNAUTHORIZED
    );
    let unknown = provider_token(&rsa1, Algorithm::RS256, Some("rsa-9"), "eve", &[]);
    let (refused, body) = status(&app, Method::GET, "/api/v1/meetings", &unknown).await;
    assert_eq!(refused, StatusCode::UNAUTHORIZED);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("unknown signing key"),
        "{body}"
    );
    // The server's own HS256 tokens still work beside the provider's.
    assert_eq!(
        app.get("/api/v1/meetings", "alice", &[]).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_unknown_key_fetches_the_jwks_at_most_once_per_interval() {
    let idp = provider(vec![jwk("rsa-1.jwk.json")]).await;
    let app = app_with(|c| {
        c.jwt.jwks_url = Some(idp.url.clone());
        c.jwt.jwks_min_refresh = Duration::from_secs(3600);
    })
    .await;
    let rsa2 = EncodingKey::from_rsa_pem(&fixture("rsa-2.pem")).unwrap();
    *idp.keys.lock().unwrap() = vec![jwk("rsa-2.jwk.json")];
    for n in 0..10 {
        let token = provider_token(&rsa2, Algorithm::RS256, Some(&format!("k{n}")), "eve", &[]);
        assert_eq!(
            status(&app, Method::GET, "/api/v1/meetings", &token)
                .await
                .0,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        idp.fetches.load(Ordering::SeqCst),
        1,
        "only the fetch at start"
    );
}

#[tokio::test]
async fn a_public_key_file_verifies_es256_tokens_and_nothing_else() {
    let dir = format!("{}/tests/fixtures/keys", env!("CARGO_MANIFEST_DIR"));
    let app = app_with(|c| {
        c.jwt.public_key_file = Some(format!("{dir}/ec-1.pub.pem").into());
    })
    .await;
    let ec = EncodingKey::from_ec_pem(&fixture("ec-1.pem")).unwrap();
    let good = provider_token(&ec, Algorithm::ES256, None, "erin", &[]);
    assert_eq!(
        status(&app, Method::GET, "/api/v1/meetings", &good).await.0,
        StatusCode::OK
    );
    let rsa1 = EncodingKey::from_rsa_pem(&fixture("rsa-1.pem")).unwrap();
    let other = provider_token(&rsa1, Algorithm::RS256, None, "erin", &[]);
    let (refused, body) = status(&app, Method::GET, "/api/v1/meetings", &other).await;
    assert_eq!(refused, StatusCode::UNAUTHORIZED, "{body}");
}
