//! The checks several areas share: who the caller is to the meeting, what
//! state it must be in, and the shape of common inputs. Each area's own
//! rules live in its module.

use chrono::{DateTime, Utc};
use events::UserId;
use events::event::Role;

use super::context::Context;
use super::error::MeetingError;
use events::views::MeetingStatus;

use super::state::{Meeting, Seat};

/// Most people a meeting (or a breakout room) may hold.
pub const MAX_PARTICIPANTS_LIMIT: u32 = 1000;

/// Whether the caller may do what the meeting's host may: its host, or a
/// deployment admin (a moderator of every meeting).
pub(super) fn hosts(meeting: &Meeting, ctx: &Context) -> bool {
    meeting.is_host(&ctx.caller.user_id) || ctx.caller.is_admin()
}

/// Whether the caller moderates the meeting: host, co-host or admin.
pub(super) fn moderates(meeting: &Meeting, ctx: &Context) -> bool {
    meeting.is_moderator(&ctx.caller.user_id) || ctx.caller.is_admin()
}

pub(super) fn require_host(meeting: &Meeting, ctx: &Context) -> Result<(), MeetingError> {
    if hosts(meeting, ctx) {
        Ok(())
    } else {
        Err(MeetingError::NotHost)
    }
}

pub(super) fn require_moderator(meeting: &Meeting, ctx: &Context) -> Result<(), MeetingError> {
    if moderates(meeting, ctx) {
        Ok(())
    } else {
        Err(MeetingError::NotModerator)
    }
}

/// Whether someone present may chat: the room's chat is on, the policy
/// lets their role, and their breakout room (if any) allows it.
pub(super) fn may_chat(meeting: &Meeting, seat: &Seat) -> bool {
    meeting.settings.enable_chat
        && meeting.policy.chat_permissions.allows(seat.role)
        && meeting
            .breakout_room_of(&seat.user_id)
            .is_none_or(|r| r.settings.allow_chat)
}

/// Whether someone present may share their screen: the room's screen
/// sharing is on, the policy lets their role, and their breakout room (if
/// any) allows it.
pub(super) fn may_share_screen(meeting: &Meeting, seat: &Seat) -> bool {
    meeting.settings.enable_screen_share
        && meeting.policy.screen_share_permissions.allows(seat.role)
        && meeting
            .breakout_room_of(&seat.user_id)
            .is_none_or(|r| r.settings.allow_screen_share)
}

/// Whether someone with `role` may turn their camera on: the policy's
/// `disable_camera` keeps participants' cameras off, not moderators'.
pub(super) fn may_use_camera(meeting: &Meeting, role: Role) -> bool {
    !meeting.policy.disable_camera || matches!(role, Role::Host | Role::CoHost)
}

/// Whether someone with `role` may record: the room's recording is on and
/// the policy's `recording_permissions` let their role.
pub(super) fn may_record(meeting: &Meeting, role: Role) -> bool {
    meeting.settings.enable_recording && meeting.policy.recording_permissions.allows(role)
}

/// Refuses unless the meeting is active: not yet started is `NotActive`,
/// over is `Ended`.
pub(super) fn require_active(meeting: &Meeting) -> Result<(), MeetingError> {
    match meeting.status {
        MeetingStatus::Active => Ok(()),
        MeetingStatus::Scheduled => Err(MeetingError::NotActive),
        MeetingStatus::Ended => Err(MeetingError::Ended),
        MeetingStatus::Cancelled => Err(MeetingError::Cancelled),
    }
}

/// Refuses once the meeting is over (ended or cancelled).
pub(super) fn require_open(meeting: &Meeting) -> Result<(), MeetingError> {
    match meeting.status {
        MeetingStatus::Scheduled | MeetingStatus::Active => Ok(()),
        MeetingStatus::Ended => Err(MeetingError::Ended),
        MeetingStatus::Cancelled => Err(MeetingError::Cancelled),
    }
}

/// The caller's seat: present callers only.
pub(super) fn own_seat<'a>(meeting: &'a Meeting, ctx: &Context) -> Result<&'a Seat, MeetingError> {
    meeting
        .present
        .get(&ctx.caller.user_id)
        .ok_or(MeetingError::NotPresent)
}

/// The seat of someone a command names: the caller's own (refused as
/// [`MeetingError::NotPresent`]) or another's.
pub(super) fn seat_of<'a>(
    meeting: &'a Meeting,
    ctx: &Context,
    user: &UserId,
) -> Result<&'a Seat, MeetingError> {
    meeting.present.get(user).ok_or_else(|| {
        if *user == ctx.caller.user_id {
            MeetingError::NotPresent
        } else {
            MeetingError::ParticipantNotFound(user.clone())
        }
    })
}

/// Refuses once the meeting is over: `Ended` or `Cancelled`.
pub(super) fn over(status: MeetingStatus) -> MeetingError {
    match status {
        MeetingStatus::Cancelled => MeetingError::Cancelled,
        _ => MeetingError::Ended,
    }
}

/// A single line of at most `max` characters (see [`events::text`] for
/// the characters refused).
pub(super) fn line(field: &'static str, value: &str, max: usize) -> Result<(), MeetingError> {
    events::text::line(value, max).map_err(|e| MeetingError::invalid(field, e.to_string()))
}

/// Running text (line breaks allowed) of at most `max` characters.
pub(super) fn running(field: &'static str, value: &str, max: usize) -> Result<(), MeetingError> {
    events::text::running(value, max).map_err(|e| MeetingError::invalid(field, e.to_string()))
}

/// A user id a command stores (an invitation, a blocked user).
pub(super) fn user_id(field: &'static str, user: &UserId) -> Result<(), MeetingError> {
    events::text::id(user.as_str()).map_err(|e| MeetingError::invalid(field, e.to_string()))
}

/// A room's capacity: 1 to [`MAX_PARTICIPANTS_LIMIT`].
pub(super) fn capacity(n: i64) -> Result<u32, MeetingError> {
    u32::try_from(n)
        .ok()
        .filter(|n| (1..=MAX_PARTICIPANTS_LIMIT).contains(n))
        .ok_or_else(|| {
            MeetingError::invalid(
                "max_participants",
                format!("must be between 1 and {MAX_PARTICIPANTS_LIMIT}"),
            )
        })
}

/// Whole minutes from `from` to `to`, rounded half up.
pub(super) fn minutes_between(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    let millis = (to - from).num_milliseconds().max(0);
    (millis + 30_000) / 60_000
}
