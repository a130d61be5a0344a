//! Chat and reactions over HTTP (the WebSocket's `chat` and `reaction`
//! frames take the same bodies).

use axum::response::Response;
use serde::{Deserialize, Serialize};

use command::meeting::Command;
use command::meeting::chat::SendChat;
use events::{MessageId, UserId};

use super::ApiError;
use super::call::Call;
use super::extract::JsonBody;

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
pub async fn chat(call: Call, JsonBody(body): JsonBody<ChatBody>) -> Result<Response, ApiError> {
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
    call: Call,
    JsonBody(body): JsonBody<ReactionBody>,
) -> Result<Response, ApiError> {
    let command = body.command()?;
    call.run("reaction", command, &body).await
}
