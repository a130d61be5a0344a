//! The application error: what running a command can end in besides
//! success. `src/http` maps each case to a status and a code in one match.

use events::StoreError;

use crate::meeting::MeetingError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A rule of the meeting refused the command.
    #[error(transparent)]
    Domain(#[from] MeetingError),
    /// No meeting has that id or room code.
    #[error("meeting not found")]
    NotFound,
    /// The stream kept changing under the command; retries are exhausted.
    #[error("concurrent changes to the meeting; retries exhausted")]
    Conflict,
    /// An idempotency key was reused for a different request.
    #[error("idempotency key reused for a different request")]
    IdempotencyKeyReused,
    /// The log or another backend failed; the outcome may be unknown.
    #[error(transparent)]
    Infra(#[from] StoreError),
}
