//! Meeting passwords over HTTP: a new password is checked for length,
//! hashed and stored before the command that names it by id; a join's
//! password is checked against the hash the meeting names, and the command
//! carries only the outcome. The hashes live beside the log
//! ([`crate::secrets`]), never in it.

use command::meeting::admission::{JoinMeeting, PasswordCheck};
use command::meeting::{Command, Context, decide};
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
    Ok(Some(
        secrets::store(&state.reads, &state.hashing, password).await?,
    ))
}

/// What a join's password proves. A join without one reads nothing more
/// than any other command. The cheap refusals come first: a join the
/// meeting would refuse even with the right password (it is locked, full,
/// over, the caller is banned...) is refused as that, without the slow
/// hash.
pub async fn check_join(
    state: &AppState,
    meeting_id: MeetingId,
    ctx: &Context,
    join: &JoinMeeting,
    given: Option<String>,
) -> Result<PasswordCheck, ApiError> {
    let Some(given) = given else {
        return Ok(PasswordCheck::Missing);
    };
    let (hash, refused) = state
        .commands
        .inspect(meeting_id, |meeting| {
            let hash = meeting.and_then(|m| m.password_id);
            let right = Command::Join(JoinMeeting {
                password: hash.map_or(PasswordCheck::Missing, PasswordCheck::Matched),
                ..join.clone()
            });
            (hash, decide(meeting, ctx, &right).err())
        })
        .await?;
    if let Some(refusal) = refused {
        return Err(command::AppError::Domain(refusal).into());
    }
    Ok(match hash {
        None => PasswordCheck::Missing,
        Some(id) if secrets::verify(&state.reads, &state.hashing, id, given).await? => {
            PasswordCheck::Matched(id)
        }
        Some(_) => PasswordCheck::Wrong,
    })
}
