//! `POST /api/v1/integrations/livekit/webhook`: LiveKit tells us who
//! connected to and left a meeting's media room, and when the room
//! finished. The body is LiveKit's protobuf JSON; `Authorization` is a JWT
//! from the API secret whose `sha256` claim is the body's hash: one that
//! does not verify is 401 and appends nothing. A verified notification
//! runs `command::meeting::presence` as Meetings itself (redeliveries and
//! late arrivals record nothing there); one about another room, or about
//! something else (tracks, egress), is answered 200 with nothing recorded.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use command::AppError;
use command::meeting::{Caller, Command, MeetingError};

use super::call::context;
use super::extract::TextBody;
use super::{ApiError, AppState, RequestId};
use crate::auth::AuthError;
use crate::media::livekit;

/// The actor of what LiveKit reports.
pub const LIVEKIT_ACTOR: &str = "livekit";

#[utoipa::path(
    post,
    path = "/integrations/livekit/webhook",
    tag = "media",
    security(("livekit" = [])),
    request_body = String,
    responses(
        (status = 200, description = "Recorded (`recorded`: events appended)"),
        (status = 503, description = "DATABASE_UNAVAILABLE, PROJECTION_LAGGING or a media server not configured", body = super::openapi::ErrorBody)
    )
)]
pub async fn livekit_webhook(
    State(state): State<AppState>,
    request: RequestId,
    headers: HeaderMap,
    TextBody(body): TextBody,
) -> Result<Response, ApiError> {
    let livekit = state
        .media
        .livekit
        .as_ref()
        .ok_or(ApiError::NotConfigured("LIVEKIT_NOT_CONFIGURED", "LiveKit"))?;
    let authorization = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or(AuthError::Missing)?;
    let event = livekit.receive(&body, authorization).map_err(|e| {
        tracing::info!(error = %e, "a LiveKit webhook that does not verify");
        AuthError::Webhook(e.to_string())
    })?;
    let nothing = || Json(json!({ "recorded": 0 })).into_response();
    let Some((room, report)) = livekit::report(&event, &body) else {
        return Ok(nothing());
    };
    let meeting_id = match state.commands.resolve(&room).await {
        Ok(id) => id,
        Err(AppError::NotFound | AppError::Domain(MeetingError::NotFound)) => {
            return Ok(nothing());
        }
        Err(e) => return Err(e.into()),
    };
    let ctx = context(Caller::system(LIVEKIT_ACTOR, "LiveKit"), request);
    let done = state
        .commands
        .execute(meeting_id, &ctx, Command::RecordMedia(report), None)
        .await;
    match done {
        Ok(done) => Ok(super::call::respond(&state, done).await),
        Err(AppError::NotFound | AppError::Domain(MeetingError::NotFound)) => Ok(nothing()),
        Err(e) => Err(e.into()),
    }
}
