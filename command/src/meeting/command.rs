//! What a caller can ask of a meeting. Everything a decision needs from the
//! outside world (who asks, the time, fresh ids) is in the command or its
//! [`Context`], so [`super::decide`] stays pure.

use chrono::{DateTime, Utc};
use events::event::{BreakoutRoomSettings, ConfigChange, Role, SecurityPolicy};
use events::{
    Actor, ActorKind, BreakoutRoomId, BreakoutSessionId, MeetingId, MessageId, Metadata,
    ParticipantId, RecordingId, RoomCode, SecretId, UserId,
};
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
    /// The stored hash of the meeting password, if one was set.
    pub password_id: Option<SecretId>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct JoinMeeting {
    /// The seat id if this join creates a seat.
    pub participant_id: ParticipantId,
    pub device_type: Option<String>,
    pub join_muted: Option<bool>,
    pub join_without_video: Option<bool>,
    /// What the caller's password proved, checked before deciding (the
    /// hash lives beside the log, so checking it is not the aggregate's
    /// business).
    pub password: PasswordCheck,
}

/// The outcome of checking a join's password against the meeting's hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PasswordCheck {
    /// No password was given.
    #[default]
    Missing,
    /// It matched the hash with this id.
    Matched(SecretId),
    /// It did not match.
    Wrong,
}

/// New details for a scheduled or active meeting; absent = unchanged.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UpdateMeeting {
    pub title: Option<String>,
    pub description: Option<String>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub max_participants: Option<i64>,
    pub settings: ConfigChange,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ApplyPolicy {
    pub policy: SecurityPolicy,
    /// The hash of a new password given with the policy.
    pub new_password_id: Option<SecretId>,
}

/// Own media state, or a moderator muting someone (`target`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StatusUpdate {
    pub target: Option<UserId>,
    pub is_muted: Option<bool>,
    pub is_video_enabled: Option<bool>,
    pub is_screen_sharing: Option<bool>,
    pub is_hand_raised: Option<bool>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SendChat {
    pub message_id: MessageId,
    pub content: String,
    pub recipient_id: Option<UserId>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct RoomRequest {
    pub name: Option<String>,
    pub description: Option<String>,
    pub capacity: Option<i64>,
    pub settings: Option<BreakoutRoomSettings>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OpenBreakout {
    pub session_id: BreakoutSessionId,
    pub room_count: Option<i64>,
    pub rooms: Vec<RoomRequest>,
    pub auto_assign: bool,
    pub allow_participants_to_choose: bool,
    pub allow_participants_to_return: bool,
    pub time_limit_minutes: Option<i64>,
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
    Update(UpdateMeeting),
    /// Cancel a scheduled meeting; end and cancel an active one.
    Delete,
    ApplyPolicy(ApplyPolicy),
    Invite {
        user_id: UserId,
        role: Role,
    },
    Remove {
        user_id: UserId,
        ban: bool,
    },
    ChangeRole {
        user_id: UserId,
        role: Role,
    },
    SetStatus(StatusUpdate),
    Admit(ParticipantId),
    Reject(ParticipantId),
    Chat(SendChat),
    React {
        reaction_type: String,
    },
    OpenBreakout(OpenBreakout),
    AssignBreakout {
        user_id: UserId,
        room_id: BreakoutRoomId,
    },
    CloseBreakout,
    /// Closes the session's rooms if its time limit has passed (anyone may
    /// ask; the timer does).
    ExpireBreakout(BreakoutSessionId),
    StartRecording(RecordingId),
    StopRecording,
    ReportRecordingFile {
        recording_id: RecordingId,
        file_url: String,
        size: i64,
    },
}
