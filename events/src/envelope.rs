//! The envelope around an event: what the caller hands the log
//! ([`NewEvent`]) and what the log hands back ([`RecordedEvent`]).
//!
//! The log stores payloads as JSON; [`RecordedEvent::decode`] turns them back
//! into typed [`MeetingEvent`]s.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::event::{DecodeError, MeetingEvent, SCHEMA_VERSION};
use crate::ids::{EventId, StreamId, UserId};

/// Who caused an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub user_id: UserId,
    pub name: String,
    pub kind: ActorKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    /// A person calling the API with a token.
    User,
    /// Meetings itself (a timer, a cascade).
    System,
}

/// Audit metadata of an event (the log's `metadata` column).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    pub actor: Actor,
    /// The request or process that started a chain of commands.
    pub correlation_id: Uuid,
    /// The message that directly caused this one (the command's id).
    pub causation_id: Uuid,
    /// The HTTP request that carried the command, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<Uuid>,
}

/// An event on its way into the log.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub event_id: EventId,
    pub event_type: String,
    pub schema_version: i16,
    pub data: serde_json::Value,
    pub metadata: serde_json::Value,
}

impl NewEvent {
    /// Wraps a typed event with a fresh id.
    pub fn new(event: &MeetingEvent, metadata: &Metadata) -> Self {
        Self::with_id(EventId::new(), event, metadata)
    }

    pub fn with_id(event_id: EventId, event: &MeetingEvent, metadata: &Metadata) -> Self {
        let (event_type, data) = event.to_parts();
        Self {
            event_id,
            event_type: event_type.to_owned(),
            schema_version: SCHEMA_VERSION,
            data,
            // Metadata is plain strings and uuids; it always serialises.
            metadata: serde_json::to_value(metadata).unwrap_or(serde_json::Value::Null),
        }
    }
}

/// A committed event, as read from the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedEvent {
    /// Global, 1-based, gapless, in commit order.
    pub position: i64,
    pub event_id: EventId,
    pub stream_id: StreamId,
    /// 1-based within the stream.
    pub stream_version: i64,
    pub event_type: String,
    pub schema_version: i16,
    pub data: serde_json::Value,
    pub metadata: serde_json::Value,
    /// Commit time, microsecond precision.
    pub recorded_at: DateTime<Utc>,
    #[serde(with = "hex_bytes")]
    pub prev_hash: Vec<u8>,
    #[serde(with = "hex_bytes")]
    pub hash: Vec<u8>,
}

impl RecordedEvent {
    /// The typed event.
    pub fn decode(&self) -> Result<MeetingEvent, DecodeError> {
        MeetingEvent::from_parts(&self.event_type, self.schema_version, &self.data)
    }
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        hex::decode(text).map_err(serde::de::Error::custom)
    }
}
