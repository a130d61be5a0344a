//! Domain events (schema version 1) and their payloads.
//!
//! Every event is a past-tense variant of [`MeetingEvent`] with an explicit
//! snake_case name; that name is the log's `event_type` and the last token of
//! the NATS subject. Payloads are typed structs. New fields are added with
//! `#[serde(default)]`; a change of meaning needs a new schema version and an
//! upcaster.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{MeetingId, ParticipantId, RoomCode, UserId};

/// Schema version written with every event of this catalogue.
pub const SCHEMA_VERSION: i16 = 1;

/// The room settings a host controls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeetingSettings {
    /// Nobody but the host may join while set.
    pub lock_room: bool,
    pub enable_transcription: bool,
    pub enable_chat: bool,
    pub enable_screen_share: bool,
    pub enable_recording: bool,
    pub waiting_room: bool,
    pub mute_on_entry: bool,
}

impl Default for MeetingSettings {
    /// Open, chat and screen share on, everything that records or gates off.
    fn default() -> Self {
        Self {
            lock_room: false,
            enable_transcription: false,
            enable_chat: true,
            enable_screen_share: true,
            enable_recording: false,
            waiting_room: false,
            mute_on_entry: false,
        }
    }
}

impl MeetingSettings {
    /// Sets every boolean setting the change names (`max_participants` is
    /// not a boolean setting and is left to the caller).
    pub fn apply(&mut self, change: &ConfigChange) {
        let fields = [
            (&mut self.lock_room, change.lock_room),
            (&mut self.enable_transcription, change.enable_transcription),
            (&mut self.enable_chat, change.enable_chat),
            (&mut self.enable_screen_share, change.enable_screen_share),
            (&mut self.enable_recording, change.enable_recording),
            (&mut self.waiting_room, change.waiting_room),
            (&mut self.mute_on_entry, change.mute_on_entry),
        ];
        for (target, value) in fields {
            if let Some(v) = value {
                *target = v;
            }
        }
    }
}

/// A partial set of room settings: the fields present are the ones changed.
/// Used for the config command and in `room_config_updated`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigChange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock_room: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_transcription: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_chat: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_screen_share: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_recording: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_room: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mute_on_entry: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_participants: Option<u32>,
}

impl ConfigChange {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Adds a later change: what it names wins, the rest is kept.
    pub fn merge(&mut self, later: &ConfigChange) {
        let fields = [
            (&mut self.lock_room, later.lock_room),
            (&mut self.enable_transcription, later.enable_transcription),
            (&mut self.enable_chat, later.enable_chat),
            (&mut self.enable_screen_share, later.enable_screen_share),
            (&mut self.enable_recording, later.enable_recording),
            (&mut self.waiting_room, later.waiting_room),
            (&mut self.mute_on_entry, later.mute_on_entry),
        ];
        for (target, value) in fields {
            if value.is_some() {
                *target = value;
            }
        }
        if later.max_participants.is_some() {
            self.max_participants = later.max_participants;
        }
    }
}

/// A participant's role inside one meeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Host,
    CoHost,
    Participant,
    Guest,
}

impl Role {
    /// The wire name (as serialised).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Host => "host",
            Self::CoHost => "co_host",
            Self::Participant => "participant",
            Self::Guest => "guest",
        }
    }
}

/// Why a seat was freed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaveReason {
    Left,
    Removed,
    MeetingEnded,
}

impl LeaveReason {
    /// The wire name (as serialised).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Left => "left",
            Self::Removed => "removed",
            Self::MeetingEnded => "meeting_ended",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeetingScheduled {
    pub meeting_id: MeetingId,
    pub room_code: RoomCode,
    pub host_id: UserId,
    pub host_name: String,
    pub title: String,
    pub description: String,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub max_participants: u32,
    pub settings: MeetingSettings,
    pub scheduled_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeetingStarted {
    pub meeting_id: MeetingId,
    pub started_by: UserId,
    pub started_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeetingEnded {
    pub meeting_id: MeetingId,
    pub ended_by: UserId,
    pub ended_at: DateTime<Utc>,
    /// round((ended_at - started_at) / 60 s)
    pub duration_minutes: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoomConfigUpdated {
    pub meeting_id: MeetingId,
    pub updated_by: UserId,
    /// Only the settings this update changed.
    pub settings: ConfigChange,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParticipantJoined {
    pub meeting_id: MeetingId,
    pub participant_id: ParticipantId,
    pub user_id: UserId,
    pub user_name: String,
    pub role: Role,
    #[serde(default)]
    pub device_type: Option<String>,
    pub is_muted: bool,
    pub is_video_enabled: bool,
    pub joined_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParticipantLeft {
    pub meeting_id: MeetingId,
    pub participant_id: ParticipantId,
    pub user_id: UserId,
    pub reason: LeaveReason,
    pub left_at: DateTime<Utc>,
}

/// Everything that can happen to a meeting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum MeetingEvent {
    MeetingScheduled(MeetingScheduled),
    MeetingStarted(MeetingStarted),
    MeetingEnded(MeetingEnded),
    RoomConfigUpdated(RoomConfigUpdated),
    ParticipantJoined(ParticipantJoined),
    ParticipantLeft(ParticipantLeft),
}

/// An event payload that could not be decoded from the log.
#[derive(Debug, thiserror::Error)]
#[error("cannot decode {event_type} v{schema_version}: {source}")]
pub struct DecodeError {
    pub event_type: String,
    pub schema_version: i16,
    #[source]
    pub source: serde_json::Error,
}

impl MeetingEvent {
    /// The log's `event_type`: the variant's snake_case name.
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::MeetingScheduled(_) => "meeting_scheduled",
            Self::MeetingStarted(_) => "meeting_started",
            Self::MeetingEnded(_) => "meeting_ended",
            Self::RoomConfigUpdated(_) => "room_config_updated",
            Self::ParticipantJoined(_) => "participant_joined",
            Self::ParticipantLeft(_) => "participant_left",
        }
    }

    /// The meeting every event belongs to.
    pub fn meeting_id(&self) -> MeetingId {
        match self {
            Self::MeetingScheduled(e) => e.meeting_id,
            Self::MeetingStarted(e) => e.meeting_id,
            Self::MeetingEnded(e) => e.meeting_id,
            Self::RoomConfigUpdated(e) => e.meeting_id,
            Self::ParticipantJoined(e) => e.meeting_id,
            Self::ParticipantLeft(e) => e.meeting_id,
        }
    }

    /// Splits the event into the log's `event_type` and `data` columns.
    pub fn to_parts(&self) -> (&'static str, serde_json::Value) {
        let data = match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(mut map)) => {
                map.remove("data").unwrap_or(serde_json::Value::Null)
            }
            // Every variant is a struct of plain fields; serialising it cannot
            // fail and always yields the adjacently tagged object.
            _ => unreachable!("events serialise to a tagged object"),
        };
        (self.event_type(), data)
    }

    /// Rebuilds an event from the log's columns (upcasting old schema
    /// versions here when there are any).
    pub fn from_parts(
        event_type: &str,
        schema_version: i16,
        data: &serde_json::Value,
    ) -> Result<Self, DecodeError> {
        use serde::Deserialize as _;
        use serde::de::Error as _;
        // Straight into the variant's struct: no copy of the payload and no
        // buffering of an adjacently tagged object.
        let decoded = match event_type {
            "meeting_scheduled" => MeetingScheduled::deserialize(data).map(Self::MeetingScheduled),
            "meeting_started" => MeetingStarted::deserialize(data).map(Self::MeetingStarted),
            "meeting_ended" => MeetingEnded::deserialize(data).map(Self::MeetingEnded),
            "room_config_updated" => {
                RoomConfigUpdated::deserialize(data).map(Self::RoomConfigUpdated)
            }
            "participant_joined" => {
                ParticipantJoined::deserialize(data).map(Self::ParticipantJoined)
            }
            "participant_left" => ParticipantLeft::deserialize(data).map(Self::ParticipantLeft),
            other => Err(serde_json::Error::custom(format!(
                "unknown event type {other:?}"
            ))),
        };
        decoded.map_err(|source| DecodeError {
            event_type: event_type.to_owned(),
            schema_version,
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_round_trips_through_the_log_columns() {
        let event = MeetingEvent::MeetingStarted(MeetingStarted {
            meeting_id: MeetingId::new(),
            started_by: UserId("alice".into()),
            started_at: Utc::now(),
        });
        let (event_type, data) = event.to_parts();
        assert_eq!(event_type, "meeting_started");
        assert!(data.get("type").is_none(), "the tag is a column, not data");
        let back = MeetingEvent::from_parts(event_type, SCHEMA_VERSION, &data).unwrap();
        assert_eq!(back, event);
    }

    #[test]
    fn every_event_type_decodes_from_its_columns_and_an_unknown_type_is_refused() {
        let meeting_id = MeetingId::new();
        let user = UserId("alice".into());
        let at = Utc::now();
        let events = [
            MeetingEvent::MeetingScheduled(MeetingScheduled {
                meeting_id,
                room_code: RoomCode::random(&mut rand::thread_rng()),
                host_id: user.clone(),
                host_name: "Alice".into(),
                title: "t".into(),
                description: String::new(),
                starts_at: None,
                ends_at: Some(at),
                max_participants: 10,
                settings: MeetingSettings::default(),
                scheduled_at: at,
            }),
            MeetingEvent::MeetingStarted(MeetingStarted {
                meeting_id,
                started_by: user.clone(),
                started_at: at,
            }),
            MeetingEvent::RoomConfigUpdated(RoomConfigUpdated {
                meeting_id,
                updated_by: user.clone(),
                settings: ConfigChange {
                    lock_room: Some(true),
                    ..Default::default()
                },
            }),
            MeetingEvent::ParticipantJoined(ParticipantJoined {
                meeting_id,
                participant_id: crate::ParticipantId::new(),
                user_id: user.clone(),
                user_name: "Alice".into(),
                role: Role::Host,
                device_type: None,
                is_muted: false,
                is_video_enabled: true,
                joined_at: at,
            }),
            MeetingEvent::ParticipantLeft(ParticipantLeft {
                meeting_id,
                participant_id: crate::ParticipantId::new(),
                user_id: user.clone(),
                reason: LeaveReason::Removed,
                left_at: at,
            }),
            MeetingEvent::MeetingEnded(MeetingEnded {
                meeting_id,
                ended_by: user,
                ended_at: at,
                duration_minutes: 3,
            }),
        ];
        for event in events {
            let (event_type, data) = event.to_parts();
            let back = MeetingEvent::from_parts(event_type, SCHEMA_VERSION, &data).unwrap();
            assert_eq!(back, event);
        }
        let error =
            MeetingEvent::from_parts("meeting_exploded", 1, &serde_json::json!({})).unwrap_err();
        assert_eq!(error.event_type, "meeting_exploded");
    }

    #[test]
    fn wire_names_match_serde() {
        for role in [Role::Host, Role::CoHost, Role::Participant, Role::Guest] {
            assert_eq!(serde_json::to_value(role).unwrap(), role.as_str());
        }
        for reason in [
            LeaveReason::Left,
            LeaveReason::Removed,
            LeaveReason::MeetingEnded,
        ] {
            assert_eq!(serde_json::to_value(reason).unwrap(), reason.as_str());
        }
    }

    #[test]
    fn a_config_change_serialises_only_changed_fields() {
        let change = ConfigChange {
            lock_room: Some(true),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(change).unwrap(),
            serde_json::json!({"lock_room": true})
        );
    }
}
