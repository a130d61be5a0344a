//! Recording over HTTP: start, stop, and a recorder reporting the file.

use axum::extract::Path;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use command::meeting::{Command, MeetingError};
use events::RecordingId;

use super::ApiError;
use super::call::{Call, Unkeyed};
use super::extract::JsonBody;

/// `POST .../recording/start`.
#[utoipa::path(
    post,
    path = "/meetings/{meeting}/recording/start",
    tag = "recordings",
    params(super::openapi::MeetingPath, super::openapi::Keyed),
    responses(
        (status = 200, description = "Recording", body = command::meeting::recording::RecordingView),
        (status = 400, description = "ROOM_NOT_ACTIVE", body = super::openapi::ErrorBody),
        (status = 403, description = "INSUFFICIENT_PERMISSION or a rule of the meeting", body = super::openapi::ErrorBody),
        (status = 404, description = "MEETING_NOT_FOUND or PARTICIPANT_NOT_FOUND", body = super::openapi::ErrorBody),
        (status = 409, description = "a conflict with the meeting's state", body = super::openapi::ErrorBody),
        (status = 410, description = "MEETING_ENDED", body = super::openapi::ErrorBody),
        (status = 429, description = "RATE_LIMIT_EXCEEDED", body = super::openapi::ErrorBody)
    )
)]
pub async fn start_recording(call: Call) -> Result<Response, ApiError> {
    let id = RecordingId::new();
    call.run("recording-start", Command::StartRecording(id), &())
        .await
}

/// `POST .../recording/stop`.
#[utoipa::path(
    post,
    path = "/meetings/{meeting}/recording/stop",
    tag = "recordings",
    params(super::openapi::MeetingPath, super::openapi::Keyed),
    responses(
        (status = 200, description = "Stopped", body = command::meeting::recording::RecordingView),
        (status = 403, description = "INSUFFICIENT_PERMISSION or a rule of the meeting", body = super::openapi::ErrorBody),
        (status = 404, description = "MEETING_NOT_FOUND or PARTICIPANT_NOT_FOUND", body = super::openapi::ErrorBody),
        (status = 409, description = "a conflict with the meeting's state", body = super::openapi::ErrorBody),
        (status = 410, description = "MEETING_ENDED", body = super::openapi::ErrorBody),
        (status = 429, description = "RATE_LIMIT_EXCEEDED", body = super::openapi::ErrorBody)
    )
)]
pub async fn stop_recording(call: Call) -> Result<Response, ApiError> {
    call.run("recording-stop", Command::StopRecording, &())
        .await
}

#[derive(Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"file_url": "https://files.example.org/rec/1.mp4", "size": 104857600}))]
pub struct FileBody {
    pub file_url: Option<String>,
    pub size: Option<i64>,
}

/// `POST .../recordings/{recording_id}/file {file_url, size}` (host or
/// admin; a recorder such as LiveKit egress): reporting the same file
/// twice is naturally idempotent.
#[utoipa::path(
    post,
    path = "/meetings/{meeting}/recordings/{recording_id}/file",
    tag = "recordings",
    params(super::openapi::MeetingPath, ("recording_id" = uuid::Uuid, Path), super::openapi::Keyed),
    request_body = FileBody,
    responses(
        (status = 200, description = "The recording with its file", body = command::meeting::recording::RecordingView),
        (status = 403, description = "INSUFFICIENT_PERMISSION or a rule of the meeting", body = super::openapi::ErrorBody),
        (status = 404, description = "MEETING_NOT_FOUND or PARTICIPANT_NOT_FOUND", body = super::openapi::ErrorBody),
        (status = 429, description = "RATE_LIMIT_EXCEEDED", body = super::openapi::ErrorBody)
    )
)]
pub async fn report_file(
    call: Call<Unkeyed>,
    Path((_, recording)): Path<(String, String)>,
    JsonBody(body): JsonBody<FileBody>,
) -> Result<Response, ApiError> {
    let recording_id: RecordingId = recording
        .parse()
        .map_err(|_| ApiError::App(MeetingError::RecordingNotFound.into()))?;
    let file_url = body
        .file_url
        .clone()
        .ok_or_else(|| ApiError::invalid("file_url", "is required"))?;
    let size = body
        .size
        .ok_or_else(|| ApiError::invalid("size", "is required"))?;
    let command = Command::ReportRecordingFile {
        recording_id,
        file_url,
        size,
    };
    call.run("recording-file", command, &body).await
}
