//! Participant commands over HTTP: invite, remove (and ban), roles, own
//! status, the waiting room, chat and reactions.

use axum::extract::{Path, Query};
use axum::response::Response;
use serde::{Deserialize, Serialize};

use command::meeting::{Command, SendChat, StatusUpdate};
use events::event::Role;
use events::{MessageId, ParticipantId, UserId};

use super::ApiError;
use super::extract::JsonBody;
use super::meetings::MeetingCall;

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InviteBody {
    pub user_id: Option<String>,
    pub role: Option<Role>,
}

/// `POST .../participants {user_id, role}` (host, co-host).
pub async fn invite(
    call: MeetingCall,
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

#[derive(Debug, Deserialize, Serialize)]
pub struct RemoveParams {
    #[serde(default)]
    pub ban: bool,
}

/// `DELETE .../participants/{user_id}[?ban=true]` (host, co-host).
pub async fn remove(
    call: MeetingCall,
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

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RoleBody {
    pub role: Option<Role>,
}

/// `PUT .../participants/{user_id}/role {role}` (host); `host` hands
/// hosting over.
pub async fn change_role(
    mut call: MeetingCall,
    Path((_, user_id)): Path<(String, String)>,
    JsonBody(body): JsonBody<RoleBody>,
) -> Result<Response, ApiError> {
    call.idempotency = None;
    let role = body
        .role
        .ok_or_else(|| ApiError::invalid("role", "is required"))?;
    let command = Command::ChangeRole {
        user_id: UserId(user_id),
        role,
    };
    call.run("role", command, &body).await
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
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

/// `PUT .../participants/status`.
pub async fn status(
    mut call: MeetingCall,
    JsonBody(body): JsonBody<StatusBody>,
) -> Result<Response, ApiError> {
    call.idempotency = None;
    call.run("status", body.command(), &body).await
}

fn waiting_participant(id: &str) -> Result<ParticipantId, ApiError> {
    id.parse().map_err(|_| {
        ApiError::App(command::AppError::Domain(
            command::meeting::MeetingError::NotWaiting,
        ))
    })
}

/// `POST .../waiting-room/{participant_id}/admit` (host, co-host).
pub async fn admit(
    call: MeetingCall,
    Path((_, participant)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = waiting_participant(&participant)?;
    call.run("admit", Command::Admit(id), &id).await
}

/// `POST .../waiting-room/{participant_id}/reject` (host, co-host).
pub async fn reject(
    call: MeetingCall,
    Path((_, participant)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = waiting_participant(&participant)?;
    call.run("reject", Command::Reject(id), &id).await
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ChatBody {
    pub content: Option<String>,
    pub recipient_id: Option<String>,
    /// Only `text` (the spec's file messages are not supported).
    pub message_type: Option<String>,
}

impl ChatBody {
    pub fn command(&self) -> Result<Command, ApiError> {
        if self.message_type.as_deref().is_some_and(|t| t != "text") {
            return Err(ApiError::invalid("message_type", "must be text"));
        }
        let content = self
            .content
            .clone()
            .ok_or_else(|| ApiError::invalid("content", "is required"))?;
        Ok(Command::Chat(SendChat {
            message_id: MessageId::new(),
            content,
            recipient_id: self.recipient_id.clone().map(UserId),
        }))
    }
}

/// `POST .../chat {content, recipient_id?}`.
pub async fn chat(
    call: MeetingCall,
    JsonBody(body): JsonBody<ChatBody>,
) -> Result<Response, ApiError> {
    let command = body.command()?;
    call.run("chat", command, &body).await
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReactionBody {
    pub reaction_type: Option<String>,
    /// Accepted for compatibility with the spec (seconds to show it).
    pub duration: Option<u32>,
}

impl ReactionBody {
    pub fn command(&self) -> Result<Command, ApiError> {
        let reaction_type = self
            .reaction_type
            .clone()
            .ok_or_else(|| ApiError::invalid("reaction_type", "is required"))?;
        Ok(Command::React { reaction_type })
    }
}

/// `POST .../reactions {reaction_type}`.
pub async fn react(
    call: MeetingCall,
    JsonBody(body): JsonBody<ReactionBody>,
) -> Result<Response, ApiError> {
    let command = body.command()?;
    call.run("reaction", command, &body).await
}
