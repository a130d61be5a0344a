//! Into the call (issue 17): LiveKit tokens checked claim by claim by
//! LiveKit's own Python SDK, the refusals that keep a media token behind
//! the meeting's rules, LiveKit webhooks signed the way LiveKit signs them
//! (valid, forged, tampered, replayed, out of order, other rooms) and the
//! attendance's media minutes, Jitsi links with prosody's claims, a guest's
//! whole visit by link, admins as moderators, and where meeting links lead.

use chrono::Utc;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::features::at;
use crate::helpers::{
    Setup, TestApp, TestDb, TestStream, setup_config, spawn_app_on, spawn_app_with,
};
use crate::websocket::{next_frame, until_caught_up, ws_url};

const LIVEKIT_URL: &str = "wss://livekit.example.test";
const LIVEKIT_KEY: &str = "APImeetingstest";
const LIVEKIT_SECRET: &str = "livekit-test-secret-of-at-least-32-bytes";
const JITSI_DOMAIN: &str = "meet.example.test";
const JITSI_APP_ID: &str = "meetings-app";
const JITSI_SECRET: &str = "jitsi-test-secret-of-at-least-32-bytes";
const FRONTEND: &str = "https://app.example.test";

/// The app of `setup` with LiveKit, Jitsi and a front end configured.
pub(crate) async fn media_app(setup: Setup) -> TestApp {
    media_app_with(setup, |_| {}).await
}

/// [`media_app`] with more of the configuration changed.
pub(crate) async fn media_app_with(
    setup: Setup,
    change: impl FnOnce(&mut meetings::config::Config),
) -> TestApp {
    let (db, stream) = (TestDb::on(setup.backend()).await, TestStream::new());
    let mut config = setup_config(setup, &db, &stream);
    change(&mut config);
    config.livekit.url = Some(LIVEKIT_URL.into());
    config.livekit.api_key = Some(LIVEKIT_KEY.into());
    config.livekit.api_secret = Some(LIVEKIT_SECRET.into());
    config.jitsi.domain = Some(JITSI_DOMAIN.into());
    config.jitsi.app_id = Some(JITSI_APP_ID.into());
    config.jitsi.app_secret = Some(JITSI_SECRET.into());
    config.frontend_url = Some(format!("{FRONTEND}/"));
    spawn_app_with(config, db, stream).await
}

/// The Python of the peers' virtualenv (`scripts/test` makes it).
pub(crate) fn peers_python() -> String {
    let python = std::env::var("MEETINGS_PEERS_PYTHON")
        .unwrap_or_else(|_| format!("{}/target/peers/bin/python", env!("CARGO_MANIFEST_DIR")));
    assert!(
        std::path::Path::new(&python).exists(),
        "the peers' Python (LiveKit's SDK, Schemathesis) is missing at {python}: scripts/test installs it"
    );
    python
}

/// Runs LiveKit's Python SDK (`tests/peers/livekit_peer.py`) on `input`,
/// one JSON answer per line.
async fn livekit_peer(command: &str, secret: &str, input: String) -> Vec<Value> {
    let script = format!("{}/tests/peers/livekit_peer.py", env!("CARGO_MANIFEST_DIR"));
    peer_lines(&[script.as_str(), command, LIVEKIT_KEY, secret], input).await
}

/// Runs a Python peer (`args`: its script and arguments) on `input`; its
/// answers, one JSON value per line.
pub(crate) async fn peer_lines(args: &[&str], input: String) -> Vec<Value> {
    let mut child = tokio::process::Command::new(peers_python())
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the peer starts");
    use tokio::io::AsyncWriteExt;
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).await.unwrap();
    drop(stdin);
    let output = child.wait_with_output().await.expect("the peer ends");
    assert!(output.status.success(), "the peer failed");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect()
}

/// The claims LiveKit's `TokenVerifier` reads from each token.
async fn verified(tokens: &[&str]) -> Vec<Value> {
    livekit_peer("verify", LIVEKIT_SECRET, tokens.join("\n")).await
}

/// Webhooks as a LiveKit server with `secret` sends them: `(body,
/// Authorization)` per notification.
async fn signed(secret: &str, notifications: &[Value]) -> Vec<(String, String)> {
    let input = notifications
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    livekit_peer("webhooks", secret, input)
        .await
        .into_iter()
        .map(|w| {
            (
                w["body"].as_str().unwrap().to_owned(),
                w["authorization"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn deliver(app: &TestApp, (body, authorization): &(String, String)) -> (StatusCode, Value) {
    let response = app
        .client
        .post(format!("{}/api/v1/integrations/livekit/webhook", app.base))
        .header("authorization", authorization)
        .header("content-type", "application/webhook+json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn room_of(app_meeting: &Value) -> String {
    app_meeting["room_code"].as_str().unwrap().to_owned()
}

/// The host admits or rejects (`decision`) the wait a join answered 202.
async fn settle(app: &TestApp, id: &str, wait: &Value, decision: &str) {
    let participant = wait["participant_id"].as_str().unwrap();
    let path = at(id, &format!("waiting-room/{participant}/{decision}"));
    app.ok(Method::POST, &path, "alice", None).await;
}

/// An active meeting of alice's: its id and its room.
async fn active_call(app: &TestApp) -> (String, String) {
    let meeting = app
        .create_meeting("alice", json!({"title": "Call", "start_now": true}))
        .await;
    let id = meeting["meeting_id"].as_str().unwrap().to_owned();
    (id, room_of(&meeting))
}

async fn token_of(app: &TestApp, id: &str, user: &str) -> crate::helpers::Response {
    app.call(Method::POST, &at(id, "token"), user, None).await
}

async fn a_livekit_token_carries_the_meetings_rules_as_livekits_sdk_reads_them(setup: Setup) {
    let app = media_app(setup).await;
    let (id, room) = &active_call(&app).await;
    let host_join = app.join_as(id, "alice").await;
    assert_eq!(host_join["media"]["provider"], "livekit");
    assert_eq!(host_join["media"]["url"], LIVEKIT_URL);
    app.join_as(id, "bob").await;
    app.ok(
        Method::POST,
        &at(id, "security/policy"),
        "alice",
        Some(
            json!({"disable_camera": true, "chat_permissions": "co_hosts",
                    "screen_share_permissions": "host"}),
        ),
    )
    .await;
    let root = app.token_with_roles("root", &["admin"]);
    let admin_join = app
        .send(Method::POST, &at(id, "join"), Some(&root), None, &[])
        .await;
    assert_eq!(admin_join.status, StatusCode::OK, "{:?}", admin_join.body);
    assert_eq!(admin_join.body["role"], "co_host");

    let bob = token_of(&app, id, "bob").await;
    assert_eq!(bob.status, StatusCode::OK, "{:?}", bob.body);
    assert_eq!(bob.body["room"], room.as_str());
    assert_eq!(bob.body["livekit_url"], LIVEKIT_URL);
    assert_eq!(bob.body["role"], "participant");
    assert_eq!(bob.body["is_host"], false);
    let alice = token_of(&app, id, "alice").await.body;
    let tokens = [
        bob.body["token"].as_str().unwrap(),
        alice["token"].as_str().unwrap(),
        host_join["media"]["token"].as_str().unwrap(),
        admin_join.body["media"]["token"].as_str().unwrap(),
    ];
    let claims = verified(&tokens).await;
    let now = Utc::now().timestamp();
    for (claim, answer) in claims.iter().zip([&bob.body, &alice]) {
        assert!(claim.get("error").is_none(), "{claim}");
        assert_eq!(claim["iss"], LIVEKIT_KEY);
        assert_eq!(claim["sub"], answer["user_id"]);
        assert_eq!(claim["identity"], answer["user_id"]);
        assert_eq!(claim["name"], answer["user_name"]);
        assert!(claim["nbf"].as_i64().unwrap() <= now);
        let expires = chrono::DateTime::parse_from_rfc3339(answer["expires_at"].as_str().unwrap())
            .unwrap()
            .timestamp();
        assert_eq!(claim["exp"].as_i64().unwrap(), expires);
        assert!(
            (3500..=3700).contains(&(expires - now)),
            "LIVEKIT_TOKEN_TTL 1 h"
        );
        assert_eq!(claim["metadata"]["meeting_id"], id.as_str());
        assert_eq!(claim["metadata"]["role"], answer["role"]);
        assert_eq!(claim["video"]["room"], room.as_str());
        assert_eq!(claim["video"]["room_join"], true);
        assert_eq!(claim["video"]["can_subscribe"], true);
        assert_eq!(claim["video"]["can_publish"], true);
    }
    let (bob, alice, alice_at_join, root) = (&claims[0], &claims[1], &claims[2], &claims[3]);
    assert_eq!(bob["name"], "Bob");
    assert_eq!(bob["video"]["can_publish_data"], false, "chat is co-hosts'");
    assert_eq!(bob["video"]["can_publish_sources"], json!(["microphone"]));
    assert_ne!(bob["video"]["room_admin"], true);
    assert_ne!(bob["video"]["room_record"], true);
    assert_eq!(alice["metadata"]["is_host"], true);
    assert_eq!(alice["video"]["can_publish_data"], true);
    assert_eq!(
        alice["video"]["can_publish_sources"],
        json!(["microphone", "camera", "screen_share", "screen_share_audio"])
    );
    assert_eq!(alice["video"]["room_admin"], true);
    assert_eq!(alice["video"]["room_record"], true);
    assert_eq!(alice_at_join["identity"], "alice");
    assert_eq!(root["metadata"]["role"], "co_host");
    assert_eq!(root["metadata"]["is_admin"], true);
    assert_eq!(root["video"]["room_admin"], true);
    assert_eq!(
        root["video"]["can_publish_sources"],
        json!(["microphone", "camera"]),
        "the policy shares screens for the host only"
    );

    // The peer really checks: a token of another secret does not verify.
    let forged = livekit_peer(
        "verify",
        "another-secret-of-at-least-32-bytes-long",
        tokens[0].to_owned(),
    )
    .await;
    assert!(forged[0].get("error").is_some(), "{:?}", forged[0]);
}

async fn a_media_token_is_only_for_someone_in_the_active_meeting(setup: Setup) {
    let app = media_app(setup).await;
    let id = app
        .active_meeting("alice", json!({"settings": {"waiting_room": true}}))
        .await;
    app.join_as(&id, "alice").await;
    let refused = |response: crate::helpers::Response, why: &str| {
        assert_eq!(
            (response.status, response.code()),
            (StatusCode::FORBIDDEN, "NOT_IN_MEETING"),
            "{why}: {:?}",
            response.body
        );
    };
    refused(token_of(&app, &id, "dave").await, "absent");
    let waiting = app.call(Method::POST, &at(&id, "join"), "bob", None).await;
    assert_eq!(waiting.status, StatusCode::ACCEPTED);
    assert!(
        waiting.body.get("media").is_none(),
        "no media while waiting"
    );
    refused(token_of(&app, &id, "bob").await, "waiting");
    let carol = app
        .call(Method::POST, &at(&id, "join"), "carol", None)
        .await;
    settle(&app, &id, &carol.body, "reject").await;
    refused(token_of(&app, &id, "carol").await, "rejected");
    settle(&app, &id, &waiting.body, "admit").await;
    assert_eq!(token_of(&app, &id, "bob").await.status, StatusCode::OK);
    let someone_else = app
        .call(
            Method::POST,
            &at(&id, "token"),
            "bob",
            Some(json!({"user_id": "alice"})),
        )
        .await;
    assert_eq!(someone_else.status, StatusCode::FORBIDDEN);
    let own = app
        .call(
            Method::POST,
            &at(&id, "token"),
            "bob",
            Some(json!({"user_id": "bob"})),
        )
        .await;
    assert_eq!(own.status, StatusCode::OK);
    app.ok(
        Method::DELETE,
        &at(&id, "participants/bob?ban=true"),
        "alice",
        None,
    )
    .await;
    refused(token_of(&app, &id, "bob").await, "banned");
    let anonymous = app
        .send(Method::POST, &at(&id, "token"), None, None, &[])
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let unknown = token_of(&app, &uuid::Uuid::now_v7().to_string(), "alice").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    app.ok(Method::POST, &at(&id, "end"), "alice", None).await;
    assert_eq!(token_of(&app, &id, "alice").await.status, StatusCode::GONE);

    // Without LiveKit: 503, and joins carry no media.
    let plain = spawn_app_on(setup).await;
    let id = plain.active_meeting("alice", json!({})).await;
    let joined = plain.join_as(&id, "alice").await;
    assert!(joined.get("media").is_none());
    let none = plain
        .call(Method::POST, &at(&id, "token"), "alice", None)
        .await;
    assert_eq!(
        (none.status, none.code()),
        (StatusCode::SERVICE_UNAVAILABLE, "LIVEKIT_NOT_CONFIGURED")
    );
}

fn notification(
    event: &str,
    room: &str,
    id: &str,
    at: i64,
    who: Option<(&str, &str, i64)>,
) -> Value {
    let mut n = json!({"event": event, "room": room, "id": id, "created_at": at});
    if let Some((identity, sid, joined_at)) = who {
        n["identity"] = json!(identity);
        n["sid"] = json!(sid);
        n["joined_at"] = json!(joined_at);
        n["disconnect_reason"] = json!("CLIENT_INITIATED");
    }
    n
}

fn media_events(log: &[events::RecordedEvent]) -> Vec<(String, Value)> {
    log.iter()
        .filter(|e| e.event_type.starts_with("media_"))
        .map(|e| {
            (
                e.event_type.clone(),
                serde_json::from_str(e.data.get()).unwrap(),
            )
        })
        .collect()
}

async fn livekit_webhooks_record_who_was_really_connected(setup: Setup) {
    let app = media_app(setup).await;
    let (id, room) = &active_call(&app).await;
    app.join_as(id, "alice").await;
    app.join_as(id, "bob").await;
    let t = Utc::now().timestamp();
    let hooks = signed(
        LIVEKIT_SECRET,
        &[
            notification(
                "participant_joined",
                room,
                "EV_1",
                t - 600,
                Some(("bob", "PA_bob", t - 600)),
            ),
            notification(
                "participant_joined",
                room,
                "EV_2",
                t - 300,
                Some(("carol", "PA_carol", t - 300)),
            ),
            notification(
                "participant_left",
                room,
                "EV_3",
                t - 120,
                Some(("carol", "PA_carol", t - 300)),
            ),
            notification(
                "participant_joined",
                "no-such-room",
                "EV_4",
                t,
                Some(("x", "PA_x", t)),
            ),
            notification(
                "track_published",
                room,
                "EV_5",
                t,
                Some(("bob", "PA_bob", t - 600)),
            ),
            notification("room_finished", room, "EV_6", t, None),
        ],
    )
    .await;
    let forged = signed(
        "a-forger-secret-of-at-least-32-bytes-long",
        &[notification(
            "participant_joined",
            room,
            "EV_9",
            t,
            Some(("eve", "PA_eve", t)),
        )],
    )
    .await;
    let head = app.head().await;
    // Forged: another secret; tampered: a valid signature of another body;
    // unsigned. None appends anything.
    let tampered = (hooks[0].0.replace("bob", "eve"), hooks[0].1.clone());
    let unsigned = (hooks[0].0.clone(), String::new());
    for bad in [&forged[0], &tampered, &unsigned] {
        let (status, _) = deliver(&app, bad).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(app.head().await, head, "nothing appended");

    let recorded = |answer: &Value| answer["recorded"].as_i64().unwrap();
    let (status, answer) = deliver(&app, &hooks[0]).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(recorded(&answer), 1);
    assert_eq!(
        recorded(&deliver(&app, &hooks[0]).await.1),
        0,
        "a redelivery"
    );
    // Carol's left arrives before her joined: the late joined reopens nothing.
    assert_eq!(recorded(&deliver(&app, &hooks[2]).await.1), 1);
    assert_eq!(
        recorded(&deliver(&app, &hooks[1]).await.1),
        0,
        "late joined"
    );
    assert_eq!(
        recorded(&deliver(&app, &hooks[3]).await.1),
        0,
        "another room"
    );
    assert_eq!(
        recorded(&deliver(&app, &hooks[4]).await.1),
        0,
        "not presence"
    );
    app.ok(Method::POST, &at(id, "end"), "alice", None).await;
    assert_eq!(
        recorded(&deliver(&app, &hooks[5]).await.1),
        2,
        "the room's end closes bob's connection, after the meeting ended"
    );
    assert_eq!(recorded(&deliver(&app, &hooks[5]).await.1), 0);

    let log = app.log().await;
    let media = media_events(&log);
    let kinds: Vec<&str> = media.iter().map(|(kind, _)| kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "media_connected",
            "media_disconnected",
            "media_disconnected",
            "media_room_finished"
        ]
    );
    assert_eq!(media[0].1["participant_sid"], "PA_bob");
    assert_eq!(media[1].1["user_id"], "carol");
    assert_eq!(media[1].1["reason"], "CLIENT_INITIATED");
    assert_eq!(media[2].1["user_id"], "bob");
    assert_eq!(media[2].1["reason"], "ROOM_FINISHED");
    let actor: Value = serde_json::from_str(
        log.iter()
            .find(|e| e.event_type == "media_connected")
            .unwrap()
            .metadata
            .get(),
    )
    .unwrap();
    assert_eq!(actor["actor"]["user_id"], "livekit");
    assert_eq!(actor["actor"]["kind"], "system");

    app.wait_projected().await;
    let attendance = app.get(&at(id, "attendance"), "alice", &[]).await.body;
    let minutes = |user: &str| {
        attendance["attendees"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["user_id"] == user)
            .unwrap_or_else(|| panic!("{user} in {attendance}"))["media_minutes"]
            .as_f64()
            .unwrap()
    };
    assert_eq!(minutes("bob"), 10.0, "connected 600 s");
    assert_eq!(
        minutes("carol"),
        3.0,
        "connected 180 s, never joined by the API"
    );
    assert_eq!(minutes("alice"), 0.0, "joined, never connected");

    // What the pages make of it, in Chromium: the timeline's media lane,
    // and the join page's ways into LiveKit and Jitsi.
    let (_, active) = active_call(&app).await;
    crate::browser::in_chromium(
        "media.mjs",
        &app.base,
        &format!("media-{setup:?}"),
        &[
            ("TOKEN", app.token("alice")),
            ("ENDED", id.clone()),
            ("ACTIVE", active),
            ("LIVEKIT_URL", LIVEKIT_URL.into()),
            ("JITSI_DOMAIN", JITSI_DOMAIN.into()),
        ],
    )
    .await;
}

fn jwt_claims(token: &str, secret: &str) -> Value {
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_audience(&["jitsi"]);
    validation.set_issuer(&[JITSI_APP_ID]);
    jsonwebtoken::decode::<Value>(
        token,
        &jsonwebtoken::DecodingKey::from_secret(secret.as_bytes()),
        &validation,
    )
    .expect("the link's token verifies with the app secret")
    .claims
}

async fn a_jitsi_link_carries_prosodys_claims_and_the_meetings_rules(setup: Setup) {
    let app = media_app(setup).await;
    let starts = Utc::now() + chrono::Duration::hours(1);
    let meeting = app
        .create_meeting(
            "alice",
            json!({"title": "Therapy", "starts_at": starts, "ends_at": starts + chrono::Duration::minutes(50),
                   "settings": {"mute_on_entry": true, "enable_recording": true}}),
        )
        .await;
    let id = meeting["meeting_id"].as_str().unwrap();
    let room = room_of(&meeting);
    app.ok(
        Method::POST,
        &at(id, "security/policy"),
        "alice",
        Some(json!({"disable_camera": true, "mute_on_entry": true})),
    )
    .await;
    app.ok(
        Method::POST,
        &at(id, "participants"),
        "alice",
        Some(json!({"user_id": "bob", "role": "participant"})),
    )
    .await;

    let bob = app.get(&at(id, "link"), "bob", &[]).await;
    assert_eq!(bob.status, StatusCode::OK, "{:?}", bob.body);
    assert_eq!(bob.body["display_name"], "Bob");
    assert_eq!(bob.body["is_admin"], false);
    assert_eq!(bob.body["is_moderator"], false);
    assert_eq!(bob.body["status"], "scheduled");
    assert_eq!(bob.body["duration"], 50);
    assert!(bob.body["scheduled_at"].is_string());
    let url = bob.body["meeting_url"].as_str().unwrap();
    let prefix = format!("https://{JITSI_DOMAIN}/{room}?jwt=");
    assert!(url.starts_with(&prefix), "{url}");
    let (token, fragment) = url[prefix.len()..].split_once('#').unwrap();
    assert_eq!(
        fragment,
        "userInfo.displayName=\"Bob\"&config.startWithAudioMuted=true&config.startWithVideoMuted=true"
    );
    let claims = jwt_claims(token, JITSI_SECRET);
    assert_eq!(claims["iss"], JITSI_APP_ID);
    assert_eq!(claims["aud"], "jitsi");
    assert_eq!(claims["sub"], JITSI_DOMAIN);
    assert_eq!(claims["room"], room.as_str());
    let now = Utc::now().timestamp();
    assert!(claims["nbf"].as_i64().unwrap() <= now);
    let expires = chrono::DateTime::parse_from_rfc3339(bob.body["expires_at"].as_str().unwrap())
        .unwrap()
        .timestamp();
    assert_eq!(claims["exp"].as_i64().unwrap(), expires);
    assert_eq!(
        claims["context"]["user"],
        json!({"id": "bob", "name": "Bob", "email": "bob@example.com", "moderator": "false"})
    );
    assert_eq!(
        claims["context"]["features"],
        json!({"recording": "false", "screen-sharing": "true", "transcription": "false",
               "livestreaming": "false", "outbound-call": "false"})
    );

    let alice = app.get(&at(id, "link"), "alice", &[]).await.body;
    assert_eq!(alice["is_moderator"], true);
    let url = alice["meeting_url"].as_str().unwrap();
    assert!(url.ends_with("&config.startWithAudioMuted=false&config.startWithVideoMuted=false"));
    let (token, _) = url[prefix.len()..].split_once('#').unwrap();
    let claims = jwt_claims(token, JITSI_SECRET);
    assert_eq!(claims["context"]["user"]["moderator"], "true");
    assert_eq!(claims["context"]["features"]["recording"], "true");

    // An admin, on any meeting; a name-less token goes by its email, and
    // one with neither by its id.
    let root = app
        .keys
        .issue(
            "root",
            " ",
            Some("root@example.com"),
            &["admin".into()],
            chrono::Duration::hours(1),
        )
        .unwrap();
    let admin = app
        .send(Method::GET, &at(id, "link"), Some(&root), None, &[])
        .await
        .body;
    assert_eq!(
        (admin["is_admin"].clone(), admin["is_moderator"].clone()),
        (json!(true), json!(true))
    );
    assert_eq!(admin["display_name"], "root@example.com");
    assert!(
        admin["meeting_url"]
            .as_str()
            .unwrap()
            .contains("displayName=\"root%40example.com\"")
    );

    let stranger = app.get(&at(id, "link"), "mallory", &[]).await;
    assert_eq!(stranger.status, StatusCode::FORBIDDEN);
    app.ok(Method::POST, &at(id, "start"), "alice", None).await;
    app.ok(Method::POST, &at(id, "end"), "alice", None).await;
    assert_eq!(
        app.get(&at(id, "link"), "bob", &[]).await.status,
        StatusCode::GONE
    );

    // Without a secret the link has no token; without a domain, no link.
    let (db, stream) = (TestDb::on(setup.backend()).await, TestStream::new());
    let mut config = setup_config(setup, &db, &stream);
    config.jitsi.domain = Some(JITSI_DOMAIN.into());
    let unsigned = spawn_app_with(config, db, stream).await;
    let id = unsigned.active_meeting("alice", json!({})).await;
    let link = unsigned.get(&at(&id, "link"), "alice", &[]).await.body;
    assert!(
        !link["meeting_url"].as_str().unwrap().contains("jwt="),
        "{link}"
    );
    assert!(link["expires_at"].is_null());
    let plain = spawn_app_on(setup).await;
    let id = plain.active_meeting("alice", json!({})).await;
    let none = plain.get(&at(&id, "link"), "alice", &[]).await;
    assert_eq!(
        (none.status, none.code()),
        (StatusCode::SERVICE_UNAVAILABLE, "JITSI_NOT_CONFIGURED")
    );
}

async fn guest_join(app: &TestApp, id: &str, body: Value) -> crate::helpers::Response {
    app.send(Method::POST, &at(id, "join"), None, Some(&body), &[])
        .await
}

async fn a_guest_comes_in_by_link_with_a_name_and_only_into_that_meeting(setup: Setup) {
    let app = media_app(setup).await;
    let id = app
        .active_meeting("alice", json!({"settings": {"waiting_room": true}}))
        .await;
    app.join_as(&id, "alice").await;
    let other = app.active_meeting("carol", json!({})).await;

    let nameless = guest_join(&app, &id, json!({})).await;
    assert_eq!(nameless.status, StatusCode::UNAUTHORIZED);
    let blank = guest_join(&app, &id, json!({"user_name": "   "})).await;
    assert_eq!(blank.status, StatusCode::UNPROCESSABLE_ENTITY);

    // In the waiting room, with a token to follow the wait.
    let waiting = guest_join(&app, &id, json!({"user_name": " John Doe "})).await;
    assert_eq!(waiting.status, StatusCode::ACCEPTED, "{:?}", waiting.body);
    let guest_id = waiting.body["user_id"].as_str().unwrap().to_owned();
    assert!(guest_id.starts_with("guest-john-doe-"), "{guest_id}");
    let guest = waiting.body["guest_token"].as_str().unwrap().to_owned();
    assert!(waiting.body["guest_token_expires_at"].is_string());
    let mut socket = tokio_tungstenite::connect_async(ws_url(&app, &id, &guest, None))
        .await
        .expect("the guest follows their wait")
        .0;
    let (backlog, _) = until_caught_up(&mut socket).await;
    assert_eq!(backlog.len(), 1, "only their own wait: {backlog:?}");
    settle(&app, &id, &waiting.body, "admit").await;
    assert_eq!(
        next_frame(&mut socket).await["type"],
        "participant_admitted"
    );
    let joined = next_frame(&mut socket).await;
    assert_eq!(joined["type"], "participant_joined");
    assert_eq!(joined["data"]["role"], "guest");
    assert_eq!(joined["data"]["user_name"], "John Doe");

    let as_guest = |method: Method, path: String, body: Option<Value>| {
        let app = &app;
        let guest = guest.clone();
        async move {
            app.send(method, &path, Some(&guest), body.as_ref(), &[])
                .await
        }
    };
    let again = as_guest(Method::POST, at(&id, "join"), None).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body["role"], "guest");
    assert!(again.body.get("guest_token").is_none(), "they have one");
    assert!(again.body["media"]["token"].is_string());
    let chat = as_guest(
        Method::POST,
        at(&id, "chat"),
        Some(json!({"content": "hello"})),
    )
    .await;
    assert_eq!(chat.status, StatusCode::CREATED, "{:?}", chat.body);
    assert_eq!(next_frame(&mut socket).await["type"], "chat_message_sent");
    let react = as_guest(
        Method::POST,
        at(&id, "reactions"),
        Some(json!({"reaction_type": "clap"})),
    )
    .await;
    assert_eq!(react.status, StatusCode::OK, "{:?}", react.body);
    let status = as_guest(Method::GET, at(&id, "status"), None).await;
    assert_eq!(status.status, StatusCode::OK);
    let token = as_guest(Method::POST, at(&id, "token"), None).await;
    assert_eq!(token.status, StatusCode::OK);
    assert_eq!(token.body["user_id"], guest_id.as_str());
    assert_eq!(token.body["role"], "guest");

    // Nowhere else.
    for (method, path) in [
        (Method::POST, at(&other, "join")),
        (Method::GET, at(&other, "status")),
        (Method::GET, "/api/v1/meetings".to_owned()),
        (Method::GET, "/api/v1/meetings/history".to_owned()),
    ] {
        let elsewhere = as_guest(method.clone(), path.clone(), None).await;
        assert_eq!(elsewhere.status, StatusCode::FORBIDDEN, "{method} {path}");
    }
    let create = as_guest(
        Method::POST,
        "/api/v1/meetings".into(),
        Some(json!({"title": "mine"})),
    )
    .await;
    assert_eq!(create.status, StatusCode::FORBIDDEN);
    let elsewhere_ws = tokio_tungstenite::connect_async(ws_url(&app, &other, &guest, None)).await;
    assert!(elsewhere_ws.is_err(), "no live view of another meeting");

    let left = as_guest(Method::POST, at(&id, "leave"), None).await;
    assert_eq!(left.status, StatusCode::OK);
    let log = app.log().await;
    let actor: Value = serde_json::from_str(
        log.iter()
            .rev()
            .find(|e| e.event_type == "participant_left")
            .unwrap()
            .metadata
            .get(),
    )
    .unwrap();
    assert_eq!(actor["actor"]["kind"], "guest");
    assert_eq!(actor["actor"]["user_id"], guest_id.as_str());

    // The token ends with its meeting.
    app.ok(Method::POST, &at(&id, "end"), "alice", None).await;
    let after = as_guest(Method::GET, at(&id, "status"), None).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);

    // Guests pass the same rules as everyone: a lock keeps them out.
    let locked = app
        .active_meeting("carol", json!({"settings": {"lock_room": true}}))
        .await;
    let refused = guest_join(&app, &locked, json!({"user_name": "Jane"})).await;
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::FORBIDDEN, "MEETING_LOCKED")
    );
    // Where anonymous joins are off, a guest must sign in.
    app.ok(
        Method::POST,
        &at(&other, "security/policy"),
        "carol",
        Some(json!({"allow_anonymous_join": false})),
    )
    .await;
    let closed = guest_join(&app, &other, json!({"user_name": "Jane"})).await;
    assert_eq!(
        (closed.status, closed.code()),
        (StatusCode::UNAUTHORIZED, "UNAUTHORIZED")
    );
    // A signed-in caller may go by another name in a meeting.
    let named = app
        .call(
            Method::POST,
            &at(&other, "join"),
            "bob",
            Some(json!({"user_name": "Bobby"})),
        )
        .await;
    assert_eq!(named.status, StatusCode::OK, "{:?}", named.body);
    assert_eq!(named.body["user_name"], "Bobby");
    assert_eq!(named.body["role"], "participant");
}

async fn an_admin_moderates_any_meeting_and_the_log_says_an_admin_acted(setup: Setup) {
    let app = media_app(setup).await;
    let id = app
        .active_meeting("alice", json!({"settings": {"lock_room": true}}))
        .await;
    app.join_as(&id, "alice").await;
    let root = app.token_with_roles("root", &["admin"]);
    let as_admin = |method: Method, action: &str, body: Option<Value>| {
        let (app, root, path) = (&app, root.clone(), at(&id, action));
        async move {
            app.send(method, &path, Some(&root), body.as_ref(), &[])
                .await
        }
    };
    let joined = as_admin(Method::POST, "join", None).await;
    assert_eq!(
        joined.status,
        StatusCode::OK,
        "past the lock: {:?}",
        joined.body
    );
    assert_eq!(joined.body["role"], "co_host");
    let config = as_admin(Method::PATCH, "config", Some(json!({"lock_room": false}))).await;
    assert_eq!(config.status, StatusCode::OK, "{:?}", config.body);
    let policy = as_admin(
        Method::POST,
        "security/policy",
        Some(json!({"require_waiting_room": true})),
    )
    .await;
    assert_eq!(policy.status, StatusCode::OK, "{:?}", policy.body);
    let ended = as_admin(Method::POST, "end", None).await;
    assert_eq!(ended.status, StatusCode::OK, "{:?}", ended.body);
    let log = app.log().await;
    let end = log
        .iter()
        .find(|e| e.event_type == "meeting_ended")
        .unwrap();
    let metadata: Value = serde_json::from_str(end.metadata.get()).unwrap();
    assert_eq!(metadata["actor"]["user_id"], "root");
    assert_eq!(metadata["actor"]["kind"], "admin");
    // An ordinary user may not.
    let other = app.active_meeting("alice", json!({})).await;
    let refused = app
        .call(Method::POST, &at(&other, "end"), "bob", None)
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}

async fn meeting_links_lead_to_the_front_end_or_this_server(setup: Setup) {
    let app = media_app(setup).await;
    let meeting = app
        .create_meeting("alice", json!({"title": "Linked"}))
        .await;
    assert_eq!(
        meeting["meeting_link"],
        format!("{FRONTEND}/meeting/{}", room_of(&meeting))
    );
    assert_eq!(
        meeting["livekit_url"], LIVEKIT_URL,
        "spec 004's create answer"
    );
    let plain = spawn_app_on(setup).await;
    let meeting = plain
        .create_meeting("alice", json!({"title": "Linked"}))
        .await;
    assert_eq!(
        meeting["meeting_link"],
        format!("{}/meeting/{}", plain.base, room_of(&meeting))
    );
    assert!(meeting.get("livekit_url").is_none());
    // Without LiveKit, its webhook is not taken.
    let webhook = plain
        .client
        .post(format!(
            "{}/api/v1/integrations/livekit/webhook",
            plain.base
        ))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(webhook.status(), StatusCode::SERVICE_UNAVAILABLE);
}

on_setups!(
    [postgres, sqlite]
    a_livekit_token_carries_the_meetings_rules_as_livekits_sdk_reads_them,
    a_media_token_is_only_for_someone_in_the_active_meeting,
    livekit_webhooks_record_who_was_really_connected,
    a_jitsi_link_carries_prosodys_claims_and_the_meetings_rules,
    a_guest_comes_in_by_link_with_a_name_and_only_into_that_meeting,
    an_admin_moderates_any_meeting_and_the_log_says_an_admin_acted,
    meeting_links_lead_to_the_front_end_or_this_server,
);
