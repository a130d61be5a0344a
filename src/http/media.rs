//! Participant media over HTTP: `PUT .../participants/status` (own
//! microphone, camera, screen share, hand; a moderator mutes others).

use axum::response::Response;
use serde::{Deserialize, Serialize};

use command::meeting::Command;
use command::meeting::media::StatusUpdate;
use events::UserId;

use super::ApiError;
use super::call::{Call, Unkeyed};
use super::extract::JsonBody;

#[derive(Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"is_muted": true, "is_hand_raised": false}))]
pub struct StatusBody {
    /// Someone else (a moderator muting them); absent: the caller.
    pub user_id: Option<String>,
    pub is_muted: Option<bool>,
    pub is_video_enabled: Option<bool>,
    pub is_screen_sharing: Option<bool>,
    pub is_hand_raised: Option<bool>,
    /// Accepted for compatibility with the spec; the waiting room is left
    /// only by being admitted.
    pub is_in_waiting_room: Option<bool>,
}

impl StatusBody {
    pub fn command(&self) -> Command {
        Command::SetStatus(StatusUpdate {
            target: self.user_id.clone().map(UserId),
            is_muted: self.is_muted,
            is_video_enabled: self.is_video_enabled,
            is_screen_sharing: self.is_screen_sharing,
            is_hand_raised: self.is_hand_raised,
        })
    }
}

/// `PUT .../participants/status`: setting values, naturally idempotent.
#[utoipa::path(
    put,
    operation_id = "set_participant_status",
    path = "/meetings/{meeting}/participants/status",
    tag = "participants",
    params(super::openapi::MeetingPath),
    request_body = StatusBody,
    responses(
        (status = 200, description = "The status", body = command::meeting::media::StatusView),
        (status = 403, description = "INSUFFICIENT_PERMISSION or a rule of the meeting", body = super::openapi::ErrorBody),
        (status = 404, description = "MEETING_NOT_FOUND or PARTICIPANT_NOT_FOUND", body = super::openapi::ErrorBody),
        (status = 410, description = "MEETING_ENDED", body = super::openapi::ErrorBody),
        (status = 429, description = "RATE_LIMIT_EXCEEDED", body = super::openapi::ErrorBody)
    )
)]
pub async fn status(
    call: Call<Unkeyed>,
    JsonBody(body): JsonBody<StatusBody>,
) -> Result<Response, ApiError> {
    call.run("status", body.command(), &body).await
}
