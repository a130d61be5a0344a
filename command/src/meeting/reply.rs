//! What a caller is told when a command succeeds.
//!
//! A reply is derived from the state before the command and the events it
//! produced. It is stored with an idempotency key (as JSON) so a
//! retried request gets exactly the first answer.

use chrono::{DateTime, Utc};
use events::event::{BreakoutRoom, ParticipantJoined, SecurityPolicy};
use events::event::{MeetingSettings, Role};
use events::{
    BreakoutRoomId, BreakoutSessionId, MeetingEvent, MeetingId, MessageId, ParticipantId,
    RecordingId, RoomCode, UserId,
};
use serde::{Deserialize, Serialize};

use super::command::{Command, Context};
use super::decide::minutes_between;
use super::state::{Meeting, Seat, Status, fold};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeetingView {
    pub meeting_id: MeetingId,
    pub room_code: RoomCode,
    pub title: String,
    pub description: String,
    pub host_id: UserId,
    pub host_name: String,
    pub status: Status,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub max_participants: u32,
    pub settings: MeetingSettings,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeatView {
    pub participant_id: ParticipantId,
    pub meeting_id: MeetingId,
    pub user_id: UserId,
    pub user_name: String,
    pub role: Role,
    pub status: String,
    pub is_muted: bool,
    pub is_video_enabled: bool,
    pub device_type: Option<String>,
    pub joined_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StartedView {
    pub meeting_id: MeetingId,
    pub status: Status,
    pub started_by: UserId,
    pub started_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeftView {
    pub meeting_id: MeetingId,
    pub participant_id: ParticipantId,
    pub user_id: UserId,
    pub left_at: DateTime<Utc>,
    pub duration_minutes: i64,
}

/// The full live settings of a room, `max_participants` included.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigView {
    pub meeting_id: MeetingId,
    pub settings: RoomSettings,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoomSettings {
    #[serde(flatten)]
    pub settings: MeetingSettings,
    pub max_participants: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndedView {
    pub meeting_id: MeetingId,
    pub status: Status,
    pub ended_by: UserId,
    pub ended_at: DateTime<Utc>,
    pub duration_minutes: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CancelledView {
    pub meeting_id: MeetingId,
    pub status: Status,
}

/// The policy as applied; whether a password is required, never the
/// password.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyView {
    pub meeting_id: MeetingId,
    #[serde(flatten)]
    pub policy: SecurityPolicy,
    pub password_set: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberView {
    pub meeting_id: MeetingId,
    pub user_id: UserId,
    pub role: Role,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemovedView {
    pub meeting_id: MeetingId,
    pub user_id: UserId,
    pub participant_id: ParticipantId,
    pub banned: bool,
}

/// A participant's live state (the spec's status body).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusView {
    pub meeting_id: MeetingId,
    pub user_id: UserId,
    pub is_muted: bool,
    pub is_video_enabled: bool,
    pub is_screen_sharing: bool,
    pub is_hand_raised: bool,
    pub is_in_waiting_room: bool,
}

/// A join in the waiting room, or what became of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WaitingView {
    pub meeting_id: MeetingId,
    pub participant_id: ParticipantId,
    pub user_id: UserId,
    /// `waiting` or `rejected`.
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatView {
    pub message_id: MessageId,
    pub meeting_id: MeetingId,
    pub sender_id: UserId,
    pub sender_name: String,
    pub content: String,
    pub message_type: String,
    pub is_private: bool,
    pub recipient_id: Option<UserId>,
    pub timestamp: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReactionView {
    pub meeting_id: MeetingId,
    pub user_id: UserId,
    pub reaction_type: String,
    pub sent_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BreakoutRoomView {
    pub room_id: BreakoutRoomId,
    pub name: String,
    pub description: String,
    pub capacity: Option<u32>,
    pub current_participants: usize,
    pub participants: Vec<UserId>,
    pub is_active: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BreakoutView {
    pub meeting_id: MeetingId,
    pub session_id: BreakoutSessionId,
    pub rooms: Vec<BreakoutRoomView>,
    pub allow_participants_to_choose: bool,
    pub allow_participants_to_return: bool,
    pub closes_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssignedView {
    pub meeting_id: MeetingId,
    pub participant_user_id: UserId,
    pub breakout_room_id: BreakoutRoomId,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BreakoutClosedView {
    pub meeting_id: MeetingId,
    /// None when nothing was open (a time limit that had already closed).
    pub session_id: Option<BreakoutSessionId>,
    pub closed: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordingView {
    pub meeting_id: MeetingId,
    pub recording_id: RecordingId,
    pub started_at: Option<DateTime<Utc>>,
    pub stopped_at: Option<DateTime<Utc>>,
    pub duration: Option<i64>,
    pub file_url: Option<String>,
    pub size: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "body", rename_all = "snake_case")]
pub enum Reply {
    Scheduled(MeetingView),
    Started(StartedView),
    Joined(SeatView),
    Left(LeftView),
    Configured(ConfigView),
    Ended(EndedView),
    Updated(MeetingView),
    Cancelled(CancelledView),
    PolicyApplied(PolicyView),
    Member(MemberView),
    Removed(RemovedView),
    Status(StatusView),
    Waiting(WaitingView),
    Chat(ChatView),
    Reaction(ReactionView),
    Breakout(BreakoutView),
    Assigned(AssignedView),
    BreakoutClosed(BreakoutClosedView),
    Recording(RecordingView),
}

impl BreakoutView {
    fn of(meeting: &Meeting) -> Option<Self> {
        let b = meeting.breakout.as_ref()?;
        let room = |r: &BreakoutRoom| {
            let participants: Vec<UserId> = b
                .assignments
                .iter()
                .filter(|(_, room)| **room == r.room_id)
                .map(|(user, _)| user.clone())
                .collect();
            BreakoutRoomView {
                room_id: r.room_id,
                name: r.name.clone(),
                description: r.description.clone(),
                capacity: r.capacity,
                current_participants: participants.len(),
                participants,
                is_active: true,
            }
        };
        Some(Self {
            meeting_id: meeting.id,
            session_id: b.session_id,
            rooms: b.rooms.iter().map(room).collect(),
            allow_participants_to_choose: b.allow_participants_to_choose,
            allow_participants_to_return: b.allow_participants_to_return,
            closes_at: b.closes_at,
        })
    }
}

impl StatusView {
    fn of(meeting: &Meeting, seat: &Seat) -> Self {
        Self {
            meeting_id: meeting.id,
            user_id: seat.user_id.clone(),
            is_muted: seat.is_muted,
            is_video_enabled: seat.is_video_enabled,
            is_screen_sharing: seat.is_screen_sharing,
            is_hand_raised: seat.is_hand_raised,
            is_in_waiting_room: false,
        }
    }
}

/// The reply of a command rarer than join and leave. Those that show
/// more than their events (a meeting, a policy, a role, a seat, the rooms)
/// read the state after them: a copy of the meeting, made only for them.
fn from_after(
    before: &Option<Meeting>,
    ctx: &Context,
    command: &Command,
    events: &[MeetingEvent],
) -> Option<Reply> {
    let after = || fold(before.clone(), events);
    let meeting_id = before.as_ref()?.id;
    let first = events.first();
    Some(match command {
        Command::Update(_) => Reply::Updated(MeetingView::of(&after()?)),
        Command::Delete => Reply::Cancelled(CancelledView {
            meeting_id,
            status: Status::Cancelled,
        }),
        Command::ApplyPolicy(_) => {
            let after = after()?;
            Reply::PolicyApplied(PolicyView {
                meeting_id,
                policy: after.policy,
                password_set: after.password_id.is_some(),
            })
        }
        Command::Invite { user_id, .. } | Command::ChangeRole { user_id, .. } => {
            Reply::Member(MemberView {
                meeting_id,
                user_id: user_id.clone(),
                role: after()?.role_of(user_id)?,
            })
        }
        Command::Remove { user_id, ban } => {
            let seat = before.as_ref()?.present.get(user_id)?;
            Reply::Removed(RemovedView {
                meeting_id,
                user_id: user_id.clone(),
                participant_id: seat.participant_id,
                banned: *ban,
            })
        }
        Command::SetStatus(update) => {
            let user = update.target.as_ref().unwrap_or(&ctx.caller.user_id);
            let after = after()?;
            Reply::Status(StatusView::of(&after, after.present.get(user)?))
        }
        Command::Admit(id) => {
            let waiter = before.as_ref()?.waiting.get(id)?;
            let after = after()?;
            Reply::Joined(SeatView::of(&after, after.present.get(&waiter.user_id)?))
        }
        Command::Reject(id) => {
            let waiter = before.as_ref()?.waiting.get(id)?;
            Reply::Waiting(WaitingView {
                meeting_id,
                participant_id: *id,
                user_id: waiter.user_id.clone(),
                status: "rejected".into(),
            })
        }
        Command::Chat(_) => match first? {
            MeetingEvent::ChatMessageSent(e) => Reply::Chat(ChatView {
                message_id: e.message_id,
                meeting_id: e.meeting_id,
                sender_id: e.sender_id.clone(),
                sender_name: e.sender_name.clone(),
                content: e.content.clone(),
                message_type: "text".into(),
                is_private: e.recipient_id.is_some(),
                recipient_id: e.recipient_id.clone(),
                timestamp: e.sent_at,
            }),
            _ => return None,
        },
        Command::React { .. } => match first? {
            MeetingEvent::ReactionSent(e) => Reply::Reaction(ReactionView {
                meeting_id: e.meeting_id,
                user_id: e.user_id.clone(),
                reaction_type: e.reaction_type.clone(),
                sent_at: e.sent_at,
            }),
            _ => return None,
        },
        Command::OpenBreakout(_) => Reply::Breakout(BreakoutView::of(&after()?)?),
        Command::AssignBreakout { user_id, room_id } => Reply::Assigned(AssignedView {
            meeting_id,
            participant_user_id: user_id.clone(),
            breakout_room_id: *room_id,
        }),
        Command::CloseBreakout | Command::ExpireBreakout(_) => {
            let closed = events.iter().find_map(|e| match e {
                MeetingEvent::BreakoutRoomsClosed(c) => Some(c.session_id),
                _ => None,
            });
            Reply::BreakoutClosed(BreakoutClosedView {
                meeting_id,
                session_id: closed,
                closed: closed.is_some(),
            })
        }
        Command::StartRecording(_) | Command::StopRecording => {
            let mut view = None;
            for event in events {
                match event {
                    MeetingEvent::RecordingStarted(e) => {
                        view = Some(RecordingView {
                            meeting_id: e.meeting_id,
                            recording_id: e.recording_id,
                            started_at: Some(e.started_at),
                            stopped_at: None,
                            duration: None,
                            file_url: None,
                            size: None,
                        })
                    }
                    MeetingEvent::RecordingStopped(e) => {
                        view = Some(RecordingView {
                            meeting_id: e.meeting_id,
                            recording_id: e.recording_id,
                            started_at: before
                                .as_ref()
                                .and_then(|m| m.recording)
                                .map(|r| r.started_at),
                            stopped_at: Some(e.stopped_at),
                            duration: Some(e.duration_seconds),
                            file_url: None,
                            size: None,
                        })
                    }
                    _ => {}
                }
            }
            Reply::Recording(view?)
        }
        Command::ReportRecordingFile {
            recording_id,
            file_url,
            size,
        } => Reply::Recording(RecordingView {
            meeting_id,
            recording_id: *recording_id,
            started_at: None,
            stopped_at: None,
            duration: None,
            file_url: Some(file_url.clone()),
            size: Some(*size),
        }),
        _ => return None,
    })
}

impl MeetingView {
    pub fn of(meeting: &Meeting) -> Self {
        Self {
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
            settings: meeting.settings,
            created_at: meeting.created_at,
            started_at: meeting.started_at,
        }
    }
}

impl SeatView {
    fn of(meeting: &Meeting, seat: &Seat) -> Self {
        Self {
            participant_id: seat.participant_id,
            meeting_id: meeting.id,
            user_id: seat.user_id.clone(),
            user_name: seat.user_name.clone(),
            role: seat.role,
            status: "joined".into(),
            is_muted: seat.is_muted,
            is_video_enabled: seat.is_video_enabled,
            device_type: seat.device_type.clone(),
            joined_at: seat.joined_at,
        }
    }
}

impl SeatView {
    fn joined(e: &ParticipantJoined) -> Self {
        Self {
            participant_id: e.participant_id,
            meeting_id: e.meeting_id,
            user_id: e.user_id.clone(),
            user_name: e.user_name.clone(),
            role: e.role,
            status: "joined".into(),
            is_muted: e.is_muted,
            is_video_enabled: e.is_video_enabled,
            device_type: e.device_type.clone(),
            joined_at: e.joined_at,
        }
    }
}

/// The reply to a command that succeeded, from the state before it and the
/// events it produced (none when it was already satisfied). Built without
/// materialising the state after, so a reply costs nothing like a copy of
/// a large meeting.
///
/// Returns `None` only for a combination `decide` never accepts.
pub fn reply(
    before: &Option<Meeting>,
    ctx: &Context,
    command: &Command,
    events: &[MeetingEvent],
) -> Option<Reply> {
    let user = &ctx.caller.user_id;
    Some(match command {
        // A new meeting: its whole state is a fold of these events.
        Command::Schedule(_) => Reply::Scheduled(MeetingView::of(&fold(None, events)?)),
        Command::Start => {
            let started = events.iter().find_map(|e| match e {
                MeetingEvent::MeetingStarted(started) => Some(started),
                _ => None,
            })?;
            Reply::Started(StartedView {
                meeting_id: started.meeting_id,
                status: Status::Active,
                started_by: started.started_by.clone(),
                started_at: started.started_at,
            })
        }
        Command::Join(_) => match events.first() {
            Some(MeetingEvent::ParticipantJoined(joined)) => {
                Reply::Joined(SeatView::joined(joined))
            }
            Some(MeetingEvent::ParticipantWaiting(waiting)) => Reply::Waiting(WaitingView {
                meeting_id: waiting.meeting_id,
                participant_id: waiting.participant_id,
                user_id: waiting.user_id.clone(),
                status: "waiting".into(),
            }),
            Some(_) => return None,
            // Already present: the seat they have; already waiting: the wait.
            None => {
                let meeting = before.as_ref()?;
                match meeting.present.get(user) {
                    Some(seat) => Reply::Joined(SeatView::of(meeting, seat)),
                    None => {
                        let waiter = meeting.waiting.values().find(|w| &w.user_id == user)?;
                        Reply::Waiting(WaitingView {
                            meeting_id: meeting.id,
                            participant_id: waiter.participant_id,
                            user_id: user.clone(),
                            status: "waiting".into(),
                        })
                    }
                }
            }
        },
        Command::Leave => {
            let meeting = before.as_ref()?;
            let seat = meeting.present.get(user)?;
            let left_at = events.iter().find_map(|e| match e {
                MeetingEvent::ParticipantLeft(left) => Some(left.left_at),
                _ => None,
            })?;
            Reply::Left(LeftView {
                meeting_id: meeting.id,
                participant_id: seat.participant_id,
                user_id: user.clone(),
                left_at,
                duration_minutes: minutes_between(seat.joined_at, left_at),
            })
        }
        Command::UpdateConfig(_) => {
            let meeting = before.as_ref()?;
            let mut settings = meeting.settings;
            let mut max_participants = meeting.max_participants;
            for event in events {
                if let MeetingEvent::RoomConfigUpdated(updated) = event {
                    settings.apply(&updated.settings);
                    max_participants = updated
                        .settings
                        .max_participants
                        .unwrap_or(max_participants);
                }
            }
            Reply::Configured(ConfigView {
                meeting_id: meeting.id,
                settings: RoomSettings {
                    settings,
                    max_participants,
                },
            })
        }
        Command::End => {
            let ended = events.iter().find_map(|e| match e {
                MeetingEvent::MeetingEnded(ended) => Some(ended),
                _ => None,
            })?;
            Reply::Ended(EndedView {
                meeting_id: ended.meeting_id,
                status: Status::Ended,
                ended_by: ended.ended_by.clone(),
                ended_at: ended.ended_at,
                duration_minutes: ended.duration_minutes,
            })
        }
        _ => return from_after(before, ctx, command, events),
    })
}
