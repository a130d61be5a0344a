//! Getting in over HTTP: join (with a password), leave, and the waiting
//! room's admit and reject.

use axum::extract::Path;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use command::meeting::admission::JoinMeeting;
use command::meeting::{Command, MeetingError};
use events::ParticipantId;

use super::ApiError;
use super::call::Call;
use super::extract::JsonBody;
use super::password;

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JoinBody {
    /// Accepted for compatibility with the spec; media connections are the
    /// media server's business.
    pub connection_id: Option<String>,
    pub device_type: Option<String>,
    pub join_muted: Option<bool>,
    pub join_without_video: Option<bool>,
    pub password: Option<String>,
}

/// `POST .../join`. A password is checked against the hash the meeting
/// names before the command runs; the command then holds only the outcome.
pub async fn join(
    call: Call,
    JsonBody(mut body): JsonBody<JoinBody>,
) -> Result<Response, ApiError> {
    let meeting_id = call.meeting_id().await?;
    let password = password::check_join(&call.state, meeting_id, body.password.take()).await?;
    let command = Command::Join(JoinMeeting {
        participant_id: ParticipantId::new(),
        device_type: body.device_type.clone(),
        join_muted: body.join_muted,
        join_without_video: body.join_without_video,
        password,
    });
    call.run_on(meeting_id, "join", command, &body).await
}

pub async fn leave(call: Call) -> Result<Response, ApiError> {
    call.run("leave", Command::Leave, &()).await
}

/// A waiting participant's id from the path; anything else names nobody
/// waiting.
fn waiting_participant(id: &str) -> Result<ParticipantId, ApiError> {
    id.parse()
        .map_err(|_| ApiError::App(MeetingError::NotWaiting.into()))
}

/// `POST .../waiting-room/{participant_id}/admit` (host, co-host).
pub async fn admit(
    call: Call,
    Path((_, participant)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = waiting_participant(&participant)?;
    call.run("admit", Command::Admit(id), &id).await
}

/// `POST .../waiting-room/{participant_id}/reject` (host, co-host).
pub async fn reject(
    call: Call,
    Path((_, participant)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = waiting_participant(&participant)?;
    call.run("reject", Command::Reject(id), &id).await
}
