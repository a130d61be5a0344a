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
        password_id: None,
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

// --- the full feature set -------------------------------------------------

use events::event::{BreakoutCloseReason, EndReason, Permission, SecurityPolicy};
use events::{BreakoutSessionId, MessageId, RecordingId, SecretId};

fn email_ctx(id: &str, email: Option<&str>, at: DateTime<Utc>) -> Context {
    let mut ctx = ctx(id, at);
    ctx.caller.email = email.map(str::to_owned);
    ctx
}

fn policy(adjust: impl FnOnce(&mut SecurityPolicy)) -> Command {
    let mut policy = SecurityPolicy::default();
    adjust(&mut policy);
    Command::ApplyPolicy(ApplyPolicy {
        policy,
        new_password_id: None,
    })
}

fn role(user: &str, role: Role) -> Command {
    Command::ChangeRole {
        user_id: UserId(user.into()),
        role,
    }
}

fn status(adjust: impl FnOnce(&mut StatusUpdate)) -> Command {
    let mut update = StatusUpdate::default();
    adjust(&mut update);
    Command::SetStatus(update)
}

fn chat(content: &str, to: Option<&str>) -> Command {
    Command::Chat(SendChat {
        message_id: MessageId::new(),
        content: content.into(),
        recipient_id: to.map(|t| UserId(t.into())),
    })
}

fn react() -> Command {
    Command::React {
        reaction_type: "thumbs_up".into(),
    }
}

fn open_rooms(adjust: impl FnOnce(&mut OpenBreakout)) -> Command {
    let mut open = OpenBreakout {
        session_id: BreakoutSessionId::new(),
        room_count: Some(2),
        rooms: vec![],
        auto_assign: false,
        allow_participants_to_choose: false,
        allow_participants_to_return: true,
        time_limit_minutes: None,
    };
    adjust(&mut open);
    Command::OpenBreakout(open)
}

fn user(id: &str) -> UserId {
    UserId(id.into())
}

fn waiting_id(given: &Given, who: &str) -> ParticipantId {
    given
        .meeting()
        .waiting
        .values()
        .find(|w| w.user_id == user(who))
        .unwrap()
        .participant_id
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
                ConfigChange {
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
    assert_eq!(given.meeting().status, Status::Cancelled);
    assert_eq!(
        given.when("alice", Command::Delete),
        Err(MeetingError::Ended)
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
            ConfigChange {
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
    let try_join =
        |who: &str, email: Option<&str>| decide(&given.state, &email_ctx(who, email, at), &join());
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
        validation_field(given.when("alice", policy(|p| p.blocked_users = vec![user("alice")]))),
        "blocked_users"
    );
    assert_eq!(
        given.when("bob", policy(|_| {})),
        Err(MeetingError::NotHost)
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
}

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
        Err(MeetingError::ParticipantNotFound)
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
        Err(MeetingError::NotPermitted)
    );
    assert_eq!(
        given.when("carol", remove("dave", false)),
        Err(MeetingError::NotHost)
    );
    assert_eq!(
        given.when("carol", remove("zed", false)),
        Err(MeetingError::ParticipantNotFound)
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
        Err(MeetingError::ParticipantNotFound)
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
            ConfigChange {
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

#[test]
fn chat_needs_presence_an_enabled_chat_and_a_present_recipient() {
    let mut given = Given::active("alice");
    given.joined("alice").joined("bob");
    assert!(
        matches!(given.when("bob", chat("hi", None)).unwrap().as_slice(), [E::ChatMessageSent(c)] if c.recipient_id.is_none())
    );
    assert!(given.when("bob", chat("psst", Some("alice"))).is_ok());
    assert_eq!(
        given.when("bob", chat("psst", Some("zed"))),
        Err(MeetingError::ParticipantNotFound)
    );
    assert_eq!(
        validation_field(given.when("bob", chat("me", Some("bob")))),
        "recipient_id"
    );
    assert_eq!(
        validation_field(given.when("bob", chat("  ", None))),
        "content"
    );
    assert_eq!(
        validation_field(given.when("bob", chat(&"x".repeat(CHAT_MAX_CHARS + 1), None))),
        "content"
    );
    assert!(
        given
            .when("bob", chat(&"é".repeat(CHAT_MAX_CHARS), None))
            .is_ok()
    );
    assert_eq!(
        given.when("zed", chat("hi", None)),
        Err(MeetingError::ParticipantNotFound)
    );
    given.run("alice", policy(|p| p.chat_permissions = Permission::Host));
    assert_eq!(
        given.when("bob", chat("hi", None)),
        Err(MeetingError::ChatDisabled)
    );
    assert!(given.when("alice", chat("hi", None)).is_ok());
    given.run("alice", policy(|_| {}));
    given.run(
        "alice",
        config(
            ConfigChange {
                enable_chat: Some(false),
                ..Default::default()
            },
            None,
        ),
    );
    assert_eq!(
        given.when("alice", chat("hi", None)),
        Err(MeetingError::ChatDisabled)
    );
}

#[test]
fn reactions_are_limited_per_participant_within_a_sliding_window() {
    let mut given = Given::active("alice");
    given.joined("bob").joined("carol");
    for _ in 0..Throttled::Reaction.limit() {
        given.run("bob", react()).after(Duration::milliseconds(100));
    }
    match given.when("bob", react()) {
        Err(MeetingError::RateLimited {
            limit,
            retry_after_secs,
            ..
        }) => {
            assert_eq!(limit as usize, Throttled::Reaction.limit());
            assert!(retry_after_secs >= 1);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        given.when("carol", react()).is_ok(),
        "the limit is per participant"
    );
    given.after(Duration::seconds(Throttled::Reaction.window_secs()));
    assert!(given.when("bob", react()).is_ok());
    let bad = Command::React {
        reaction_type: "<script>".into(),
    };
    assert_eq!(validation_field(given.when("bob", bad)), "reaction_type");
}

#[test]
fn chat_messages_are_rate_limited_too() {
    let mut given = Given::active("alice");
    given.joined("bob");
    for _ in 0..Throttled::Chat.limit() {
        given.run("bob", chat("hi", None));
    }
    assert!(matches!(
        given.when("bob", chat("hi", None)),
        Err(MeetingError::RateLimited { .. })
    ));
}

#[test]
fn auto_assign_spreads_present_participants_evenly_within_capacity() {
    let mut given = Given::active("alice");
    given.joined("alice");
    for who in ["p1", "p2", "p3", "p4", "p5"] {
        given.joined(who).after(Duration::seconds(1));
    }
    let events = given
        .when(
            "alice",
            open_rooms(|o| {
                o.room_count = None;
                o.rooms = vec![
                    RoomRequest {
                        capacity: Some(1),
                        ..Default::default()
                    },
                    RoomRequest {
                        name: Some("Two".into()),
                        ..Default::default()
                    },
                    RoomRequest::default(),
                ];
                o.auto_assign = true;
            }),
        )
        .unwrap();
    let E::BreakoutRoomsOpened(opened) = &events[0] else {
        panic!()
    };
    assert_eq!(opened.rooms[1].name, "Two");
    assert_eq!(opened.rooms[2].name, "Breakout Room 3");
    let mut per_room = std::collections::HashMap::new();
    for e in &events[1..] {
        let E::ParticipantAssignedToBreakout(a) = e else {
            panic!()
        };
        assert_ne!(a.user_id, user("alice"), "the host stays in the main room");
        *per_room.entry(a.room_id).or_insert(0) += 1;
    }
    assert_eq!(events.len() - 1, 5);
    assert_eq!(per_room[&opened.rooms[0].room_id], 1, "capacity holds");
    assert_eq!(per_room[&opened.rooms[1].room_id], 2);
    assert_eq!(per_room[&opened.rooms[2].room_id], 2);
}

#[test]
fn breakout_assignment_respects_capacity_choice_and_the_open_session() {
    let mut given = Given::active("alice");
    given.joined("bob").joined("carol");
    let assign = |who: &str, room| Command::AssignBreakout {
        user_id: user(who),
        room_id: room,
    };
    let any_room = events::BreakoutRoomId::new();
    assert_eq!(
        given.when("alice", assign("bob", any_room)),
        Err(MeetingError::BreakoutNotOpen)
    );
    let session = BreakoutSessionId::new();
    given.run(
        "alice",
        open_rooms(|o| {
            o.session_id = session;
            o.room_count = None;
            o.rooms = vec![RoomRequest {
                capacity: Some(1),
                ..Default::default()
            }];
            o.allow_participants_to_choose = true;
        }),
    );
    assert_eq!(
        given.when("alice", open_rooms(|_| {})),
        Err(MeetingError::BreakoutOpen)
    );
    let room = breakout_room_id(session, 0);
    assert_eq!(
        validation_field(given.when("alice", assign("bob", any_room))),
        "breakout_room_id"
    );
    assert_eq!(
        given.when("bob", assign("carol", room)),
        Err(MeetingError::NotModerator)
    );
    given.run("bob", assign("bob", room));
    assert_eq!(
        given.when("carol", assign("carol", room)),
        Err(MeetingError::Full)
    );
    assert_eq!(
        given.when("bob", Command::CloseBreakout),
        Err(MeetingError::NotModerator)
    );
    let events = given.when("alice", Command::CloseBreakout).unwrap();
    assert!(
        matches!(events.as_slice(), [E::BreakoutRoomsClosed(c)] if c.reason == BreakoutCloseReason::Closed)
    );
    given.run("alice", Command::CloseBreakout);
    assert!(
        given.meeting().breakout.is_none(),
        "everyone is back in the main room"
    );
}

#[test]
fn a_time_limit_closes_the_rooms_only_once_it_has_passed() {
    let mut given = Given::active("alice");
    let session = BreakoutSessionId::new();
    given.run(
        "alice",
        open_rooms(|o| {
            o.session_id = session;
            o.time_limit_minutes = Some(5);
        }),
    );
    assert_eq!(
        given.when("anyone", Command::ExpireBreakout(session)),
        Ok(vec![])
    );
    assert_eq!(
        validation_field(
            Given::active("alice").when("alice", open_rooms(|o| o.time_limit_minutes = Some(0)))
        ),
        "time_limit_minutes"
    );
    given.after(Duration::minutes(5));
    assert_eq!(
        given.when("anyone", Command::ExpireBreakout(BreakoutSessionId::new())),
        Ok(vec![])
    );
    let events = given
        .when("anyone", Command::ExpireBreakout(session))
        .unwrap();
    assert!(
        matches!(events.as_slice(), [E::BreakoutRoomsClosed(c)] if c.reason == BreakoutCloseReason::TimeLimit)
    );
}

#[test]
fn recording_follows_the_setting_the_permission_and_one_at_a_time() {
    let mut given = Given::active("alice");
    given.joined("bob");
    let start = || Command::StartRecording(RecordingId::new());
    assert_eq!(
        given.when("alice", start()),
        Err(MeetingError::RecordingDisabled)
    );
    given.run(
        "alice",
        config(
            ConfigChange {
                enable_recording: Some(true),
                ..Default::default()
            },
            None,
        ),
    );
    assert_eq!(given.when("bob", start()), Err(MeetingError::NotPermitted));
    assert_eq!(
        given.when("alice", Command::StopRecording),
        Err(MeetingError::NotRecording)
    );
    given.run("alice", start());
    assert_eq!(
        given.when("alice", start()),
        Err(MeetingError::RecordingInProgress)
    );
    given.after(Duration::seconds(90));
    let events = given.when("alice", Command::StopRecording).unwrap();
    assert!(matches!(events.as_slice(), [E::RecordingStopped(s)] if s.duration_seconds == 90));
    given.run("alice", Command::StopRecording);
    given.run(
        "alice",
        policy(|p| p.recording_permissions = Permission::All),
    );
    assert!(given.when("bob", start()).is_ok());
    assert_eq!(
        given.when("zed", start()),
        Err(MeetingError::NotPermitted),
        "not present"
    );
}

#[test]
fn ending_stops_the_recording_and_its_file_is_reported_by_the_host_or_an_admin() {
    let mut given = Given::active("alice");
    let id = RecordingId::new();
    given
        .run(
            "alice",
            config(
                ConfigChange {
                    enable_recording: Some(true),
                    ..Default::default()
                },
                None,
            ),
        )
        .run("alice", Command::StartRecording(id))
        .joined("bob");
    let events = given.when("alice", Command::End).unwrap();
    assert!(matches!(events.first(), Some(E::RecordingStopped(s)) if s.recording_id == id));
    given.run("alice", Command::End);
    let report = |rid| Command::ReportRecordingFile {
        recording_id: rid,
        file_url: "https://files.example.com/r.mp4".into(),
        size: 1024,
    };
    assert!(given.when("alice", report(id)).is_ok(), "after the end too");
    assert_eq!(given.when("bob", report(id)), Err(MeetingError::NotHost));
    let mut admin = ctx("recorder", given.clock);
    admin.caller.roles = vec!["admin".into()];
    assert!(decide(&given.state, &admin, &report(id)).is_ok());
    assert_eq!(
        given.when("alice", report(RecordingId::new())),
        Err(MeetingError::RecordingNotFound)
    );
    let bad = Command::ReportRecordingFile {
        recording_id: id,
        file_url: "ftp://x".into(),
        size: 1,
    };
    assert_eq!(validation_field(given.when("alice", bad)), "file_url");
}
