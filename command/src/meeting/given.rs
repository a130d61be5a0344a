//! The given/when/then harness of the areas' tests: a meeting history
//! built by running commands through `decide`, and the commands the tests
//! send, so each area's tests read as the rules they check.

pub(super) use chrono::{DateTime, Duration, TimeZone, Utc};
pub(super) use events::event::{
    BreakoutCloseReason, EndReason, LeaveReason, MeetingEvent as E, Permission, Role,
    SecurityPolicy,
};
pub(super) use events::settings::SettingsChange;
pub(super) use events::views::MeetingStatus;
pub(super) use events::{
    BreakoutSessionId, MeetingId, MessageId, ParticipantId, RecordingId, RoomCode, SecretId, UserId,
};

pub(super) use super::admission::{JoinMeeting, PasswordCheck};
pub(super) use super::breakout::{OpenBreakout, RoomRequest};
pub(super) use super::chat::SendChat;
pub(super) use super::lifecycle::{MAX_PARTICIPANTS_DEFAULT, ScheduleMeeting, UpdateMeeting};
pub(super) use super::media::StatusUpdate;
pub(super) use super::policy::{ApplyPolicy, ConfigUpdate};
pub(super) use super::{Caller, Command, Context, Decision, Meeting, MeetingError, decide, fold};

/// The events a command decides, or why it is refused.
pub(super) fn events_of(
    state: &Option<Meeting>,
    ctx: &Context,
    command: &Command,
) -> Result<Vec<E>, MeetingError> {
    decide(state.as_ref(), ctx, command).map(|Decision { events, .. }| events)
}

pub(super) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 14, 10, 0, 0).unwrap()
}

pub(super) fn caller(id: &str) -> Caller {
    Caller::person(id, id.to_uppercase())
}

pub(super) fn ctx(id: &str, at: DateTime<Utc>) -> Context {
    Context {
        caller: caller(id),
        at,
        request_id: None,
    }
}

pub(super) fn schedule_cmd(id: MeetingId) -> ScheduleMeeting {
    ScheduleMeeting {
        meeting_id: id,
        room_code: RoomCode::parse("abc-defg-hij").unwrap(),
        title: "Weekly sync".into(),
        description: None,
        starts_at: None,
        ends_at: None,
        max_participants: None,
        settings: SettingsChange::default(),
        start_now: false,
        password_id: None,
    }
}

/// A meeting history built by running commands through `decide`, so every
/// `given` is itself a sequence the rules accept.
pub(super) struct Given {
    pub(super) id: MeetingId,
    pub(super) state: Option<Meeting>,
    pub(super) clock: DateTime<Utc>,
}

impl Given {
    pub(super) fn scheduled_by(host: &str) -> Self {
        Self::scheduled_with(host, |_| {})
    }

    pub(super) fn scheduled_with(host: &str, adjust: impl FnOnce(&mut ScheduleMeeting)) -> Self {
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

    pub(super) fn active(host: &str) -> Self {
        let mut given = Self::scheduled_by(host);
        given.run(host, Command::Start);
        given
    }

    pub(super) fn run(&mut self, user: &str, command: Command) -> &mut Self {
        let events = events_of(&self.state, &ctx(user, self.clock), &command)
            .unwrap_or_else(|e| panic!("given step {command:?} by {user} was refused: {e}"));
        self.state = fold(self.state.take(), &events);
        self
    }

    pub(super) fn joined(&mut self, user: &str) -> &mut Self {
        self.run(user, join())
    }

    pub(super) fn after(&mut self, duration: Duration) -> &mut Self {
        self.clock += duration;
        self
    }

    pub(super) fn when(&self, user: &str, command: Command) -> Result<Vec<E>, MeetingError> {
        events_of(&self.state, &ctx(user, self.clock), &command)
    }

    /// The command run by `caller` (an admin, a guest).
    pub(super) fn when_by(&self, caller: Caller, command: Command) -> Result<Vec<E>, MeetingError> {
        let ctx = Context {
            caller,
            at: self.clock,
            request_id: None,
        };
        events_of(&self.state, &ctx, &command)
    }

    /// The command run by Meetings itself (a timer, an integration).
    pub(super) fn when_system(&self, command: Command) -> Result<Vec<E>, MeetingError> {
        self.when_by(Caller::system("livekit", "LiveKit"), command)
    }

    pub(super) fn meeting(&self) -> &Meeting {
        self.state.as_ref().unwrap()
    }
}

pub(super) fn join() -> Command {
    Command::Join(JoinMeeting {
        participant_id: ParticipantId::new(),
        ..Default::default()
    })
}

pub(super) fn config(change: SettingsChange, max: Option<i64>) -> Command {
    Command::UpdateConfig(ConfigUpdate {
        settings: change,
        max_participants: max,
    })
}

pub(super) fn validation_field(
    result: Result<Vec<E>, MeetingError>,
) -> std::borrow::Cow<'static, str> {
    match result {
        Err(MeetingError::Validation { field, .. }) => field,
        other => panic!("expected a validation error, got {other:?}"),
    }
}

pub(super) fn email_ctx(id: &str, email: Option<&str>, at: DateTime<Utc>) -> Context {
    let mut ctx = ctx(id, at);
    ctx.caller.email = email.map(str::to_owned);
    ctx
}

pub(super) fn policy(adjust: impl FnOnce(&mut SecurityPolicy)) -> Command {
    let mut policy = SecurityPolicy::default();
    adjust(&mut policy);
    Command::ApplyPolicy(ApplyPolicy {
        policy,
        new_password_id: None,
    })
}

pub(super) fn invite(user: &str, role: Role) -> Command {
    Command::Invite {
        user_id: UserId(user.into()),
        role,
    }
}

pub(super) fn role(user: &str, role: Role) -> Command {
    Command::ChangeRole {
        user_id: UserId(user.into()),
        role,
    }
}

pub(super) fn status(adjust: impl FnOnce(&mut StatusUpdate)) -> Command {
    let mut update = StatusUpdate::default();
    adjust(&mut update);
    Command::SetStatus(update)
}

pub(super) fn chat(content: &str, to: Option<&str>) -> Command {
    Command::Chat(SendChat {
        message_id: MessageId::new(),
        content: content.into(),
        recipient_id: to.map(|t| UserId(t.into())),
        file: None,
    })
}

pub(super) fn react() -> Command {
    Command::React {
        reaction_type: "thumbs_up".into(),
    }
}

pub(super) fn open_rooms(adjust: impl FnOnce(&mut OpenBreakout)) -> Command {
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

/// A deployment admin.
pub(super) fn admin(id: &str) -> Caller {
    Caller {
        roles: vec!["admin".into()],
        ..caller(id)
    }
}

/// A guest of this meeting.
pub(super) fn guest(id: &str, of: MeetingId) -> Caller {
    Caller {
        kind: super::CallerKind::Guest(of),
        ..caller(id)
    }
}

pub(super) fn user(id: &str) -> UserId {
    UserId(id.into())
}

pub(super) fn waiting_id(given: &Given, who: &str) -> ParticipantId {
    given
        .meeting()
        .waiting
        .values()
        .find(|w| w.user_id == user(who))
        .unwrap()
        .participant_id
}
