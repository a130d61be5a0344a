//! Meeting passwords over HTTP: a new password is checked for length,
//! hashed and stored before the command that names it by id; a join's
//! password is checked against the hash the meeting names, and the command
//! carries only the outcome. The hashes live beside the log
//! ([`crate::secrets`]), never in it.

use command::meeting::admission::PasswordCheck;
use events::{MeetingId, SecretId};

use super::{ApiError, AppState};
use crate::secrets::{self, PASSWORD_MAX_CHARS, PASSWORD_MIN_CHARS};

/// Hashes and stores a new meeting password, if one is given.
pub async fn store_new(
    state: &AppState,
    password: Option<String>,
) -> Result<Option<SecretId>, ApiError> {
    let Some(password) = password else {
        return Ok(None);
    };
    if !secrets::acceptable(&password) {
        return Err(ApiError::invalid(
            "password",
            format!("must be {PASSWORD_MIN_CHARS} to {PASSWORD_MAX_CHARS} characters"),
        ));
    }
    Ok(Some(secrets::store(&state.reads, password).await?))
}

/// What a join's password proves. A join without one reads nothing more
/// than any other command.
pub async fn check_join(
    state: &AppState,
    meeting_id: MeetingId,
    given: Option<String>,
) -> Result<PasswordCheck, ApiError> {
    let Some(given) = given else {
        return Ok(PasswordCheck::Missing);
    };
    let hash = state
        .commands
        .inspect(meeting_id, |m| m.and_then(|m| m.password_id))
        .await?;
    Ok(match hash {
        None => PasswordCheck::Missing,
        Some(id) if secrets::verify(&state.reads, id, given).await? => PasswordCheck::Matched(id),
        Some(_) => PasswordCheck::Wrong,
    })
}
