//! Into the call over HTTP: `POST .../token` (a LiveKit token for someone
//! in the meeting; also in a join's `media`) and `GET .../link` (a
//! personalized Jitsi link for a member). What the token or link grants is
//! `command::meeting::grants`, read from the meeting as the log has it
//! now; [`crate::media`] only encodes it.

use axum::Json;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use command::meeting::grants::{call_grants, link_grants};
use command::meeting::{Caller, MeetingError};
use events::event::Role;
use events::views::MeetingStatus;
use events::{MeetingId, UserId};

use super::call::{Call, Unkeyed};
use super::extract::{AuthUser, JsonBody};
use super::{ApiError, AppState};
use crate::media::MediaAccess;
use crate::media::livekit::LiveKit;

#[derive(Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({}))]
pub struct TokenBody {
    /// Only the caller's own id is accepted: a token is always for the
    /// one who asks.
    pub user_id: Option<UserId>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenView {
    pub token: String,
    pub meeting_id: MeetingId,
    /// The LiveKit room: the meeting's room code.
    pub room: String,
    pub user_id: UserId,
    pub user_name: String,
    pub role: Role,
    pub is_host: bool,
    pub livekit_url: String,
    pub expires_at: DateTime<Utc>,
}

fn livekit(state: &AppState) -> Result<&LiveKit, ApiError> {
    state
        .media
        .livekit
        .as_ref()
        .ok_or(ApiError::NotConfigured("LIVEKIT_NOT_CONFIGURED", "LiveKit"))
}

/// `POST .../token`: a LiveKit token for the caller, who must be in the
/// active meeting.
#[utoipa::path(
    post,
    path = "/meetings/{meeting}/token",
    tag = "media",
    params(super::openapi::MeetingPath),
    request_body = TokenBody,
    responses(
        (status = 200, description = "A LiveKit access token", body = TokenView),
        (status = 403, description = "INSUFFICIENT_PERMISSION or a rule of the meeting", body = super::openapi::ErrorBody),
        (status = 404, description = "MEETING_NOT_FOUND or PARTICIPANT_NOT_FOUND", body = super::openapi::ErrorBody),
        (status = 410, description = "MEETING_ENDED", body = super::openapi::ErrorBody),
        (status = 503, description = "DATABASE_UNAVAILABLE, PROJECTION_LAGGING or a media server not configured", body = super::openapi::ErrorBody)
    )
)]
pub async fn token(
    call: Call<Unkeyed>,
    JsonBody(body): JsonBody<TokenBody>,
) -> Result<Response, ApiError> {
    let livekit = livekit(&call.state)?;
    if body.user_id.is_some_and(|u| u != call.caller.user_id) {
        return Err(ApiError::App(MeetingError::NotPermitted.into()));
    }
    let meeting_id = call.meeting_id().await?;
    let grants = call
        .state
        .commands
        .inspect(meeting_id, |m| {
            m.ok_or(MeetingError::NotFound)
                .and_then(|m| call_grants(m, &call.caller))
        })
        .await?
        .map_err(|e| ApiError::App(e.into()))?;
    let minted = livekit.token(&grants).map_err(ApiError::media)?;
    Ok(Json(TokenView {
        token: minted.token,
        meeting_id,
        room: grants.room.as_str().to_owned(),
        user_id: grants.user_id,
        user_name: grants.user_name,
        role: grants.role,
        is_host: grants.is_host,
        livekit_url: livekit.url().to_owned(),
        expires_at: minted.expires_at,
    })
    .into_response())
}

/// A join's `media`: the caller's LiveKit access once they are in, when
/// LiveKit is configured (`None` otherwise: waiting, or no LiveKit).
pub async fn media_after_join(
    state: &AppState,
    meeting_id: MeetingId,
    caller: &Caller,
) -> Result<Option<MediaAccess>, ApiError> {
    let Some(livekit) = state.media.livekit.as_ref() else {
        return Ok(None);
    };
    let grants = state
        .commands
        .inspect(meeting_id, |m| m.and_then(|m| call_grants(m, caller).ok()))
        .await?;
    let Some(grants) = grants else {
        return Ok(None);
    };
    let minted = livekit.token(&grants).map_err(ApiError::media)?;
    Ok(Some(MediaAccess {
        provider: "livekit",
        url: livekit.url().to_owned(),
        token: minted.token,
        expires_at: minted.expires_at,
    }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LinkView {
    pub meeting_id: MeetingId,
    pub meeting_url: String,
    pub display_name: String,
    pub is_admin: bool,
    pub is_moderator: bool,
    /// The planned start.
    pub scheduled_at: Option<DateTime<Utc>>,
    /// Planned minutes.
    pub duration: Option<i64>,
    pub status: MeetingStatus,
    /// When the link's token stops letting its holder in (none without
    /// `JITSI_APP_SECRET`).
    pub expires_at: Option<DateTime<Utc>>,
}

/// `GET .../link`: the caller's personalized Jitsi link.
#[utoipa::path(
    get,
    path = "/meetings/{meeting}/link",
    tag = "media",
    params(super::openapi::MeetingPath),
    responses(
        (status = 200, description = "A Jitsi link", body = LinkView),
        (status = 403, description = "INSUFFICIENT_PERMISSION or a rule of the meeting", body = super::openapi::ErrorBody),
        (status = 404, description = "MEETING_NOT_FOUND or PARTICIPANT_NOT_FOUND", body = super::openapi::ErrorBody),
        (status = 410, description = "MEETING_ENDED", body = super::openapi::ErrorBody),
        (status = 503, description = "DATABASE_UNAVAILABLE, PROJECTION_LAGGING or a media server not configured", body = super::openapi::ErrorBody)
    )
)]
pub async fn link(
    AuthUser(caller): AuthUser,
    axum::extract::State(state): axum::extract::State<AppState>,
    axum::extract::Path(meeting): axum::extract::Path<String>,
) -> Result<Response, ApiError> {
    let jitsi = state
        .media
        .jitsi
        .as_ref()
        .ok_or(ApiError::NotConfigured("JITSI_NOT_CONFIGURED", "Jitsi"))?;
    let meeting_id = state.commands.resolve(&meeting).await?;
    let grants = state
        .commands
        .inspect(meeting_id, |m| {
            m.ok_or(MeetingError::NotFound)
                .and_then(|m| link_grants(m, &caller))
        })
        .await?
        .map_err(|e| ApiError::App(e.into()))?;
    let link = jitsi
        .link(&grants, &caller.name, caller.email.as_deref())
        .map_err(ApiError::media)?;
    Ok(Json(LinkView {
        meeting_id,
        meeting_url: link.url,
        display_name: caller.name,
        is_admin: grants.is_admin,
        is_moderator: grants.is_moderator,
        scheduled_at: grants.starts_at,
        duration: grants.duration_minutes,
        status: grants.status,
        expires_at: link.expires_at,
    })
    .into_response())
}
