//! Breakout rooms over HTTP: open, assign (or choose), close.

use axum::response::Response;
use serde::{Deserialize, Serialize};

use command::meeting::Command;
use command::meeting::breakout::{OpenBreakout, RoomRequest};
use events::event::BreakoutRoomSettings;
use events::{BreakoutRoomId, BreakoutSessionId, UserId};

use super::ApiError;
use super::call::Call;
use super::extract::JsonBody;

#[derive(Debug, Default, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoomBody {
    pub name: Option<String>,
    pub description: Option<String>,
    pub capacity: Option<i64>,
    pub settings: Option<BreakoutRoomSettings>,
}

#[derive(Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"room_count": 2, "auto_assign": true, "time_limit_minutes": 15}))]
pub struct OpenBody {
    pub room_count: Option<i64>,
    #[serde(default)]
    pub rooms: Vec<RoomBody>,
    #[serde(default)]
    pub auto_assign: bool,
    #[serde(default)]
    pub allow_participants_to_choose: bool,
    #[serde(default = "yes")]
    pub allow_participants_to_return: bool,
    pub time_limit_minutes: Option<i64>,
}

fn yes() -> bool {
    true
}

/// `POST .../breakout-rooms` (host, co-host).
#[utoipa::path(
    post,
    path = "/meetings/{meeting}/breakout-rooms",
    tag = "breakout rooms",
    params(super::openapi::MeetingPath, super::openapi::Keyed),
    request_body = OpenBody,
    responses(
        (status = 201, description = "The open session", body = events::views::BreakoutView),
        (status = 400, description = "ROOM_NOT_ACTIVE", body = super::openapi::ErrorBody),
        (status = 403, description = "INSUFFICIENT_PERMISSION or a rule of the meeting", body = super::openapi::ErrorBody),
        (status = 404, description = "MEETING_NOT_FOUND or PARTICIPANT_NOT_FOUND", body = super::openapi::ErrorBody),
        (status = 409, description = "a conflict with the meeting's state", body = super::openapi::ErrorBody),
        (status = 410, description = "MEETING_ENDED", body = super::openapi::ErrorBody),
        (status = 429, description = "RATE_LIMIT_EXCEEDED", body = super::openapi::ErrorBody)
    )
)]
pub async fn open(call: Call, JsonBody(body): JsonBody<OpenBody>) -> Result<Response, ApiError> {
    let command = Command::OpenBreakout(OpenBreakout {
        session_id: BreakoutSessionId::new(),
        room_count: body.room_count,
        rooms: body
            .rooms
            .iter()
            .map(|r| RoomRequest {
                name: r.name.clone(),
                description: r.description.clone(),
                capacity: r.capacity,
                settings: r.settings,
            })
            .collect(),
        auto_assign: body.auto_assign,
        allow_participants_to_choose: body.allow_participants_to_choose,
        allow_participants_to_return: body.allow_participants_to_return,
        time_limit_minutes: body.time_limit_minutes,
    });
    call.run("breakout-open", command, &body).await
}

#[derive(Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"participant_user_id": "bob", "breakout_room_id": "01a22a5a-e004-71a9-b835-cf64b1b20a77"}))]
pub struct AssignBody {
    pub participant_user_id: Option<String>,
    pub breakout_room_id: Option<String>,
    /// Accepted for compatibility with the spec (`manual`).
    pub assignment_type: Option<String>,
}

/// `POST .../breakout-rooms/assign` (host, co-host; a participant for
/// themself when the session lets them choose).
#[utoipa::path(
    post,
    path = "/meetings/{meeting}/breakout-rooms/assign",
    tag = "breakout rooms",
    params(super::openapi::MeetingPath, super::openapi::Keyed),
    request_body = AssignBody,
    responses(
        (status = 200, description = "Assigned", body = command::meeting::breakout::AssignedView),
        (status = 403, description = "INSUFFICIENT_PERMISSION or a rule of the meeting", body = super::openapi::ErrorBody),
        (status = 404, description = "MEETING_NOT_FOUND or PARTICIPANT_NOT_FOUND", body = super::openapi::ErrorBody),
        (status = 409, description = "a conflict with the meeting's state", body = super::openapi::ErrorBody),
        (status = 410, description = "MEETING_ENDED", body = super::openapi::ErrorBody),
        (status = 429, description = "RATE_LIMIT_EXCEEDED", body = super::openapi::ErrorBody)
    )
)]
pub async fn assign(
    call: Call,
    JsonBody(body): JsonBody<AssignBody>,
) -> Result<Response, ApiError> {
    let user_id = body
        .participant_user_id
        .clone()
        .map(UserId)
        .unwrap_or_else(|| call.caller.user_id.clone());
    let room_id: BreakoutRoomId = body
        .breakout_room_id
        .as_deref()
        .and_then(|r| r.parse().ok())
        .ok_or_else(|| ApiError::invalid("breakout_room_id", "must be a breakout room id"))?;
    call.run(
        "breakout-assign",
        Command::AssignBreakout { user_id, room_id },
        &body,
    )
    .await
}

/// `POST .../breakout-rooms/close` (host, co-host): everyone returns.
#[utoipa::path(
    post,
    path = "/meetings/{meeting}/breakout-rooms/close",
    tag = "breakout rooms",
    params(super::openapi::MeetingPath, super::openapi::Keyed),
    responses(
        (status = 200, description = "Closed", body = command::meeting::breakout::BreakoutClosedView),
        (status = 403, description = "INSUFFICIENT_PERMISSION or a rule of the meeting", body = super::openapi::ErrorBody),
        (status = 404, description = "MEETING_NOT_FOUND or PARTICIPANT_NOT_FOUND", body = super::openapi::ErrorBody),
        (status = 409, description = "a conflict with the meeting's state", body = super::openapi::ErrorBody),
        (status = 410, description = "MEETING_ENDED", body = super::openapi::ErrorBody),
        (status = 429, description = "RATE_LIMIT_EXCEEDED", body = super::openapi::ErrorBody)
    )
)]
pub async fn close(call: Call) -> Result<Response, ApiError> {
    call.run("breakout-close", Command::CloseBreakout, &())
        .await
}
