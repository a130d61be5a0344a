//! The room's rules: its live settings (the config command) and the
//! security policy (who may join, with what, and who may record, share and
//! chat). Both are the host's alone.

use events::event::{LeaveReason, RoomConfigUpdated, SecurityPolicy, SecurityPolicyApplied};
use events::settings::{ConfigChange, RoomSettings, SettingsChange};
use events::{MeetingEvent, MeetingId, SecretId};
use serde::{Deserialize, Serialize};

use super::Decision;
use super::admission::left;
use super::context::Context;
use super::error::MeetingError;
use super::rules::{capacity, require_host, require_open, user_id};
use super::state::Meeting;
use events::views::MeetingStatus;

const DOMAINS_MAX: usize = 100;
const BLOCKED_USERS_MAX: usize = 1000;

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ConfigUpdate {
    pub settings: SettingsChange,
    pub max_participants: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApplyPolicy {
    pub policy: SecurityPolicy,
    /// The hash of a new password given with the policy.
    pub new_password_id: Option<SecretId>,
}

/// The full live settings of a room, `max_participants` included.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConfigView {
    pub meeting_id: MeetingId,
    pub settings: RoomSettings,
}

/// The policy as applied; whether a password is required, never the
/// password.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PolicyView {
    pub meeting_id: MeetingId,
    #[serde(flatten)]
    pub policy: SecurityPolicy,
    pub password_set: bool,
}

/// Emits only the settings that actually change; a request that changes
/// nothing succeeds without an event.
pub(super) fn configure(
    meeting: &Meeting,
    ctx: &Context,
    cmd: &ConfigUpdate,
) -> Result<Decision<ConfigView>, MeetingError> {
    require_host(meeting, ctx)?;
    if meeting.status != MeetingStatus::Active {
        return Err(MeetingError::NotActive);
    }
    let max_participants = cmd.max_participants.map(capacity).transpose()?;
    let change = ConfigChange {
        settings: meeting.settings.diff(&cmd.settings),
        max_participants: max_participants.filter(|m| *m != meeting.max_participants),
    };
    let mut settings = meeting.settings;
    settings.apply(&change.settings);
    let reply = ConfigView {
        meeting_id: meeting.id,
        settings: RoomSettings {
            settings,
            max_participants: change.max_participants.unwrap_or(meeting.max_participants),
        },
    };
    if change.is_empty() {
        return Ok(Decision::new(vec![], reply));
    }
    let event = MeetingEvent::RoomConfigUpdated(RoomConfigUpdated {
        meeting_id: meeting.id,
        updated_by: ctx.caller.user_id.clone(),
        settings: change,
    });
    Ok(Decision::new(vec![event], reply))
}

/// Applies the whole policy; present users it blocks are removed.
pub(super) fn apply(
    meeting: &Meeting,
    ctx: &Context,
    cmd: &ApplyPolicy,
) -> Result<Decision<PolicyView>, MeetingError> {
    require_host(meeting, ctx)?;
    require_open(meeting)?;
    let mut policy = cmd.policy.clone();
    if let Some(max) = policy.max_participants {
        capacity(i64::from(max))?;
    }
    if policy.allowed_domains.len() > DOMAINS_MAX {
        return Err(MeetingError::invalid(
            "allowed_domains",
            format!("at most {DOMAINS_MAX}"),
        ));
    }
    for domain in &mut policy.allowed_domains {
        *domain = domain.trim().trim_start_matches('@').to_ascii_lowercase();
        let shape = events::text::line(domain, 253);
        if domain.is_empty() || shape.is_err() || domain.contains(char::is_whitespace) {
            return Err(MeetingError::invalid(
                "allowed_domains",
                "must be domain names",
            ));
        }
    }
    if policy.blocked_users.len() > BLOCKED_USERS_MAX {
        return Err(MeetingError::invalid(
            "blocked_users",
            format!("at most {BLOCKED_USERS_MAX}"),
        ));
    }
    for blocked in &policy.blocked_users {
        user_id("blocked_users", blocked)?;
    }
    if policy.blocked_users.contains(&meeting.host_id) {
        return Err(MeetingError::invalid(
            "blocked_users",
            "must not contain the host",
        ));
    }
    let password_id = if policy.require_password {
        Some(cmd.new_password_id.or(meeting.password_id).ok_or_else(|| {
            MeetingError::invalid("password", "is required when require_password is true")
        })?)
    } else {
        None
    };
    let mut events: Vec<MeetingEvent> = meeting
        .present
        .values()
        .filter(|seat| policy.blocked_users.contains(&seat.user_id))
        .map(|seat| left(meeting, ctx, seat, LeaveReason::Removed, false))
        .collect();
    let reply = PolicyView {
        meeting_id: meeting.id,
        policy: policy.clone(),
        password_set: password_id.is_some(),
    };
    events.push(MeetingEvent::SecurityPolicyApplied(SecurityPolicyApplied {
        meeting_id: meeting.id,
        applied_by: ctx.caller.user_id.clone(),
        policy,
        password_id,
    }));
    Ok(Decision::new(events, reply))
}

#[cfg(test)]
mod tests {
    use super::super::given::*;
    use events::settings::ConfigChange;

    #[test]
    fn config_merges_a_partial_change_and_emits_only_what_changed() {
        let mut given = Given::active("alice");
        let change = SettingsChange {
            lock_room: Some(true),
            enable_chat: Some(true), // already true: not a change
            ..Default::default()
        };
        let events = given.when("alice", config(change, Some(10))).unwrap();
        let [E::RoomConfigUpdated(e)] = events.as_slice() else {
            panic!("{events:?}")
        };
        assert_eq!(
            e.settings,
            ConfigChange {
                settings: SettingsChange {
                    lock_room: Some(true),
                    ..Default::default()
                },
                max_participants: Some(10),
            }
        );
        given.run("alice", config(change, Some(10)));
        let meeting = given.meeting();
        assert!(meeting.settings.lock_room && meeting.settings.enable_chat);
        assert!(
            !meeting.settings.enable_transcription,
            "unspecified keys keep their values"
        );
        assert_eq!(meeting.max_participants, 10);
    }

    #[test]
    fn a_config_that_changes_nothing_emits_nothing() {
        let given = Given::active("alice");
        let unchanged = SettingsChange {
            enable_chat: Some(true),
            ..Default::default()
        };
        assert_eq!(
            given.when("alice", config(unchanged, Some(100))),
            Ok(vec![])
        );
    }

    #[test]
    fn only_the_host_may_change_the_config() {
        let given = Given::active("alice");
        let change = SettingsChange {
            lock_room: Some(true),
            ..Default::default()
        };
        assert_eq!(
            given.when("bob", config(change, None)),
            Err(MeetingError::NotHost)
        );
    }

    #[test]
    fn config_needs_an_active_meeting() {
        let change = SettingsChange {
            lock_room: Some(true),
            ..Default::default()
        };
        let scheduled = Given::scheduled_by("alice");
        assert_eq!(
            scheduled.when("alice", config(change, None)),
            Err(MeetingError::NotActive)
        );
        let mut ended = Given::active("alice");
        ended.run("alice", Command::End);
        assert_eq!(
            ended.when("alice", config(change, None)),
            Err(MeetingError::NotActive)
        );
    }

    #[test]
    fn config_refuses_max_participants_out_of_range() {
        let given = Given::active("alice");
        for bad in [0, 1001] {
            let result = given.when("alice", config(SettingsChange::default(), Some(bad)));
            assert_eq!(validation_field(result), "max_participants");
        }
    }

    #[test]
    fn blocked_users_and_domains_are_ids_and_names_of_bounded_length() {
        let given = Given::active("alice");
        let huge = "x".repeat(1 << 20);
        for bad in [huge.as_str(), "", "mal\0lory"] {
            let result = given.when(
                "alice",
                policy(|p| p.blocked_users = vec![UserId(bad.to_owned())]),
            );
            assert_eq!(validation_field(result), "blocked_users");
        }
        let result = given.when(
            "alice",
            policy(|p| p.allowed_domains = vec!["exa\u{202E}mple.com".into()]),
        );
        assert_eq!(validation_field(result), "allowed_domains");
        let thousand = (0..1000).map(|n| UserId(format!("{n:0>255}"))).collect();
        assert!(
            given
                .when("alice", policy(|p| p.blocked_users = thousand))
                .is_ok(),
            "the most the policy allows fits in one event"
        );
    }

    #[test]
    fn policy_settings_mute_and_disable_the_camera_of_participants_but_not_moderators() {
        let mut given = Given::active("alice");
        given.run(
            "alice",
            policy(|p| {
                p.mute_on_entry = true;
                p.disable_camera = true;
                p.max_participants = Some(3);
            }),
        );
        assert_eq!(given.meeting().max_participants, 3);
        let events = given.when("bob", join()).unwrap();
        assert!(
            matches!(events.as_slice(), [E::ParticipantJoined(j)] if j.is_muted && !j.is_video_enabled)
        );
        let events = given.when("alice", join()).unwrap();
        assert!(
            matches!(events.as_slice(), [E::ParticipantJoined(j)] if !j.is_muted && j.is_video_enabled)
        );
        // And it holds after the join: participants cannot switch the
        // camera on; moderators can, and anyone may switch it off.
        given.joined("bob").joined("alice");
        let camera = |on| status(|s| s.is_video_enabled = Some(on));
        assert_eq!(
            given.when("bob", camera(true)),
            Err(MeetingError::CameraDisabled)
        );
        assert_eq!(given.when("bob", camera(false)), Ok(vec![]));
        given.run("alice", camera(false));
        assert!(given.when("alice", camera(true)).is_ok());
    }
}
