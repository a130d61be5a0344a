//! Whom a subscription's events are for: its owner, as they stand now.
//!
//! An admin follows every meeting. Anyone else follows a meeting while
//! they host it (not once they were demoted, handed the host role on, or
//! banned): the meeting's host made the subscription, and its events are
//! the host's to receive. Delivery asks this per event (an answer kept per
//! meeting until an event of that meeting may change it), and managing a
//! subscription asks it too, so an owner who lost the meeting loses the
//! subscription's management with its deliveries.
//!
//! Deployment roles come with tokens and Meetings keeps no directory of
//! users: a subscription carries its owner's roles as of their last call
//! to the webhooks API (the creation, or any call after it).

use command::meeting::{Caller, CallerKind};
use command::{AppError, CommandHandler};
use events::{MeetingId, UserId};

use super::store::Subscription;

/// The events after which an owner's standing in a meeting is read again:
/// those that give or take a role, or a seat, or ban.
pub const STANDING_CHANGES: [&str; 5] = [
    "participant_invited",
    "participant_joined",
    "participant_admitted",
    "participant_left",
    "participant_role_changed",
];

/// The subscription's owner as a caller, with the roles last seen.
pub fn caller(sub: &Subscription) -> Caller {
    Caller {
        user_id: UserId(sub.owner_id.clone()),
        name: sub.owner_id.clone(),
        email: None,
        roles: sub.owner_roles.clone(),
        kind: CallerKind::Person,
    }
}

/// Whether `owner` may receive the meeting's events now: an admin, or
/// its host (who cannot be banned from it). A meeting that does not exist
/// is followed by nobody but admins.
pub async fn follows(
    commands: &CommandHandler,
    owner: &Caller,
    meeting: MeetingId,
) -> Result<bool, AppError> {
    if owner.is_admin() {
        return Ok(true);
    }
    commands
        .inspect(meeting, |m| {
            m.is_some_and(|m| m.host_id == owner.user_id && !m.banned.contains(&owner.user_id))
        })
        .await
}

/// Whether `caller` may see and change `sub`: an admin; or its owner while
/// they follow its meeting.
pub async fn manages(
    commands: &CommandHandler,
    caller: &Caller,
    sub: &Subscription,
) -> Result<bool, AppError> {
    if caller.is_admin() {
        return Ok(true);
    }
    if sub.owner_id != caller.user_id.as_str() {
        return Ok(false);
    }
    match sub.meeting_id.as_deref().map(str::parse::<MeetingId>) {
        Some(Ok(meeting)) => follows(commands, caller, meeting).await,
        _ => Ok(false),
    }
}
