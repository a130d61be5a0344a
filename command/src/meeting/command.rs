//! What a caller can ask of a meeting: the [`Command`] enum, one variant
//! per command (each area module defines its commands' inputs), and the
//! [`Context`] every decision gets. Everything a decision needs from the
//! outside world (who asks, the time, fresh ids) is in the command or its
//! context, so [`super::decide`] stays pure.

use chrono::{DateTime, Utc};
use events::event::Role;
use events::{
    Actor, ActorKind, BreakoutRoomId, BreakoutSessionId, CommandId, MeetingId, Metadata,
    ParticipantId, RecordingId, UserId,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::admission::JoinMeeting;
use super::breakout::OpenBreakout;
use super::chat::SendChat;
use super::lifecycle::{ScheduleMeeting, UpdateMeeting};
use super::media::StatusUpdate;
use super::policy::{ApplyPolicy, ConfigUpdate};
use super::presence::MediaReport;
use super::rules::ADMIN_ROLE;

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caller {
    pub user_id: UserId,
    /// The name the caller goes by (the token's name, else its email,
    /// else the id; a guest's own).
    pub name: String,
    pub email: Option<String>,
    /// Deployment roles from the token (`admin`, `auditor`).
    pub roles: Vec<String>,
    pub kind: CallerKind,
}

/// What stands behind a caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CallerKind {
    /// A person with a token of the deployment's identity provider.
    Person,
    /// A guest who joined this one meeting by link with a name: their
    /// token is good for that meeting only.
    Guest(MeetingId),
    /// Meetings itself or an integration (a timer, the media server).
    System,
}

impl Caller {
    /// A person with no deployment role (tests, tools).
    pub fn person(user_id: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            user_id: UserId(user_id.into()),
            name: name.into(),
            email: None,
            roles: Vec::new(),
            kind: CallerKind::Person,
        }
    }

    /// Meetings itself, or an integration acting through it, named `id`.
    pub fn system(id: &str, name: &str) -> Self {
        Self {
            kind: CallerKind::System,
            ..Self::person(id, name)
        }
    }

    /// Whether the token carries the deployment role `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// A deployment administrator: a moderator of every meeting (not a
    /// guest's token, whatever it claims).
    pub fn is_admin(&self) -> bool {
        self.kind == CallerKind::Person && self.has_role(ADMIN_ROLE)
    }

    /// The meeting a guest's token is good for.
    pub fn guest_of(&self) -> Option<MeetingId> {
        match self.kind {
            CallerKind::Guest(meeting) => Some(meeting),
            CallerKind::Person | CallerKind::System => None,
        }
    }

    /// How the log records this caller as an actor.
    pub fn actor_kind(&self) -> ActorKind {
        match self.kind {
            CallerKind::System => ActorKind::System,
            CallerKind::Guest(_) => ActorKind::Guest,
            CallerKind::Person if self.is_admin() => ActorKind::Admin,
            CallerKind::Person => ActorKind::User,
        }
    }
}

/// Who asks, when, and on behalf of which request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Context {
    pub caller: Caller,
    pub at: DateTime<Utc>,
    pub request_id: Option<String>,
}

impl Context {
    /// The audit metadata of the events command `command` decides in this
    /// context (the command's id is their causation).
    pub fn metadata(&self, command: CommandId) -> Metadata {
        Metadata {
            actor: Actor {
                user_id: self.caller.user_id.clone(),
                name: self.caller.name.clone(),
                kind: self.caller.actor_kind(),
            },
            correlation_id: self
                .request_id
                .as_deref()
                .and_then(|id| Uuid::parse_str(id).ok())
                .unwrap_or_else(Uuid::now_v7),
            causation_id: command.0,
            request_id: self.request_id.clone(),
        }
    }
}

/// Every command, by area (see the area modules for each one's rules).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Command {
    // lifecycle
    Schedule(ScheduleMeeting),
    Start,
    End,
    Update(UpdateMeeting),
    /// Cancel a scheduled meeting; end and cancel an active one.
    Delete,
    // admission and the waiting room
    Join(JoinMeeting),
    Leave,
    Admit(ParticipantId),
    Reject(ParticipantId),
    // roles and moderation
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
    // participant media
    SetStatus(StatusUpdate),
    // chat and reactions
    Chat(SendChat),
    React {
        reaction_type: String,
    },
    // breakout rooms
    OpenBreakout(OpenBreakout),
    AssignBreakout {
        user_id: UserId,
        room_id: BreakoutRoomId,
    },
    CloseBreakout,
    /// Closes the session's rooms if its time limit has passed (anyone may
    /// ask; the timer does).
    ExpireBreakout(BreakoutSessionId),
    // recording
    StartRecording(RecordingId),
    StopRecording,
    ReportRecordingFile {
        recording_id: RecordingId,
        file_url: String,
        size: i64,
    },
    // room settings and security policy
    UpdateConfig(ConfigUpdate),
    ApplyPolicy(ApplyPolicy),
    // what the media server reports
    RecordMedia(MediaReport),
}

impl Command {
    /// The command's name (a metrics label: one per variant).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Schedule(_) => "schedule",
            Self::Start => "start",
            Self::End => "end",
            Self::Update(_) => "update",
            Self::Delete => "delete",
            Self::Join(_) => "join",
            Self::Leave => "leave",
            Self::Admit(_) => "admit",
            Self::Reject(_) => "reject",
            Self::Invite { .. } => "invite",
            Self::Remove { .. } => "remove",
            Self::ChangeRole { .. } => "change_role",
            Self::SetStatus(_) => "set_status",
            Self::Chat(_) => "chat",
            Self::React { .. } => "react",
            Self::OpenBreakout(_) => "open_breakout",
            Self::AssignBreakout { .. } => "assign_breakout",
            Self::CloseBreakout => "close_breakout",
            Self::ExpireBreakout(_) => "expire_breakout",
            Self::StartRecording(_) => "start_recording",
            Self::StopRecording => "stop_recording",
            Self::ReportRecordingFile { .. } => "report_recording_file",
            Self::UpdateConfig(_) => "update_config",
            Self::ApplyPolicy(_) => "apply_policy",
            Self::RecordMedia(_) => "record_media",
        }
    }
}
