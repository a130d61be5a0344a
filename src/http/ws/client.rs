//! What a client sends on its socket: frames `{type, request_id, data}`
//! that run the same commands as REST (`chat`, `reaction`, `hand_raise`,
//! `participant_update`) or answer `ping`, each counted against the frame
//! budget and its REST twin's, answered with a [`Control`] frame.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use command::meeting::Command;

use super::super::chat::{ChatBody, ReactionBody};
use super::super::media::StatusBody;
use super::super::{ApiError, AppState, RequestId};
use super::MAX_REQUEST_ID_CHARS;
use super::viewer::Viewer;

/// The frames the server sends besides events.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum Control {
    /// The backlog is sent; live events follow.
    CaughtUp {
        position: i64,
    },
    Pong {
        request_id: Value,
    },
    /// A client frame's command was accepted.
    Ack {
        request_id: Value,
        position: i64,
    },
    /// A client frame was refused.
    Error {
        request_id: Value,
        code: &'static str,
        message: String,
    },
}

impl Control {
    pub(super) fn text(&self) -> String {
        serde_json::to_string(self).expect("a control frame of strings and numbers serialises")
    }
}

/// Whether a read failed on a message over [`MAX_CLIENT_MESSAGE`].
pub(super) fn too_big(error: &axum::Error) -> bool {
    let source: &(dyn std::error::Error + 'static) = error;
    let mut cause = Some(source);
    while let Some(e) = cause {
        if let Some(tungstenite::Error::Capacity(_)) = e.downcast_ref::<tungstenite::Error>() {
            return true;
        }
        cause = e.source();
    }
    false
}

/// A client frame `{type, request_id, data}`; its `request_id` (a string
/// of at most [`MAX_REQUEST_ID_CHARS`] characters, or a number) is echoed
/// back.
#[derive(Default, Deserialize)]
struct ClientFrame {
    #[serde(rename = "type", default)]
    kind: Value,
    #[serde(default)]
    request_id: Value,
    #[serde(default)]
    data: Value,
}

/// Runs a client frame as the REST command of the same name.
pub(super) async fn answer(state: &AppState, viewer: &Viewer, text: &str) -> Control {
    // Not a JSON object: no type, which is refused below.
    let frame = serde_json::from_str::<ClientFrame>(text).unwrap_or_default();
    let request_id = match frame.request_id {
        id @ (Value::Null | Value::Number(_)) => id,
        Value::String(id) if id.chars().count() <= MAX_REQUEST_ID_CHARS => Value::String(id),
        _ => {
            let (code, message) = ApiError::invalid(
                "request_id",
                format!(
                    "must be a number or a string of at most {MAX_REQUEST_ID_CHARS} characters"
                ),
            )
            .code_and_message();
            return Control::Error {
                request_id: Value::Null,
                code,
                message,
            };
        }
    };
    let kind = frame.kind.as_str().unwrap_or("");
    // Every frame counts against the frame budget, and one that runs a
    // command against its REST twin's category too.
    let twin = match kind {
        "chat" | "reaction" => Some(super::super::Category::Chat),
        "hand_raise" | "participant_update" => Some(super::super::Category::Status),
        _ => None,
    };
    let key = super::super::limits::key(Some(&viewer.caller), viewer.peer).unwrap_or_default();
    for category in std::iter::once(super::super::Category::WebSocket).chain(twin) {
        if let Err(exceeded) = state.limits.check(category, key.clone()) {
            let (code, message) = ApiError::from(exceeded).code_and_message();
            return Control::Error {
                request_id,
                code,
                message,
            };
        }
    }
    if kind == "ping" {
        return Control::Pong { request_id };
    }
    let data = match frame.data {
        Value::Null => json!({}),
        data => data,
    };
    let command = match kind {
        "chat" => body::<ChatBody>(data).and_then(|b| b.command()),
        "reaction" => body::<ReactionBody>(data).and_then(|b| b.command()),
        "participant_update" => body::<StatusBody>(data).map(|b| b.command()),
        "hand_raise" => {
            let raised = data["is_hand_raised"].as_bool().unwrap_or(true);
            Ok(StatusBody {
                is_hand_raised: Some(raised),
                ..StatusBody::default()
            }
            .command())
        }
        _ => Err(ApiError::invalid(
            "type",
            "must be ping, chat, hand_raise, reaction or participant_update",
        )),
    };
    let outcome = match command {
        Ok(command) => run(state, viewer, command).await,
        Err(e) => Err(e),
    };
    match outcome {
        Ok(position) => Control::Ack {
            request_id,
            position,
        },
        Err(e) => {
            let (code, message) = e.code_and_message();
            Control::Error {
                request_id,
                code,
                message,
            }
        }
    }
}

fn body<T: serde::de::DeserializeOwned>(data: Value) -> Result<T, ApiError> {
    serde_json::from_value(data).map_err(|e| ApiError::invalid("data", e.to_string()))
}

async fn run(state: &AppState, viewer: &Viewer, command: Command) -> Result<i64, ApiError> {
    let ctx = super::super::call::context(viewer.caller.clone(), RequestId::generate());
    let done = state
        .commands
        .execute(viewer.reader.meeting, &ctx, command, None)
        .await?;
    Ok(done.position)
}
