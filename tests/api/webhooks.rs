//! Webhooks out, against real receivers (HTTP servers on loopback in the
//! test) and checked with the Standard Webhooks reference library
//! (`tests/peers/webhooks_peer.py`) besides our own code: every event in
//! order, filters, retries with the same ids, `Retry-After`, 410, replay,
//! rotation, SSRF refusals, privacy and who may subscribe.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode as AxumStatus};
use reqwest::StatusCode;
use serde_json::{Value, json};

use meetings::webhooks::deliver::SAVE_AFTER;

use crate::helpers::{
    Setup, TestApp, TestDb, TestStream, eventually, setup_config, spawn_app_with,
};

/// One request a receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: String,
    pub at: Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }

    pub fn position(&self) -> i64 {
        self.json()["data"]["position"]
            .as_i64()
            .expect("a position")
    }
}

/// An answer a receiver gives: status and `Retry-After`.
pub type Reply = (u16, Option<&'static str>);

/// A webhook receiver on loopback: keeps every request, answers from its
/// script (then 200).
#[derive(Clone, Default)]
pub struct Receiver {
    pub url: String,
    got: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<VecDeque<Reply>>>,
}

impl Receiver {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut receiver = Receiver {
            url: format!("http://{}/hook", listener.local_addr().unwrap()),
            ..Default::default()
        };
        let keep = receiver.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let keep = keep.clone();
                async move {
                    keep.got.lock().unwrap().push(Received {
                        headers,
                        body,
                        at: Instant::now(),
                    });
                    let (status, retry_after) = keep
                        .script
                        .lock()
                        .unwrap()
                        .pop_front()
                        .unwrap_or((200, None));
                    let mut response = axum::response::Response::new(axum::body::Body::from(
                        format!("answered {status}"),
                    ));
                    *response.status_mut() = AxumStatus::from_u16(status).unwrap();
                    if let Some(seconds) = retry_after {
                        response
                            .headers_mut()
                            .insert("retry-after", seconds.parse().unwrap());
                    }
                    response
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        receiver.url = receiver.url.clone();
        receiver
    }

    /// Answers the next requests with these, in order.
    pub fn answer(&self, replies: &[Reply]) {
        self.script.lock().unwrap().extend(replies.iter().copied());
    }

    pub fn got(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits until the requests received (2xx answered or not) include
    /// one of every position in `positions`.
    pub async fn wait_for(&self, positions: &[i64]) -> Vec<Received> {
        eventually(Duration::from_secs(30), || async {
            let got = self.got();
            let seen: std::collections::HashSet<i64> = got.iter().map(|r| r.position()).collect();
            positions.iter().all(|p| seen.contains(p)).then_some(got)
        })
        .await
    }
}

/// The app of `setup`, with receivers on loopback allowed and retries a
/// second apart unless `schedule` says otherwise.
pub async fn spawn(setup: Setup, schedule: &str) -> TestApp {
    let db = TestDb::on(setup.backend()).await;
    let stream = TestStream::new();
    let mut config = setup_config(setup, &db, &stream);
    config.webhooks.allow_private_networks = true;
    config.webhooks.retry_schedule = schedule.parse_schedule();
    config.webhooks.timeout_seconds = 2;
    spawn_app_with(config, db, stream).await
}

trait ParseSchedule {
    fn parse_schedule(&self) -> meetings::config::RetrySchedule;
}

impl ParseSchedule for str {
    fn parse_schedule(&self) -> meetings::config::RetrySchedule {
        meetings::config::RetrySchedule(
            self.split(',')
                .map(|s| Duration::from_secs(s.parse().unwrap()))
                .collect(),
        )
    }
}

/// The app of `setup` (retries on `schedule`), a receiver, and an admin's
/// subscription of it to `types`: (app, receiver, the admin's token, the
/// subscription as created).
async fn subscribed(
    setup: Setup,
    schedule: &str,
    types: Value,
) -> (TestApp, Receiver, String, Value) {
    let app = spawn(setup, schedule).await;
    let receiver = Receiver::start().await;
    let admin = admin(&app);
    let created = subscribe(
        &app,
        &admin,
        json!({"url": receiver.url, "event_types": types}),
    )
    .await;
    (app, receiver, admin, created)
}

/// `GET path` with `token`.
async fn get_as(app: &TestApp, path: &str, token: &str) -> crate::helpers::Response {
    app.send(reqwest::Method::GET, path, Some(token), None, &[])
        .await
}

fn admin(app: &TestApp) -> String {
    app.token_with_roles("root", &["admin"])
}

/// Subscribes as `token`; the answer's body.
async fn subscribe(app: &TestApp, token: &str, body: Value) -> Value {
    let response = app
        .send(
            reqwest::Method::POST,
            "/api/v1/webhooks",
            Some(token),
            Some(&body),
            &[],
        )
        .await;
    assert_eq!(response.status, StatusCode::CREATED, "{:?}", response.body);
    response.body
}

/// The log's events after `after` that `keep` takes, as (position, id, type).
async fn log_after(
    app: &TestApp,
    after: i64,
    keep: impl Fn(&events::RecordedEvent) -> bool,
) -> Vec<(i64, String, String)> {
    app.log()
        .await
        .into_iter()
        .filter(|e| e.position > after && keep(e))
        .map(|e| (e.position, e.event_id.to_string(), e.event_type))
        .collect()
}

/// Checks every request with the Standard Webhooks reference library;
/// their payloads.
async fn verified_by_the_reference_library(secret: &str, got: &[Received]) -> Vec<Value> {
    let script = format!(
        "{}/tests/peers/webhooks_peer.py",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut input = String::new();
    for request in got {
        let headers: serde_json::Map<String, Value> =
            ["webhook-id", "webhook-timestamp", "webhook-signature"]
                .iter()
                .map(|name| (name.to_string(), Value::from(request.header(name))))
                .collect();
        input.push_str(
            &json!({"secret": secret, "headers": headers, "body": request.body}).to_string(),
        );
        input.push('\n');
    }
    crate::media::peer_lines(&[script.as_str()], input)
        .await
        .into_iter()
        .map(|answer| {
            assert_eq!(answer["ok"], true, "{answer}");
            answer["payload"].clone()
        })
        .collect()
}

/// A meeting with some of everything: start, joins, chat, a role, an end.
async fn some_of_everything(app: &TestApp, host: &str) -> String {
    let meeting = app.active_meeting(host, json!({})).await;
    for user in ["bob", "cat"] {
        let joined = app
            .post(&format!("/api/v1/meetings/{meeting}/join"), user, None)
            .await;
        assert_eq!(joined.status, StatusCode::OK, "{:?}", joined.body);
    }
    let chat = app
        .post(
            &format!("/api/v1/meetings/{meeting}/chat"),
            "bob",
            Some(&json!({"content": "hello"})),
        )
        .await;
    assert!(chat.status.is_success(), "{:?}", chat.body);
    let left = app
        .post(&format!("/api/v1/meetings/{meeting}/leave"), "cat", None)
        .await;
    assert!(left.status.is_success(), "{:?}", left.body);
    let ended = app
        .post(&format!("/api/v1/meetings/{meeting}/end"), host, None)
        .await;
    assert!(ended.status.is_success(), "{:?}", ended.body);
    meeting
}

async fn every_event_reaches_a_star_subscription_in_order_signed_as_the_spec_says(setup: Setup) {
    let (app, receiver, admin, created) = subscribed(setup, "0,1", json!(["*"])).await;
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{created}");
    let from = created["position"].as_i64().unwrap();

    some_of_everything(&app, "ann").await;
    let expected = log_after(&app, from, |_| true).await;
    let positions: Vec<i64> = expected.iter().map(|e| e.0).collect();
    let got = receiver.wait_for(&positions).await;

    assert_eq!(
        got.iter()
            .map(|r| (
                r.position(),
                r.header("webhook-id").to_owned(),
                r.json()["type"].as_str().unwrap().to_owned()
            ))
            .collect::<Vec<_>>(),
        expected,
        "every event once, in log order, with its id"
    );
    let types: std::collections::HashSet<&str> = expected.iter().map(|e| e.2.as_str()).collect();
    for t in [
        "meeting_scheduled",
        "meeting_started",
        "participant_joined",
        "chat_message_sent",
        "participant_left",
        "meeting_ended",
    ] {
        assert!(types.contains(t), "{t} in {types:?}");
    }
    for request in &got {
        let signature = meetings::webhooks::sign::sign(
            &secret,
            request.header("webhook-id"),
            request.header("webhook-timestamp").parse().unwrap(),
            request.body.as_bytes(),
        );
        assert_eq!(request.header("webhook-signature"), signature);
        assert_eq!(request.header("content-type"), "application/json");
        let body = request.json();
        assert_eq!(body["data"]["event_id"], request.header("webhook-id"));
        assert!(body["data"]["actor"]["user_id"].is_string(), "{body}");
        assert!(body["data"]["meeting_id"].is_string(), "{body}");
    }
    let payloads = verified_by_the_reference_library(&secret, &got).await;
    assert_eq!(payloads.len(), got.len());
    assert_eq!(payloads[0]["data"]["position"], positions[0]);

    let logged = eventually(Duration::from_secs(10), || async {
        let page = get_as(
            &app,
            &format!(
                "/api/v1/webhooks/{}/deliveries?status=delivered&limit=1000",
                created["id"].as_str().unwrap()
            ),
            &admin,
        )
        .await;
        (page.body["deliveries"].as_array().map_or(0, Vec::len) == got.len()).then_some(page.body)
    })
    .await;
    assert_eq!(logged["deliveries"][0]["response_status"], 200);
    assert_eq!(logged["deliveries"][0]["response_body"], "answered 200");
}

async fn a_subscription_gets_only_its_types_and_its_meeting(setup: Setup) {
    let app = spawn(setup, "0,1").await;
    let receiver = Receiver::start().await;
    let mine = app.active_meeting("ann", json!({})).await;
    let other = app.active_meeting("ann", json!({})).await;
    let created = subscribe(
        &app,
        &app.token("ann"),
        json!({"url": receiver.url, "event_types": ["participant_joined"], "meeting_id": mine}),
    )
    .await;
    let from = created["position"].as_i64().unwrap();
    for meeting in [&other, &mine] {
        for user in ["bob", "cat"] {
            app.post(&format!("/api/v1/meetings/{meeting}/join"), user, None)
                .await;
        }
        app.post(&format!("/api/v1/meetings/{meeting}/end"), "ann", None)
            .await;
    }
    let expected = log_after(&app, from, |e| {
        e.event_type == "participant_joined" && e.stream_id.0 == format!("meeting-{mine}")
    })
    .await;
    assert_eq!(expected.len(), 2);
    let got = receiver
        .wait_for(&expected.iter().map(|e| e.0).collect::<Vec<_>>())
        .await;
    // The last event of all is delivered or skipped once the worker passed
    // it: wait for the subscription's progress to reach the head.
    let head = app.head().await;
    eventually(Duration::from_secs(10), || async {
        let view = get_as(
            &app,
            &format!("/api/v1/webhooks/{}", created["id"].as_str().unwrap()),
            &app.token("ann"),
        )
        .await;
        (view.body["position"].as_i64() == Some(head)).then_some(())
    })
    .await;
    let got_now = receiver.got();
    assert_eq!(got_now.len(), got.len(), "nothing else was sent");
    assert!(
        got_now
            .iter()
            .all(|r| r.json()["type"] == "participant_joined"
                && r.json()["data"]["meeting_id"] == mine.as_str())
    );
}

async fn a_failing_receiver_gets_the_events_in_order_afterwards_with_the_same_ids(setup: Setup) {
    let (app, receiver, admin, created) = subscribed(setup, "0,1,1,1,1", json!(["*"])).await;
    receiver.answer(&[(500, None), (502, None), (503, None)]);
    let from = created["position"].as_i64().unwrap();
    some_of_everything(&app, "ann").await;
    let expected = log_after(&app, from, |_| true).await;
    let got = receiver
        .wait_for(&expected.iter().map(|e| e.0).collect::<Vec<_>>())
        .await;

    let first = &expected[0];
    let attempts: Vec<&Received> = got.iter().take(4).collect();
    assert!(
        attempts.iter().all(|r| r.header("webhook-id") == first.1),
        "the first event four times with its id"
    );
    for pair in attempts.windows(2) {
        assert!(
            pair[1].at - pair[0].at >= Duration::from_millis(900),
            "retries a second apart"
        );
    }
    let delivered: Vec<(i64, String)> = got[3..]
        .iter()
        .map(|r| (r.position(), r.header("webhook-id").to_owned()))
        .collect();
    assert_eq!(
        delivered,
        expected
            .iter()
            .map(|e| (e.0, e.1.clone()))
            .collect::<Vec<_>>(),
        "then all in order"
    );

    let id = created["id"].as_str().unwrap();
    let failed = get_as(
        &app,
        &format!("/api/v1/webhooks/{id}/deliveries?status=failed"),
        &admin,
    )
    .await;
    let failed = failed.body["deliveries"].as_array().unwrap().clone();
    assert_eq!(
        failed
            .iter()
            .map(|d| d["response_status"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        [500, 502, 503]
    );
    assert_eq!(
        failed
            .iter()
            .map(|d| d["attempt"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert!(
        failed
            .iter()
            .all(|d| d["final"] == false && d["event_id"] == first.1.as_str())
    );
}

async fn retry_after_is_honoured_and_a_410_turns_the_subscription_off(setup: Setup) {
    let (app, receiver, admin, created) = subscribed(setup, "0,0,0", json!(["*"])).await;
    receiver.answer(&[(503, Some("2")), (200, None), (410, None)]);
    let id = created["id"].as_str().unwrap();
    app.active_meeting("ann", json!({})).await;
    let got = eventually(Duration::from_secs(20), || async {
        let got = receiver.got();
        (got.len() >= 3).then_some(got)
    })
    .await;
    assert!(
        got[1].at - got[0].at >= Duration::from_millis(1900),
        "waited as asked: {:?}",
        got[1].at - got[0].at
    );
    assert_eq!(got[0].header("webhook-id"), got[1].header("webhook-id"));

    let view = eventually(Duration::from_secs(10), || async {
        let view = get_as(&app, &format!("/api/v1/webhooks/{id}"), &admin).await;
        (view.body["enabled"] == false).then_some(view.body)
    })
    .await;
    assert_eq!(view["disabled_reason"], "the receiver answered 410 Gone");
    app.active_meeting("ann", json!({})).await;
    app.wait_projected().await;
    let failed = get_as(
        &app,
        &format!("/api/v1/webhooks/{id}/deliveries?status=failed"),
        &admin,
    )
    .await;
    let last = failed.body["deliveries"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        (last["response_status"].as_i64(), last["final"].as_bool()),
        (Some(410), Some(true))
    );
    assert_eq!(receiver.got().len(), 3, "nothing sent once off");
}

async fn a_replay_delivers_again_from_a_position_with_the_same_ids(setup: Setup) {
    let (app, receiver, admin, created) = subscribed(setup, "0,1", json!(["*"])).await;
    let id = created["id"].as_str().unwrap();
    let from = created["position"].as_i64().unwrap();
    some_of_everything(&app, "ann").await;
    let expected = log_after(&app, from, |_| true).await;
    let first_round = receiver
        .wait_for(&expected.iter().map(|e| e.0).collect::<Vec<_>>())
        .await;
    assert_eq!(first_round.len(), expected.len());

    let from_third = expected[2].0 - 1;
    let replayed = app
        .send(
            reqwest::Method::POST,
            &format!("/api/v1/webhooks/{id}/replay"),
            Some(&admin),
            Some(&json!({"after_position": from_third})),
            &[],
        )
        .await;
    assert_eq!(replayed.status, StatusCode::ACCEPTED, "{:?}", replayed.body);
    let again = eventually(Duration::from_secs(20), || async {
        let got = receiver.got();
        (got.len() == expected.len() * 2 - 2).then_some(got)
    })
    .await;
    let replay: Vec<(i64, String)> = again[expected.len()..]
        .iter()
        .map(|r| (r.position(), r.header("webhook-id").to_owned()))
        .collect();
    assert_eq!(
        replay,
        expected[2..]
            .iter()
            .map(|e| (e.0, e.1.clone()))
            .collect::<Vec<_>>()
    );
}

async fn a_rotated_secret_signs_beside_the_old_one(setup: Setup) {
    let (app, receiver, admin, created) =
        subscribed(setup, "0,1", json!(["meeting_scheduled"])).await;
    let id = created["id"].as_str().unwrap();
    let old = created["secret"].as_str().unwrap().to_owned();
    let listed = get_as(&app, "/api/v1/webhooks", &admin).await;
    assert!(
        listed.body["webhooks"][0].get("secret").is_none(),
        "the secret is shown once"
    );

    let rotated = app
        .send(
            reqwest::Method::POST,
            &format!("/api/v1/webhooks/{id}/rotate-secret"),
            Some(&admin),
            None,
            &[],
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{:?}", rotated.body);
    let new = rotated.body["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    app.active_meeting("ann", json!({})).await;
    let got = eventually(Duration::from_secs(20), || async {
        let got = receiver.got();
        (!got.is_empty()).then_some(got)
    })
    .await;
    let signatures: Vec<&str> = got[0].header("webhook-signature").split(' ').collect();
    assert_eq!(
        signatures.len(),
        2,
        "both secrets sign during the grace period"
    );
    verified_by_the_reference_library(&new, &got).await;
    verified_by_the_reference_library(&old, &got).await;
}

async fn a_hosts_subscription_never_receives_another_pairs_private_message(setup: Setup) {
    let app = spawn(setup, "0,1").await;
    let receiver = Receiver::start().await;
    let meeting = app.active_meeting("ann", json!({})).await;
    for user in ["ann", "bob", "cat"] {
        app.post(&format!("/api/v1/meetings/{meeting}/join"), user, None)
            .await;
    }
    subscribe(
        &app,
        &app.token("ann"),
        json!({"url": receiver.url, "event_types": ["chat_message_sent"], "meeting_id": meeting}),
    )
    .await;
    let chat = |from: &'static str, body: Value| {
        let app = &app;
        let meeting = meeting.clone();
        async move {
            let sent = app
                .post(
                    &format!("/api/v1/meetings/{meeting}/chat"),
                    from,
                    Some(&body),
                )
                .await;
            assert!(sent.status.is_success(), "{:?}", sent.body);
        }
    };
    chat(
        "bob",
        json!({"content": "secret for cat", "recipient_id": "cat"}),
    )
    .await;
    chat("bob", json!({"content": "for ann", "recipient_id": "ann"})).await;
    chat("cat", json!({"content": "to everyone"})).await;
    let got = eventually(Duration::from_secs(20), || async {
        let got = receiver.got();
        (got.len() >= 2).then_some(got)
    })
    .await;
    // The last one is delivered after the private one before it was passed.
    let contents: Vec<String> = got
        .iter()
        .map(|r| {
            r.json()["data"]["content"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(contents, ["for ann", "to everyone"]);
}

async fn who_may_subscribe_and_to_what_is_checked(setup: Setup) {
    let db = TestDb::on(setup.backend()).await;
    let stream = TestStream::new();
    let config = setup_config(setup, &db, &stream);
    let app = spawn_app_with(config, db, stream).await;
    let meeting = app.active_meeting("ann", json!({})).await;
    let post = |token: String, body: Value| {
        let app = &app;
        async move {
            app.send(
                reqwest::Method::POST,
                "/api/v1/webhooks",
                Some(&token),
                Some(&body),
                &[],
            )
            .await
        }
    };
    let url = "https://hooks.example.com/in";
    let everything = post(app.token("bob"), json!({"url": url, "event_types": ["*"]})).await;
    assert_eq!(
        everything.status,
        StatusCode::FORBIDDEN,
        "{:?}",
        everything.body
    );
    let not_host = post(
        app.token("bob"),
        json!({"url": url, "event_types": ["*"], "meeting_id": meeting}),
    )
    .await;
    assert_eq!(not_host.status, StatusCode::FORBIDDEN);
    for (body, field) in [
        (
            json!({"url": "http://127.0.0.1:9/x", "event_types": ["*"]}),
            "url",
        ),
        (
            json!({"url": "http://169.254.169.254/latest", "event_types": ["*"]}),
            "url",
        ),
        (json!({"url": "http://[::1]/", "event_types": ["*"]}), "url"),
        (
            json!({"url": "http://10.1.2.3/", "event_types": ["*"]}),
            "url",
        ),
        (
            json!({"url": "http://localhost:8080/", "event_types": ["*"]}),
            "url",
        ),
        (
            json!({"url": "ftp://hooks.example.com/", "event_types": ["*"]}),
            "url",
        ),
        (json!({"url": url, "event_types": []}), "event_types"),
        (
            json!({"url": url, "event_types": ["meeting_exploded"]}),
            "event_types",
        ),
        (json!({"url": url}), "event_types"),
    ] {
        let refused = post(admin(&app), body.clone()).await;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {:?}",
            refused.body
        );
        assert_eq!(refused.body["details"]["field"], field, "{body}");
    }
    let hosts = post(
        app.token("ann"),
        json!({"url": url, "event_types": ["*"], "meeting_id": meeting}),
    )
    .await;
    assert_eq!(hosts.status, StatusCode::CREATED, "{:?}", hosts.body);
    let id = hosts.body["id"].as_str().unwrap();
    let as_bob = get_as(&app, &format!("/api/v1/webhooks/{id}"), &app.token("bob")).await;
    assert_eq!(as_bob.status, StatusCode::NOT_FOUND);
    assert_eq!(as_bob.body["code"], "WEBHOOK_NOT_FOUND");
    let bobs = get_as(&app, "/api/v1/webhooks", &app.token("bob")).await;
    assert_eq!(bobs.body["webhooks"], json!([]));
    let as_admin = get_as(&app, &format!("/api/v1/webhooks/{id}"), &admin(&app)).await;
    assert_eq!(as_admin.status, StatusCode::OK);
    let off = app
        .patch(
            &format!("/api/v1/webhooks/{id}"),
            "ann",
            &json!({"enabled": false, "url": "http://192.168.0.1/"}),
        )
        .await;
    assert_eq!(
        off.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a changed URL is checked too"
    );
    let off = app
        .patch(
            &format!("/api/v1/webhooks/{id}"),
            "ann",
            &json!({"enabled": false}),
        )
        .await;
    assert_eq!(
        (off.status, off.body["enabled"].clone()),
        (StatusCode::OK, json!(false))
    );
    let deleted = app
        .send(
            reqwest::Method::DELETE,
            &format!("/api/v1/webhooks/{id}"),
            Some(&app.token("ann")),
            None,
            &[],
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let gone = get_as(&app, &format!("/api/v1/webhooks/{id}"), &app.token("ann")).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
}

/// The delivery log keeps what `WEBHOOK_DELIVERY_LOG_DAYS` says (the
/// delivering node prunes it), but each subscription's last attempt,
/// whose cursor the next one counts on from; many attempts are recorded
/// in few statements and every one is there.
async fn the_delivery_log_forgets_old_attempts_but_keeps_its_cursor(setup: Setup) {
    use meetings::webhooks::store;
    let (app, receiver, _, created) = subscribed(setup, "0,1", json!(["*"])).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let from = created["position"].as_i64().unwrap();
    some_of_everything(&app, "ann").await;
    let expected = log_after(&app, from, |_| true).await;
    receiver
        .wait_for(&expected.iter().map(|e| e.0).collect::<Vec<_>>())
        .await;
    let logged = || async {
        store::deliveries(&app.app.reads, &id, None, 0, 10_000)
            .await
            .unwrap()
    };
    crate::helpers::eventually(Duration::from_secs(10), || async {
        (logged().await.len() == expected.len()).then_some(())
    })
    .await;
    let last = logged().await.last().unwrap().seq;

    // Everything is older than the log keeps, but for what is newer than
    // the cutoff.
    sqlx::query("UPDATE webhook_deliveries SET attempted_at = '2020-01-01T00:00:00.000000Z'")
        .execute(&app.app.reads)
        .await
        .unwrap();
    let cutoff = chrono::Utc::now() - chrono::Duration::days(30);
    let removed = store::prune(&app.app.reads, cutoff).await.unwrap();
    assert_eq!(removed as usize, expected.len() - 1);
    let kept: Vec<i64> = logged().await.iter().map(|d| d.seq).collect();
    assert_eq!(kept, [last], "the last attempt stays");
    assert_eq!(store::prune(&app.app.reads, cutoff).await.unwrap(), 0);

    // The next attempt follows it.
    let more = app.create_meeting("ann", json!({"title": "more"})).await;
    let position = more["position"].as_i64().unwrap();
    receiver.wait_for(&[position]).await;
    crate::helpers::eventually(Duration::from_secs(10), || async {
        logged()
            .await
            .iter()
            .any(|d| d.position == position)
            .then_some(())
    })
    .await;
    let after: Vec<i64> = logged().await.iter().map(|d| d.seq).collect();
    assert_eq!(after[0], last);
    assert!(after[1..].iter().all(|&seq| seq > last), "{after:?}");

    // Hundreds of attempts saved at once are all there, in order.
    let sub = store::get(&app.app.reads, &id).await.unwrap().unwrap();
    let start = *after.last().unwrap();
    let attempts: Vec<store::Delivery> = (1..=450)
        .map(|n| store::Delivery {
            seq: start + n,
            position: 1_000_000 + n,
            event_id: format!("e{n}"),
            event_type: "chat_message_sent".into(),
            attempt: 1,
            status: "delivered".into(),
            last: false,
            response_status: Some(200),
            latency_ms: 1,
            error: None,
            response_body: Some(format!("ok {n}")),
            attempted_at: chrono::Utc::now(),
        })
        .collect();
    let progress = store::Progress {
        position: sub.position,
        attempts: 0,
        next_attempt_at: None,
    };
    assert!(
        store::save(&app.app.reads, &id, sub.epoch, progress, &attempts)
            .await
            .unwrap()
    );
    let saved = store::deliveries(&app.app.reads, &id, None, start, 10_000)
        .await
        .unwrap();
    assert_eq!(saved.len(), 450);
    assert!(
        saved
            .iter()
            .zip(&attempts)
            .all(|(got, sent)| got.seq == sent.seq && got.response_body == sent.response_body)
    );
}

on_setups!(
    [postgres, sqlite]
    every_event_reaches_a_star_subscription_in_order_signed_as_the_spec_says,
    the_delivery_log_forgets_old_attempts_but_keeps_its_cursor,
    a_subscription_gets_only_its_types_and_its_meeting,
    a_failing_receiver_gets_the_events_in_order_afterwards_with_the_same_ids,
    retry_after_is_honoured_and_a_410_turns_the_subscription_off,
    a_replay_delivers_again_from_a_position_with_the_same_ids,
    a_rotated_secret_signs_beside_the_old_one,
    a_hosts_subscription_never_receives_another_pairs_private_message,
    who_may_subscribe_and_to_what_is_checked,
    a_host_who_lost_the_meeting_loses_its_subscription_and_its_deliveries,
    an_admin_who_lost_the_role_loses_their_subscriptions_at_their_next_call,
);

/// Waits until the subscription's saved progress reaches `position` (as
/// an admin reads it), so what it was to deliver up to there is done.
async fn delivered_through(app: &TestApp, id: &str, position: i64) {
    let admin = admin(app);
    eventually(Duration::from_secs(30), || async {
        let sub = get_as(app, &format!("/api/v1/webhooks/{id}"), &admin).await;
        (sub.body["position"].as_i64()? >= position).then_some(())
    })
    .await;
}

/// Finding 4: a host who handed the meeting on kept receiving it through
/// the subscription they made as its host, and kept managing it. Now the
/// deliveries stop at the event that took the meeting from them, and the
/// subscription is theirs to see no more (an admin still manages it).
async fn a_host_who_lost_the_meeting_loses_its_subscription_and_its_deliveries(setup: Setup) {
    let app = spawn(setup, "0").await;
    let receiver = Receiver::start().await;
    let meeting = app.active_meeting("alice", json!({})).await;
    let alice = app.token("alice");
    let created = subscribe(
        &app,
        &alice,
        json!({"url": receiver.url, "event_types": ["participant_joined"], "meeting_id": meeting}),
    )
    .await;
    let id = created["id"].as_str().unwrap();
    let at = |rest: &str| format!("/api/v1/meetings/{meeting}/{rest}");
    let bob = app.post(&at("join"), "bob", None).await;
    let bob = bob.body["position"].as_i64().unwrap();
    receiver.wait_for(&[bob]).await;

    let invited = app
        .post(
            &at("participants"),
            "alice",
            Some(&json!({"user_id": "carol", "role": "co_host"})),
        )
        .await;
    assert!(invited.status.is_success(), "{:?}", invited.body);
    let handed = app
        .send(
            reqwest::Method::PUT,
            &at("participants/carol/role"),
            Some(&alice),
            Some(&json!({"role": "host"})),
            &[],
        )
        .await;
    assert!(handed.status.is_success(), "{:?}", handed.body);
    let dave = app.post(&at("join"), "dave", None).await;
    let dave = dave.body["position"].as_i64().unwrap();
    delivered_through(&app, id, dave).await;
    let positions: Vec<i64> = receiver.got().iter().map(Received::position).collect();
    assert_eq!(
        positions,
        [bob],
        "nothing after the host role went to carol"
    );

    let path = format!("/api/v1/webhooks/{id}");
    let seen = get_as(&app, &path, &alice).await;
    assert_eq!(seen.status, StatusCode::NOT_FOUND);
    assert_eq!(seen.code(), "WEBHOOK_NOT_FOUND");
    let rotated = app
        .send(
            reqwest::Method::POST,
            &format!("{path}/rotate-secret"),
            Some(&alice),
            None,
            &[],
        )
        .await;
    assert_eq!(rotated.code(), "WEBHOOK_NOT_FOUND");
    let listed = get_as(&app, "/api/v1/webhooks", &alice).await;
    assert_eq!(listed.body["webhooks"], json!([]));
    let by_admin = get_as(&app, &path, &admin(&app)).await;
    assert_eq!(by_admin.status, StatusCode::OK);
}

/// Finding 4: the roles a subscription was made with were kept for ever.
/// Now they are those of the owner's last call: an admin whose token no
/// longer says so loses their subscriptions at their next call, and the
/// deliveries of meetings they do not host stop.
async fn an_admin_who_lost_the_role_loses_their_subscriptions_at_their_next_call(setup: Setup) {
    let app = spawn(setup, "0").await;
    let receiver = Receiver::start().await;
    let root = admin(&app);
    let created = subscribe(
        &app,
        &root,
        json!({"url": receiver.url, "event_types": ["participant_joined"]}),
    )
    .await;
    let id = created["id"].as_str().unwrap();
    let meeting = app.active_meeting("alice", json!({})).await;
    let join = format!("/api/v1/meetings/{meeting}/join");
    let bob = app.post(&join, "bob", None).await.body["position"]
        .as_i64()
        .unwrap();
    receiver.wait_for(&[bob]).await;

    // The same person, no longer an admin by their token.
    let plain = app.token_with_roles("root", &[]);
    let path = format!("/api/v1/webhooks/{id}");
    let seen = get_as(&app, &path, &plain).await;
    assert_eq!(seen.code(), "WEBHOOK_NOT_FOUND");
    let carol = app.post(&join, "carol", None).await.body["position"]
        .as_i64()
        .unwrap();
    let other = app.token_with_roles("other-admin", &["admin"]);
    eventually(Duration::from_secs(30), || async {
        let sub = get_as(&app, &path, &other).await;
        (sub.body["position"].as_i64()? >= carol).then_some(())
    })
    .await;
    let positions: Vec<i64> = receiver.got().iter().map(Received::position).collect();
    assert_eq!(positions, [bob], "nothing once the owner was no admin");
}

/// The server as a process with webhooks to loopback allowed.
async fn server_process(setup: Setup, db: &TestDb, stream: &TestStream) -> crate::crash::Server {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_meetings"));
    command
        .arg("serve")
        .env("MEETINGS_ADDR", "127.0.0.1:0")
        .env("DATABASE_URL", &db.url)
        .env("NATS_PREFIX", &stream.prefix)
        .env("JWT_SECRET", crate::helpers::SECRET)
        .env("WEBHOOK_ALLOW_PRIVATE_NETWORKS", "true")
        .env("WEBHOOK_RETRY_SCHEDULE", "0,1");
    if setup.nats() {
        command.env("NATS_URL", crate::helpers::nats_url());
    } else {
        command.env_remove("NATS_URL");
    }
    crate::crash::launch(command).await
}

fn token_of(user: &str, roles: &[&str]) -> String {
    let roles: Vec<String> = roles.iter().map(|r| r.to_string()).collect();
    meetings::auth::JwtKeys::new(crate::helpers::SECRET.as_bytes(), None, None)
        .issue(user, user, None, &roles, chrono::Duration::hours(1))
        .unwrap()
}

/// Checks what a receiver got against the log after `from`: every event
/// at least once, and each run of deliveries in log order (a run starts
/// again only where a restart sent again what was not recorded).
fn assert_every_event_in_order(
    got: &[Received],
    expected: &[(i64, String, String)],
    restarts: usize,
) {
    let positions: Vec<i64> = got.iter().map(Received::position).collect();
    let seen: std::collections::HashSet<i64> = positions.iter().copied().collect();
    for (position, id, _) in expected {
        assert!(
            seen.contains(position),
            "position {position} ({id}) was delivered"
        );
    }
    let back_steps = positions.windows(2).filter(|w| w[1] <= w[0]).count();
    assert!(
        back_steps <= restarts,
        "in order but for {restarts} restarts: {positions:?}"
    );
    for request in got {
        let position = request.position();
        let (_, id, _) = expected
            .iter()
            .find(|e| e.0 == position)
            .expect("only events of the log");
        assert_eq!(request.header("webhook-id"), id, "the same id every time");
    }
}

/// kill -9 of the server while it delivers, then a restart: every event
/// reaches the receiver at least once, in order, with its own id; and
/// what is sent again is at most what the README promises (the
/// deliveries since the last save: `SAVE_AFTER`, and the one in flight).
async fn a_kill_9_mid_stream_loses_and_reorders_nothing(setup: Setup) {
    let db = TestDb::on(setup.backend()).await;
    let stream = TestStream::new();
    let receiver = Receiver::start().await;
    let mut server = server_process(setup, &db, &stream).await;
    let client = reqwest::Client::new();
    let created: Value = client
        .post(format!("{}/api/v1/webhooks", server.base))
        .bearer_auth(token_of("root", &["admin"]))
        .json(&json!({"url": receiver.url, "event_types": ["*"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let from = created["position"].as_i64().expect("subscribed");

    // A burst of meetings; the server dies while their events go out.
    let burst = |base: String, n: usize| {
        let client = client.clone();
        async move {
            for i in 0..n {
                let sent = client
                    .post(format!("{base}/api/v1/meetings"))
                    .bearer_auth(token_of("ann", &[]))
                    .json(&json!({"title": format!("m{i}"), "start_now": true}))
                    .send()
                    .await;
                if sent.is_err() {
                    return;
                }
            }
        }
    };
    let first = tokio::spawn(burst(server.base.clone(), 400));
    // Killed once a good many were sent (more than a save's worth).
    eventually(Duration::from_secs(60), || async {
        (receiver.got().len() >= 3 * SAVE_AFTER).then_some(())
    })
    .await;
    server.child.start_kill().expect("kill -9");
    server.child.wait().await.unwrap();
    first.await.unwrap();

    let server = server_process(setup, &db, &stream).await;
    burst(server.base.clone(), 5).await;
    let store = db.store().await;
    let expected: Vec<(i64, String, String)> = store
        .read_all(from, 1_000_000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.position, e.event_id.to_string(), e.event_type))
        .collect();
    let got = receiver
        .wait_for(&expected.iter().map(|e| e.0).collect::<Vec<_>>())
        .await;
    assert_every_event_in_order(&got, &expected, 1);
    let distinct: std::collections::HashSet<i64> = got.iter().map(Received::position).collect();
    let again = got.len() - distinct.len();
    assert!(
        again <= SAVE_AFTER + 1,
        "{again} events sent twice (at most {SAVE_AFTER} and the one in flight)"
    );
    drop(server);
}

/// Two nodes on one database: one delivers at a time, so no event is
/// delivered twice.
async fn two_nodes_deliver_each_event_once(setup: Setup) {
    let db = TestDb::on(setup.backend()).await;
    let stream = TestStream::new();
    let receiver = Receiver::start().await;
    let mut config = setup_config(setup, &db, &stream);
    config.webhooks.allow_private_networks = true;
    config.webhooks.retry_schedule = "0,1".parse_schedule();
    let other = meetings::app::App::start(config.clone())
        .await
        .expect("a second node");
    let app = spawn_app_with(config, db, stream).await;
    let created = subscribe(
        &app,
        &admin(&app),
        json!({"url": receiver.url, "event_types": ["*"]}),
    )
    .await;
    let from = created["position"].as_i64().unwrap();
    for _ in 0..3 {
        some_of_everything(&app, "ann").await;
    }
    let expected = log_after(&app, from, |_| true).await;
    let got = receiver
        .wait_for(&expected.iter().map(|e| e.0).collect::<Vec<_>>())
        .await;
    assert_every_event_in_order(&got, &expected, 0);
    assert_eq!(got.len(), expected.len(), "each event once");
    other.stop().await.unwrap();
}

on_setups!(
    [postgres, sqlite]
    a_kill_9_mid_stream_loses_and_reorders_nothing,
);

on_setups!(
    [postgres]
    two_nodes_deliver_each_event_once,
);
