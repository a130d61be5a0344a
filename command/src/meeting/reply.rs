//! What a caller is told when a command succeeds.
//!
//! A reply is derived from the state before the command and the events it
//! produced. It is stored with an idempotency key (as JSON) so a
//! retried request gets exactly the first answer.

use chrono::{DateTime, Utc};
use events::event::ParticipantJoined;
use events::event::{MeetingSettings, Role};
use events::{MeetingEvent, MeetingId, ParticipantId, RoomCode, UserId};
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
#[serde(tag = "kind", content = "body", rename_all = "snake_case")]
pub enum Reply {
    Scheduled(MeetingView),
    Started(StartedView),
    Joined(SeatView),
    Left(LeftView),
    Configured(ConfigView),
    Ended(EndedView),
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
        Command::Join(_) => {
            let joined = events.iter().find_map(|e| match e {
                MeetingEvent::ParticipantJoined(joined) => Some(joined),
                _ => None,
            });
            match joined {
                Some(joined) => Reply::Joined(SeatView::joined(joined)),
                // Already present: the seat they have.
                None => {
                    let meeting = before.as_ref()?;
                    Reply::Joined(SeatView::of(meeting, meeting.present.get(user)?))
                }
            }
        }
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
    })
}
