//! Every rule of a meeting, as one pure function of state and command.

use chrono::{DateTime, Utc};
use events::MeetingEvent;
use events::event::{
    ConfigChange, LeaveReason, MeetingEnded, MeetingScheduled, MeetingSettings, MeetingStarted,
    ParticipantJoined, ParticipantLeft, Role, RoomConfigUpdated,
};

use super::command::{Command, ConfigUpdate, Context, JoinMeeting, ScheduleMeeting};
use super::error::MeetingError;
use super::state::{Meeting, Status};

pub const TITLE_MAX_CHARS: usize = 200;
pub const DESCRIPTION_MAX_CHARS: usize = 5000;
pub const MAX_PARTICIPANTS_DEFAULT: u32 = 100;
pub const MAX_PARTICIPANTS_LIMIT: u32 = 1000;
const DEVICE_TYPE_MAX_CHARS: usize = 50;

/// Decides which events a command produces, or why it is refused.
///
/// `state` is `None` while the meeting does not exist. An empty list means
/// the command is already satisfied (a user who is present joins again).
pub fn decide(
    state: &Option<Meeting>,
    ctx: &Context,
    command: &Command,
) -> Result<Vec<MeetingEvent>, MeetingError> {
    let Command::Schedule(schedule) = command else {
        let meeting = state.as_ref().ok_or(MeetingError::NotFound)?;
        return match command {
            Command::Schedule(_) => unreachable!("handled above"),
            Command::Start => start(meeting, ctx),
            Command::Join(join) => self::join(meeting, ctx, join),
            Command::Leave => leave(meeting, ctx),
            Command::UpdateConfig(update) => configure(meeting, ctx, update),
            Command::End => end(meeting, ctx),
        };
    };
    if state.is_some() {
        return Err(MeetingError::AlreadyExists);
    }
    self::schedule(ctx, schedule)
}

fn schedule(ctx: &Context, cmd: &ScheduleMeeting) -> Result<Vec<MeetingEvent>, MeetingError> {
    let title = cmd.title.trim();
    if title.is_empty() {
        return Err(MeetingError::invalid("title", "must not be empty"));
    }
    if title.chars().count() > TITLE_MAX_CHARS {
        return Err(MeetingError::invalid(
            "title",
            format!("must be at most {TITLE_MAX_CHARS} characters"),
        ));
    }
    let description = cmd.description.clone().unwrap_or_default();
    if description.chars().count() > DESCRIPTION_MAX_CHARS {
        return Err(MeetingError::invalid(
            "description",
            format!("must be at most {DESCRIPTION_MAX_CHARS} characters"),
        ));
    }
    if let (Some(starts), Some(ends)) = (cmd.starts_at, cmd.ends_at)
        && ends <= starts
    {
        return Err(MeetingError::invalid("ends_at", "must be after starts_at"));
    }
    let max_participants = match cmd.max_participants {
        None => MAX_PARTICIPANTS_DEFAULT,
        Some(n) => capacity(n)?,
    };
    let mut settings = MeetingSettings::default();
    settings.apply(&cmd.settings);

    let mut events = vec![MeetingEvent::MeetingScheduled(MeetingScheduled {
        meeting_id: cmd.meeting_id,
        room_code: cmd.room_code.clone(),
        host_id: ctx.caller.user_id.clone(),
        host_name: ctx.caller.name.clone(),
        title: title.to_owned(),
        description,
        starts_at: cmd.starts_at,
        ends_at: cmd.ends_at,
        max_participants,
        settings,
        scheduled_at: ctx.at,
    })];
    if cmd.start_now {
        events.push(MeetingEvent::MeetingStarted(MeetingStarted {
            meeting_id: cmd.meeting_id,
            started_by: ctx.caller.user_id.clone(),
            started_at: ctx.at,
        }));
    }
    Ok(events)
}

fn capacity(n: i64) -> Result<u32, MeetingError> {
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

fn require_host(meeting: &Meeting, ctx: &Context) -> Result<(), MeetingError> {
    if meeting.is_host(&ctx.caller.user_id) {
        Ok(())
    } else {
        Err(MeetingError::NotHost)
    }
}

/// Refuses unless the meeting is active: not yet started is `NotActive`,
/// over is `Ended`.
fn require_active(meeting: &Meeting) -> Result<(), MeetingError> {
    match meeting.status {
        Status::Active => Ok(()),
        Status::Scheduled => Err(MeetingError::NotActive),
        Status::Ended | Status::Cancelled => Err(MeetingError::Ended),
    }
}

fn start(meeting: &Meeting, ctx: &Context) -> Result<Vec<MeetingEvent>, MeetingError> {
    require_host(meeting, ctx)?;
    match meeting.status {
        Status::Scheduled => Ok(vec![MeetingEvent::MeetingStarted(MeetingStarted {
            meeting_id: meeting.id,
            started_by: ctx.caller.user_id.clone(),
            started_at: ctx.at,
        })]),
        Status::Active => Err(MeetingError::AlreadyActive),
        Status::Ended | Status::Cancelled => Err(MeetingError::Ended),
    }
}

/// The host always gets in: a lock or a full room keeps others out, not
/// the person running the meeting.
fn join(
    meeting: &Meeting,
    ctx: &Context,
    cmd: &JoinMeeting,
) -> Result<Vec<MeetingEvent>, MeetingError> {
    require_active(meeting)?;
    let user = &ctx.caller.user_id;
    if meeting.present.contains_key(user) {
        return Ok(vec![]);
    }
    if let Some(device) = &cmd.device_type
        && device.chars().count() > DEVICE_TYPE_MAX_CHARS
    {
        return Err(MeetingError::invalid(
            "device_type",
            format!("must be at most {DEVICE_TYPE_MAX_CHARS} characters"),
        ));
    }
    let is_host = meeting.is_host(user);
    if !is_host {
        if meeting.settings.lock_room {
            return Err(MeetingError::Locked);
        }
        if meeting.present.len() >= meeting.max_participants as usize {
            return Err(MeetingError::Full);
        }
    }
    let forced_mute = meeting.settings.mute_on_entry && !is_host;
    Ok(vec![MeetingEvent::ParticipantJoined(ParticipantJoined {
        meeting_id: meeting.id,
        participant_id: cmd.participant_id,
        user_id: user.clone(),
        user_name: ctx.caller.name.clone(),
        role: if is_host {
            Role::Host
        } else {
            Role::Participant
        },
        device_type: cmd.device_type.clone(),
        is_muted: forced_mute || cmd.join_muted.unwrap_or(false),
        is_video_enabled: !cmd.join_without_video.unwrap_or(false),
        joined_at: ctx.at,
    })])
}

fn leave(meeting: &Meeting, ctx: &Context) -> Result<Vec<MeetingEvent>, MeetingError> {
    let seat = meeting
        .present
        .get(&ctx.caller.user_id)
        .ok_or(MeetingError::ParticipantNotFound)?;
    Ok(vec![MeetingEvent::ParticipantLeft(ParticipantLeft {
        meeting_id: meeting.id,
        participant_id: seat.participant_id,
        user_id: seat.user_id.clone(),
        reason: LeaveReason::Left,
        left_at: ctx.at,
    })])
}

/// Emits only the settings that actually change; a request that changes
/// nothing succeeds without an event.
fn configure(
    meeting: &Meeting,
    ctx: &Context,
    cmd: &ConfigUpdate,
) -> Result<Vec<MeetingEvent>, MeetingError> {
    require_host(meeting, ctx)?;
    if meeting.status != Status::Active {
        return Err(MeetingError::NotActive);
    }
    let max_participants = cmd.max_participants.map(capacity).transpose()?;
    let s = &meeting.settings;
    let c = &cmd.settings;
    let changed = |current: bool, wanted: Option<bool>| wanted.filter(|w| *w != current);
    let change = ConfigChange {
        lock_room: changed(s.lock_room, c.lock_room),
        enable_transcription: changed(s.enable_transcription, c.enable_transcription),
        enable_chat: changed(s.enable_chat, c.enable_chat),
        enable_screen_share: changed(s.enable_screen_share, c.enable_screen_share),
        enable_recording: changed(s.enable_recording, c.enable_recording),
        waiting_room: changed(s.waiting_room, c.waiting_room),
        mute_on_entry: changed(s.mute_on_entry, c.mute_on_entry),
        max_participants: max_participants.filter(|m| *m != meeting.max_participants),
    };
    if change.is_empty() {
        return Ok(vec![]);
    }
    Ok(vec![MeetingEvent::RoomConfigUpdated(RoomConfigUpdated {
        meeting_id: meeting.id,
        updated_by: ctx.caller.user_id.clone(),
        settings: change,
    })])
}

fn end(meeting: &Meeting, ctx: &Context) -> Result<Vec<MeetingEvent>, MeetingError> {
    require_host(meeting, ctx)?;
    require_active(meeting)?;
    let started_at = meeting.started_at.unwrap_or(meeting.created_at);
    let mut events: Vec<MeetingEvent> = meeting
        .present
        .values()
        .map(|seat| {
            MeetingEvent::ParticipantLeft(ParticipantLeft {
                meeting_id: meeting.id,
                participant_id: seat.participant_id,
                user_id: seat.user_id.clone(),
                reason: LeaveReason::MeetingEnded,
                left_at: ctx.at,
            })
        })
        .collect();
    events.push(MeetingEvent::MeetingEnded(MeetingEnded {
        meeting_id: meeting.id,
        ended_by: ctx.caller.user_id.clone(),
        ended_at: ctx.at,
        duration_minutes: minutes_between(started_at, ctx.at),
    }));
    Ok(events)
}

/// Whole minutes from `from` to `to`, rounded half up.
pub(crate) fn minutes_between(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    let millis = (to - from).num_milliseconds().max(0);
    (millis + 30_000) / 60_000
}
