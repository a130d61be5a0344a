//! A meeting's life over HTTP: create, update, delete, start, end.

use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use command::meeting::Command;
use command::meeting::lifecycle::{ScheduleMeeting, UpdateMeeting};
use events::settings::SettingsChange;
use events::{MeetingId, RoomCode};

use super::ApiError;
use super::call::{Call, Unkeyed};
use super::extract::JsonBody;
use super::password;

#[derive(Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"title": "Weekly sync", "description": "Team status", "starts_at": "2026-12-01T09:00:00Z", "ends_at": "2026-12-01T10:00:00Z", "max_participants": 50, "settings": {"waiting_room": true, "enable_chat": true}, "start_now": false}))]
pub struct CreateMeeting {
    #[serde(alias = "name")]
    pub title: Option<String>,
    pub description: Option<String>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub max_participants: Option<i64>,
    #[serde(default)]
    pub settings: SettingsChange,
    #[serde(default)]
    pub start_now: bool,
    /// Stored only as an Argon2 hash.
    pub password: Option<String>,
}

/// `POST /meetings`: anyone signed in; the caller hosts it.
#[utoipa::path(
    post,
    operation_id = "create_meeting",
    path = "/meetings",
    tag = "meetings",
    params(super::openapi::Keyed),
    request_body = CreateMeeting,
    responses(
        (status = 201, description = "The meeting (with room_code, meeting_link, position)", body = events::views::MeetingView),
        (status = 429, description = "RATE_LIMIT_EXCEEDED", body = super::openapi::ErrorBody)
    )
)]
pub async fn create(
    call: Call,
    JsonBody(mut body): JsonBody<CreateMeeting>,
) -> Result<Response, ApiError> {
    let title = body
        .title
        .clone()
        .ok_or_else(|| ApiError::invalid("title", "is required"))?;
    // Taken out first: the idempotency fingerprint must not cover it.
    let password = body.password.take();
    let password_id = password::store_new(&call.state, password).await?;
    let command = ScheduleMeeting {
        meeting_id: MeetingId::new(),
        room_code: RoomCode::random(&mut rand::thread_rng()),
        title,
        description: body.description.clone(),
        starts_at: body.starts_at,
        ends_at: body.ends_at,
        max_participants: body.max_participants,
        settings: body.settings,
        start_now: body.start_now,
        password_id,
    };
    call.schedule(command, &body).await
}

#[derive(Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"title": "Weekly sync (moved)", "starts_at": "2026-12-01T10:00:00Z", "settings": {"mute_on_entry": true}}))]
pub struct UpdateBody {
    #[serde(alias = "name")]
    pub title: Option<String>,
    pub description: Option<String>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub max_participants: Option<i64>,
    #[serde(default)]
    pub settings: SettingsChange,
}

/// `PUT /meetings/{meeting}`: setting values twice is naturally
/// idempotent, so no key is needed.
#[utoipa::path(
    put,
    path = "/meetings/{meeting}",
    tag = "meetings",
    params(super::openapi::MeetingPath),
    request_body = UpdateBody,
    responses(
        (status = 200, description = "The meeting as updated", body = events::views::MeetingView),
        (status = 403, description = "INSUFFICIENT_PERMISSION or a rule of the meeting", body = super::openapi::ErrorBody),
        (status = 404, description = "MEETING_NOT_FOUND or PARTICIPANT_NOT_FOUND", body = super::openapi::ErrorBody),
        (status = 410, description = "MEETING_ENDED", body = super::openapi::ErrorBody),
        (status = 429, description = "RATE_LIMIT_EXCEEDED", body = super::openapi::ErrorBody)
    )
)]
pub async fn update(
    call: Call<Unkeyed>,
    JsonBody(body): JsonBody<UpdateBody>,
) -> Result<Response, ApiError> {
    let command = Command::Update(UpdateMeeting {
        title: body.title.clone(),
        description: body.description.clone(),
        starts_at: body.starts_at,
        ends_at: body.ends_at,
        max_participants: body.max_participants,
        settings: body.settings,
    });
    call.run("update", command, &body).await
}

/// `DELETE /meetings/{meeting}`: cancels (an active meeting is ended first).
#[utoipa::path(
    delete,
    operation_id = "cancel_meeting",
    path = "/meetings/{meeting}",
    tag = "meetings",
    params(super::openapi::MeetingPath, super::openapi::Keyed),
    responses(
        (status = 200, description = "Cancelled", body = command::meeting::lifecycle::CancelledView),
        (status = 403, description = "INSUFFICIENT_PERMISSION or a rule of the meeting", body = super::openapi::ErrorBody),
        (status = 404, description = "MEETING_NOT_FOUND or PARTICIPANT_NOT_FOUND", body = super::openapi::ErrorBody),
        (status = 410, description = "MEETING_ENDED", body = super::openapi::ErrorBody),
        (status = 429, description = "RATE_LIMIT_EXCEEDED", body = super::openapi::ErrorBody)
    )
)]
pub async fn delete(call: Call) -> Result<Response, ApiError> {
    call.run("delete", Command::Delete, &()).await
}

#[utoipa::path(
    post,
    path = "/meetings/{meeting}/start",
    tag = "meetings",
    params(super::openapi::MeetingPath, super::openapi::Keyed),
    responses(
        (status = 200, description = "Started", body = command::meeting::lifecycle::StartedView),
        (status = 403, description = "INSUFFICIENT_PERMISSION or a rule of the meeting", body = super::openapi::ErrorBody),
        (status = 404, description = "MEETING_NOT_FOUND or PARTICIPANT_NOT_FOUND", body = super::openapi::ErrorBody),
        (status = 409, description = "a conflict with the meeting's state", body = super::openapi::ErrorBody),
        (status = 410, description = "MEETING_ENDED", body = super::openapi::ErrorBody),
        (status = 429, description = "RATE_LIMIT_EXCEEDED", body = super::openapi::ErrorBody)
    )
)]
pub async fn start(call: Call) -> Result<Response, ApiError> {
    call.run("start", Command::Start, &()).await
}

#[utoipa::path(
    post,
    path = "/meetings/{meeting}/end",
    tag = "meetings",
    params(super::openapi::MeetingPath, super::openapi::Keyed),
    responses(
        (status = 200, description = "Ended", body = command::meeting::lifecycle::EndedView),
        (status = 400, description = "ROOM_NOT_ACTIVE", body = super::openapi::ErrorBody),
        (status = 403, description = "INSUFFICIENT_PERMISSION or a rule of the meeting", body = super::openapi::ErrorBody),
        (status = 404, description = "MEETING_NOT_FOUND or PARTICIPANT_NOT_FOUND", body = super::openapi::ErrorBody),
        (status = 410, description = "MEETING_ENDED", body = super::openapi::ErrorBody),
        (status = 429, description = "RATE_LIMIT_EXCEEDED", body = super::openapi::ErrorBody)
    )
)]
pub async fn end(call: Call) -> Result<Response, ApiError> {
    call.run("end", Command::End, &()).await
}
