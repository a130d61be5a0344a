//! The permission matrix: every command (and the role-gated queries) tried
//! as host, co-host, participant, outsider and without a token, each cell
//! on a fresh meeting, asserting the exact status and code.
//!
//! The meeting of every cell: alice hosts and is present, carol was invited
//! as co-host and is present, bob is present as a participant, olga is an
//! outsider (a valid token, no part in the meeting).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::features::at;
use crate::helpers::{Setup, TestApp};

on_setups!([postgres, sqlite] every_command_answers_each_role_with_the_documented_status_and_code);

#[derive(Clone, Copy)]
enum Who {
    Host,
    CoHost,
    Participant,
    Outsider,
    Anonymous,
}

const WHO: [Who; 5] = [
    Who::Host,
    Who::CoHost,
    Who::Participant,
    Who::Outsider,
    Who::Anonymous,
];

impl Who {
    fn user(self) -> Option<&'static str> {
        match self {
            Who::Host => Some("alice"),
            Who::CoHost => Some("carol"),
            Who::Participant => Some("bob"),
            Who::Outsider => Some("olga"),
            Who::Anonymous => None,
        }
    }
}

/// What a cell's meeting needs before the command.
#[derive(Clone, Copy, PartialEq)]
enum Given {
    Plain,
    Scheduled,
    Waiting,
    Breakout,
    Recordable,
    Recording,
}

/// (status, code); code "" for a success.
type Cell = (u16, &'static str);
const OK: Cell = (200, "");
const CREATED: Cell = (201, "");
const DENIED: Cell = (403, "INSUFFICIENT_PERMISSION");
const NO_SEAT: Cell = (404, "PARTICIPANT_NOT_FOUND");
const NO_TOKEN: Cell = (401, "UNAUTHORIZED");

struct Row {
    name: &'static str,
    given: Given,
    method: Method,
    /// The path after `/api/v1/meetings/{id}`; `{waiting}` and
    /// `{recording}` are filled from the cell's meeting.
    action: &'static str,
    body: Option<Value>,
    /// host, co-host, participant, outsider, no token.
    expect: [Cell; 5],
}

fn rows() -> Vec<Row> {
    use Given::*;
    let row = |name, given, method, action, body, expect| Row {
        name,
        given,
        method,
        action,
        body,
        expect,
    };
    vec![
        row(
            "update",
            Plain,
            Method::PUT,
            "",
            Some(json!({"title": "New"})),
            [OK, OK, DENIED, DENIED, NO_TOKEN],
        ),
        row(
            "delete",
            Plain,
            Method::DELETE,
            "",
            None,
            [OK, DENIED, DENIED, DENIED, NO_TOKEN],
        ),
        row(
            "start",
            Scheduled,
            Method::POST,
            "start",
            None,
            [OK, DENIED, DENIED, DENIED, NO_TOKEN],
        ),
        row(
            "end",
            Plain,
            Method::POST,
            "end",
            None,
            [OK, DENIED, DENIED, DENIED, NO_TOKEN],
        ),
        row(
            "join",
            Plain,
            Method::POST,
            "join",
            None,
            [OK, OK, OK, OK, NO_TOKEN],
        ),
        row(
            "leave",
            Plain,
            Method::POST,
            "leave",
            None,
            [OK, OK, OK, NO_SEAT, NO_TOKEN],
        ),
        row(
            "config",
            Plain,
            Method::PATCH,
            "config",
            Some(json!({"lock_room": true})),
            [OK, DENIED, DENIED, DENIED, NO_TOKEN],
        ),
        row(
            "policy",
            Plain,
            Method::POST,
            "security/policy",
            Some(json!({"mute_on_entry": true})),
            [OK, DENIED, DENIED, DENIED, NO_TOKEN],
        ),
        row(
            "invite",
            Plain,
            Method::POST,
            "participants",
            Some(json!({"user_id": "zoe", "role": "guest"})),
            [OK, OK, DENIED, DENIED, NO_TOKEN],
        ),
        row(
            "invite as co-host (giving a role)",
            Plain,
            Method::POST,
            "participants",
            Some(json!({"user_id": "zed", "role": "co_host"})),
            [OK, DENIED, DENIED, DENIED, NO_TOKEN],
        ),
        row(
            "remove",
            Plain,
            Method::DELETE,
            "participants/bob",
            None,
            [OK, OK, DENIED, DENIED, NO_TOKEN],
        ),
        row(
            "ban",
            Plain,
            Method::DELETE,
            "participants/bob?ban=true",
            None,
            [OK, OK, DENIED, DENIED, NO_TOKEN],
        ),
        row(
            "role",
            Plain,
            Method::PUT,
            "participants/bob/role",
            Some(json!({"role": "co_host"})),
            [OK, DENIED, DENIED, DENIED, NO_TOKEN],
        ),
        row(
            "status",
            Plain,
            Method::PUT,
            "participants/status",
            Some(json!({"is_hand_raised": true})),
            [OK, OK, OK, NO_SEAT, NO_TOKEN],
        ),
        row(
            "mute other",
            Plain,
            Method::PUT,
            "participants/status",
            Some(json!({"user_id": "dave", "is_muted": true})),
            [OK, OK, DENIED, DENIED, NO_TOKEN],
        ),
        row(
            "admit",
            Waiting,
            Method::POST,
            "waiting-room/{waiting}/admit",
            None,
            [OK, OK, DENIED, DENIED, NO_TOKEN],
        ),
        row(
            "reject",
            Waiting,
            Method::POST,
            "waiting-room/{waiting}/reject",
            None,
            [OK, OK, DENIED, DENIED, NO_TOKEN],
        ),
        row(
            "chat",
            Plain,
            Method::POST,
            "chat",
            Some(json!({"content": "hi"})),
            [CREATED, CREATED, CREATED, NO_SEAT, NO_TOKEN],
        ),
        row(
            "reaction",
            Plain,
            Method::POST,
            "reactions",
            Some(json!({"reaction_type": "clap"})),
            [OK, OK, OK, NO_SEAT, NO_TOKEN],
        ),
        row(
            "open breakout",
            Plain,
            Method::POST,
            "breakout-rooms",
            Some(json!({"room_count": 2})),
            [CREATED, CREATED, DENIED, DENIED, NO_TOKEN],
        ),
        row(
            "assign breakout",
            Breakout,
            Method::POST,
            "breakout-rooms/assign",
            Some(json!({"participant_user_id": "dave", "breakout_room_id": "{room}"})),
            [OK, OK, DENIED, DENIED, NO_TOKEN],
        ),
        row(
            "close breakout",
            Breakout,
            Method::POST,
            "breakout-rooms/close",
            None,
            [OK, OK, DENIED, DENIED, NO_TOKEN],
        ),
        row(
            "start recording",
            Recordable,
            Method::POST,
            "recording/start",
            None,
            [OK, DENIED, DENIED, DENIED, NO_TOKEN],
        ),
        row(
            "stop recording",
            Recording,
            Method::POST,
            "recording/stop",
            None,
            [OK, DENIED, DENIED, DENIED, NO_TOKEN],
        ),
        row(
            "recording file",
            Recording,
            Method::POST,
            "recordings/{recording}/file",
            Some(json!({"file_url": "https://f.example.com/r.mp4", "size": 1})),
            [OK, DENIED, DENIED, DENIED, NO_TOKEN],
        ),
        row(
            "attendance",
            Plain,
            Method::GET,
            "attendance",
            None,
            [OK, OK, DENIED, DENIED, NO_TOKEN],
        ),
        row(
            "chat history",
            Plain,
            Method::GET,
            "chat",
            None,
            [OK, OK, OK, DENIED, NO_TOKEN],
        ),
        row(
            "recordings",
            Plain,
            Method::GET,
            "recordings",
            None,
            [OK, OK, OK, DENIED, NO_TOKEN],
        ),
        row(
            "breakout rooms",
            Plain,
            Method::GET,
            "breakout-rooms",
            None,
            [OK, OK, OK, DENIED, NO_TOKEN],
        ),
        row(
            "details",
            Plain,
            Method::GET,
            "",
            None,
            [OK, OK, OK, DENIED, NO_TOKEN],
        ),
        row(
            "info",
            Plain,
            Method::GET,
            "info",
            None,
            [OK, OK, OK, OK, OK],
        ),
        row(
            "exists",
            Plain,
            Method::GET,
            "exists",
            None,
            [OK, OK, OK, OK, OK],
        ),
    ]
}

/// A fresh meeting in the row's starting state; returns its id and the
/// values its paths and bodies name.
async fn prepare(app: &TestApp, given: Given) -> (String, Vec<(&'static str, String)>) {
    let body = match given {
        Given::Scheduled => json!({"title": "Matrix"}),
        Given::Recordable | Given::Recording => {
            json!({"title": "Matrix", "start_now": true, "settings": {"enable_recording": true}})
        }
        _ => json!({"title": "Matrix", "start_now": true}),
    };
    let id = app.create_meeting("alice", body).await["meeting_id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.ok(
        Method::POST,
        &at(&id, "participants"),
        "alice",
        Some(json!({"user_id": "carol", "role": "co_host"})),
    )
    .await;
    let mut fills = Vec::new();
    if given == Given::Scheduled {
        return (id, fills);
    }
    for who in ["alice", "carol", "bob", "dave"] {
        app.join_as(&id, who).await;
    }
    match given {
        Given::Waiting => {
            app.ok(
                Method::POST,
                &at(&id, "security/policy"),
                "alice",
                Some(json!({"require_waiting_room": true})),
            )
            .await;
            let waiting = app
                .call(Method::POST, &at(&id, "join"), "wendy", None)
                .await;
            fills.push((
                "{waiting}",
                waiting.body["participant_id"].as_str().unwrap().to_owned(),
            ));
        }
        Given::Breakout => {
            let opened = app
                .ok(
                    Method::POST,
                    &at(&id, "breakout-rooms"),
                    "alice",
                    Some(json!({"room_count": 2})),
                )
                .await;
            fills.push((
                "{room}",
                opened["rooms"][0]["room_id"].as_str().unwrap().to_owned(),
            ));
        }
        Given::Recording => {
            let started = app
                .ok(Method::POST, &at(&id, "recording/start"), "alice", None)
                .await;
            fills.push((
                "{recording}",
                started["recording_id"].as_str().unwrap().to_owned(),
            ));
        }
        _ => {}
    }
    (id, fills)
}

async fn every_command_answers_each_role_with_the_documented_status_and_code(setup: Setup) {
    // Hundreds of commands by the same few callers: the matrix is about
    // roles, not budgets (those are `edge`'s).
    let db = crate::helpers::TestDb::on(setup.backend()).await;
    let stream = crate::helpers::TestStream::new();
    let mut config = crate::helpers::setup_config(setup, &db, &stream);
    config.edge = config.edge.unlimited();
    let app = crate::helpers::spawn_app_with(config, db, stream).await;
    let mut mismatches = Vec::new();
    let mut cells = 0;
    for row in rows() {
        for (column, who) in WHO.iter().enumerate() {
            let (id, fills) = prepare(&app, row.given).await;
            let fill = |text: String| {
                fills
                    .iter()
                    .fold(text, |t, (key, value)| t.replace(key, value))
            };
            let path = fill(at(&id, row.action));
            let body = row
                .body
                .as_ref()
                .map(|b| serde_json::from_str::<Value>(&fill(b.to_string())).unwrap());
            let token = who.user().map(|u| app.token(u));
            // Queries wait for the read models to have this meeting.
            let head = app.head().await.to_string();
            let headers: Vec<(&str, &str)> = if row.method == Method::GET {
                vec![("x-min-position", head.as_str())]
            } else {
                vec![]
            };
            let response = app
                .send(
                    row.method.clone(),
                    &path,
                    token.as_deref(),
                    body.as_ref(),
                    &headers,
                )
                .await;
            let (status, code) = row.expect[column];
            let got = (response.status.as_u16(), response.code().to_owned());
            cells += 1;
            if got != (status, code.to_owned()) {
                mismatches.push(format!(
                    "{} as {:?}: expected {status} {code:?}, got {} {:?} ({})",
                    row.name,
                    who.user(),
                    got.0,
                    got.1,
                    response.body
                ));
            }
            assert!(got.0 != StatusCode::INTERNAL_SERVER_ERROR.as_u16());
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {cells} cells differ:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
