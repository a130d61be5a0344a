//! The room's rules over HTTP: live settings (`PATCH .../config`) and the
//! security policy (`POST .../security/policy`).

use axum::response::Response;
use serde::{Deserialize, Serialize};

use command::meeting::Command;
use command::meeting::policy::{ApplyPolicy, ConfigUpdate};
use events::SecretId;
use events::event::SecurityPolicy;
use events::settings::SettingsChange;

use super::ApiError;
use super::call::{Call, Unkeyed};
use super::extract::JsonBody;
use super::password;

#[derive(Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"lock_room": true}))]
pub struct ConfigBody {
    #[serde(flatten)]
    pub settings: SettingsChange,
    pub max_participants: Option<i64>,
}

/// `PATCH .../config` (host, active): setting values, naturally
/// idempotent.
#[utoipa::path(
    patch,
    path = "/meetings/{meeting}/config",
    tag = "settings",
    params(super::openapi::MeetingPath),
    request_body = ConfigBody,
    responses(
        (status = 200, description = "The settings", body = command::meeting::policy::ConfigView),
        (status = 400, description = "ROOM_NOT_ACTIVE", body = super::openapi::ErrorBody),
        (status = 403, description = "INSUFFICIENT_PERMISSION or a rule of the meeting", body = super::openapi::ErrorBody),
        (status = 404, description = "MEETING_NOT_FOUND or PARTICIPANT_NOT_FOUND", body = super::openapi::ErrorBody),
        (status = 410, description = "MEETING_ENDED", body = super::openapi::ErrorBody),
        (status = 429, description = "RATE_LIMIT_EXCEEDED", body = super::openapi::ErrorBody)
    )
)]
pub async fn configure(
    call: Call<Unkeyed>,
    JsonBody(body): JsonBody<ConfigBody>,
) -> Result<Response, ApiError> {
    let command = Command::UpdateConfig(ConfigUpdate {
        settings: body.settings,
        max_participants: body.max_participants,
    });
    call.run("config", command, &body).await
}

/// The spec's security policy body: the policy itself (absent fields take
/// the defaults of a meeting without one: a policy is applied whole) and
/// a new password.
#[derive(Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyBody {
    #[serde(flatten)]
    pub policy: SecurityPolicy,
    /// A new password (with `require_password`); stored only as a hash.
    pub password: Option<String>,
}

/// `POST .../security/policy` (host). A new password is stored only for
/// a policy the meeting would accept, checked by the same decision that
/// applies it.
#[utoipa::path(
    post,
    path = "/meetings/{meeting}/security/policy",
    tag = "settings",
    params(super::openapi::MeetingPath, super::openapi::Keyed),
    request_body = PolicyBody,
    responses(
        (status = 200, description = "The policy (never the password)", body = command::meeting::policy::PolicyView),
        (status = 403, description = "INSUFFICIENT_PERMISSION or a rule of the meeting", body = super::openapi::ErrorBody),
        (status = 404, description = "MEETING_NOT_FOUND or PARTICIPANT_NOT_FOUND", body = super::openapi::ErrorBody),
        (status = 410, description = "MEETING_ENDED", body = super::openapi::ErrorBody),
        (status = 429, description = "RATE_LIMIT_EXCEEDED", body = super::openapi::ErrorBody)
    )
)]
pub async fn apply(
    call: Call,
    JsonBody(mut body): JsonBody<PolicyBody>,
) -> Result<Response, ApiError> {
    let meeting_id = call.meeting_id().await?;
    let password = body
        .password
        .take()
        .filter(|_| body.policy.require_password);
    let command = |new_password_id: Option<SecretId>| {
        Command::ApplyPolicy(ApplyPolicy {
            policy: body.policy.clone(),
            new_password_id,
        })
    };
    let new_password_id = match password {
        None => None,
        Some(password) => {
            // Decided on a stand-in id first: nothing is stored for a
            // caller or a policy the meeting refuses.
            let check = command(Some(SecretId::new()));
            call.state
                .commands
                .check(meeting_id, &call.context(), &check)
                .await?;
            password::store_new(&call.state, Some(password)).await?
        }
    };
    call.run_on(meeting_id, "policy", command(new_password_id), &body)
        .await
}
