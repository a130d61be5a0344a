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
        let head = state
            .commands
            .store()
            .head_position()
            .await
            .map_err(|e| ApiError::App(e.into()))?;
        match state.progress.wait_for(head, state.min_position_wait).await {
            // Still behind: answer from what the read models know.
            Ok(()) | Err(Freshness::Lagging { .. }) => {}
            Err(Freshness::Database(e)) => return Err(e.into()),
        }
        allowed = may().await?;
    }
    match allowed {
        None => Err(ApiError::App(command::AppError::NotFound)),
        Some(false) => Err(ApiError::CannotRead),
        Some(true) => Ok(()),
    }
}
