//! The state a decision needs, folded from the meeting's events.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use events::event::{MeetingSettings, Role};
use events::{MeetingEvent, MeetingId, ParticipantId, RoomCode, UserId};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Scheduled,
    Active,
    Ended,
    Cancelled,
}

/// A present participant.
#[derive(Debug, Clone, PartialEq)]
pub struct Seat {
    pub participant_id: ParticipantId,
    pub user_id: UserId,
    pub user_name: String,
    pub role: Role,
    pub device_type: Option<String>,
    pub is_muted: bool,
    pub is_video_enabled: bool,
    pub joined_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Meeting {
    pub id: MeetingId,
    pub room_code: RoomCode,
    pub host_id: UserId,
    pub host_name: String,
    pub title: String,
    pub description: String,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub max_participants: u32,
    pub settings: MeetingSettings,
    pub status: Status,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    /// Present participants by user: one seat per user.
    pub present: BTreeMap<UserId, Seat>,
}

impl Meeting {
    pub fn is_host(&self, user: &UserId) -> bool {
        &self.host_id == user
    }
}

/// Folds one event into the state. Never fails: an event is a fact, and an
/// event that does not fit the state (which `decide` never produces) leaves
/// the state as it was.
pub fn evolve(state: Option<Meeting>, event: &MeetingEvent) -> Option<Meeting> {
    use MeetingEvent as E;
    let Some(mut meeting) = state else {
        return match event {
            E::MeetingScheduled(e) => Some(Meeting {
                id: e.meeting_id,
                room_code: e.room_code.clone(),
                host_id: e.host_id.clone(),
                host_name: e.host_name.clone(),
                title: e.title.clone(),
                description: e.description.clone(),
                starts_at: e.starts_at,
                ends_at: e.ends_at,
                max_participants: e.max_participants,
                settings: e.settings,
                status: Status::Scheduled,
                created_at: e.scheduled_at,
                started_at: None,
                ended_at: None,
                present: BTreeMap::new(),
            }),
            _ => None,
        };
    };
    match event {
        E::MeetingScheduled(_) => {}
        E::MeetingStarted(e) => {
            meeting.status = Status::Active;
            meeting.started_at = Some(e.started_at);
        }
        E::MeetingEnded(e) => {
            meeting.status = Status::Ended;
            meeting.ended_at = Some(e.ended_at);
        }
        E::RoomConfigUpdated(e) => {
            meeting.settings.apply(&e.settings);
            if let Some(max) = e.settings.max_participants {
                meeting.max_participants = max;
            }
        }
        E::ParticipantJoined(e) => {
            meeting.present.insert(
                e.user_id.clone(),
                Seat {
                    participant_id: e.participant_id,
                    user_id: e.user_id.clone(),
                    user_name: e.user_name.clone(),
                    role: e.role,
                    device_type: e.device_type.clone(),
                    is_muted: e.is_muted,
                    is_video_enabled: e.is_video_enabled,
                    joined_at: e.joined_at,
                },
            );
        }
        E::ParticipantLeft(e) => {
            meeting.present.remove(&e.user_id);
        }
    }
    Some(meeting)
}

/// Folds events in order.
pub fn fold<'a>(
    state: Option<Meeting>,
    events: impl IntoIterator<Item = &'a MeetingEvent>,
) -> Option<Meeting> {
    events.into_iter().fold(state, evolve)
}
