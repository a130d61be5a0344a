//! Who may read a meeting, checked in one place for the queries and the
//! WebSocket alike: [`query::access`] decides from the read models; a
//! caller they do not know yet (someone who joined a moment ago) is asked
//! about again once the read models have caught up with the log.

use command::meeting::Caller;
use events::MeetingId;
use query::access::Access;

use super::{ApiError, AppState};
use crate::workers::Freshness;

/// Refuses a caller without `access` to the meeting: 404 when the read
/// models have no such meeting, 403 when the caller may not.
pub async fn check(
    state: &AppState,
    caller: &Caller,
    meeting_id: MeetingId,
    access: Access,
) -> Result<(), ApiError> {
    let may = || {
        query::access::may(
            &state.reads,
            meeting_id,
            caller.user_id.as_str(),
            &caller.roles,
            access,
        )
    };
    let mut allowed = may().await?;
    if allowed != Some(true) {
        caught_up(state).await?;
        allowed = may().await?;
    }
    match allowed {
        None => Err(ApiError::App(command::AppError::NotFound)),
        Some(false) => Err(ApiError::CannotRead),
        Some(true) => Ok(()),
    }
}

/// Waits (at most `MEETINGS_MIN_POSITION_WAIT_MS`) until the read models
/// have applied everything the log holds now: before a read model's "no"
/// (no such meeting, no such reader) is believed, since the log may know
/// better a moment earlier. Still behind after the wait: the read models'
/// answer stands.
pub async fn caught_up(state: &AppState) -> Result<(), ApiError> {
    let head = state
        .commands
        .store()
        .head_position()
        .await
        .map_err(|e| ApiError::App(e.into()))?;
    match state.progress.wait_for(head, state.min_position_wait).await {
        Ok(()) | Err(Freshness::Lagging { .. }) => Ok(()),
        Err(Freshness::Database(e)) => Err(e.into()),
    }
}
