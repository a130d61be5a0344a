//! What a caller can ask of a meeting: the [`Command`] enum, one variant
//! per command (each area module defines its commands' inputs). Everything
//! a decision needs from the outside world (who asks, the time, fresh ids)
//! is in the command or its [`super::Context`], so [`super::decide`] stays
//! pure.

use events::event::Role;
use events::{BreakoutRoomId, BreakoutSessionId, ParticipantId, RecordingId, UserId};
use serde::{Deserialize, Serialize};

use super::admission::JoinMeeting;
use super::breakout::OpenBreakout;
use super::chat::SendChat;
use super::lifecycle::{ScheduleMeeting, UpdateMeeting};
use super::media::StatusUpdate;
use super::policy::{ApplyPolicy, ConfigUpdate};
use super::presence::MediaReport;

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
