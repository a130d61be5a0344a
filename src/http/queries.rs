//! Queries over HTTP: history, one meeting's details, status and present
//! participants. Each honours `X-Min-Position`.

use axum::Json;
use axum::extract::FromRequestParts;
use axum::extract::{Path, Query, State};
use axum::http::request::Parts;
use serde::Deserialize;

use query::history::{HistoryItem, HistoryRole};
use query::meeting::{MeetingDetails, MeetingStatus, Participants};
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
    async fn wait(&self, state: &AppState) -> Result<(), ApiError> {
        if let Some(position) = self.0 {
            state
                .progress
                .wait_for(position, state.min_position_wait)
                .await?;
        }
        Ok(())
    }
}

#[derive(Debug, Deserialize)]
pub struct HistoryParams {
    page: Option<i64>,
    page_size: Option<i64>,
    role: Option<String>,
}

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

/// Resolves the path's meeting, waits for `X-Min-Position`, and checks that
/// the caller may read it.
async fn readable(
    state: &AppState,
    caller: &command::meeting::Caller,
    reference: &str,
    min: MinPosition,
) -> Result<String, ApiError> {
    let meeting_id = state.commands.resolve(reference).await?.to_string();
    min.wait(state).await?;
    match query::access::may_read(
        &state.reads,
        &meeting_id,
        caller.user_id.as_str(),
        &caller.roles,
    )
    .await?
    {
        None => Err(ApiError::App(command::AppError::NotFound)),
        Some(false) => Err(ApiError::CannotRead),
        Some(true) => Ok(meeting_id),
    }
}

pub async fn details(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    min: MinPosition,
    Path(meeting): Path<String>,
) -> Result<Json<MeetingDetails>, ApiError> {
    let id = readable(&state, &caller, &meeting, min).await?;
    let details = query::meeting::details(&state.reads, &id).await?;
    details
        .map(Json)
        .ok_or(ApiError::App(command::AppError::NotFound))
}

pub async fn status(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    min: MinPosition,
    Path(meeting): Path<String>,
) -> Result<Json<MeetingStatus>, ApiError> {
    let id = readable(&state, &caller, &meeting, min).await?;
    let status = query::meeting::status(&state.reads, &id).await?;
    status
        .map(Json)
        .ok_or(ApiError::App(command::AppError::NotFound))
}

pub async fn participants(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    min: MinPosition,
    Path(meeting): Path<String>,
) -> Result<Json<Participants>, ApiError> {
    let id = readable(&state, &caller, &meeting, min).await?;
    Ok(Json(query::meeting::participants(&state.reads, &id).await?))
}
