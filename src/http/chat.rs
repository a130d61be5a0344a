//! Chat and reactions over HTTP (the WebSocket's `chat` and `reaction`
//! frames take the same bodies).

use axum::response::Response;
use serde::{Deserialize, Serialize};

use command::meeting::Command;
use command::meeting::chat::SendChat;
use events::event::ChatFile;
use events::{MessageId, UserId};

use super::ApiError;
use super::call::Call;
use super::extract::JsonBody;

/// Spec 001's chat body: a text message, or (`message_type: "file"`) a
/// shared file with an optional caption; the fields that do not apply may
/// be absent or `null`.
#[derive(Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"content": "Hello everyone", "message_type": "text"}))]
pub struct ChatBody {
    pub content: Option<String>,
    pub recipient_id: Option<String>,
    /// `text` (the default) or `file`.
    pub message_type: Option<String>,
    pub file_url: Option<String>,
    pub file_name: Option<String>,
    pub file_type: Option<String>,
    pub file_size: Option<i64>,
}

impl ChatBody {
    pub fn command(&self) -> Result<Command, ApiError> {
        let file = match self.message_type.as_deref() {
            None | Some("text") => {
                let stray = [
                    ("file_url", self.file_url.is_some()),
                    ("file_name", self.file_name.is_some()),
                    ("file_type", self.file_type.is_some()),
                    ("file_size", self.file_size.is_some()),
                ];
                if let Some((field, _)) = stray.iter().find(|(_, given)| *given) {
                    return Err(ApiError::invalid(*field, "only with message_type file"));
                }
                None
            }
            Some("file") => Some(ChatFile {
                file_url: self
                    .file_url
                    .clone()
                    .ok_or_else(|| ApiError::invalid("file_url", "is required"))?,
                file_name: self
                    .file_name
                    .clone()
                    .ok_or_else(|| ApiError::invalid("file_name", "is required"))?,
                file_type: self.file_type.clone(),
                file_size: self.file_size,
            }),
            Some(_) => return Err(ApiError::invalid("message_type", "must be text or file")),
        };
        let content = match (&self.content, &file) {
            (Some(content), _) => content.clone(),
            (None, Some(_)) => String::new(),
            (None, None) => return Err(ApiError::invalid("content", "is required")),
        };
        Ok(Command::Chat(SendChat {
            message_id: MessageId::new(),
            content,
            recipient_id: self.recipient_id.clone().map(UserId),
            file,
        }))
    }
}

/// `POST .../chat {content, recipient_id?}`.
#[utoipa::path(
    post,
    operation_id = "send_chat",
    path = "/meetings/{meeting}/chat",
    tag = "chat",
    params(super::openapi::MeetingPath, super::openapi::Keyed),
    request_body = ChatBody,
    responses(
        (status = 201, description = "Sent", body = events::views::ChatView),
        (status = 403, description = "INSUFFICIENT_PERMISSION or a rule of the meeting", body = super::openapi::ErrorBody),
        (status = 404, description = "MEETING_NOT_FOUND or PARTICIPANT_NOT_FOUND", body = super::openapi::ErrorBody),
        (status = 410, description = "MEETING_ENDED", body = super::openapi::ErrorBody),
        (status = 429, description = "RATE_LIMIT_EXCEEDED", body = super::openapi::ErrorBody)
    )
)]
pub async fn chat(call: Call, JsonBody(body): JsonBody<ChatBody>) -> Result<Response, ApiError> {
    let command = body.command()?;
    call.run("chat", command, &body).await
}

#[derive(Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reaction_type": "thumbs_up"}))]
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
#[utoipa::path(
    post,
    path = "/meetings/{meeting}/reactions",
    tag = "chat",
    params(super::openapi::MeetingPath, super::openapi::Keyed),
    request_body = ReactionBody,
    responses(
        (status = 200, description = "Sent", body = command::meeting::chat::ReactionView),
        (status = 403, description = "INSUFFICIENT_PERMISSION or a rule of the meeting", body = super::openapi::ErrorBody),
        (status = 404, description = "MEETING_NOT_FOUND or PARTICIPANT_NOT_FOUND", body = super::openapi::ErrorBody),
        (status = 410, description = "MEETING_ENDED", body = super::openapi::ErrorBody),
        (status = 429, description = "RATE_LIMIT_EXCEEDED", body = super::openapi::ErrorBody)
    )
)]
pub async fn react(
    call: Call,
    JsonBody(body): JsonBody<ReactionBody>,
) -> Result<Response, ApiError> {
    let command = body.command()?;
    call.run("reaction", command, &body).await
}
