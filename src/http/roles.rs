//! Roles and moderation over HTTP: invite with a role, remove (and ban),
//! change a role.

use axum::extract::{Path, Query};
use axum::response::Response;
use serde::{Deserialize, Serialize};

use command::meeting::Command;
use events::UserId;
use events::event::Role;

use super::ApiError;
use super::call::{Call, Unkeyed};
use super::extract::JsonBody;

#[derive(Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"user_id": "bob", "role": "participant"}))]
pub struct InviteBody {
    pub user_id: Option<String>,
    pub role: Option<Role>,
}

/// `POST .../participants {user_id, role}` (host, co-host).
#[utoipa::path(
    post,
    path = "/meetings/{meeting}/participants",
    tag = "participants",
    params(super::openapi::MeetingPath, super::openapi::Keyed),
    request_body = InviteBody,
    responses(
        (status = 200, description = "Invited", body = command::meeting::roles::MemberView),
        (status = 403, description = "INSUFFICIENT_PERMISSION or a rule of the meeting", body = super::openapi::ErrorBody),
        (status = 404, description = "MEETING_NOT_FOUND or PARTICIPANT_NOT_FOUND", body = super::openapi::ErrorBody),
        (status = 410, description = "MEETING_ENDED", body = super::openapi::ErrorBody),
        (status = 429, description = "RATE_LIMIT_EXCEEDED", body = super::openapi::ErrorBody)
    )
)]
pub async fn invite(
    call: Call,
    JsonBody(body): JsonBody<InviteBody>,
) -> Result<Response, ApiError> {
    let user_id = required_user(body.user_id.as_deref(), "user_id")?;
    let command = Command::Invite {
        user_id,
        role: body.role.unwrap_or(Role::Participant),
    };
    call.run("invite", command, &body).await
}

fn required_user(user: Option<&str>, field: &str) -> Result<UserId, ApiError> {
    match user.map(str::trim) {
        Some(user) if !user.is_empty() && user.len() <= 255 => Ok(UserId(user.to_owned())),
        _ => Err(ApiError::invalid(
            field,
            "is required (1 to 255 characters)",
        )),
    }
}

#[derive(Debug, Deserialize, Serialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RemoveParams {
    #[serde(default)]
    pub ban: bool,
}

/// `DELETE .../participants/{user_id}[?ban=true]` (host, co-host).
#[utoipa::path(
    delete,
    path = "/meetings/{meeting}/participants/{user_id}",
    tag = "participants",
    params(super::openapi::MeetingPath, ("user_id" = String, Path), RemoveParams, super::openapi::Keyed),
    responses(
        (status = 200, description = "Removed (and banned with ban=true)", body = command::meeting::roles::RemovedView),
        (status = 403, description = "INSUFFICIENT_PERMISSION or a rule of the meeting", body = super::openapi::ErrorBody),
        (status = 404, description = "MEETING_NOT_FOUND or PARTICIPANT_NOT_FOUND", body = super::openapi::ErrorBody),
        (status = 410, description = "MEETING_ENDED", body = super::openapi::ErrorBody),
        (status = 429, description = "RATE_LIMIT_EXCEEDED", body = super::openapi::ErrorBody)
    )
)]
pub async fn remove(
    call: Call,
    Path((_, user_id)): Path<(String, String)>,
    params: Result<Query<RemoveParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::invalid("ban", e.body_text()))?;
    let command = Command::Remove {
        user_id: UserId(user_id),
        ban: params.ban,
    };
    call.run("remove", command, &params).await
}

#[derive(Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"role": "co_host"}))]
pub struct RoleBody {
    pub role: Option<Role>,
}

/// `PUT .../participants/{user_id}/role {role}` (host); `host` hands
/// hosting over.
#[utoipa::path(
    put,
    path = "/meetings/{meeting}/participants/{user_id}/role",
    tag = "participants",
    params(super::openapi::MeetingPath, ("user_id" = String, Path)),
    request_body = RoleBody,
    responses(
        (status = 200, description = "The new role", body = command::meeting::roles::MemberView),
        (status = 403, description = "INSUFFICIENT_PERMISSION or a rule of the meeting", body = super::openapi::ErrorBody),
        (status = 404, description = "MEETING_NOT_FOUND or PARTICIPANT_NOT_FOUND", body = super::openapi::ErrorBody),
        (status = 410, description = "MEETING_ENDED", body = super::openapi::ErrorBody),
        (status = 429, description = "RATE_LIMIT_EXCEEDED", body = super::openapi::ErrorBody)
    )
)]
pub async fn change_role(
    call: Call<Unkeyed>,
    Path((_, user_id)): Path<(String, String)>,
    JsonBody(body): JsonBody<RoleBody>,
) -> Result<Response, ApiError> {
    let role = body
        .role
        .ok_or_else(|| ApiError::invalid("role", "is required"))?;
    let command = Command::ChangeRole {
        user_id: UserId(user_id),
        role,
    };
    call.run("role", command, &body).await
}
