//! Who gets in: joining (with the policy's identity rules, the password,
//! the lock, the capacity), the waiting room (admit, reject), leaving.

use chrono::{DateTime, Utc};
use events::event::{
    LeaveReason, ParticipantAdmitted, ParticipantJoined, ParticipantLeft, ParticipantRejected,
    ParticipantWaiting, Role,
};
use events::views::{ParticipantStatus, SeatView};
use events::{MeetingEvent, MeetingId, ParticipantId, SecretId, UserId};
use serde::{Deserialize, Serialize};

use super::Decision;
use super::context::Context;
use super::error::MeetingError;
use super::rules::{
    line, may_use_camera, minutes_between, own_seat, require_active, require_moderator,
};
use super::state::{Meeting, Seat};

const DEVICE_TYPE_MAX_CHARS: usize = 50;

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct JoinMeeting {
    /// The seat id if this join creates a seat.
    pub participant_id: ParticipantId,
    pub device_type: Option<String>,
    pub join_muted: Option<bool>,
    pub join_without_video: Option<bool>,
    /// The name to go by in this meeting instead of the token's (a guest's
    /// name, or a display name): trimmed, 1 to 100 characters.
    pub user_name: Option<String>,
    /// What the caller's password proved, checked before deciding (the
    /// hash lives beside the log, so checking it is not the aggregate's
    /// business).
    pub password: PasswordCheck,
}

/// The outcome of checking a join's password against the meeting's hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum PasswordCheck {
    /// No password was given.
    #[default]
    Missing,
    /// It matched the hash with this id.
    Matched(SecretId),
    /// It did not match.
    Wrong,
}

/// A join in the waiting room, or what became of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WaitingView {
    pub meeting_id: MeetingId,
    pub participant_id: ParticipantId,
    pub user_id: UserId,
    /// `waiting` or `rejected`.
    pub status: ParticipantStatus,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LeftView {
    pub meeting_id: MeetingId,
    pub participant_id: ParticipantId,
    pub user_id: UserId,
    pub left_at: DateTime<Utc>,
    pub duration_minutes: i64,
}

fn seat_view(meeting: &Meeting, seat: &Seat) -> SeatView {
    SeatView {
        participant_id: seat.participant_id,
        meeting_id: meeting.id,
        user_id: seat.user_id.clone(),
        user_name: seat.user_name.clone(),
        role: seat.role,
        status: ParticipantStatus::Joined,
        is_muted: seat.is_muted,
        is_video_enabled: seat.is_video_enabled,
        device_type: seat.device_type.clone(),
        joined_at: seat.joined_at,
    }
}

fn joined_view(e: &ParticipantJoined) -> SeatView {
    SeatView {
        participant_id: e.participant_id,
        meeting_id: e.meeting_id,
        user_id: e.user_id.clone(),
        user_name: e.user_name.clone(),
        role: e.role,
        status: ParticipantStatus::Joined,
        is_muted: e.is_muted,
        is_video_enabled: e.is_video_enabled,
        device_type: e.device_type.clone(),
        joined_at: e.joined_at,
    }
}

fn waiting(meeting_id: MeetingId, participant_id: ParticipantId, user_id: &UserId) -> Admission {
    Admission::Waiting(WaitingView {
        meeting_id,
        participant_id,
        user_id: user_id.clone(),
        status: ParticipantStatus::Waiting,
    })
}

/// What a join ends in: a seat, or a wait.
#[derive(Debug, Clone, PartialEq)]
pub enum Admission {
    Joined(SeatView),
    Waiting(WaitingView),
}

/// Who gets in, in this order: nobody blocked; the host and deployment
/// admins always (a lock, a full room, a password or a waiting room keeps
/// others out, not the people running the meeting); then guests only
/// where anonymous joins are allowed; then the policy's identity rules,
/// the password, the lock, the capacity; then the waiting room, which
/// moderators skip. Someone present or waiting gets their seat or their
/// wait again, without a new event.
///
/// The role: the host's; an admin's `co_host`; a guest's `guest`; else
/// the one given by invitation or role change, or `participant`.
pub(super) fn join(
    meeting: &Meeting,
    ctx: &Context,
    cmd: &JoinMeeting,
) -> Result<Decision<Admission>, MeetingError> {
    require_active(meeting)?;
    let user = &ctx.caller.user_id;
    if let Some(seat) = meeting.present.get(user) {
        return Ok(Decision::new(
            vec![],
            Admission::Joined(seat_view(meeting, seat)),
        ));
    }
    if let Some(waiter) = meeting.waiting.values().find(|w| &w.user_id == user) {
        let reply = waiting(meeting.id, waiter.participant_id, user);
        return Ok(Decision::new(vec![], reply));
    }
    if let Some(device) = &cmd.device_type {
        line("device_type", device, DEVICE_TYPE_MAX_CHARS)?;
    }
    let user_name = match &cmd.user_name {
        Some(name) => events::text::join_name(name)
            .map_err(|e| MeetingError::invalid("user_name", e.to_string()))?,
        None => ctx.caller.name.clone(),
    };
    if meeting.is_blocked(user) {
        return Err(MeetingError::Blocked);
    }
    let role = role_at_join(meeting, ctx);
    if role != Role::Host && !ctx.caller.is_admin() {
        let policy = &meeting.policy;
        if ctx.caller.guest_of().is_some() && !policy.allow_anonymous_join {
            return Err(MeetingError::GuestsNotAllowed);
        }
        let domain = ctx
            .caller
            .email
            .as_deref()
            .and_then(|email| email.rsplit_once('@'))
            .map(|(_, domain)| domain.to_ascii_lowercase());
        if domain.is_none() && !policy.allow_anonymous_join {
            return Err(MeetingError::NotPermitted);
        }
        if !policy.allowed_domains.is_empty()
            && !domain.is_some_and(|d| policy.allowed_domains.contains(&d))
        {
            return Err(MeetingError::NotPermitted);
        }
        if let Some(password) = meeting.password_id
            && cmd.password != PasswordCheck::Matched(password)
        {
            return Err(MeetingError::InvalidPassword);
        }
        if meeting.settings.lock_room {
            return Err(MeetingError::Locked);
        }
        if meeting.present.len() >= meeting.max_participants as usize {
            return Err(MeetingError::Full);
        }
    }
    let moderator = matches!(role, Role::Host | Role::CoHost);
    let is_muted =
        (meeting.settings.mute_on_entry && !moderator) || cmd.join_muted.unwrap_or(false);
    let is_video_enabled =
        may_use_camera(meeting, role) && !cmd.join_without_video.unwrap_or(false);
    if meeting.settings.waiting_room && !moderator {
        let event = MeetingEvent::ParticipantWaiting(ParticipantWaiting {
            meeting_id: meeting.id,
            participant_id: cmd.participant_id,
            user_id: user.clone(),
            user_name,
            device_type: cmd.device_type.clone(),
            is_muted,
            is_video_enabled,
            waiting_since: ctx.at,
            role: (role == Role::Guest && meeting.role_of(user).is_none()).then_some(role),
        });
        let reply = waiting(meeting.id, cmd.participant_id, user);
        return Ok(Decision::new(vec![event], reply));
    }
    let joined = ParticipantJoined {
        meeting_id: meeting.id,
        participant_id: cmd.participant_id,
        user_id: user.clone(),
        user_name,
        role,
        device_type: cmd.device_type.clone(),
        is_muted,
        is_video_enabled,
        joined_at: ctx.at,
    };
    let reply = Admission::Joined(joined_view(&joined));
    Ok(Decision::new(
        vec![MeetingEvent::ParticipantJoined(joined)],
        reply,
    ))
}

/// The role the caller takes a seat with (see [`join`]).
fn role_at_join(meeting: &Meeting, ctx: &Context) -> Role {
    let user = &ctx.caller.user_id;
    if meeting.is_host(user) {
        Role::Host
    } else if ctx.caller.is_admin() {
        Role::CoHost
    } else if ctx.caller.guest_of().is_some() {
        meeting.role_of(user).unwrap_or(Role::Guest)
    } else {
        meeting.role_of(user).unwrap_or(Role::Participant)
    }
}

pub(super) fn leave(meeting: &Meeting, ctx: &Context) -> Result<Decision<LeftView>, MeetingError> {
    let seat = own_seat(meeting, ctx)?;
    let reply = LeftView {
        meeting_id: meeting.id,
        participant_id: seat.participant_id,
        user_id: seat.user_id.clone(),
        left_at: ctx.at,
        duration_minutes: minutes_between(seat.joined_at, ctx.at),
    };
    Ok(Decision::new(
        vec![left(meeting, ctx, seat, LeaveReason::Left, false)],
        reply,
    ))
}

/// The event of a seat freed for `reason` (leaving, removal, the end).
pub(super) fn left(
    meeting: &Meeting,
    ctx: &Context,
    seat: &Seat,
    reason: LeaveReason,
    banned: bool,
) -> MeetingEvent {
    MeetingEvent::ParticipantLeft(ParticipantLeft {
        meeting_id: meeting.id,
        participant_id: seat.participant_id,
        user_id: seat.user_id.clone(),
        reason,
        left_at: ctx.at,
        banned,
    })
}

/// Admitting seats the one waiting (a lock does not keep out someone the
/// host lets in; a full room does).
pub(super) fn admit(
    meeting: &Meeting,
    ctx: &Context,
    id: ParticipantId,
) -> Result<Decision<SeatView>, MeetingError> {
    require_moderator(meeting, ctx)?;
    require_active(meeting)?;
    let waiter = meeting.waiting.get(&id).ok_or(MeetingError::NotWaiting)?;
    if meeting.present.len() >= meeting.max_participants as usize {
        return Err(MeetingError::Full);
    }
    let joined = ParticipantJoined {
        meeting_id: meeting.id,
        participant_id: id,
        user_id: waiter.user_id.clone(),
        user_name: waiter.user_name.clone(),
        role: meeting
            .role_of(&waiter.user_id)
            .or(waiter.role)
            .unwrap_or(Role::Participant),
        device_type: waiter.device_type.clone(),
        is_muted: waiter.is_muted,
        is_video_enabled: waiter.is_video_enabled,
        joined_at: ctx.at,
    };
    let reply = joined_view(&joined);
    let events = vec![
        MeetingEvent::ParticipantAdmitted(ParticipantAdmitted {
            meeting_id: meeting.id,
            participant_id: id,
            user_id: waiter.user_id.clone(),
            admitted_by: ctx.caller.user_id.clone(),
            admitted_at: ctx.at,
        }),
        MeetingEvent::ParticipantJoined(joined),
    ];
    Ok(Decision::new(events, reply))
}

pub(super) fn reject(
    meeting: &Meeting,
    ctx: &Context,
    id: ParticipantId,
) -> Result<Decision<WaitingView>, MeetingError> {
    require_moderator(meeting, ctx)?;
    require_active(meeting)?;
    let waiter = meeting.waiting.get(&id).ok_or(MeetingError::NotWaiting)?;
    let event = MeetingEvent::ParticipantRejected(ParticipantRejected {
        meeting_id: meeting.id,
        participant_id: id,
        user_id: waiter.user_id.clone(),
        rejected_by: ctx.caller.user_id.clone(),
        rejected_at: ctx.at,
    });
    let reply = WaitingView {
        meeting_id: meeting.id,
        participant_id: id,
        user_id: waiter.user_id.clone(),
        status: ParticipantStatus::Rejected,
    };
    Ok(Decision::new(vec![event], reply))
}

#[cfg(test)]
mod tests {
    use super::super::given::*;

    #[test]
    fn joining_before_the_meeting_starts_is_refused() {
        let given = Given::scheduled_by("alice");
        assert_eq!(given.when("bob", join()), Err(MeetingError::NotActive));
    }

    #[test]
    fn joining_an_ended_meeting_is_refused() {
        let mut given = Given::active("alice");
        given.run("alice", Command::End);
        assert_eq!(given.when("bob", join()), Err(MeetingError::Ended));
    }

    #[test]
    fn the_host_joins_as_host_and_others_as_participants() {
        let mut given = Given::active("alice");
        let events = given.when("alice", join()).unwrap();
        assert!(matches!(events.as_slice(), [E::ParticipantJoined(e)] if e.role == Role::Host));
        given.joined("alice");
        let events = given.when("bob", join()).unwrap();
        assert!(
            matches!(events.as_slice(), [E::ParticipantJoined(e)] if e.role == Role::Participant)
        );
    }

    #[test]
    fn a_user_already_present_gets_their_seat_back_without_a_new_event() {
        let mut given = Given::active("alice");
        given.joined("bob");
        assert_eq!(given.when("bob", join()), Ok(vec![]));
        assert_eq!(given.meeting().present.len(), 1);
    }

    #[test]
    fn joining_a_locked_meeting_is_refused_but_the_host_still_gets_in() {
        let mut given = Given::active("alice");
        given.run(
            "alice",
            config(
                SettingsChange {
                    lock_room: Some(true),
                    ..Default::default()
                },
                None,
            ),
        );
        assert_eq!(given.when("bob", join()), Err(MeetingError::Locked));
        assert!(given.when("alice", join()).is_ok());
    }

    #[test]
    fn joining_a_full_meeting_is_refused_but_the_host_still_gets_in() {
        let mut given = Given::scheduled_with("alice", |c| {
            c.max_participants = Some(2);
            c.start_now = true;
        });
        given.joined("bob").joined("carol");
        assert_eq!(given.when("dave", join()), Err(MeetingError::Full));
        assert!(given.when("alice", join()).is_ok());
    }

    #[test]
    fn join_options_and_mute_on_entry_set_the_seat_media() {
        let mut given = Given::scheduled_with("alice", |c| {
            c.settings.mute_on_entry = Some(true);
            c.start_now = true;
        });
        let command = Command::Join(JoinMeeting {
            participant_id: ParticipantId::new(),
            device_type: Some("mobile".into()),
            join_muted: Some(false),
            join_without_video: Some(true),
            ..Default::default()
        });
        let events = given.when("bob", command).unwrap();
        let [E::ParticipantJoined(e)] = events.as_slice() else {
            panic!()
        };
        assert!(e.is_muted, "mute on entry wins over join_muted=false");
        assert!(!e.is_video_enabled);
        assert_eq!(e.device_type.as_deref(), Some("mobile"));
        given.run(
            "alice",
            config(
                SettingsChange {
                    mute_on_entry: Some(false),
                    ..Default::default()
                },
                None,
            ),
        );
        let events = given.when("bob", join()).unwrap();
        let [E::ParticipantJoined(e)] = events.as_slice() else {
            panic!()
        };
        assert!(!e.is_muted && e.is_video_enabled);
    }

    #[test]
    fn leaving_frees_the_seat() {
        let mut given = Given::active("alice");
        given.joined("bob");
        let events = given.when("bob", Command::Leave).unwrap();
        assert!(
            matches!(events.as_slice(), [E::ParticipantLeft(e)] if e.reason == LeaveReason::Left)
        );
        given.run("bob", Command::Leave);
        assert!(given.meeting().present.is_empty());
    }

    #[test]
    fn leaving_a_meeting_one_is_not_in_is_refused() {
        let given = Given::active("alice");
        assert_eq!(
            given.when("bob", Command::Leave),
            Err(MeetingError::NotPresent)
        );
    }

    #[test]
    fn a_waiting_room_parks_joins_until_a_moderator_admits_or_rejects_them() {
        let mut given = Given::active("alice");
        given.run("alice", policy(|p| p.require_waiting_room = true));
        let events = given.when("bob", join()).unwrap();
        assert!(matches!(events.as_slice(), [E::ParticipantWaiting(_)]));
        given.joined("bob").joined("dave");
        assert_eq!(given.when("bob", join()), Ok(vec![]), "already waiting");
        assert!(!given.meeting().present.contains_key(&user("bob")));

        let bob = waiting_id(&given, "bob");
        assert_eq!(
            given.when("dave", Command::Admit(bob)),
            Err(MeetingError::NotModerator)
        );
        // Locking leaves the waiting in the waiting room for the host.
        given.run(
            "alice",
            config(
                SettingsChange {
                    lock_room: Some(true),
                    ..Default::default()
                },
                None,
            ),
        );
        let events = given.when("alice", Command::Admit(bob)).unwrap();
        assert!(matches!(
            events.as_slice(),
            [E::ParticipantAdmitted(_), E::ParticipantJoined(j)] if j.participant_id == bob
        ));
        given.run("alice", Command::Admit(bob));
        assert!(given.meeting().present.contains_key(&user("bob")));
        let dave = waiting_id(&given, "dave");
        given.run("alice", Command::Reject(dave));
        assert!(given.meeting().waiting.is_empty());
        assert_eq!(
            given.when("alice", Command::Admit(dave)),
            Err(MeetingError::NotWaiting)
        );
    }

    #[test]
    fn a_password_is_checked_by_its_hash_id_and_the_host_needs_none() {
        let secret = SecretId::new();
        let mut given = Given::scheduled_with("alice", |c| {
            c.password_id = Some(secret);
            c.start_now = true;
        });
        let with = |check| {
            Command::Join(JoinMeeting {
                password: check,
                ..Default::default()
            })
        };
        assert_eq!(
            given.when("bob", with(PasswordCheck::Missing)),
            Err(MeetingError::InvalidPassword)
        );
        assert_eq!(
            given.when("bob", with(PasswordCheck::Wrong)),
            Err(MeetingError::InvalidPassword)
        );
        assert_eq!(
            given.when("bob", with(PasswordCheck::Matched(SecretId::new()))),
            Err(MeetingError::InvalidPassword),
            "a hash that is no longer the meeting's"
        );
        assert!(
            given
                .when("bob", with(PasswordCheck::Matched(secret)))
                .is_ok()
        );
        assert!(given.when("alice", with(PasswordCheck::Missing)).is_ok());
        // A policy without a password drops it; one requiring it keeps it.
        let keep = given
            .when("alice", policy(|p| p.require_password = true))
            .unwrap();
        assert!(
            matches!(keep.as_slice(), [E::SecurityPolicyApplied(e)] if e.password_id == Some(secret))
        );
        given.run("alice", policy(|_| {}));
        assert_eq!(given.meeting().password_id, None);
        assert_eq!(
            validation_field(given.when("alice", policy(|p| p.require_password = true))),
            "password"
        );
    }

    #[test]
    fn the_policy_checks_email_domains_anonymous_callers_and_blocked_users() {
        let mut given = Given::active("alice");
        given.joined("mallory");
        let events = given
            .when(
                "alice",
                policy(|p| {
                    p.allowed_domains = vec!["@Example.com".into()];
                    p.allow_anonymous_join = false;
                    p.blocked_users = vec![user("mallory")];
                }),
            )
            .unwrap();
        assert!(matches!(
            events.as_slice(),
            [E::ParticipantLeft(l), E::SecurityPolicyApplied(p)]
                if l.user_id == user("mallory") && p.policy.allowed_domains == ["example.com"]
        ));
        given.state = fold(given.state.take(), &events);
        let at = given.clock;
        let try_join = |who: &str, email: Option<&str>| {
            events_of(&given.state, &email_ctx(who, email, at), &join())
        };
        assert_eq!(try_join("bob", None), Err(MeetingError::NotPermitted));
        assert_eq!(
            try_join("bob", Some("bob@other.org")),
            Err(MeetingError::NotPermitted)
        );
        assert!(try_join("bob", Some("bob@EXAMPLE.com")).is_ok());
        assert_eq!(
            try_join("mallory", Some("m@example.com")),
            Err(MeetingError::Blocked)
        );
        assert!(try_join("alice", None).is_ok(), "the host is exempt");
        assert_eq!(
            validation_field(
                given.when("alice", policy(|p| p.blocked_users = vec![user("alice")]))
            ),
            "blocked_users"
        );
        assert_eq!(
            given.when("bob", policy(|_| {})),
            Err(MeetingError::NotHost)
        );
    }

    fn join_as(given: &Given, who: Caller) -> Result<Vec<E>, MeetingError> {
        given.when_by(who, join())
    }

    #[test]
    fn an_admin_joins_as_co_host_past_the_lock_the_password_the_capacity_and_the_waiting_room() {
        let mut given = Given::scheduled_with("alice", |c| {
            c.max_participants = Some(1);
            c.password_id = Some(SecretId::new());
            c.start_now = true;
        });
        given.joined("alice");
        given.run(
            "alice",
            policy(|p| {
                p.require_waiting_room = true;
                p.lock_meeting = true;
                p.require_password = true;
            }),
        );
        let events = join_as(&given, admin("root")).unwrap();
        assert!(
            matches!(events.as_slice(), [E::ParticipantJoined(e)] if e.role == Role::CoHost),
            "{events:?}"
        );
        assert_eq!(
            join_as(&given, caller("bob")),
            Err(MeetingError::InvalidPassword)
        );
    }

    #[test]
    fn an_admin_is_the_host_of_every_meeting_and_the_log_says_an_admin_acted() {
        let given = Given::active("alice");
        let ctx = Context {
            caller: admin("root"),
            at: given.clock,
            request_id: None,
        };
        let events = events_of(&given.state, &ctx, &Command::End).unwrap();
        assert!(matches!(events.as_slice(), [E::MeetingEnded(e)] if e.ended_by == user("root")));
        assert_eq!(
            ctx.metadata(events::CommandId::new()).actor.kind,
            events::ActorKind::Admin
        );
        assert_eq!(
            given.when("bob", Command::End),
            Err(MeetingError::NotHost),
            "an ordinary user is not"
        );
    }

    #[test]
    fn guests_join_as_guests_where_anonymous_joins_are_allowed() {
        let mut given = Given::active("alice");
        let meeting = given.id;
        let events = join_as(&given, guest("guest-john-1", meeting)).unwrap();
        assert!(matches!(events.as_slice(), [E::ParticipantJoined(e)] if e.role == Role::Guest));
        given.run("alice", policy(|p| p.allow_anonymous_join = false));
        assert_eq!(
            join_as(&given, guest("guest-john-2", meeting)),
            Err(MeetingError::GuestsNotAllowed)
        );
        let ctx = Context {
            caller: guest("guest-john-2", meeting),
            at: given.clock,
            request_id: None,
        };
        assert_eq!(
            ctx.metadata(events::CommandId::new()).actor.kind,
            events::ActorKind::Guest
        );
    }

    #[test]
    fn a_guest_parked_in_the_waiting_room_is_admitted_as_a_guest() {
        let mut given = Given::active("alice");
        given.run("alice", policy(|p| p.require_waiting_room = true));
        let events = join_as(&given, guest("guest-ann-1", given.id)).unwrap();
        given.state = fold(given.state.take(), &events);
        let id = waiting_id(&given, "guest-ann-1");
        let admitted = given.when("alice", Command::Admit(id)).unwrap();
        assert!(matches!(
            admitted.as_slice(),
            [E::ParticipantAdmitted(_), E::ParticipantJoined(j)] if j.role == Role::Guest
        ));
    }

    #[test]
    fn a_name_given_at_the_join_is_the_name_in_the_meeting() {
        let given = Given::active("alice");
        let named = |name: &str| {
            Command::Join(JoinMeeting {
                participant_id: ParticipantId::new(),
                user_name: Some(name.into()),
                ..Default::default()
            })
        };
        let events = given.when("bob", named("  Bobby ")).unwrap();
        assert!(matches!(events.as_slice(), [E::ParticipantJoined(e)] if e.user_name == "Bobby"));
        assert_eq!(
            validation_field(given.when("bob", named("  "))),
            "user_name"
        );
        assert_eq!(
            validation_field(given.when("bob", named(&"x".repeat(101)))),
            "user_name"
        );
    }
}
