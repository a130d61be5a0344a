//! What a person may do in the meeting's media room, as a media server's
//! token carries it: the same rules as the commands (the lock, the waiting
//! room and bans decide who is in; chat, screen sharing and the camera
//! follow the room's settings, the policy and the breakout room), read
//! from the meeting's state, so a token never grants what the API would
//! refuse. The adapters (LiveKit, Jitsi) only encode these grants.
//!
//! The media room is named by the meeting's room code (`abc-defg-hij`):
//! the same name in the shared link, the LiveKit room and the Jitsi room.

use chrono::{DateTime, Utc};
use events::event::Role;
use events::views::MeetingStatus;
use events::{MeetingId, RoomCode, UserId};

use super::context::Caller;
use super::error::MeetingError;
use super::rules::{
    may_chat, may_record, may_share_screen, may_use_camera, require_active, require_open,
};
use super::state::Meeting;

/// What someone in the meeting may do in its media room (a LiveKit token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallGrants {
    pub meeting_id: MeetingId,
    /// The media room's name: the meeting's room code.
    pub room: RoomCode,
    pub user_id: UserId,
    /// The name they go by in the meeting.
    pub user_name: String,
    pub role: Role,
    pub is_host: bool,
    /// Host, co-host or deployment admin: administers the room and its
    /// recording.
    pub moderator: bool,
    pub admin: bool,
    pub camera: bool,
    pub screen_share: bool,
    /// Chat: data messages in the room.
    pub chat: bool,
}

/// The grants of a caller **in** the active meeting (joined or admitted):
/// anyone waiting, rejected, removed, banned or absent is refused, so a
/// media token never gets round the waiting room, the lock or a ban.
pub fn call_grants(meeting: &Meeting, caller: &Caller) -> Result<CallGrants, MeetingError> {
    require_active(meeting)?;
    let seat = meeting
        .present
        .get(&caller.user_id)
        .ok_or(MeetingError::NotInMeeting)?;
    let admin = caller.is_admin();
    Ok(CallGrants {
        meeting_id: meeting.id,
        room: meeting.room_code.clone(),
        user_id: seat.user_id.clone(),
        user_name: seat.user_name.clone(),
        role: seat.role,
        is_host: seat.role == Role::Host,
        moderator: admin || matches!(seat.role, Role::Host | Role::CoHost),
        admin,
        camera: may_use_camera(meeting, seat.role),
        screen_share: may_share_screen(meeting, seat),
        chat: may_chat(meeting, seat),
    })
}

/// What a member of the meeting gets in a personalized link (a Jitsi
/// room with the meeting's rules in its token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkGrants {
    pub meeting_id: MeetingId,
    pub room: RoomCode,
    pub user_id: UserId,
    pub role: Role,
    pub is_admin: bool,
    /// Host, co-host or admin.
    pub is_moderator: bool,
    pub status: MeetingStatus,
    pub starts_at: Option<DateTime<Utc>>,
    /// Planned minutes (from the planned start and end), if both are set.
    pub duration_minutes: Option<i64>,
    /// Joins with the microphone off (participants under `mute_on_entry`).
    pub start_muted: bool,
    /// Joins with the camera off (participants under `disable_camera`).
    pub start_without_video: bool,
    pub recording: bool,
    pub screen_sharing: bool,
    pub transcription: bool,
}

/// The link grants of the meeting's host, its co-hosts, the people invited
/// or present, and deployment admins (on any meeting); anyone else is
/// refused, and so is everyone once the meeting is over.
pub fn link_grants(meeting: &Meeting, caller: &Caller) -> Result<LinkGrants, MeetingError> {
    require_open(meeting)?;
    let is_admin = caller.is_admin();
    let role = match meeting.role_of(&caller.user_id) {
        Some(Role::Host) => Role::Host,
        _ if is_admin => Role::CoHost,
        Some(role) => role,
        None => return Err(MeetingError::NotMember),
    };
    let is_moderator = matches!(role, Role::Host | Role::CoHost);
    let allowed = |permission: events::event::Permission| permission.allows(role);
    let policy = &meeting.policy;
    let settings = &meeting.settings;
    Ok(LinkGrants {
        meeting_id: meeting.id,
        room: meeting.room_code.clone(),
        user_id: caller.user_id.clone(),
        role,
        is_admin,
        is_moderator,
        status: meeting.status,
        starts_at: meeting.starts_at,
        duration_minutes: meeting
            .starts_at
            .zip(meeting.ends_at)
            .map(|(from, to)| (to - from).num_minutes()),
        start_muted: settings.mute_on_entry && !is_moderator,
        start_without_video: !may_use_camera(meeting, role),
        recording: may_record(meeting, role),
        screen_sharing: settings.enable_screen_share && allowed(policy.screen_share_permissions),
        transcription: settings.enable_transcription,
    })
}

#[cfg(test)]
mod tests {
    use super::super::given::*;
    use super::*;

    fn grants_of(given: &Given, who: Caller) -> Result<CallGrants, MeetingError> {
        call_grants(given.meeting(), &who)
    }

    #[test]
    fn only_those_in_the_active_meeting_get_call_grants() {
        let mut given = Given::scheduled_by("alice");
        assert_eq!(
            grants_of(&given, caller("alice")),
            Err(MeetingError::NotActive)
        );
        given.run("alice", Command::Start);
        given.joined("alice").joined("bob");
        given.run("alice", policy(|p| p.require_waiting_room = true));
        given.joined("carol");
        assert_eq!(
            grants_of(&given, caller("carol")),
            Err(MeetingError::NotInMeeting),
            "waiting"
        );
        assert_eq!(
            grants_of(&given, caller("dave")),
            Err(MeetingError::NotInMeeting),
            "absent"
        );
        given.run(
            "alice",
            Command::Remove {
                user_id: user("bob"),
                ban: true,
            },
        );
        assert_eq!(
            grants_of(&given, caller("bob")),
            Err(MeetingError::NotInMeeting),
            "banned"
        );
        let host = grants_of(&given, caller("alice")).unwrap();
        assert!(host.is_host && host.moderator && host.camera && host.chat);
        assert_eq!(host.room.as_str(), "abc-defg-hij");
    }

    #[test]
    fn call_grants_follow_the_settings_the_policy_and_the_role() {
        let mut given = Given::active("alice");
        given.joined("alice").joined("bob");
        given.run(
            "alice",
            policy(|p| {
                p.disable_camera = true;
                p.chat_permissions = Permission::CoHosts;
                p.screen_share_permissions = Permission::Host;
            }),
        );
        let bob = grants_of(&given, caller("bob")).unwrap();
        assert!(!bob.camera && !bob.chat && !bob.screen_share && !bob.moderator);
        let alice = grants_of(&given, caller("alice")).unwrap();
        assert!(alice.camera && alice.chat && alice.screen_share);
        given.run(
            "alice",
            config(
                SettingsChange {
                    enable_screen_share: Some(false),
                    enable_chat: Some(false),
                    ..Default::default()
                },
                None,
            ),
        );
        let alice = grants_of(&given, caller("alice")).unwrap();
        assert!(!alice.chat && !alice.screen_share, "off for everyone");
    }

    #[test]
    fn link_grants_are_for_members_and_admins_until_the_end() {
        let mut given = Given::scheduled_by("alice");
        given.run("alice", invite("bob", Role::Participant));
        let bob = link_grants(given.meeting(), &caller("bob")).unwrap();
        assert!(!bob.is_moderator && !bob.is_admin);
        assert_eq!(
            link_grants(given.meeting(), &caller("mallory")),
            Err(MeetingError::NotMember)
        );
        let root = link_grants(given.meeting(), &admin("root")).unwrap();
        assert!(root.is_admin && root.is_moderator && root.role == Role::CoHost);
        given
            .run("alice", Command::Start)
            .run("alice", Command::End);
        assert_eq!(
            link_grants(given.meeting(), &caller("alice")),
            Err(MeetingError::Ended)
        );
    }

    #[test]
    fn participants_start_muted_and_without_video_as_the_meeting_says_and_moderators_do_not() {
        let mut given = Given::scheduled_with("alice", |c| {
            c.settings.mute_on_entry = Some(true);
        });
        given.run(
            "alice",
            policy(|p| {
                p.mute_on_entry = true;
                p.disable_camera = true;
            }),
        );
        given.run("alice", invite("bob", Role::Participant));
        let bob = link_grants(given.meeting(), &caller("bob")).unwrap();
        assert!(bob.start_muted && bob.start_without_video);
        for moderator in [caller("alice"), admin("root")] {
            let grants = link_grants(given.meeting(), &moderator).unwrap();
            assert!(!grants.start_muted && !grants.start_without_video);
        }
    }
}
