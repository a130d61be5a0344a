//! Who may read a meeting, checked in one place for the queries and the
//! WebSocket alike: [`query::access`] decides from the read models; a
//! caller they do not know yet (someone who joined a moment ago) is asked
//! about again once the read models have caught up with the log.

use command::meeting::Caller;
use events::MeetingId;
use events::views::MeetingStatus;
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
    let head = state.head().await?;
    match state.progress.wait_for(head, state.min_position_wait).await {
        Ok(()) | Err(Freshness::Lagging { .. }) => Ok(()),
        Err(Freshness::Database(e)) => Err(e.into()),
    }
}

/// How a caller is let in to follow a meeting live.
pub struct Live {
    /// In the waiting room: let in to see only their own wait.
    pub waiting: bool,
    /// The meeting is already over (ended or cancelled).
    pub over: bool,
}

/// [`check`] for a live connection, which streams the log itself: the
/// log's own state decides at once what the read models may not have
/// applied yet (a ban refuses, a wait lets in to wait).
pub async fn live(
    state: &AppState,
    caller: &Caller,
    meeting_id: MeetingId,
) -> Result<Live, ApiError> {
    let user = &caller.user_id;
    let now = state
        .commands
        .inspect(meeting_id, |m| {
            m.map(|m| {
                let waiting = m.waiting.values().any(|w| &w.user_id == user);
                let over = matches!(m.status, MeetingStatus::Ended | MeetingStatus::Cancelled);
                (m.banned.contains(user), waiting, over)
            })
        })
        .await?;
    let (banned, waiting, over) = now.ok_or(ApiError::App(command::AppError::NotFound))?;
    if banned && !caller.reads_all() {
        return Err(ApiError::CannotRead);
    }
    match check(state, caller, meeting_id, Access::Read).await {
        Ok(()) => Ok(Live {
            waiting: false,
            over,
        }),
        Err(ApiError::CannotRead) if waiting => Ok(Live {
            waiting: true,
            over,
        }),
        Err(e) => Err(e),
    }
}
