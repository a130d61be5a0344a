//! Queries over HTTP: history, one meeting's details, status and present
//! participants. Each honours `X-Min-Position`.

use axum::Json;
use axum::extract::FromRequestParts;
use axum::extract::{Path, Query, State};
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};

use events::MeetingId;
use events::views::{BreakoutView, MeetingStatus};
use query::access::Access;
use query::history::{HistoryItem, HistoryRole};
use query::meeting::{MeetingDetails, Participants, StatusReport};
use query::{Page, Paging};

use super::extract::AuthUser;
use super::{ApiError, AppState};

/// `X-Min-Position: N`: answer only once every read model has applied N.
pub struct MinPosition(Option<i64>);

impl FromRequestParts<AppState> for MinPosition {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get("x-min-position") else {
            return Ok(Self(None));
        };
        value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<i64>().ok())
            .filter(|n| *n >= 0)
            .map(|n| Self(Some(n)))
            .ok_or_else(|| ApiError::invalid("X-Min-Position", "must be a non-negative integer"))
    }
}

impl MinPosition {
    /// Waits for the read models to apply the position; one beyond the
    /// log's head was never answered by a command, so it is refused at once.
    async fn wait(&self, state: &AppState) -> Result<(), ApiError> {
        if let Some(position) = self.0 {
            let head = state.head().await?;
            if position > head {
                return Err(ApiError::invalid(
                    "X-Min-Position",
                    format!("is beyond the log's head ({head})"),
                ));
            }
            state
                .progress
                .wait_for(position, state.min_position_wait)
                .await?;
        }
        Ok(())
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// From 1.
    #[param(minimum = 1, nullable = false)]
    page: Option<i64>,
    /// From 1; above 100 answers 100.
    #[param(minimum = 1, nullable = false)]
    page_size: Option<i64>,
    /// `host` (default), `participant` or `any`.
    #[param(value_type = Option<HistoryRole>, inline, nullable = false)]
    role: Option<String>,
}

#[utoipa::path(
    get,
    path = "/meetings/history",
    tag = "queries",
    params(HistoryParams, super::openapi::MinPosition),
    responses(
        (status = 200, description = "Ended meetings, most recent first", body = query::page::Page<query::history::HistoryItem>),
        (status = 503, description = "DATABASE_UNAVAILABLE, PROJECTION_LAGGING or a media server not configured", body = super::openapi::ErrorBody)
    )
)]
pub async fn history(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    min: MinPosition,
    params: Result<Query<HistoryParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Page<HistoryItem>>, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let paging = Paging::new(params.page, params.page_size)
        .map_err(|e| ApiError::invalid(e.field, e.reason))?;
    let role = match params.role.as_deref() {
        None => HistoryRole::Host,
        Some(role) => HistoryRole::parse(role)
            .ok_or_else(|| ApiError::invalid("role", "must be host, participant or any"))?,
    };
    min.wait(&state).await?;
    let page = query::history::history(&state.reads, caller.user_id.as_str(), role, paging).await?;
    Ok(Json(page))
}

/// Resolves the path's meeting, waits for `X-Min-Position`, and checks the
/// caller's access to it.
async fn permitted(
    state: &AppState,
    caller: &command::meeting::Caller,
    reference: &str,
    min: MinPosition,
    access: Access,
) -> Result<MeetingId, ApiError> {
    let meeting_id = state.commands.resolve(reference).await?;
    min.wait(state).await?;
    super::access::check(state, caller, meeting_id, access).await?;
    Ok(meeting_id)
}

#[utoipa::path(
    get,
    path = "/meetings/{meeting}",
    tag = "queries",
    params(super::openapi::MeetingPath, super::openapi::MinPosition),
    responses(
        (status = 200, description = "The meeting", body = query::meeting::MeetingDetails),
        (status = 403, description = "INSUFFICIENT_PERMISSION or a rule of the meeting", body = super::openapi::ErrorBody),
        (status = 404, description = "MEETING_NOT_FOUND or PARTICIPANT_NOT_FOUND", body = super::openapi::ErrorBody),
        (status = 503, description = "DATABASE_UNAVAILABLE, PROJECTION_LAGGING or a media server not configured", body = super::openapi::ErrorBody)
    )
)]
pub async fn details(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    min: MinPosition,
    Path(meeting): Path<String>,
) -> Result<Json<MeetingDetails>, ApiError> {
    let id = permitted(&state, &caller, &meeting, min, Access::Read).await?;
    let details = query::meeting::details(&state.reads, id).await?;
    details
        .map(Json)
        .ok_or(ApiError::App(command::AppError::NotFound))
}

#[utoipa::path(
    get,
    operation_id = "meeting_status",
    path = "/meetings/{meeting}/status",
    tag = "queries",
    params(super::openapi::MeetingPath, super::openapi::MinPosition),
    responses(
        (status = 200, description = "Its status", body = query::meeting::StatusReport),
        (status = 403, description = "INSUFFICIENT_PERMISSION or a rule of the meeting", body = super::openapi::ErrorBody),
        (status = 404, description = "MEETING_NOT_FOUND or PARTICIPANT_NOT_FOUND", body = super::openapi::ErrorBody),
        (status = 503, description = "DATABASE_UNAVAILABLE, PROJECTION_LAGGING or a media server not configured", body = super::openapi::ErrorBody)
    )
)]
pub async fn status(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    min: MinPosition,
    Path(meeting): Path<String>,
) -> Result<Json<StatusReport>, ApiError> {
    let id = permitted(&state, &caller, &meeting, min, Access::Read).await?;
    let status = query::meeting::status(&state.reads, id).await?;
    status
        .map(Json)
        .ok_or(ApiError::App(command::AppError::NotFound))
}

#[utoipa::path(
    get,
    path = "/meetings/{meeting}/participants",
    tag = "queries",
    params(super::openapi::MeetingPath, super::openapi::MinPosition),
    responses(
        (status = 200, description = "Who is present", body = query::meeting::Participants),
        (status = 403, description = "INSUFFICIENT_PERMISSION or a rule of the meeting", body = super::openapi::ErrorBody),
        (status = 404, description = "MEETING_NOT_FOUND or PARTICIPANT_NOT_FOUND", body = super::openapi::ErrorBody),
        (status = 503, description = "DATABASE_UNAVAILABLE, PROJECTION_LAGGING or a media server not configured", body = super::openapi::ErrorBody)
    )
)]
pub async fn participants(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    min: MinPosition,
    Path(meeting): Path<String>,
) -> Result<Json<Participants>, ApiError> {
    let id = permitted(&state, &caller, &meeting, min, Access::Read).await?;
    Ok(Json(query::meeting::participants(&state.reads, id).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// From 1.
    #[param(minimum = 1, nullable = false)]
    page: Option<i64>,
    /// From 1; above 100 answers 100.
    #[param(minimum = 1, nullable = false)]
    page_size: Option<i64>,
    #[param(value_type = Option<events::views::MeetingStatus>, nullable = false)]
    status: Option<String>,
    #[param(nullable = false)]
    keyword: Option<String>,
}

/// `GET /meetings`: the caller's meetings (hosted, co-hosted, invited to
/// or joined).
#[utoipa::path(
    get,
    operation_id = "list_meetings",
    path = "/meetings",
    tag = "queries",
    params(ListParams, super::openapi::MinPosition),
    responses(
        (status = 200, description = "A page of the caller's meetings", body = query::page::Page<query::meeting::MeetingDetails>),
        (status = 503, description = "DATABASE_UNAVAILABLE, PROJECTION_LAGGING or a media server not configured", body = super::openapi::ErrorBody)
    )
)]
pub async fn list(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    min: MinPosition,
    params: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Page<MeetingDetails>>, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let paging = Paging::new(params.page, params.page_size)
        .map_err(|e| ApiError::invalid(e.field, e.reason))?;
    let status = params
        .status
        .as_deref()
        .map(|status| {
            MeetingStatus::parse(status).ok_or_else(|| {
                ApiError::invalid("status", "must be scheduled, active, ended or cancelled")
            })
        })
        .transpose()?;
    let keyword = params
        .keyword
        .as_deref()
        .map(str::trim)
        .filter(|k| !k.is_empty());
    if let Some(keyword) = keyword {
        events::text::line(keyword, 200)
            .map_err(|e| ApiError::invalid("keyword", e.to_string()))?;
    }
    min.wait(&state).await?;
    let page = query::meeting::list(
        &state.reads,
        caller.user_id.as_str(),
        status,
        keyword,
        paging,
    )
    .await?;
    Ok(Json(page))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Exists {
    exists: bool,
    meeting_id: Option<MeetingId>,
}

/// `GET .../exists` without a token: whether the link names a meeting one
/// can still go to. Answered from the log, so a link works the moment it
/// is created, and a deleted (cancelled) meeting no longer exists.
#[utoipa::path(
    get,
    path = "/meetings/{meeting}/exists",
    tag = "queries",
    security(()),
    params(super::openapi::MeetingPath),
    responses(
        (status = 200, description = "Whether it exists (no token needed)", body = Exists),
        (status = 429, description = "RATE_LIMIT_EXCEEDED", body = super::openapi::ErrorBody)
    )
)]
pub async fn exists(
    State(state): State<AppState>,
    Path(meeting): Path<String>,
) -> Result<Json<Exists>, ApiError> {
    let found = match state.commands.resolve(&meeting).await {
        Ok(id) => {
            let open = |m: Option<&command::meeting::Meeting>| {
                m.filter(|m| m.status != MeetingStatus::Cancelled)
                    .map(|m| m.id)
            };
            state.commands.inspect(id, open).await?
        }
        Err(command::AppError::NotFound) => None,
        Err(e) => return Err(e.into()),
    };
    Ok(Json(Exists {
        exists: found.is_some(),
        meeting_id: found,
    }))
}

/// `GET .../info` without a token: existence, head count, creation time,
/// capacity; nothing else.
#[utoipa::path(
    get,
    path = "/meetings/{meeting}/info",
    tag = "queries",
    security(()),
    params(super::openapi::MeetingPath),
    responses(
        (status = 200, description = "Public facts (no token needed)", body = query::meeting::MeetingInfo),
        (status = 404, description = "MEETING_NOT_FOUND or PARTICIPANT_NOT_FOUND", body = super::openapi::ErrorBody),
        (status = 503, description = "DATABASE_UNAVAILABLE, PROJECTION_LAGGING or a media server not configured", body = super::openapi::ErrorBody)
    )
)]
pub async fn info(
    State(state): State<AppState>,
    min: MinPosition,
    Path(meeting): Path<String>,
) -> Result<Json<query::meeting::MeetingInfo>, ApiError> {
    let id = state.commands.resolve(&meeting).await?;
    min.wait(&state).await?;
    let mut info = query::meeting::info(&state.reads, id).await?;
    if info.is_none() {
        // The log knows the meeting (it resolved): the read model soon will.
        super::access::caught_up(&state).await?;
        info = query::meeting::info(&state.reads, id).await?;
    }
    info.map(Json)
        .ok_or(ApiError::App(command::AppError::NotFound))
}

/// `GET .../attendance` (host, co-host, admin, auditor).
#[utoipa::path(
    get,
    path = "/meetings/{meeting}/attendance",
    tag = "queries",
    params(super::openapi::MeetingPath, super::openapi::MinPosition),
    responses(
        (status = 200, description = "Sessions per person", body = query::activity::Attendance),
        (status = 403, description = "INSUFFICIENT_PERMISSION or a rule of the meeting", body = super::openapi::ErrorBody),
        (status = 404, description = "MEETING_NOT_FOUND or PARTICIPANT_NOT_FOUND", body = super::openapi::ErrorBody),
        (status = 503, description = "DATABASE_UNAVAILABLE, PROJECTION_LAGGING or a media server not configured", body = super::openapi::ErrorBody)
    )
)]
pub async fn attendance(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    min: MinPosition,
    Path(meeting): Path<String>,
) -> Result<Json<query::activity::Attendance>, ApiError> {
    let id = permitted(&state, &caller, &meeting, min, Access::Audit).await?;
    let attendance = query::activity::attendance(&state.reads, id, chrono::Utc::now()).await?;
    Ok(Json(attendance))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChatParams {
    /// 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200, nullable = false)]
    limit: Option<i64>,
    /// Newest messages to skip.
    #[param(minimum = 0, nullable = false)]
    offset: Option<i64>,
}

/// `GET .../chat?limit&offset`: newest-last; private messages only for
/// their sender and recipient.
#[utoipa::path(
    get,
    operation_id = "read_chat",
    path = "/meetings/{meeting}/chat",
    tag = "queries",
    params(super::openapi::MeetingPath, ChatParams, super::openapi::MinPosition),
    responses(
        (status = 200, description = "Messages, oldest first", body = query::activity::Chat),
        (status = 403, description = "INSUFFICIENT_PERMISSION or a rule of the meeting", body = super::openapi::ErrorBody),
        (status = 404, description = "MEETING_NOT_FOUND or PARTICIPANT_NOT_FOUND", body = super::openapi::ErrorBody),
        (status = 503, description = "DATABASE_UNAVAILABLE, PROJECTION_LAGGING or a media server not configured", body = super::openapi::ErrorBody)
    )
)]
pub async fn chat(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    min: MinPosition,
    Path(meeting): Path<String>,
    params: Result<Query<ChatParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<query::activity::Chat>, ApiError> {
    use query::activity::{CHAT_DEFAULT_LIMIT, CHAT_MAX_LIMIT};
    let Query(params) = params.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let limit = params.limit.unwrap_or(CHAT_DEFAULT_LIMIT);
    if limit < 1 {
        return Err(ApiError::invalid("limit", "must be at least 1"));
    }
    let offset = params.offset.unwrap_or(0);
    if offset < 0 {
        return Err(ApiError::invalid("offset", "must not be negative"));
    }
    let id = permitted(&state, &caller, &meeting, min, Access::Read).await?;
    let chat = query::activity::chat(
        &state.reads,
        id,
        caller.user_id.as_str(),
        limit.min(CHAT_MAX_LIMIT),
        offset,
    )
    .await?;
    Ok(Json(chat))
}

#[utoipa::path(
    get,
    path = "/meetings/{meeting}/recordings",
    tag = "queries",
    params(super::openapi::MeetingPath, super::openapi::MinPosition),
    responses(
        (status = 200, description = "Recordings", body = query::activity::Recordings),
        (status = 403, description = "INSUFFICIENT_PERMISSION or a rule of the meeting", body = super::openapi::ErrorBody),
        (status = 404, description = "MEETING_NOT_FOUND or PARTICIPANT_NOT_FOUND", body = super::openapi::ErrorBody),
        (status = 503, description = "DATABASE_UNAVAILABLE, PROJECTION_LAGGING or a media server not configured", body = super::openapi::ErrorBody)
    )
)]
pub async fn recordings(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    min: MinPosition,
    Path(meeting): Path<String>,
) -> Result<Json<query::activity::Recordings>, ApiError> {
    let id = permitted(&state, &caller, &meeting, min, Access::Read).await?;
    Ok(Json(query::activity::recordings(&state.reads, id).await?))
}

#[utoipa::path(
    get,
    path = "/meetings/{meeting}/breakout-rooms",
    tag = "queries",
    params(super::openapi::MeetingPath, super::openapi::MinPosition),
    responses(
        (status = 200, description = "The open session", body = events::views::BreakoutView),
        (status = 403, description = "INSUFFICIENT_PERMISSION or a rule of the meeting", body = super::openapi::ErrorBody),
        (status = 404, description = "MEETING_NOT_FOUND or PARTICIPANT_NOT_FOUND", body = super::openapi::ErrorBody),
        (status = 503, description = "DATABASE_UNAVAILABLE, PROJECTION_LAGGING or a media server not configured", body = super::openapi::ErrorBody)
    )
)]
pub async fn breakout_rooms(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    min: MinPosition,
    Path(meeting): Path<String>,
) -> Result<Json<BreakoutView>, ApiError> {
    let id = permitted(&state, &caller, &meeting, min, Access::Read).await?;
    Ok(Json(
        query::activity::breakout_rooms(&state.reads, id).await?,
    ))
}
