//! Participant media and hands: a participant's own microphone, camera,
//! screen share and raised hand; a moderator may mute others or lower
//! their hand, nothing more.

use events::event::{HandLowered, HandRaised, ParticipantMediaChanged};
use events::{MeetingEvent, MeetingId, UserId};
use serde::{Deserialize, Serialize};

use super::Decision;
use super::context::Context;
use super::error::MeetingError;
use super::rules::{may_share_screen, may_use_camera, require_active, require_moderator, seat_of};
use super::state::Meeting;

/// Own media state, or a moderator muting someone (`target`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct StatusUpdate {
    pub target: Option<UserId>,
    pub is_muted: Option<bool>,
    pub is_video_enabled: Option<bool>,
    pub is_screen_sharing: Option<bool>,
    pub is_hand_raised: Option<bool>,
}

/// A participant's live state (the spec's status body).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatusView {
    pub meeting_id: MeetingId,
    pub user_id: UserId,
    pub is_muted: bool,
    pub is_video_enabled: bool,
    pub is_screen_sharing: bool,
    pub is_hand_raised: bool,
    pub is_in_waiting_room: bool,
}

pub(super) fn set_status(
    meeting: &Meeting,
    ctx: &Context,
    cmd: &StatusUpdate,
) -> Result<Decision<StatusView>, MeetingError> {
    let caller = &ctx.caller.user_id;
    let target = cmd.target.as_ref().unwrap_or(caller);
    if target != caller {
        require_moderator(meeting, ctx)?;
        let only_mute_or_lower = cmd.is_muted.is_none_or(|m| m)
            && cmd.is_hand_raised.is_none_or(|h| !h)
            && cmd.is_video_enabled.is_none()
            && cmd.is_screen_sharing.is_none();
        if !only_mute_or_lower {
            return Err(MeetingError::invalid(
                "user_id",
                "others can only be muted or have their hand lowered",
            ));
        }
    }
    require_active(meeting)?;
    let seat = seat_of(meeting, ctx, target)?;
    let changed = |current: bool, wanted: Option<bool>| wanted.filter(|w| *w != current);
    let is_screen_sharing = changed(seat.is_screen_sharing, cmd.is_screen_sharing);
    if is_screen_sharing == Some(true) && !may_share_screen(meeting, seat) {
        return Err(MeetingError::ScreenShareDisabled);
    }
    let camera_on = changed(seat.is_video_enabled, cmd.is_video_enabled) == Some(true);
    if camera_on && !may_use_camera(meeting, seat.role) {
        return Err(MeetingError::CameraDisabled);
    }
    let mut events = Vec::new();
    let media = ParticipantMediaChanged {
        meeting_id: meeting.id,
        participant_id: seat.participant_id,
        user_id: target.clone(),
        is_muted: changed(seat.is_muted, cmd.is_muted),
        is_video_enabled: changed(seat.is_video_enabled, cmd.is_video_enabled),
        is_screen_sharing,
        changed_by: caller.clone(),
    };
    if media.is_muted.is_some() || media.is_video_enabled.is_some() || is_screen_sharing.is_some() {
        events.push(MeetingEvent::ParticipantMediaChanged(media));
    }
    match changed(seat.is_hand_raised, cmd.is_hand_raised) {
        Some(true) => events.push(MeetingEvent::HandRaised(HandRaised {
            meeting_id: meeting.id,
            participant_id: seat.participant_id,
            user_id: target.clone(),
            raised_at: ctx.at,
        })),
        Some(false) => events.push(MeetingEvent::HandLowered(HandLowered {
            meeting_id: meeting.id,
            participant_id: seat.participant_id,
            user_id: target.clone(),
            lowered_by: caller.clone(),
            lowered_at: ctx.at,
        })),
        None => {}
    }
    // What was asked is what holds now: a wanted value either changed or
    // was already so.
    let reply = StatusView {
        meeting_id: meeting.id,
        user_id: target.clone(),
        is_muted: cmd.is_muted.unwrap_or(seat.is_muted),
        is_video_enabled: cmd.is_video_enabled.unwrap_or(seat.is_video_enabled),
        is_screen_sharing: cmd.is_screen_sharing.unwrap_or(seat.is_screen_sharing),
        is_hand_raised: cmd.is_hand_raised.unwrap_or(seat.is_hand_raised),
        is_in_waiting_room: false,
    };
    Ok(Decision::new(events, reply))
}

#[cfg(test)]
mod tests {
    use super::super::given::*;

    #[test]
    fn participants_set_their_own_media_and_moderators_may_only_mute_others() {
        let mut given = Given::active("alice");
        given.joined("alice").joined("bob").joined("carol");
        let events = given
            .when(
                "bob",
                status(|s| {
                    s.is_muted = Some(true);
                    s.is_hand_raised = Some(true);
                    s.is_screen_sharing = Some(true);
                }),
            )
            .unwrap();
        let types: Vec<&str> = events.iter().map(|e| e.event_type()).collect();
        assert_eq!(types, ["participant_media_changed", "hand_raised"]);
        assert_eq!(
            given.when("bob", status(|s| s.is_muted = Some(false))),
            Ok(vec![]),
            "already unmuted"
        );
        let mute_carol = status(|s| {
            s.target = Some(user("carol"));
            s.is_muted = Some(true);
        });
        assert_eq!(
            given.when("bob", mute_carol.clone()),
            Err(MeetingError::NotModerator)
        );
        assert!(given.when("alice", mute_carol).is_ok());
        let unmute_carol = status(|s| {
            s.target = Some(user("carol"));
            s.is_muted = Some(false);
        });
        assert_eq!(
            validation_field(given.when("alice", unmute_carol)),
            "user_id"
        );
        assert_eq!(
            given.when("zed", status(|s| s.is_muted = Some(true))),
            Err(MeetingError::NotPresent)
        );
    }

    #[test]
    fn screen_sharing_is_refused_when_off_or_not_permitted_for_the_role() {
        let mut given = Given::active("alice");
        given.joined("alice").joined("bob");
        let share = status(|s| s.is_screen_sharing = Some(true));
        given.run(
            "alice",
            policy(|p| p.screen_share_permissions = Permission::CoHosts),
        );
        assert_eq!(
            given.when("bob", share.clone()),
            Err(MeetingError::ScreenShareDisabled)
        );
        assert!(given.when("alice", share.clone()).is_ok());
        given.run("alice", policy(|_| {}));
        given.run(
            "alice",
            config(
                SettingsChange {
                    enable_screen_share: Some(false),
                    ..Default::default()
                },
                None,
            ),
        );
        assert_eq!(
            given.when("bob", share),
            Err(MeetingError::ScreenShareDisabled)
        );
    }
}
