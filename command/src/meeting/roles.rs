//! Roles and moderation: invitations with a role, role changes (and
//! handing hosting over), removal and bans.

use events::event::{LeaveReason, ParticipantInvited, ParticipantRoleChanged, Role};
use events::{MeetingEvent, MeetingId, ParticipantId, UserId};
use serde::{Deserialize, Serialize};

use super::Decision;
use super::admission::left;
use super::context::Context;
use super::error::MeetingError;
use super::rules::{hosts, require_host, require_moderator, require_open, user_id};
use super::state::Meeting;

/// A member's role after an invitation or a role change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MemberView {
    pub meeting_id: MeetingId,
    pub user_id: UserId,
    pub role: Role,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RemovedView {
    pub meeting_id: MeetingId,
    pub user_id: UserId,
    pub participant_id: ParticipantId,
    pub banned: bool,
}

fn member(meeting: &Meeting, user: &UserId, role: Role) -> MemberView {
    MemberView {
        meeting_id: meeting.id,
        user_id: user.clone(),
        role,
    }
}

pub(super) fn invite(
    meeting: &Meeting,
    ctx: &Context,
    user: &UserId,
    role: Role,
) -> Result<Decision<MemberView>, MeetingError> {
    require_moderator(meeting, ctx)?;
    require_open(meeting)?;
    if role == Role::Host {
        return Err(MeetingError::invalid(
            "role",
            "hosting is handed over with a role change",
        ));
    }
    user_id("user_id", user)?;
    if meeting.is_host(user) {
        return Err(MeetingError::invalid("user_id", "is the host"));
    }
    // Co-hosts bring people in; only the host (or an admin) gives a role
    // above participant or changes one, whatever the endpoint.
    if !hosts(meeting, ctx) {
        let gives = !matches!(role, Role::Participant | Role::Guest);
        let changes = meeting.role_of(user).is_some_and(|current| current != role);
        if gives || changes {
            return Err(MeetingError::NotHost);
        }
    }
    let reply = member(meeting, user, role);
    if meeting.roles.get(user) == Some(&role) {
        return Ok(Decision::new(vec![], reply));
    }
    let event = MeetingEvent::ParticipantInvited(ParticipantInvited {
        meeting_id: meeting.id,
        user_id: user.clone(),
        role,
        invited_by: ctx.caller.user_id.clone(),
        invited_at: ctx.at,
    });
    Ok(Decision::new(vec![event], reply))
}

/// A moderator removes a present participant (never the host; only the
/// host removes a co-host).
pub(super) fn remove(
    meeting: &Meeting,
    ctx: &Context,
    user: &UserId,
    ban: bool,
) -> Result<Decision<RemovedView>, MeetingError> {
    require_moderator(meeting, ctx)?;
    if meeting.is_host(user) {
        return Err(MeetingError::HostRemoval);
    }
    if meeting.is_moderator(user) {
        require_host(meeting, ctx)?;
    }
    let seat = meeting
        .present
        .get(user)
        .ok_or_else(|| MeetingError::ParticipantNotFound(user.clone()))?;
    let reply = RemovedView {
        meeting_id: meeting.id,
        user_id: user.clone(),
        participant_id: seat.participant_id,
        banned: ban,
    };
    Ok(Decision::new(
        vec![left(meeting, ctx, seat, LeaveReason::Removed, ban)],
        reply,
    ))
}

/// The host gives roles; making someone host hands hosting over, and the
/// previous host becomes a co-host, so there is exactly one host.
pub(super) fn change_role(
    meeting: &Meeting,
    ctx: &Context,
    user: &UserId,
    role: Role,
) -> Result<Decision<MemberView>, MeetingError> {
    require_host(meeting, ctx)?;
    require_open(meeting)?;
    let reply = member(meeting, user, role);
    if meeting.is_host(user) {
        return if role == Role::Host {
            Ok(Decision::new(vec![], reply))
        } else {
            Err(MeetingError::invalid(
                "role",
                "the host hands over hosting by making someone else host",
            ))
        };
    }
    let current = meeting
        .role_of(user)
        .ok_or_else(|| MeetingError::ParticipantNotFound(user.clone()))?;
    if current == role {
        return Ok(Decision::new(vec![], reply));
    }
    let changed = |user: &UserId, role| {
        MeetingEvent::ParticipantRoleChanged(ParticipantRoleChanged {
            meeting_id: meeting.id,
            user_id: user.clone(),
            role,
            changed_by: ctx.caller.user_id.clone(),
        })
    };
    let mut events = Vec::new();
    if role == Role::Host {
        events.push(changed(&meeting.host_id, Role::CoHost));
    }
    events.push(changed(user, role));
    Ok(Decision::new(events, reply))
}

#[cfg(test)]
mod tests {
    use super::super::given::*;

    #[test]
    fn roles_are_given_by_the_host_and_handing_over_hosting_leaves_one_host() {
        let mut given = Given::active("alice");
        given.joined("alice").joined("bob").joined("carol");
        assert_eq!(
            given.when("bob", role("carol", Role::CoHost)),
            Err(MeetingError::NotHost)
        );
        assert_eq!(
            given.when("alice", role("zed", Role::CoHost)),
            Err(MeetingError::ParticipantNotFound(user("zed")))
        );
        given.run("alice", role("carol", Role::CoHost));
        assert_eq!(given.meeting().present[&user("carol")].role, Role::CoHost);
        // A co-host invites, but not as host.
        assert!(
            given
                .when(
                    "carol",
                    Command::Invite {
                        user_id: user("erin"),
                        role: Role::Guest
                    }
                )
                .is_ok()
        );
        assert_eq!(
            validation_field(given.when(
                "carol",
                Command::Invite {
                    user_id: user("erin"),
                    role: Role::Host
                }
            )),
            "role"
        );
        let events = given.when("alice", role("bob", Role::Host)).unwrap();
        assert_eq!(events.len(), 2, "the old host is demoted explicitly");
        given.state = fold(given.state.take(), &events);
        let m = given.meeting();
        assert_eq!(m.host_id, user("bob"));
        assert_eq!(m.role_of(&user("alice")), Some(Role::CoHost));
        assert_eq!(m.present[&user("alice")].role, Role::CoHost);
        let hosts = m.present.values().filter(|s| s.role == Role::Host).count();
        assert_eq!(hosts, 1);
        assert_eq!(
            given.when("alice", Command::End),
            Err(MeetingError::NotHost)
        );
    }

    #[test]
    fn a_co_host_invites_people_in_but_gives_or_changes_no_role() {
        let mut given = Given::active("alice");
        given.joined("bob").joined("carol").joined("dave");
        given.run("alice", role("carol", Role::CoHost));
        let invite = |user_id: &str, role| Command::Invite {
            user_id: user(user_id),
            role,
        };
        // Nobody made a co-host, promoted or demoted but by the host.
        assert_eq!(
            given.when("carol", invite("zed", Role::CoHost)),
            Err(MeetingError::NotHost)
        );
        assert_eq!(
            given.when("carol", invite("bob", Role::CoHost)),
            Err(MeetingError::NotHost)
        );
        assert_eq!(
            given.when("carol", invite("bob", Role::Guest)),
            Err(MeetingError::NotHost)
        );
        given.run("alice", role("dave", Role::CoHost));
        assert_eq!(
            given.when("carol", invite("dave", Role::Guest)),
            Err(MeetingError::NotHost)
        );
        // Someone new, as participant or guest, is theirs to invite; the
        // host may do all of it through invite too.
        assert!(
            given
                .when("carol", invite("zed", Role::Participant))
                .is_ok()
        );
        assert!(given.when("carol", invite("erin", Role::Guest)).is_ok());
        assert!(given.when("alice", invite("bob", Role::CoHost)).is_ok());
        assert!(given.when("alice", invite("dave", Role::Guest)).is_ok());
        assert_eq!(
            validation_field(given.when("alice", invite("z\u{0}d", Role::Guest))),
            "user_id"
        );
        assert_eq!(
            validation_field(given.when("alice", invite(&"z".repeat(256), Role::Guest))),
            "user_id"
        );
    }

    #[test]
    fn a_removed_participant_leaves_and_a_banned_one_cannot_rejoin() {
        let mut given = Given::active("alice");
        given.joined("bob").joined("carol").joined("dave");
        given.run("alice", role("carol", Role::CoHost));
        given.run("alice", role("dave", Role::CoHost));
        let remove = |who: &str, ban| Command::Remove {
            user_id: user(who),
            ban,
        };
        assert_eq!(
            given.when("bob", remove("carol", false)),
            Err(MeetingError::NotModerator)
        );
        assert_eq!(
            given.when("carol", remove("alice", false)),
            Err(MeetingError::HostRemoval)
        );
        assert_eq!(
            given.when("carol", remove("dave", false)),
            Err(MeetingError::NotHost)
        );
        assert_eq!(
            given.when("carol", remove("zed", false)),
            Err(MeetingError::ParticipantNotFound(user("zed")))
        );
        let events = given.when("carol", remove("bob", true)).unwrap();
        assert!(
            matches!(events.as_slice(), [E::ParticipantLeft(l)] if l.reason == LeaveReason::Removed && l.banned)
        );
        given.run("carol", remove("bob", true));
        assert_eq!(given.when("bob", join()), Err(MeetingError::Blocked));
        given.run("alice", remove("dave", false));
        assert!(
            given.when("dave", join()).is_ok(),
            "a removal without a ban lets them back"
        );
    }
}
