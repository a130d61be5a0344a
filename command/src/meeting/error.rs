//! Why a meeting refuses a command. Knows no HTTP: `src/http` gives each
//! variant its status and code.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MeetingError {
    #[error("{field}: {reason}")]
    Validation { field: &'static str, reason: String },
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
    #[error("the meeting is not active")]
    NotActive,
    #[error("the meeting is locked")]
    Locked,
    #[error("the meeting is full")]
    Full,
    #[error("the caller is not in the meeting")]
    ParticipantNotFound,
}

impl MeetingError {
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::Validation {
            field,
            reason: reason.into(),
        }
    }
}
