//! Why a meeting refuses a command. Knows no HTTP: `src/http` gives each
//! variant its status and code.

use std::borrow::Cow;

use events::UserId;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum MeetingError {
    #[error("{field}: {reason}")]
    Validation {
        field: Cow<'static, str>,
        reason: String,
    },
    #[error("meeting not found")]
    NotFound,
    #[error("a meeting with this id already exists")]
    AlreadyExists,
    #[error("only the host may do this")]
    NotHost,
    #[error("the meeting is already active")]
    AlreadyActive,
    #[error("the meeting has ended")]
    Ended,
    #[error("the meeting was cancelled")]
    Cancelled,
    #[error("the meeting is not active")]
    NotActive,
    #[error("the meeting is locked")]
    Locked,
    #[error("the meeting is full")]
    Full,
    #[error("the breakout room is full")]
    RoomFull,
    #[error("you are not in the meeting")]
    NotPresent,
    /// Someone the command names (not the caller) is not there.
    #[error("{0} is not in the meeting")]
    ParticipantNotFound(UserId),
    #[error("nobody removes the host")]
    HostRemoval,
    #[error("only the host or a co-host may do this")]
    NotModerator,
    #[error("the meeting's policy does not allow this")]
    NotPermitted,
    #[error("you are blocked from this meeting")]
    Blocked,
    /// A guest (no token of the identity provider) where anonymous joins
    /// are off: they must sign in.
    #[error("this meeting does not let guests join: sign in")]
    GuestsNotAllowed,
    /// The caller is not in the active meeting (waiting, rejected,
    /// removed or absent) and asks for what only those in it get.
    #[error("only those in the meeting may do this")]
    NotInMeeting,
    /// The caller is not one of the meeting's people (host, co-host,
    /// invited member) nor an admin.
    #[error("you are not a member of this meeting")]
    NotMember,
    #[error("a missing or wrong meeting password")]
    InvalidPassword,
    #[error("chat is disabled for you in this meeting")]
    ChatDisabled,
    #[error("screen sharing is disabled for you in this meeting")]
    ScreenShareDisabled,
    #[error("cameras are disabled for participants in this meeting")]
    CameraDisabled,
    #[error("recording is disabled for this meeting")]
    RecordingDisabled,
    #[error("a recording is already in progress")]
    RecordingInProgress,
    #[error("no recording is in progress")]
    NotRecording,
    #[error("no such recording")]
    RecordingNotFound,
    #[error("breakout rooms are already open")]
    BreakoutOpen,
    #[error("no breakout rooms are open")]
    BreakoutNotOpen,
    #[error("no such waiting participant")]
    NotWaiting,
    #[error("at most {limit} in {window_secs} s")]
    RateLimited {
        limit: u32,
        window_secs: u32,
        /// Seconds until one more is allowed.
        retry_after_secs: u32,
    },
}

impl MeetingError {
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::Validation {
            field: Cow::Borrowed(field),
            reason: reason.into(),
        }
    }
}
