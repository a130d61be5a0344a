//! What a caller can ask of a meeting. Everything a decision needs from the
//! outside world (who asks, the time, fresh ids) is in the command or its
//! [`Context`], so [`super::decide`] stays pure.

use chrono::{DateTime, Utc};
use events::event::ConfigChange;
use events::{Actor, ActorKind, MeetingId, Metadata, ParticipantId, RoomCode, UserId};
use uuid::Uuid;

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user_id: UserId,
    pub name: String,
    pub email: Option<String>,
    /// Deployment roles from the token (`admin`, `auditor`).
    pub roles: Vec<String>,
}

/// Who asks, when, and on behalf of which request.
#[derive(Debug, Clone)]
pub struct Context {
    pub caller: Caller,
    pub at: DateTime<Utc>,
    pub request_id: Option<Uuid>,
}

impl Context {
    /// The audit metadata of the events this context's command produces.
    pub fn metadata(&self) -> Metadata {
        Metadata {
            actor: Actor {
                user_id: self.caller.user_id.clone(),
                name: self.caller.name.clone(),
                kind: ActorKind::User,
            },
            correlation_id: self.request_id.unwrap_or_else(Uuid::now_v7),
            causation_id: Uuid::now_v7(),
            request_id: self.request_id,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleMeeting {
    pub meeting_id: MeetingId,
    pub room_code: RoomCode,
    pub title: String,
    pub description: Option<String>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    /// Taken as given so that an out-of-range value is a rule violation
    /// with a field name, not a parse error.
    pub max_participants: Option<i64>,
    /// Settings to change from the defaults (`max_participants` is ignored
    /// here; it has its own field).
    pub settings: ConfigChange,
    pub start_now: bool,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct JoinMeeting {
    /// The seat id if this join creates a seat.
    pub participant_id: ParticipantId,
    pub device_type: Option<String>,
    pub join_muted: Option<bool>,
    pub join_without_video: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConfigUpdate {
    /// The boolean settings to set (`max_participants` ignored here).
    pub settings: ConfigChange,
    pub max_participants: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Schedule(ScheduleMeeting),
    Start,
    Join(JoinMeeting),
    Leave,
    UpdateConfig(ConfigUpdate),
    End,
}
