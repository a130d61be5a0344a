//! Given/when/then on `decide`: every rule of the aggregate, no database.

use chrono::{DateTime, Duration, TimeZone, Utc};
use events::event::{ConfigChange, LeaveReason, MeetingEvent as E, Role};
use events::{MeetingId, ParticipantId, RoomCode, UserId};

use super::*;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 14, 10, 0, 0).unwrap()
}

fn caller(id: &str) -> Caller {
    Caller {
        user_id: UserId(id.into()),
        name: id.to_uppercase(),
        email: None,
        roles: vec![],
    }
}

fn ctx(id: &str, at: DateTime<Utc>) -> Context {
    Context {
        caller: caller(id),
        at,
        request_id: None,
    }
}

fn schedule_cmd(id: MeetingId) -> ScheduleMeeting {
    ScheduleMeeting {
        meeting_id: id,
        room_code: RoomCode::parse("abc-defg-hij").unwrap(),
        title: "Weekly sync".into(),
        description: None,
        starts_at: None,
        ends_at: None,
        max_participants: None,
        settings: ConfigChange::default(),
        start_now: false,
    }
}

/// A meeting history built by running commands through `decide`, so every
/// `given` is itself a sequence the rules accept.
struct Given {
    id: MeetingId,
    state: Option<Meeting>,
    clock: DateTime<Utc>,
}

impl Given {
    fn scheduled_by(host: &str) -> Self {
        Self::scheduled_with(host, |_| {})
    }

    fn scheduled_with(host: &str, adjust: impl FnOnce(&mut ScheduleMeeting)) -> Self {
        let id = MeetingId::new();
        let mut cmd = schedule_cmd(id);
        adjust(&mut cmd);
        let mut given = Self {
            id,
            state: None,
            clock: t0(),
        };
        given.run(host, Command::Schedule(cmd));
        given
    }

    fn active(host: &str) -> Self {
        let mut given = Self::scheduled_by(host);
        given.run(host, Command::Start);
        given
    }

    fn run(&mut self, user: &str, command: Command) -> &mut Self {
        let events = decide(&self.state, &ctx(user, self.clock), &command)
            .unwrap_or_else(|e| panic!("given step {command:?} by {user} was refused: {e}"));
        self.state = fold(self.state.take(), &events);
        self
    }

    fn joined(&mut self, user: &str) -> &mut Self {
        self.run(user, join())
    }

    fn after(&mut self, duration: Duration) -> &mut Self {
        self.clock += duration;
        self
    }

    fn when(&self, user: &str, command: Command) -> Result<Vec<E>, MeetingError> {
        decide(&self.state, &ctx(user, self.clock), &command)
    }

    fn meeting(&self) -> &Meeting {
        self.state.as_ref().unwrap()
    }
}

fn join() -> Command {
    Command::Join(JoinMeeting {
        participant_id: ParticipantId::new(),
        ..Default::default()
    })
}

fn config(change: ConfigChange, max: Option<i64>) -> Command {
    Command::UpdateConfig(ConfigUpdate {
        settings: change,
        max_participants: max,
    })
}

fn validation_field(result: Result<Vec<E>, MeetingError>) -> &'static str {
    match result {
        Err(MeetingError::Validation { field, .. }) => field,
        other => panic!("expected a validation error, got {other:?}"),
    }
}

// --- schedule -------------------------------------------------------------

#[test]
fn scheduling_a_meeting_records_it_with_default_settings() {
    let id = MeetingId::new();
    let events = decide(
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
    assert_eq!(e.settings, events::event::MeetingSettings::default());
    assert!(e.settings.enable_chat && !e.settings.lock_room);
    let state = fold(None, &events).unwrap();
    assert_eq!(state.status, Status::Scheduled);
}

#[test]
fn scheduling_with_start_now_schedules_and_starts_in_one_decision() {
    let id = MeetingId::new();
    let mut cmd = schedule_cmd(id);
    cmd.start_now = true;
    let events = decide(&None, &ctx("alice", t0()), &Command::Schedule(cmd)).unwrap();
    assert!(matches!(
        events.as_slice(),
        [E::MeetingScheduled(_), E::MeetingStarted(_)]
    ));
    let state = fold(None, &events).unwrap();
    assert_eq!(state.status, Status::Active);
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
        let result = decide(&None, &ctx("alice", t0()), &Command::Schedule(cmd));
        assert_eq!(validation_field(result), "title");
    }
    let mut cmd = schedule_cmd(MeetingId::new());
    cmd.title = "é".repeat(200);
    assert!(decide(&None, &ctx("alice", t0()), &Command::Schedule(cmd)).is_ok());
}

#[test]
fn a_description_longer_than_5000_characters_is_refused() {
    let mut cmd = schedule_cmd(MeetingId::new());
    cmd.description = Some("d".repeat(5001));
    let result = decide(&None, &ctx("alice", t0()), &Command::Schedule(cmd.clone()));
    assert_eq!(validation_field(result), "description");
    cmd.description = Some("d".repeat(5000));
    assert!(decide(&None, &ctx("alice", t0()), &Command::Schedule(cmd)).is_ok());
}

#[test]
fn a_meeting_must_end_after_it_starts() {
    let mut cmd = schedule_cmd(MeetingId::new());
    cmd.starts_at = Some(t0());
    cmd.ends_at = Some(t0());
    let result = decide(&None, &ctx("alice", t0()), &Command::Schedule(cmd));
    assert_eq!(validation_field(result), "ends_at");
}

#[test]
fn max_participants_must_be_between_1_and_1000() {
    for bad in [0, -1, 1001, i64::MAX] {
        let mut cmd = schedule_cmd(MeetingId::new());
        cmd.max_participants = Some(bad);
        let result = decide(&None, &ctx("alice", t0()), &Command::Schedule(cmd));
        assert_eq!(validation_field(result), "max_participants", "{bad}");
    }
    for good in [1, 1000] {
        let mut cmd = schedule_cmd(MeetingId::new());
        cmd.max_participants = Some(good);
        assert!(decide(&None, &ctx("alice", t0()), &Command::Schedule(cmd)).is_ok());
    }
}

#[test]
fn scheduling_an_existing_meeting_again_is_refused() {
    let given = Given::scheduled_by("alice");
    let result = given.when("alice", Command::Schedule(schedule_cmd(given.id)));
    assert_eq!(result, Err(MeetingError::AlreadyExists));
}

// --- start ----------------------------------------------------------------

#[test]
fn commands_on_a_meeting_that_does_not_exist_are_not_found() {
    for command in [
        Command::Start,
        join(),
        Command::Leave,
        Command::End,
        config(ConfigChange::default(), None),
    ] {
        assert_eq!(
            decide(&None, &ctx("alice", t0()), &command),
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

// --- join -----------------------------------------------------------------

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
    assert!(matches!(events.as_slice(), [E::ParticipantJoined(e)] if e.role == Role::Participant));
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
            ConfigChange {
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
            ConfigChange {
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

// --- leave ----------------------------------------------------------------

#[test]
fn leaving_frees_the_seat() {
    let mut given = Given::active("alice");
    given.joined("bob");
    let events = given.when("bob", Command::Leave).unwrap();
    assert!(matches!(events.as_slice(), [E::ParticipantLeft(e)] if e.reason == LeaveReason::Left));
    given.run("bob", Command::Leave);
    assert!(given.meeting().present.is_empty());
}

#[test]
fn leaving_a_meeting_one_is_not_in_is_refused() {
    let given = Given::active("alice");
    assert_eq!(
        given.when("bob", Command::Leave),
        Err(MeetingError::ParticipantNotFound)
    );
}

// --- config ---------------------------------------------------------------

#[test]
fn config_merges_a_partial_change_and_emits_only_what_changed() {
    let mut given = Given::active("alice");
    let change = ConfigChange {
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
            lock_room: Some(true),
            max_participants: Some(10),
            ..Default::default()
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
    let unchanged = ConfigChange {
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
    let change = ConfigChange {
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
    let change = ConfigChange {
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
        let result = given.when("alice", config(ConfigChange::default(), Some(bad)));
        assert_eq!(validation_field(result), "max_participants");
    }
}

// --- end ------------------------------------------------------------------

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
    assert_eq!(state.status, Status::Ended);
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

// --- replies --------------------------------------------------------------

#[test]
fn a_replayed_reply_survives_its_json_round_trip() {
    let mut given = Given::active("alice");
    given.joined("bob");
    let before = given.state.clone();
    let command = Command::Leave;
    let events = given.when("bob", command.clone()).unwrap();
    let answer = reply(&before, &ctx("bob", t0()), &command, &events).unwrap();
    let json = serde_json::to_value(&answer).unwrap();
    assert_eq!(serde_json::from_value::<Reply>(json).unwrap(), answer);
}
