//! Every rule of a meeting, as one pure function of state and command.

use chrono::{DateTime, Utc};
use events::event::{
    BreakoutCloseReason, BreakoutRoom, BreakoutRoomsClosed, BreakoutRoomsOpened, ChatMessageSent,
    ConfigChange, EndReason, HandLowered, HandRaised, LeaveReason, MeetingCancelled,
    MeetingDetailsUpdated, MeetingEnded, MeetingScheduled, MeetingSettings, MeetingStarted,
    ParticipantAdmitted, ParticipantAssignedToBreakout, ParticipantInvited, ParticipantJoined,
    ParticipantLeft, ParticipantMediaChanged, ParticipantRejected, ParticipantRoleChanged,
    ParticipantWaiting, ReactionSent, RecordingFileReported, RecordingStarted, RecordingStopped,
    Role, RoomConfigUpdated, SecurityPolicyApplied,
};
use events::{BreakoutRoomId, BreakoutSessionId, MeetingEvent, ParticipantId, RecordingId, UserId};

use super::command::{
    ApplyPolicy, Command, ConfigUpdate, Context, JoinMeeting, OpenBreakout, PasswordCheck,
    ScheduleMeeting, SendChat, StatusUpdate, UpdateMeeting,
};
use super::error::MeetingError;
use super::state::{Meeting, Seat, Status, Throttled};

pub const TITLE_MAX_CHARS: usize = 200;
pub const DESCRIPTION_MAX_CHARS: usize = 5000;
pub const MAX_PARTICIPANTS_DEFAULT: u32 = 100;
pub const MAX_PARTICIPANTS_LIMIT: u32 = 1000;
const DEVICE_TYPE_MAX_CHARS: usize = 50;
pub const CHAT_MAX_CHARS: usize = 1000;
const REACTION_TYPE_MAX_CHARS: usize = 32;
pub const BREAKOUT_ROOMS_MAX: i64 = 50;
const ROOM_NAME_MAX_CHARS: usize = 100;
const ROOM_DESCRIPTION_MAX_CHARS: usize = 500;
/// A day.
pub const BREAKOUT_TIME_LIMIT_MAX_MINUTES: i64 = 24 * 60;
const FILE_URL_MAX_CHARS: usize = 2048;
const DOMAINS_MAX: usize = 100;
const BLOCKED_USERS_MAX: usize = 1000;
/// The deployment role that may act on any meeting's recordings.
const ADMIN_ROLE: &str = "admin";

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
            Command::Update(update) => self::update(meeting, ctx, update),
            Command::Delete => delete(meeting, ctx),
            Command::ApplyPolicy(policy) => apply_policy(meeting, ctx, policy),
            Command::Invite { user_id, role } => invite(meeting, ctx, user_id, *role),
            Command::Remove { user_id, ban } => remove(meeting, ctx, user_id, *ban),
            Command::ChangeRole { user_id, role } => change_role(meeting, ctx, user_id, *role),
            Command::SetStatus(update) => set_status(meeting, ctx, update),
            Command::Admit(id) => admit(meeting, ctx, *id),
            Command::Reject(id) => reject(meeting, ctx, *id),
            Command::Chat(chat) => self::chat(meeting, ctx, chat),
            Command::React { reaction_type } => react(meeting, ctx, reaction_type),
            Command::OpenBreakout(open) => open_breakout(meeting, ctx, open),
            Command::AssignBreakout { user_id, room_id } => {
                assign_breakout(meeting, ctx, user_id, *room_id)
            }
            Command::CloseBreakout => close_breakout(meeting, ctx),
            Command::ExpireBreakout(session) => expire_breakout(meeting, ctx, *session),
            Command::StartRecording(id) => start_recording(meeting, ctx, *id),
            Command::StopRecording => stop_recording(meeting, ctx),
            Command::ReportRecordingFile {
                recording_id,
                file_url,
                size,
            } => report_file(meeting, ctx, *recording_id, file_url, *size),
        };
    };
    if state.is_some() {
        return Err(MeetingError::AlreadyExists);
    }
    self::schedule(ctx, schedule)
}

fn schedule(ctx: &Context, cmd: &ScheduleMeeting) -> Result<Vec<MeetingEvent>, MeetingError> {
    let title = valid_title(&cmd.title)?;
    let description = cmd.description.clone().unwrap_or_default();
    at_most("description", &description, DESCRIPTION_MAX_CHARS)?;
    valid_times(cmd.starts_at, cmd.ends_at)?;
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
        password_id: cmd.password_id,
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

fn valid_title(title: &str) -> Result<String, MeetingError> {
    let title = title.trim();
    if title.is_empty() {
        return Err(MeetingError::invalid("title", "must not be empty"));
    }
    at_most("title", title, TITLE_MAX_CHARS)?;
    Ok(title.to_owned())
}

fn at_most(field: &'static str, value: &str, max: usize) -> Result<(), MeetingError> {
    if value.chars().count() > max {
        return Err(MeetingError::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(())
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

fn require_moderator(meeting: &Meeting, ctx: &Context) -> Result<(), MeetingError> {
    if meeting.is_moderator(&ctx.caller.user_id) {
        Ok(())
    } else {
        Err(MeetingError::NotModerator)
    }
}

/// Refuses once the meeting is over (ended or cancelled).
fn require_open(meeting: &Meeting) -> Result<(), MeetingError> {
    match meeting.status {
        Status::Scheduled | Status::Active => Ok(()),
        Status::Ended | Status::Cancelled => Err(MeetingError::Ended),
    }
}

/// The caller's seat: present callers only.
fn own_seat<'a>(meeting: &'a Meeting, ctx: &Context) -> Result<&'a Seat, MeetingError> {
    meeting
        .present
        .get(&ctx.caller.user_id)
        .ok_or(MeetingError::ParticipantNotFound)
}

/// Refuses when `user` already did `what` as often as its limit allows
/// within its window before `at`.
fn throttle(
    meeting: &Meeting,
    user: &UserId,
    what: Throttled,
    at: DateTime<Utc>,
) -> Result<(), MeetingError> {
    let Some(recent) = meeting.recent.get(&(user.clone(), what)) else {
        return Ok(());
    };
    if recent.len() < what.limit() {
        return Ok(());
    }
    let oldest = recent[recent.len() - what.limit()];
    let frees_at = oldest + chrono::Duration::seconds(what.window_secs());
    if frees_at <= at {
        return Ok(());
    }
    let wait_ms = (frees_at - at).num_milliseconds().max(1);
    Err(MeetingError::RateLimited {
        limit: what.limit() as u32,
        window_secs: what.window_secs() as u32,
        retry_after_secs: ((wait_ms + 999) / 1000) as u32,
    })
}

/// Who gets in, in this order: nobody blocked; the host always (a lock, a
/// full room, a password or a waiting room keeps others out, not the
/// person running the meeting); then the policy's identity rules, the
/// password, the lock, the capacity; then the waiting room, which
/// co-hosts skip.
fn join(
    meeting: &Meeting,
    ctx: &Context,
    cmd: &JoinMeeting,
) -> Result<Vec<MeetingEvent>, MeetingError> {
    require_active(meeting)?;
    let user = &ctx.caller.user_id;
    if meeting.present.contains_key(user) || meeting.waiting.values().any(|w| &w.user_id == user) {
        return Ok(vec![]);
    }
    if let Some(device) = &cmd.device_type {
        at_most("device_type", device, DEVICE_TYPE_MAX_CHARS)?;
    }
    if meeting.is_blocked(user) {
        return Err(MeetingError::Blocked);
    }
    let role = meeting.role_of(user).unwrap_or(Role::Participant);
    let is_host = role == Role::Host;
    if !is_host {
        let policy = &meeting.policy;
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
        (!meeting.policy.disable_camera || moderator) && !cmd.join_without_video.unwrap_or(false);
    if meeting.settings.waiting_room && !moderator {
        return Ok(vec![MeetingEvent::ParticipantWaiting(ParticipantWaiting {
            meeting_id: meeting.id,
            participant_id: cmd.participant_id,
            user_id: user.clone(),
            user_name: ctx.caller.name.clone(),
            device_type: cmd.device_type.clone(),
            is_muted,
            is_video_enabled,
            waiting_since: ctx.at,
        })]);
    }
    Ok(vec![MeetingEvent::ParticipantJoined(ParticipantJoined {
        meeting_id: meeting.id,
        participant_id: cmd.participant_id,
        user_id: user.clone(),
        user_name: ctx.caller.name.clone(),
        role,
        device_type: cmd.device_type.clone(),
        is_muted,
        is_video_enabled,
        joined_at: ctx.at,
    })])
}

fn leave(meeting: &Meeting, ctx: &Context) -> Result<Vec<MeetingEvent>, MeetingError> {
    let seat = own_seat(meeting, ctx)?;
    Ok(vec![left(meeting, ctx, seat, LeaveReason::Left, false)])
}

fn left(
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

/// The settings of `wanted` that differ from `current`.
fn changed_settings(current: &MeetingSettings, wanted: &ConfigChange) -> ConfigChange {
    let (s, c) = (current, wanted);
    let changed = |current: bool, wanted: Option<bool>| wanted.filter(|w| *w != current);
    ConfigChange {
        lock_room: changed(s.lock_room, c.lock_room),
        enable_transcription: changed(s.enable_transcription, c.enable_transcription),
        enable_chat: changed(s.enable_chat, c.enable_chat),
        enable_screen_share: changed(s.enable_screen_share, c.enable_screen_share),
        enable_recording: changed(s.enable_recording, c.enable_recording),
        waiting_room: changed(s.waiting_room, c.waiting_room),
        mute_on_entry: changed(s.mute_on_entry, c.mute_on_entry),
        max_participants: None,
    }
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
    let change = ConfigChange {
        max_participants: max_participants.filter(|m| *m != meeting.max_participants),
        ..changed_settings(&meeting.settings, &cmd.settings)
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
    Ok(closing(meeting, ctx, EndReason::Ended))
}

/// Everything that ends with an active meeting, in order: the recording
/// stops, breakout rooms close, everyone leaves, the meeting ends.
fn closing(meeting: &Meeting, ctx: &Context, reason: EndReason) -> Vec<MeetingEvent> {
    let mut events = Vec::new();
    if let Some(recording) = &meeting.recording {
        events.push(recording_stopped(
            meeting,
            ctx,
            recording.recording_id,
            recording.started_at,
        ));
    }
    if let Some(breakout) = &meeting.breakout {
        events.push(breakout_closed(
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
    events.push(MeetingEvent::MeetingEnded(MeetingEnded {
        meeting_id: meeting.id,
        ended_by: ctx.caller.user_id.clone(),
        ended_at: ctx.at,
        duration_minutes: minutes_between(started_at, ctx.at),
        reason,
    }));
    events
}

fn update(
    meeting: &Meeting,
    ctx: &Context,
    cmd: &UpdateMeeting,
) -> Result<Vec<MeetingEvent>, MeetingError> {
    require_moderator(meeting, ctx)?;
    require_open(meeting)?;
    let title = cmd.title.as_deref().map(valid_title).transpose()?;
    if let Some(description) = &cmd.description {
        at_most("description", description, DESCRIPTION_MAX_CHARS)?;
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
            max_participants: max_participants.filter(|m| *m != meeting.max_participants),
            ..changed_settings(&meeting.settings, &cmd.settings)
        },
    };
    let unchanged = event.title.is_none()
        && event.description.is_none()
        && event.starts_at.is_none()
        && event.ends_at.is_none()
        && event.settings.is_empty();
    if unchanged {
        return Ok(vec![]);
    }
    Ok(vec![MeetingEvent::MeetingDetailsUpdated(event)])
}

fn delete(meeting: &Meeting, ctx: &Context) -> Result<Vec<MeetingEvent>, MeetingError> {
    require_host(meeting, ctx)?;
    let mut events = match meeting.status {
        Status::Scheduled => Vec::new(),
        Status::Active => closing(meeting, ctx, EndReason::Deleted),
        Status::Ended | Status::Cancelled => return Err(MeetingError::Ended),
    };
    events.push(MeetingEvent::MeetingCancelled(MeetingCancelled {
        meeting_id: meeting.id,
        cancelled_by: ctx.caller.user_id.clone(),
        cancelled_at: ctx.at,
    }));
    Ok(events)
}

/// Applies the whole policy; present users it blocks are removed.
fn apply_policy(
    meeting: &Meeting,
    ctx: &Context,
    cmd: &ApplyPolicy,
) -> Result<Vec<MeetingEvent>, MeetingError> {
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
        if domain.is_empty() || domain.len() > 253 || domain.contains(char::is_whitespace) {
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
    events.push(MeetingEvent::SecurityPolicyApplied(SecurityPolicyApplied {
        meeting_id: meeting.id,
        applied_by: ctx.caller.user_id.clone(),
        policy,
        password_id,
    }));
    Ok(events)
}

fn invite(
    meeting: &Meeting,
    ctx: &Context,
    user: &UserId,
    role: Role,
) -> Result<Vec<MeetingEvent>, MeetingError> {
    require_moderator(meeting, ctx)?;
    require_open(meeting)?;
    if role == Role::Host {
        return Err(MeetingError::invalid(
            "role",
            "hosting is handed over with a role change",
        ));
    }
    if meeting.is_host(user) {
        return Err(MeetingError::invalid("user_id", "is the host"));
    }
    if meeting.roles.get(user) == Some(&role) {
        return Ok(vec![]);
    }
    Ok(vec![MeetingEvent::ParticipantInvited(ParticipantInvited {
        meeting_id: meeting.id,
        user_id: user.clone(),
        role,
        invited_by: ctx.caller.user_id.clone(),
        invited_at: ctx.at,
    })])
}

/// A moderator removes a present participant (never the host; only the
/// host removes a co-host).
fn remove(
    meeting: &Meeting,
    ctx: &Context,
    user: &UserId,
    ban: bool,
) -> Result<Vec<MeetingEvent>, MeetingError> {
    require_moderator(meeting, ctx)?;
    if meeting.is_host(user) {
        return Err(MeetingError::NotPermitted);
    }
    if meeting.is_moderator(user) {
        require_host(meeting, ctx)?;
    }
    let seat = meeting
        .present
        .get(user)
        .ok_or(MeetingError::ParticipantNotFound)?;
    Ok(vec![left(meeting, ctx, seat, LeaveReason::Removed, ban)])
}

/// The host gives roles; making someone host hands hosting over, and the
/// previous host becomes a co-host, so there is exactly one host.
fn change_role(
    meeting: &Meeting,
    ctx: &Context,
    user: &UserId,
    role: Role,
) -> Result<Vec<MeetingEvent>, MeetingError> {
    require_host(meeting, ctx)?;
    require_open(meeting)?;
    if meeting.is_host(user) {
        return if role == Role::Host {
            Ok(vec![])
        } else {
            Err(MeetingError::invalid(
                "role",
                "the host hands over hosting by making someone else host",
            ))
        };
    }
    let current = meeting
        .role_of(user)
        .ok_or(MeetingError::ParticipantNotFound)?;
    if current == role {
        return Ok(vec![]);
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
    Ok(events)
}

/// A participant's own media and hand; a moderator may mute someone else
/// or lower their hand, nothing more.
fn set_status(
    meeting: &Meeting,
    ctx: &Context,
    cmd: &StatusUpdate,
) -> Result<Vec<MeetingEvent>, MeetingError> {
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
    let seat = meeting
        .present
        .get(target)
        .ok_or(MeetingError::ParticipantNotFound)?;
    let changed = |current: bool, wanted: Option<bool>| wanted.filter(|w| *w != current);
    let is_screen_sharing = changed(seat.is_screen_sharing, cmd.is_screen_sharing);
    if is_screen_sharing == Some(true) {
        let in_room = meeting.breakout_room_of(target);
        let allowed = meeting.settings.enable_screen_share
            && meeting.policy.screen_share_permissions.allows(seat.role)
            && in_room.is_none_or(|r| r.settings.allow_screen_share);
        if !allowed {
            return Err(MeetingError::ScreenShareDisabled);
        }
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
    Ok(events)
}

/// Admitting seats the one waiting (a lock does not keep out someone the
/// host lets in; a full room does).
fn admit(
    meeting: &Meeting,
    ctx: &Context,
    id: ParticipantId,
) -> Result<Vec<MeetingEvent>, MeetingError> {
    require_moderator(meeting, ctx)?;
    require_active(meeting)?;
    let waiter = meeting.waiting.get(&id).ok_or(MeetingError::NotWaiting)?;
    if meeting.present.len() >= meeting.max_participants as usize {
        return Err(MeetingError::Full);
    }
    Ok(vec![
        MeetingEvent::ParticipantAdmitted(ParticipantAdmitted {
            meeting_id: meeting.id,
            participant_id: id,
            user_id: waiter.user_id.clone(),
            admitted_by: ctx.caller.user_id.clone(),
            admitted_at: ctx.at,
        }),
        MeetingEvent::ParticipantJoined(ParticipantJoined {
            meeting_id: meeting.id,
            participant_id: id,
            user_id: waiter.user_id.clone(),
            user_name: waiter.user_name.clone(),
            role: meeting
                .role_of(&waiter.user_id)
                .unwrap_or(Role::Participant),
            device_type: waiter.device_type.clone(),
            is_muted: waiter.is_muted,
            is_video_enabled: waiter.is_video_enabled,
            joined_at: ctx.at,
        }),
    ])
}

fn reject(
    meeting: &Meeting,
    ctx: &Context,
    id: ParticipantId,
) -> Result<Vec<MeetingEvent>, MeetingError> {
    require_moderator(meeting, ctx)?;
    require_active(meeting)?;
    let waiter = meeting.waiting.get(&id).ok_or(MeetingError::NotWaiting)?;
    Ok(vec![MeetingEvent::ParticipantRejected(
        ParticipantRejected {
            meeting_id: meeting.id,
            participant_id: id,
            user_id: waiter.user_id.clone(),
            rejected_by: ctx.caller.user_id.clone(),
            rejected_at: ctx.at,
        },
    )])
}

/// Present participants chat when the room's chat is on, the policy lets
/// their role, and their breakout room (if any) allows it.
fn chat(
    meeting: &Meeting,
    ctx: &Context,
    cmd: &SendChat,
) -> Result<Vec<MeetingEvent>, MeetingError> {
    require_active(meeting)?;
    let seat = own_seat(meeting, ctx)?;
    let in_room = meeting.breakout_room_of(&seat.user_id);
    let allowed = meeting.settings.enable_chat
        && meeting.policy.chat_permissions.allows(seat.role)
        && in_room.is_none_or(|r| r.settings.allow_chat);
    if !allowed {
        return Err(MeetingError::ChatDisabled);
    }
    if cmd.content.trim().is_empty() {
        return Err(MeetingError::invalid("content", "must not be empty"));
    }
    at_most("content", &cmd.content, CHAT_MAX_CHARS)?;
    if let Some(recipient) = &cmd.recipient_id {
        if *recipient == seat.user_id {
            return Err(MeetingError::invalid(
                "recipient_id",
                "must be someone else",
            ));
        }
        if !meeting.present.contains_key(recipient) {
            return Err(MeetingError::ParticipantNotFound);
        }
    }
    throttle(meeting, &seat.user_id, Throttled::Chat, ctx.at)?;
    Ok(vec![MeetingEvent::ChatMessageSent(ChatMessageSent {
        meeting_id: meeting.id,
        message_id: cmd.message_id,
        sender_id: seat.user_id.clone(),
        sender_name: seat.user_name.clone(),
        content: cmd.content.clone(),
        recipient_id: cmd.recipient_id.clone(),
        sent_at: ctx.at,
    })])
}

fn react(
    meeting: &Meeting,
    ctx: &Context,
    reaction_type: &str,
) -> Result<Vec<MeetingEvent>, MeetingError> {
    require_active(meeting)?;
    let seat = own_seat(meeting, ctx)?;
    let well_formed = !reaction_type.is_empty()
        && reaction_type.len() <= REACTION_TYPE_MAX_CHARS
        && reaction_type
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !well_formed {
        return Err(MeetingError::invalid(
            "reaction_type",
            format!("must be 1 to {REACTION_TYPE_MAX_CHARS} of a-z, 0-9 and _"),
        ));
    }
    throttle(meeting, &seat.user_id, Throttled::Reaction, ctx.at)?;
    Ok(vec![MeetingEvent::ReactionSent(ReactionSent {
        meeting_id: meeting.id,
        participant_id: seat.participant_id,
        user_id: seat.user_id.clone(),
        reaction_type: reaction_type.to_owned(),
        sent_at: ctx.at,
    })])
}

/// The id of the `index`th room of a session: derived, so `decide` stays
/// pure and a replay gives the same ids.
pub fn breakout_room_id(session: BreakoutSessionId, index: usize) -> BreakoutRoomId {
    BreakoutRoomId(uuid::Uuid::new_v5(&session.0, index.to_string().as_bytes()))
}

fn open_breakout(
    meeting: &Meeting,
    ctx: &Context,
    cmd: &OpenBreakout,
) -> Result<Vec<MeetingEvent>, MeetingError> {
    require_moderator(meeting, ctx)?;
    require_active(meeting)?;
    if meeting.breakout.is_some() {
        return Err(MeetingError::BreakoutOpen);
    }
    let count = if cmd.rooms.is_empty() {
        cmd.room_count
            .ok_or_else(|| MeetingError::invalid("room_count", "or rooms is required"))?
    } else {
        cmd.rooms.len() as i64
    };
    if !(1..=BREAKOUT_ROOMS_MAX).contains(&count) {
        return Err(MeetingError::invalid(
            "room_count",
            format!("must be between 1 and {BREAKOUT_ROOMS_MAX}"),
        ));
    }
    let mut rooms = Vec::new();
    for index in 0..count as usize {
        let request = cmd.rooms.get(index).cloned().unwrap_or_default();
        let name = request
            .name
            .map(|n| n.trim().to_owned())
            .unwrap_or_else(|| format!("Breakout Room {}", index + 1));
        if name.is_empty() {
            return Err(MeetingError::invalid("rooms.name", "must not be empty"));
        }
        at_most("rooms.name", &name, ROOM_NAME_MAX_CHARS)?;
        let description = request.description.unwrap_or_default();
        at_most(
            "rooms.description",
            &description,
            ROOM_DESCRIPTION_MAX_CHARS,
        )?;
        let capacity = request
            .capacity
            .map(|c| {
                capacity(c).map_err(|_| {
                    MeetingError::invalid(
                        "rooms.capacity",
                        format!("must be between 1 and {MAX_PARTICIPANTS_LIMIT}"),
                    )
                })
            })
            .transpose()?;
        rooms.push(BreakoutRoom {
            room_id: breakout_room_id(cmd.session_id, index),
            name,
            description,
            capacity,
            settings: request.settings.unwrap_or_default(),
        });
    }
    let closes_at = match cmd.time_limit_minutes {
        None => None,
        Some(m) if (1..=BREAKOUT_TIME_LIMIT_MAX_MINUTES).contains(&m) => {
            Some(ctx.at + chrono::Duration::minutes(m))
        }
        Some(_) => {
            return Err(MeetingError::invalid(
                "time_limit_minutes",
                format!("must be between 1 and {BREAKOUT_TIME_LIMIT_MAX_MINUTES}"),
            ));
        }
    };
    let mut events = Vec::new();
    if cmd.auto_assign {
        // Present non-moderators in the order they joined, dealt round
        // the rooms that still have space.
        let mut people: Vec<&Seat> = meeting
            .present
            .values()
            .filter(|s| !matches!(s.role, Role::Host | Role::CoHost))
            .collect();
        people.sort_by(|a, b| (a.joined_at, &a.user_id).cmp(&(b.joined_at, &b.user_id)));
        let mut filled = vec![0u32; rooms.len()];
        let mut next = 0;
        for seat in people {
            let Some(offset) = (0..rooms.len()).find(|k| {
                let room = (next + k) % rooms.len();
                rooms[room].capacity.is_none_or(|c| filled[room] < c)
            }) else {
                break;
            };
            let room = (next + offset) % rooms.len();
            filled[room] += 1;
            next = room + 1;
            events.push(MeetingEvent::ParticipantAssignedToBreakout(
                ParticipantAssignedToBreakout {
                    meeting_id: meeting.id,
                    session_id: cmd.session_id,
                    room_id: rooms[room].room_id,
                    user_id: seat.user_id.clone(),
                    assigned_by: ctx.caller.user_id.clone(),
                },
            ));
        }
    }
    events.insert(
        0,
        MeetingEvent::BreakoutRoomsOpened(BreakoutRoomsOpened {
            meeting_id: meeting.id,
            session_id: cmd.session_id,
            rooms,
            allow_participants_to_choose: cmd.allow_participants_to_choose,
            allow_participants_to_return: cmd.allow_participants_to_return,
            closes_at,
            opened_by: ctx.caller.user_id.clone(),
            opened_at: ctx.at,
        }),
    );
    Ok(events)
}

/// A moderator assigns anyone present; a participant may pick their own
/// room when the session allows it. Capacity holds either way.
fn assign_breakout(
    meeting: &Meeting,
    ctx: &Context,
    user: &UserId,
    room: BreakoutRoomId,
) -> Result<Vec<MeetingEvent>, MeetingError> {
    let moderator = meeting.is_moderator(&ctx.caller.user_id);
    let chooses_own = *user == ctx.caller.user_id
        && meeting
            .breakout
            .as_ref()
            .is_some_and(|b| b.allow_participants_to_choose);
    if !moderator && !chooses_own {
        return Err(MeetingError::NotModerator);
    }
    require_active(meeting)?;
    let breakout = meeting
        .breakout
        .as_ref()
        .ok_or(MeetingError::BreakoutNotOpen)?;
    if !meeting.present.contains_key(user) {
        return Err(MeetingError::ParticipantNotFound);
    }
    let target = breakout
        .rooms
        .iter()
        .find(|r| r.room_id == room)
        .ok_or_else(|| MeetingError::invalid("breakout_room_id", "no such breakout room"))?;
    if breakout.assignments.get(user) == Some(&room) {
        return Ok(vec![]);
    }
    if target
        .capacity
        .is_some_and(|c| breakout.occupancy(room) >= c as usize)
    {
        return Err(MeetingError::Full);
    }
    Ok(vec![MeetingEvent::ParticipantAssignedToBreakout(
        ParticipantAssignedToBreakout {
            meeting_id: meeting.id,
            session_id: breakout.session_id,
            room_id: room,
            user_id: user.clone(),
            assigned_by: ctx.caller.user_id.clone(),
        },
    )])
}

fn breakout_closed(
    meeting: &Meeting,
    ctx: &Context,
    session_id: BreakoutSessionId,
    reason: BreakoutCloseReason,
) -> MeetingEvent {
    MeetingEvent::BreakoutRoomsClosed(BreakoutRoomsClosed {
        meeting_id: meeting.id,
        session_id,
        reason,
        closed_by: ctx.caller.user_id.clone(),
        closed_at: ctx.at,
    })
}

fn close_breakout(meeting: &Meeting, ctx: &Context) -> Result<Vec<MeetingEvent>, MeetingError> {
    require_moderator(meeting, ctx)?;
    require_active(meeting)?;
    let breakout = meeting
        .breakout
        .as_ref()
        .ok_or(MeetingError::BreakoutNotOpen)?;
    Ok(vec![breakout_closed(
        meeting,
        ctx,
        breakout.session_id,
        BreakoutCloseReason::Closed,
    )])
}

/// Closes the session's rooms once their time is up; before that, or once
/// they are closed, nothing happens (so any node's timer may ask, any
/// number of times).
fn expire_breakout(
    meeting: &Meeting,
    ctx: &Context,
    session: BreakoutSessionId,
) -> Result<Vec<MeetingEvent>, MeetingError> {
    let due = meeting
        .breakout
        .as_ref()
        .is_some_and(|b| b.session_id == session && b.closes_at.is_some_and(|at| at <= ctx.at));
    if !due || meeting.status != Status::Active {
        return Ok(vec![]);
    }
    Ok(vec![breakout_closed(
        meeting,
        ctx,
        session,
        BreakoutCloseReason::TimeLimit,
    )])
}

/// Recording follows the policy's `recording_permissions` and needs the
/// room's recording setting on.
fn may_record(meeting: &Meeting, ctx: &Context) -> Result<(), MeetingError> {
    let user = &ctx.caller.user_id;
    let role = meeting.role_of(user).filter(|role| {
        // "all" means the people in the meeting, not anyone invited.
        matches!(role, Role::Host | Role::CoHost) || meeting.present.contains_key(user)
    });
    if !role.is_some_and(|r| meeting.policy.recording_permissions.allows(r)) {
        return Err(MeetingError::NotPermitted);
    }
    require_active(meeting)?;
    if !meeting.settings.enable_recording {
        return Err(MeetingError::RecordingDisabled);
    }
    Ok(())
}

fn start_recording(
    meeting: &Meeting,
    ctx: &Context,
    id: RecordingId,
) -> Result<Vec<MeetingEvent>, MeetingError> {
    may_record(meeting, ctx)?;
    if meeting.recording.is_some() {
        return Err(MeetingError::RecordingInProgress);
    }
    Ok(vec![MeetingEvent::RecordingStarted(RecordingStarted {
        meeting_id: meeting.id,
        recording_id: id,
        started_by: ctx.caller.user_id.clone(),
        started_at: ctx.at,
    })])
}

fn recording_stopped(
    meeting: &Meeting,
    ctx: &Context,
    recording_id: RecordingId,
    started_at: DateTime<Utc>,
) -> MeetingEvent {
    MeetingEvent::RecordingStopped(RecordingStopped {
        meeting_id: meeting.id,
        recording_id,
        stopped_by: ctx.caller.user_id.clone(),
        stopped_at: ctx.at,
        duration_seconds: (ctx.at - started_at).num_seconds().max(0),
    })
}

fn stop_recording(meeting: &Meeting, ctx: &Context) -> Result<Vec<MeetingEvent>, MeetingError> {
    may_record(meeting, ctx)?;
    let recording = meeting
        .recording
        .as_ref()
        .ok_or(MeetingError::NotRecording)?;
    Ok(vec![recording_stopped(
        meeting,
        ctx,
        recording.recording_id,
        recording.started_at,
    )])
}

/// The host or a deployment admin (a recorder's service account) reports
/// where a recording's file is; also after the meeting ended.
fn report_file(
    meeting: &Meeting,
    ctx: &Context,
    recording_id: RecordingId,
    file_url: &str,
    size: i64,
) -> Result<Vec<MeetingEvent>, MeetingError> {
    let admin = ctx.caller.roles.iter().any(|r| r == ADMIN_ROLE);
    if !admin && !meeting.is_host(&ctx.caller.user_id) {
        return Err(MeetingError::NotHost);
    }
    if !meeting.recordings.contains(&recording_id) {
        return Err(MeetingError::RecordingNotFound);
    }
    let url_ok = (file_url.starts_with("https://") || file_url.starts_with("http://"))
        && file_url.len() <= FILE_URL_MAX_CHARS
        && !file_url.contains(char::is_whitespace);
    if !url_ok {
        return Err(MeetingError::invalid(
            "file_url",
            format!("must be an http(s) URL of at most {FILE_URL_MAX_CHARS} characters"),
        ));
    }
    if size < 0 {
        return Err(MeetingError::invalid("size", "must not be negative"));
    }
    Ok(vec![MeetingEvent::RecordingFileReported(
        RecordingFileReported {
            meeting_id: meeting.id,
            recording_id,
            file_url: file_url.to_owned(),
            size,
            reported_by: ctx.caller.user_id.clone(),
        },
    )])
}

/// Whole minutes from `from` to `to`, rounded half up.
pub(crate) fn minutes_between(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    let millis = (to - from).num_milliseconds().max(0);
    (millis + 30_000) / 60_000
}
