//! The JSON shapes the write side and the read side both answer with: a
//! command's reply (from the aggregate) and a query's answer (from the read
//! models) use the same type wherever they show the same thing, so the two
//! cannot drift apart. Statuses are enums here, never strings.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::event::{BreakoutRoomSettings, ChatFile, ChatMessageSent, Role};
use crate::ids::{
    BreakoutRoomId, BreakoutSessionId, MeetingId, MessageId, ParticipantId, RoomCode, UserId,
};
use crate::settings::RoomSettings;

/// Where a meeting is in its life: `scheduled` -> `active` -> `ended`, or
/// `cancelled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MeetingStatus {
    Scheduled,
    Active,
    Ended,
    Cancelled,
}

impl MeetingStatus {
    pub const ALL: [Self; 4] = [Self::Scheduled, Self::Active, Self::Ended, Self::Cancelled];

    /// The wire name (as serialised, and as the read models store it).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Active => "active",
            Self::Ended => "ended",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// Where a join stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ParticipantStatus {
    /// In the meeting.
    Joined,
    /// In the waiting room.
    Waiting,
    /// Turned away from the waiting room.
    Rejected,
}

/// A meeting's details: what creating or updating it answers, and the
/// core of what reading it answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MeetingView {
    pub meeting_id: MeetingId,
    pub room_code: RoomCode,
    pub title: String,
    pub description: String,
    pub host_id: UserId,
    pub host_name: String,
    pub status: MeetingStatus,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub max_participants: u32,
    pub settings: RoomSettings,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
}

/// A seat in a meeting: what a join answers, and each item of the
/// participants a query lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SeatView {
    pub participant_id: ParticipantId,
    pub meeting_id: MeetingId,
    pub user_id: UserId,
    pub user_name: String,
    pub role: Role,
    pub status: ParticipantStatus,
    pub is_muted: bool,
    pub is_video_enabled: bool,
    pub device_type: Option<String>,
    pub joined_at: DateTime<Utc>,
}

/// What a chat message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MessageType {
    Text,
    /// A shared file (`file_url`, `file_name`, ...), with an optional
    /// caption as its content.
    File,
}

/// A chat message: what sending it answers, and each message of the chat
/// a query lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChatView {
    pub message_id: MessageId,
    pub meeting_id: MeetingId,
    pub sender_id: UserId,
    pub sender_name: String,
    pub content: String,
    pub message_type: MessageType,
    pub is_private: bool,
    pub recipient_id: Option<UserId>,
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = ChatFileFields))]
    pub file: Option<ChatFile>,
    pub timestamp: DateTime<Utc>,
}

impl ChatView {
    /// The message an event sent.
    pub fn of(e: &ChatMessageSent) -> Self {
        Self {
            message_id: e.message_id,
            meeting_id: e.meeting_id,
            sender_id: e.sender_id.clone(),
            sender_name: e.sender_name.clone(),
            content: e.content.clone(),
            message_type: match e.file {
                Some(_) => MessageType::File,
                None => MessageType::Text,
            },
            is_private: e.recipient_id.is_some(),
            recipient_id: e.recipient_id.clone(),
            file: e.file.clone(),
            timestamp: e.sent_at,
        }
    }
}

/// A meeting's breakout rooms: what opening them answers and what reading
/// them answers (`is_open: false`, no rooms, when none are open).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BreakoutView {
    pub meeting_id: MeetingId,
    pub session_id: Option<BreakoutSessionId>,
    pub is_open: bool,
    pub allow_participants_to_choose: bool,
    pub allow_participants_to_return: bool,
    pub closes_at: Option<DateTime<Utc>>,
    pub rooms: Vec<BreakoutRoomView>,
}

/// One open breakout room and who is in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BreakoutRoomView {
    pub room_id: BreakoutRoomId,
    pub name: String,
    pub description: String,
    pub capacity: Option<u32>,
    #[serde(flatten)]
    pub settings: BreakoutRoomSettings,
    pub current_participants: usize,
    pub participants: Vec<UserId>,
    pub is_active: bool,
}

impl BreakoutView {
    /// A meeting without open breakout rooms.
    pub fn closed(meeting_id: MeetingId) -> Self {
        Self {
            meeting_id,
            session_id: None,
            is_open: false,
            allow_participants_to_choose: false,
            allow_participants_to_return: false,
            closes_at: None,
            rooms: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_use_their_wire_names() {
        for status in MeetingStatus::ALL {
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
            assert_eq!(MeetingStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(MeetingStatus::parse("over"), None);
        assert_eq!(
            serde_json::to_value(ParticipantStatus::Waiting).unwrap(),
            "waiting"
        );
    }
}

/// The file fields of a chat message as its JSON shows them: all present
/// when it carries a file (`message_type` `file`), none otherwise.
#[cfg(feature = "openapi")]
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ChatFileFields {
    /// An http(s) URL.
    file_url: Option<String>,
    file_name: Option<String>,
    file_type: Option<String>,
    /// Bytes.
    file_size: Option<i64>,
}
