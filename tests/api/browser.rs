//! The join page and the console: served by the binary with their assets
//! compiled in, and used end to end in Debian's Chromium
//! (`tests/browser/e2e.mjs`, driven by playwright-core, both installed by
//! `scripts/test`); the screenshots land in `target/browser-artifacts/`.

use std::process::Stdio;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Setup, TestDb, TestStream, setup_config, spawn_app_with};

on_setups!([sqlite, postgres] a_host_and_a_guest_meet_through_the_console_and_the_join_page_in_chromium);

/// Runs `tests/browser/<script>` (node, playwright-core, Chromium) against
/// the server at `base` with `env`; panics with what it printed when it
/// fails. Screenshots go to `target/browser-artifacts/<artifacts>`.
pub(crate) async fn in_chromium(script: &str, base: &str, artifacts: &str, env: &[(&str, String)]) {
    let root = env!("CARGO_MANIFEST_DIR");
    let artifacts = format!("{root}/target/browser-artifacts/{artifacts}");
    let mut run = tokio::process::Command::new(
        std::env::var("MEETINGS_NODE").unwrap_or_else(|_| "node".into()),
    );
    run.arg(format!("{root}/tests/browser/{script}"))
        .env("MEETINGS_URL", base)
        .env("ARTIFACTS", &artifacts)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let output = run
        .output()
        .await
        .expect("node runs (scripts/test installs it with playwright-core and chromium)");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    println!("{said}");
    assert!(
        output.status.success(),
        "{script} failed in the browser (screenshots in {artifacts}):\n{said}"
    );
}

/// The embedded default signs the host in with the local sign-in; on
/// PostgreSQL (where that is refused) the host pastes a token.
async fn a_host_and_a_guest_meet_through_the_console_and_the_join_page_in_chromium(setup: Setup) {
    let db = TestDb::on(setup.backend()).await;
    let stream = TestStream::new();
    let mut config = setup_config(setup, &db, &stream);
    config.dev_login = setup == Setup::sqlite;
    let app = spawn_app_with(config, db, stream).await;
    let mut env = vec![];
    if setup != Setup::sqlite {
        let token = |sub: &str, name: &str, roles: &[String]| {
            app.keys
                .issue(sub, name, None, roles, chrono::Duration::hours(1))
                .unwrap()
        };
        env.push(("HOST_TOKEN", token("hana-host", "Hana Host", &[])));
        env.push((
            "AUDITOR_TOKEN",
            token("ada-auditor", "Ada Auditor", &["auditor".into()]),
        ));
    }
    in_chromium("e2e.mjs", &app.base, &format!("{setup:?}"), &env).await;

    // What the pages did is in the log, exactly: the chat in order, one
    // session each, the lock, the end.
    let auditor = app.token_with_roles("ada-auditor", &["auditor"]);
    let chat = app
        .send(
            Method::GET,
            "/api/v1/events?type=chat_message_sent",
            Some(&auditor),
            None,
            &[],
        )
        .await;
    let said: Vec<&str> = chat.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["data"]["content"].as_str().unwrap())
        .collect();
    assert_eq!(
        said,
        [
            "Hello from Gus",
            "Welcome, Gus",
            "Said while you were away",
            "And once more"
        ]
    );
    let stream = chat.body["events"][0]["stream_id"].as_str().unwrap();
    let meeting = stream.strip_prefix("meeting-").unwrap();
    app.wait_projected().await;
    let attendance = app
        .send(
            Method::GET,
            &format!("/api/v1/meetings/{meeting}/attendance"),
            Some(&auditor),
            None,
            &[],
        )
        .await;
    let sessions: Vec<(String, usize)> = attendance.body["attendees"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["user_name"].as_str().unwrap().to_owned(),
                a["sessions"].as_array().unwrap().len(),
            )
        })
        .collect();
    assert_eq!(
        sessions,
        [("Hana Host".to_owned(), 1), ("Gus Guest".to_owned(), 1)]
    );
    let types = |body: &Value| -> Vec<String> {
        body["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event_type"].as_str().unwrap().to_owned())
            .collect()
    };
    let all = app
        .send(
            Method::GET,
            &format!("/api/v1/events?meeting={meeting}"),
            Some(&auditor),
            None,
            &[],
        )
        .await;
    let types = types(&all.body);
    for wanted in [
        "participant_waiting",
        "participant_admitted",
        "reaction_sent",
        "hand_raised",
        "room_config_updated",
        "meeting_ended",
    ] {
        assert!(types.iter().any(|t| t == wanted), "{wanted} in {types:?}");
    }
}

/// A sign-in that runs out while the console and the join page are live
/// in a meeting: once their connections drop, both stop (no reconnecting
/// with a dead token) and say so (`tests/browser/expiry.mjs`).
#[tokio::test]
async fn pages_whose_sign_in_ran_out_stop_reconnecting_and_say_so_in_chromium() {
    let app = crate::helpers::spawn_app_on(Setup::sqlite).await;
    let short = app
        .keys
        .issue(
            "sid-short",
            "Sid Short",
            None,
            &[],
            chrono::Duration::seconds(8),
        )
        .unwrap();
    let created = app
        .send(
            Method::POST,
            "/api/v1/meetings",
            Some(&short),
            Some(&json!({"title": "Expiry check", "start_now": true})),
            &[],
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let env = [
        ("SHORT_TOKEN", short),
        (
            "MEETING_ID",
            created.body["meeting_id"].as_str().unwrap().to_owned(),
        ),
        (
            "LINK",
            created.body["meeting_link"].as_str().unwrap().to_owned(),
        ),
    ];
    in_chromium("expiry.mjs", &app.base, "expiry", &env).await;
}

#[tokio::test]
async fn the_pages_and_their_assets_are_served_locked_to_this_origin() {
    let app = crate::helpers::spawn_app_on(Setup::sqlite).await;
    let client = reqwest::Client::new();
    let mut total = 0;
    for path in [
        "/meeting/abc-defg-hij",
        "/console",
        "/assets/app.css",
        "/assets/api.js",
        "/assets/room.js",
        "/assets/join.js",
        "/assets/console.js",
        "/assets/timeline.js",
    ] {
        let response = client
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let headers = response.headers().clone();
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
            "{path}: {csp}"
        );
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        let media_type = headers["content-type"].to_str().unwrap().to_owned();
        let body = response.text().await.unwrap();
        if path.ends_with(".js") {
            assert!(media_type.starts_with("text/javascript"), "{path}");
        }
        if path != "/console" && path != "/assets/console.js" && path != "/assets/timeline.js" {
            total += body.len();
        }
    }
    // Unchanged, a page or asset is answered 304 with no body.
    let first = client
        .get(format!("{}/assets/join.js", app.base))
        .send()
        .await
        .unwrap();
    let etag = first.headers()["etag"].clone();
    let again = client
        .get(format!("{}/assets/join.js", app.base))
        .header("if-none-match", etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(again.headers()["etag"], etag);
    assert!(again.text().await.unwrap().is_empty());
    let other = client
        .get(format!("{}/assets/room.js", app.base))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::OK, "another file, another tag");
    // What the join page loads (it and what it imports), well under 100 KB.
    assert!(total < 100 * 1024, "the join page weighs {total} bytes");
    let missing = client
        .get(format!("{}/assets/nothing.js", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["code"], "ROUTE_NOT_FOUND");
    // The local sign-in is off unless asked for, and then not offered.
    let console = app.text("/console").await;
    assert!(console.contains(r#"data-dev-login="false""#));
    let login = app
        .send(
            Method::POST,
            "/console/dev-login",
            None,
            Some(&json!({"name": "Mallory"})),
            &[],
        )
        .await;
    assert_eq!(login.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_local_sign_in_mints_a_token_for_a_name_on_the_embedded_default_only() {
    let db = TestDb::on(Setup::sqlite.backend()).await;
    let stream = TestStream::new();
    let mut config = setup_config(Setup::sqlite, &db, &stream);
    config.dev_login = true;
    let app = spawn_app_with(config, db, stream).await;
    let login = |body: Value| {
        let app = &app;
        async move {
            app.send(Method::POST, "/console/dev-login", None, Some(&body), &[])
                .await
        }
    };
    let signed = login(json!({"name": "  Hana Host ", "roles": ["auditor"]})).await;
    assert_eq!(signed.status, StatusCode::OK, "{:?}", signed.body);
    assert_eq!(signed.body["user_id"], "hana-host");
    let token = signed.body["token"].as_str().unwrap();
    let created = app
        .send(
            Method::POST,
            "/api/v1/meetings",
            Some(token),
            Some(&json!({"title": "Mine"})),
            &[],
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(created.body["host_id"], "hana-host");
    assert_eq!(created.body["host_name"], "Hana Host");
    let verify = app
        .send(Method::GET, "/api/v1/audit/verify", Some(token), None, &[])
        .await;
    assert_eq!(verify.status, StatusCode::OK, "the auditor role was given");
    for (body, field) in [
        (json!({"name": ""}), "name"),
        (json!({"name": "!!!"}), "name"),
        (json!({"name": "a\u{7}b"}), "name"),
        (json!({"name": "x".repeat(101)}), "name"),
        (json!({"name": "Eve", "roles": ["superuser"]}), "roles"),
        (json!({"name": "Eve", "sub": "alice"}), "sub"),
    ] {
        let refused = login(body.clone()).await;
        assert_eq!(
            (refused.status, refused.code()),
            (StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED"),
            "{body}"
        );
        assert_eq!(refused.body["details"]["field"], field, "{body}");
    }

    // On PostgreSQL the server refuses to start with it.
    let db = TestDb::on(Setup::postgres.backend()).await;
    let stream = TestStream::new();
    let mut config = setup_config(Setup::postgres_in_process, &db, &stream);
    config.dev_login = true;
    let refused = meetings::app::App::start(config).await;
    let error = refused.err().expect("refused on PostgreSQL");
    assert!(
        matches!(
            error.downcast_ref::<meetings::app::Refused>(),
            Some(meetings::app::Refused::DevLoginOnPostgres)
        ),
        "{error}"
    );
}
