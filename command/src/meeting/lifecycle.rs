//! A meeting's life: scheduled (or started at once), started, its details
//! updated, ended, cancelled. Ending is what ends everything else: the
//! recording stops, breakout rooms close, everyone leaves.

use chrono::{DateTime, Utc};
use events::event::{
    EndReason, LeaveReason, MeetingCancelled, MeetingDetailsUpdated, MeetingEnded,
    MeetingScheduled, MeetingStarted,
};
use events::settings::{ConfigChange, MeetingSettings, RoomSettings, SettingsChange};
use events::views::{MeetingStatus, MeetingView};
use events::{MeetingEvent, MeetingId, RoomCode, SecretId, UserId};
use serde::{Deserialize, Serialize};

use super::Decision;
use super::admission::left;
use super::breakout::closed_by;
use super::context::Context;
use super::error::MeetingError;
use super::recording::stopped_by;
use super::rules::{
    capacity, line, minutes_between, over, require_host, require_moderator, require_open, running,
};
use super::state::Meeting;
use events::event::BreakoutCloseReason;

pub const TITLE_MAX_CHARS: usize = 200;
pub const DESCRIPTION_MAX_CHARS: usize = 5000;
pub const MAX_PARTICIPANTS_DEFAULT: u32 = 100;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleMeeting {
    pub meeting_id: MeetingId,
    pub room_code: RoomCode,
    pub title: String,
    pub description: Option<String>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    /// Taken as given so that an out-of-range value is a rule violation
    /// with a field name, not a parse error.
    pub max_participants: Option<i64>,
    /// Settings to change from the defaults.
    pub settings: SettingsChange,
    pub start_now: bool,
    /// The stored hash of the meeting password, if one was set.
    pub password_id: Option<SecretId>,
}

/// New details for a scheduled or active meeting; absent = unchanged.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct UpdateMeeting {
    pub title: Option<String>,
    pub description: Option<String>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub max_participants: Option<i64>,
    pub settings: SettingsChange,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StartedView {
    pub meeting_id: MeetingId,
    pub status: MeetingStatus,
    pub started_by: UserId,
    pub started_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EndedView {
    pub meeting_id: MeetingId,
    pub status: MeetingStatus,
    pub ended_by: UserId,
    pub ended_at: DateTime<Utc>,
    pub duration_minutes: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CancelledView {
    pub meeting_id: MeetingId,
    pub status: MeetingStatus,
}

/// The details of a meeting as its state has them.
pub fn meeting_view(meeting: &Meeting) -> MeetingView {
    MeetingView {
        meeting_id: meeting.id,
        room_code: meeting.room_code.clone(),
        title: meeting.title.clone(),
        description: meeting.description.clone(),
        host_id: meeting.host_id.clone(),
        host_name: meeting.host_name.clone(),
        status: meeting.status,
        starts_at: meeting.starts_at,
        ends_at: meeting.ends_at,
        max_participants: meeting.max_participants,
        settings: RoomSettings {
            settings: meeting.settings,
            max_participants: meeting.max_participants,
        },
        created_at: meeting.created_at,
        started_at: meeting.started_at,
    }
}

pub(super) fn schedule(
    ctx: &Context,
    cmd: &ScheduleMeeting,
) -> Result<Decision<MeetingView>, MeetingError> {
    let title = valid_title(&cmd.title)?;
    let description = cmd.description.clone().unwrap_or_default();
    running("description", &description, DESCRIPTION_MAX_CHARS)?;
    valid_times(cmd.starts_at, cmd.ends_at)?;
    let max_participants = match cmd.max_participants {
        None => MAX_PARTICIPANTS_DEFAULT,
        Some(n) => capacity(n)?,
    };
    let mut settings = MeetingSettings::default();
    settings.apply(&cmd.settings);

    let scheduled = MeetingScheduled {
        meeting_id: cmd.meeting_id,
        room_code: cmd.room_code.clone(),
        host_id: ctx.caller.user_id.clone(),
        host_name: ctx.caller.name.clone(),
        title,
        description,
        starts_at: cmd.starts_at,
        ends_at: cmd.ends_at,
        max_participants,
        settings,
        scheduled_at: ctx.at,
        password_id: cmd.password_id,
    };
    let mut meeting = Meeting::scheduled(&scheduled);
    let mut events = vec![MeetingEvent::MeetingScheduled(scheduled)];
    if cmd.start_now {
        let started = MeetingEvent::MeetingStarted(MeetingStarted {
            meeting_id: cmd.meeting_id,
            started_by: ctx.caller.user_id.clone(),
            started_at: ctx.at,
        });
        meeting.apply(&started);
        events.push(started);
    }
    Ok(Decision::new(events, meeting_view(&meeting)))
}

fn valid_title(title: &str) -> Result<String, MeetingError> {
    let title = title.trim();
    if title.is_empty() {
        return Err(MeetingError::invalid("title", "must not be empty"));
    }
    line("title", title, TITLE_MAX_CHARS)?;
    events::text::visible(title).map_err(|e| MeetingError::invalid("title", e.to_string()))?;
    Ok(title.to_owned())
}

fn valid_times(
    starts_at: Option<DateTime<Utc>>,
    ends_at: Option<DateTime<Utc>>,
) -> Result<(), MeetingError> {
    if let (Some(starts), Some(ends)) = (starts_at, ends_at)
        && ends <= starts
    {
        return Err(MeetingError::invalid("ends_at", "must be after starts_at"));
    }
    Ok(())
}

pub(super) fn start(
    meeting: &Meeting,
    ctx: &Context,
) -> Result<Decision<StartedView>, MeetingError> {
    require_host(meeting, ctx)?;
    match meeting.status {
        MeetingStatus::Scheduled => {}
        MeetingStatus::Active => return Err(MeetingError::AlreadyActive),
        status @ (MeetingStatus::Ended | MeetingStatus::Cancelled) => return Err(over(status)),
    }
    let started = MeetingStarted {
        meeting_id: meeting.id,
        started_by: ctx.caller.user_id.clone(),
        started_at: ctx.at,
    };
    let reply = StartedView {
        meeting_id: meeting.id,
        status: MeetingStatus::Active,
        started_by: started.started_by.clone(),
        started_at: started.started_at,
    };
    Ok(Decision::new(
        vec![MeetingEvent::MeetingStarted(started)],
        reply,
    ))
}

pub(super) fn end(meeting: &Meeting, ctx: &Context) -> Result<Decision<EndedView>, MeetingError> {
    require_host(meeting, ctx)?;
    super::rules::require_active(meeting)?;
    let (events, ended) = closing(meeting, ctx, EndReason::Ended);
    let reply = EndedView {
        meeting_id: meeting.id,
        status: MeetingStatus::Ended,
        ended_by: ended.ended_by,
        ended_at: ended.ended_at,
        duration_minutes: ended.duration_minutes,
    };
    Ok(Decision::new(events, reply))
}

/// Everything that ends with an active meeting, in order: the recording
/// stops, breakout rooms close, everyone leaves, the meeting ends (the
/// last event, also returned on its own).
fn closing(
    meeting: &Meeting,
    ctx: &Context,
    reason: EndReason,
) -> (Vec<MeetingEvent>, MeetingEnded) {
    let mut events = Vec::new();
    if let Some(recording) = &meeting.recording {
        events.push(stopped_by(meeting, ctx, recording));
    }
    if let Some(breakout) = &meeting.breakout {
        events.push(closed_by(
            meeting,
            ctx,
            breakout.session_id,
            BreakoutCloseReason::MeetingEnded,
        ));
    }
    events.extend(
        meeting
            .present
            .values()
            .map(|seat| left(meeting, ctx, seat, LeaveReason::MeetingEnded, false)),
    );
    let started_at = meeting.started_at.unwrap_or(meeting.created_at);
    let ended = MeetingEnded {
        meeting_id: meeting.id,
        ended_by: ctx.caller.user_id.clone(),
        ended_at: ctx.at,
        duration_minutes: minutes_between(started_at, ctx.at),
        reason,
    };
    events.push(MeetingEvent::MeetingEnded(ended.clone()));
    (events, ended)
}

/// Emits only what changes; an update that changes nothing succeeds
/// without an event.
pub(super) fn update(
    meeting: &Meeting,
    ctx: &Context,
    cmd: &UpdateMeeting,
) -> Result<Decision<MeetingView>, MeetingError> {
    require_moderator(meeting, ctx)?;
    require_open(meeting)?;
    let title = cmd.title.as_deref().map(valid_title).transpose()?;
    if let Some(description) = &cmd.description {
        running("description", description, DESCRIPTION_MAX_CHARS)?;
    }
    valid_times(
        cmd.starts_at.or(meeting.starts_at),
        cmd.ends_at.or(meeting.ends_at),
    )?;
    let max_participants = cmd.max_participants.map(capacity).transpose()?;
    let event = MeetingDetailsUpdated {
        meeting_id: meeting.id,
        updated_by: ctx.caller.user_id.clone(),
        title: title.filter(|t| *t != meeting.title),
        description: cmd
            .description
            .clone()
            .filter(|d| *d != meeting.description),
        starts_at: cmd.starts_at.filter(|t| Some(*t) != meeting.starts_at),
        ends_at: cmd.ends_at.filter(|t| Some(*t) != meeting.ends_at),
        settings: ConfigChange {
            settings: meeting.settings.diff(&cmd.settings),
            max_participants: max_participants.filter(|m| *m != meeting.max_participants),
        },
    };
    let unchanged = event.title.is_none()
        && event.description.is_none()
        && event.starts_at.is_none()
        && event.ends_at.is_none()
        && event.settings.is_empty();
    let events = if unchanged {
        vec![]
    } else {
        vec![MeetingEvent::MeetingDetailsUpdated(event)]
    };
    let reply = meeting_view(&meeting.after(&events));
    Ok(Decision::new(events, reply))
}

/// Cancels a scheduled meeting; an active one is ended first.
pub(super) fn delete(
    meeting: &Meeting,
    ctx: &Context,
) -> Result<Decision<CancelledView>, MeetingError> {
    require_host(meeting, ctx)?;
    let mut events = match meeting.status {
        MeetingStatus::Scheduled => Vec::new(),
        MeetingStatus::Active => closing(meeting, ctx, EndReason::Deleted).0,
        status @ (MeetingStatus::Ended | MeetingStatus::Cancelled) => return Err(over(status)),
    };
    events.push(MeetingEvent::MeetingCancelled(MeetingCancelled {
        meeting_id: meeting.id,
        cancelled_by: ctx.caller.user_id.clone(),
        cancelled_at: ctx.at,
    }));
    let reply = CancelledView {
        meeting_id: meeting.id,
        status: MeetingStatus::Cancelled,
    };
    Ok(Decision::new(events, reply))
}

#[cfg(test)]
mod tests {
    use super::super::given::*;

    #[test]
    fn scheduling_a_meeting_records_it_with_default_settings() {
        let id = MeetingId::new();
        let events = events_of(
            &None,
            &ctx("alice", t0()),
            &Command::Schedule(schedule_cmd(id)),
        )
        .unwrap();
        let [E::MeetingScheduled(e)] = events.as_slice() else {
            panic!("{events:?}")
        };
        assert_eq!(e.meeting_id, id);
        assert_eq!(e.host_id, UserId("alice".into()));
        assert_eq!(e.max_participants, MAX_PARTICIPANTS_DEFAULT);
        assert_eq!(e.settings, events::settings::MeetingSettings::default());
        assert!(e.settings.enable_chat && !e.settings.lock_room);
        let state = fold(None, &events).unwrap();
        assert_eq!(state.status, MeetingStatus::Scheduled);
    }

    #[test]
    fn scheduling_with_start_now_schedules_and_starts_in_one_decision() {
        let id = MeetingId::new();
        let mut cmd = schedule_cmd(id);
        cmd.start_now = true;
        let events = events_of(&None, &ctx("alice", t0()), &Command::Schedule(cmd)).unwrap();
        assert!(matches!(
            events.as_slice(),
            [E::MeetingScheduled(_), E::MeetingStarted(_)]
        ));
        let state = fold(None, &events).unwrap();
        assert_eq!(state.status, MeetingStatus::Active);
        assert!(state.present.is_empty(), "starting does not join the host");
    }

    #[test]
    fn scheduling_merges_given_settings_over_the_defaults() {
        let given = Given::scheduled_with("alice", |c| {
            c.settings.lock_room = Some(true);
            c.max_participants = Some(5);
        });
        let meeting = given.meeting();
        assert!(meeting.settings.lock_room);
        assert!(
            meeting.settings.enable_chat,
            "untouched settings keep defaults"
        );
        assert_eq!(meeting.max_participants, 5);
    }

    #[test]
    fn a_title_must_have_1_to_200_characters() {
        for bad in ["", "   ", &"x".repeat(201)] {
            let mut cmd = schedule_cmd(MeetingId::new());
            cmd.title = bad.to_owned();
            let result = events_of(&None, &ctx("alice", t0()), &Command::Schedule(cmd));
            assert_eq!(validation_field(result), "title");
        }
        let mut cmd = schedule_cmd(MeetingId::new());
        cmd.title = "é".repeat(200);
        assert!(events_of(&None, &ctx("alice", t0()), &Command::Schedule(cmd)).is_ok());
    }

    #[test]
    fn titles_refuse_control_and_bidirectional_characters_and_descriptions_keep_lines() {
        for bad in [
            "Weekly\0sync",
            "Weekly\nsync",
            "\u{202E}cnys",
            "\u{3164}",
            "\u{200B}",
            "sy\u{2028}nc",
        ] {
            let mut cmd = schedule_cmd(MeetingId::new());
            cmd.title = bad.to_owned();
            let result = events_of(&None, &ctx("alice", t0()), &Command::Schedule(cmd));
            assert_eq!(validation_field(result), "title", "{bad:?}");
        }
        let mut cmd = schedule_cmd(MeetingId::new());
        cmd.description = Some("agenda:\n- one\n- two".into());
        assert!(events_of(&None, &ctx("alice", t0()), &Command::Schedule(cmd.clone())).is_ok());
        cmd.description = Some("bell\u{7}".into());
        let result = events_of(&None, &ctx("alice", t0()), &Command::Schedule(cmd));
        assert_eq!(validation_field(result), "description");
    }

    #[test]
    fn a_description_longer_than_5000_characters_is_refused() {
        let mut cmd = schedule_cmd(MeetingId::new());
        cmd.description = Some("d".repeat(5001));
        let result = events_of(&None, &ctx("alice", t0()), &Command::Schedule(cmd.clone()));
        assert_eq!(validation_field(result), "description");
        cmd.description = Some("d".repeat(5000));
        assert!(events_of(&None, &ctx("alice", t0()), &Command::Schedule(cmd)).is_ok());
    }

    #[test]
    fn a_meeting_must_end_after_it_starts() {
        let mut cmd = schedule_cmd(MeetingId::new());
        cmd.starts_at = Some(t0());
        cmd.ends_at = Some(t0());
        let result = events_of(&None, &ctx("alice", t0()), &Command::Schedule(cmd));
        assert_eq!(validation_field(result), "ends_at");
    }

    #[test]
    fn max_participants_must_be_between_1_and_1000() {
        for bad in [0, -1, 1001, i64::MAX] {
            let mut cmd = schedule_cmd(MeetingId::new());
            cmd.max_participants = Some(bad);
            let result = events_of(&None, &ctx("alice", t0()), &Command::Schedule(cmd));
            assert_eq!(validation_field(result), "max_participants", "{bad}");
        }
        for good in [1, 1000] {
            let mut cmd = schedule_cmd(MeetingId::new());
            cmd.max_participants = Some(good);
            assert!(events_of(&None, &ctx("alice", t0()), &Command::Schedule(cmd)).is_ok());
        }
    }

    #[test]
    fn scheduling_an_existing_meeting_again_is_refused() {
        let given = Given::scheduled_by("alice");
        let result = given.when("alice", Command::Schedule(schedule_cmd(given.id)));
        assert_eq!(result, Err(MeetingError::AlreadyExists));
    }

    #[test]
    fn commands_on_a_meeting_that_does_not_exist_are_not_found() {
        for command in [
            Command::Start,
            join(),
            Command::Leave,
            Command::End,
            config(SettingsChange::default(), None),
        ] {
            assert_eq!(
                events_of(&None, &ctx("alice", t0()), &command),
                Err(MeetingError::NotFound)
            );
        }
    }

    #[test]
    fn the_host_starts_a_scheduled_meeting() {
        let given = Given::scheduled_by("alice");
        let events = given.when("alice", Command::Start).unwrap();
        assert!(matches!(events.as_slice(), [E::MeetingStarted(e)] if e.started_at == t0()));
    }

    #[test]
    fn only_the_host_may_start_a_meeting() {
        let given = Given::scheduled_by("alice");
        assert_eq!(
            given.when("bob", Command::Start),
            Err(MeetingError::NotHost)
        );
    }

    #[test]
    fn starting_an_active_meeting_is_refused() {
        let given = Given::active("alice");
        assert_eq!(
            given.when("alice", Command::Start),
            Err(MeetingError::AlreadyActive)
        );
    }

    #[test]
    fn starting_an_ended_meeting_is_refused() {
        let mut given = Given::active("alice");
        given.run("alice", Command::End);
        assert_eq!(
            given.when("alice", Command::Start),
            Err(MeetingError::Ended)
        );
    }

    #[test]
    fn ending_sends_everyone_out_and_reports_the_rounded_duration() {
        let mut given = Given::active("alice");
        given.joined("alice").joined("bob");
        given.after(Duration::seconds(61 * 60 + 30)); // 61.5 min rounds up to 62
        let events = given.when("alice", Command::End).unwrap();
        let lefts: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                E::ParticipantLeft(l) => Some((l.user_id.as_str().to_owned(), l.reason)),
                _ => None,
            })
            .collect();
        assert_eq!(
            lefts,
            vec![
                ("alice".into(), LeaveReason::MeetingEnded),
                ("bob".into(), LeaveReason::MeetingEnded)
            ]
        );
        let Some(E::MeetingEnded(ended)) = events.last() else {
            panic!("{events:?}")
        };
        assert_eq!(ended.duration_minutes, 62);
        let state = fold(given.state.clone(), &events).unwrap();
        assert_eq!(state.status, MeetingStatus::Ended);
        assert!(state.present.is_empty());
    }

    #[test]
    fn durations_round_to_the_nearest_minute() {
        for (seconds, minutes) in [(29, 0), (30, 1), (89, 1), (90, 2), (3600, 60)] {
            let mut given = Given::active("alice");
            given.after(Duration::seconds(seconds));
            let events = given.when("alice", Command::End).unwrap();
            let Some(E::MeetingEnded(ended)) = events.last() else {
                panic!()
            };
            assert_eq!(ended.duration_minutes, minutes, "{seconds} s");
        }
    }

    #[test]
    fn only_the_host_may_end_a_meeting() {
        let given = Given::active("alice");
        assert_eq!(given.when("bob", Command::End), Err(MeetingError::NotHost));
    }

    #[test]
    fn ending_a_meeting_that_has_not_started_or_has_ended_is_refused() {
        let scheduled = Given::scheduled_by("alice");
        assert_eq!(
            scheduled.when("alice", Command::End),
            Err(MeetingError::NotActive)
        );
        let mut ended = Given::active("alice");
        ended.run("alice", Command::End);
        assert_eq!(ended.when("alice", Command::End), Err(MeetingError::Ended));
    }

    #[test]
    fn updating_details_emits_only_what_changes_and_is_refused_after_the_end() {
        let mut given = Given::active("alice");
        given.run(
            "alice",
            Command::Invite {
                user_id: user("carol"),
                role: Role::CoHost,
            },
        );
        given.joined("bob");
        let update = Command::Update(UpdateMeeting {
            title: Some("  Renamed  ".into()),
            description: Some(String::new()),
            max_participants: Some(5),
            ..Default::default()
        });
        let events = given.when("carol", update.clone()).unwrap();
        let [E::MeetingDetailsUpdated(e)] = events.as_slice() else {
            panic!("{events:?}")
        };
        assert_eq!(e.title.as_deref(), Some("Renamed"));
        assert_eq!(e.description, None, "unchanged fields are not in the event");
        assert_eq!(e.settings.max_participants, Some(5));
        assert_eq!(
            given.when("bob", update.clone()),
            Err(MeetingError::NotModerator)
        );
        let same = Command::Update(UpdateMeeting {
            title: Some("Weekly sync".into()),
            ..Default::default()
        });
        assert_eq!(given.when("alice", same), Ok(vec![]));
        let bad = Command::Update(UpdateMeeting {
            title: Some(" ".into()),
            ..Default::default()
        });
        assert_eq!(validation_field(given.when("alice", bad)), "title");
        given.run("alice", Command::End);
        assert_eq!(given.when("alice", update), Err(MeetingError::Ended));
    }

    #[test]
    fn deleting_a_scheduled_meeting_cancels_it_and_an_active_one_is_ended_first() {
        let given = Given::scheduled_by("alice");
        let events = given.when("alice", Command::Delete).unwrap();
        assert!(matches!(events.as_slice(), [E::MeetingCancelled(_)]));
        assert_eq!(
            given.when("bob", Command::Delete),
            Err(MeetingError::NotHost)
        );

        let mut given = Given::active("alice");
        given
            .run(
                "alice",
                config(
                    SettingsChange {
                        enable_recording: Some(true),
                        ..Default::default()
                    },
                    None,
                ),
            )
            .joined("bob")
            .run("alice", Command::StartRecording(RecordingId::new()))
            .run("alice", open_rooms(|_| {}));
        let events = given.when("alice", Command::Delete).unwrap();
        let types: Vec<&str> = events.iter().map(|e| e.event_type()).collect();
        assert_eq!(
            types,
            [
                "recording_stopped",
                "breakout_rooms_closed",
                "participant_left",
                "meeting_ended",
                "meeting_cancelled"
            ]
        );
        let E::MeetingEnded(ended) = &events[3] else {
            panic!()
        };
        assert_eq!(ended.reason, EndReason::Deleted);
        given.state = fold(given.state.take(), &events);
        assert_eq!(given.meeting().status, MeetingStatus::Cancelled);
        assert_eq!(
            given.when("alice", Command::Delete),
            Err(MeetingError::Cancelled)
        );
    }
}
