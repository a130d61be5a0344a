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
pub async fn start_recording(call: Call) -> Result<Response, ApiError> {
    let id = RecordingId::new();
    call.run("recording-start", Command::StartRecording(id), &())
        .await
}

/// `POST .../recording/stop`.
pub async fn stop_recording(call: Call) -> Result<Response, ApiError> {
    call.run("recording-stop", Command::StopRecording, &())
        .await
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FileBody {
    pub file_url: Option<String>,
    pub size: Option<i64>,
}

/// `POST .../recordings/{recording_id}/file {file_url, size}` (host or
/// admin; a recorder such as LiveKit egress): reporting the same file
/// twice is naturally idempotent.
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
