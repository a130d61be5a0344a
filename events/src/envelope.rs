//! The envelope around an event: what the caller hands the log
//! ([`NewEvent`]) and what the log hands back ([`RecordedEvent`]).
//!
//! The log stores payloads as JSON; a recorded event keeps them as the text
//! the log returned ([`RawJson`]), and [`RecordedEvent::decode`] parses that
//! text straight into a typed [`MeetingEvent`]. Readers that only pass
//! events on (the relay, NATS envelopes, WebSocket frames) copy the text and
//! never build a JSON tree.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::event::{DecodeError, MeetingEvent, SCHEMA_VERSION};
use crate::ids::{EventId, StreamId, UserId};

/// Most bytes an event's data and metadata take together, encoded: half
/// of NATS's default payload limit, so every event the log accepts fits
/// the bus with its envelope. The log refuses a larger one.
pub const MAX_PAYLOAD_BYTES: usize = 512 * 1024;

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
    /// A person whose token carries the deployment role `admin`: they act
    /// on any meeting as its host may, and the log says so.
    Admin,
    /// A guest who joined by link with a name, acting with the guest token
    /// of that meeting.
    Guest,
    /// Meetings itself (a timer, a cascade) or an integration reporting
    /// what happened elsewhere (the media server's webhooks).
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
    /// The HTTP request that carried the command, if any (its
    /// `X-Request-Id`: a UUID when Meetings made it, else the client's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
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
    pub data: RawJson,
    pub metadata: RawJson,
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
        MeetingEvent::from_parts(&self.event_type, self.schema_version, self.data.get())
    }
}

/// What a read model needs of a recorded event: where it is in the log and
/// what happened. A rebuild reads the whole log, and the other columns
/// (metadata, hashes, ids) would cost more to send than the payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Payload {
    pub position: i64,
    pub event_type: String,
    pub schema_version: i16,
    pub data: RawJson,
    /// Commit time, microsecond precision.
    pub recorded_at: DateTime<Utc>,
}

impl Payload {
    /// The typed event.
    pub fn decode(&self) -> Result<MeetingEvent, DecodeError> {
        MeetingEvent::from_parts(&self.event_type, self.schema_version, self.data.get())
    }
}

/// A JSON document kept as its text: valid JSON, never parsed into a tree
/// unless asked. Two documents are equal when they hold the same JSON, so
/// PostgreSQL's JSONB spacing and SQLite's compact text compare equal.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RawJson(Box<RawValue>);

impl RawJson {
    /// Checks that `text` is JSON and keeps it as it is.
    pub fn from_string(text: String) -> Result<Self, serde_json::Error> {
        RawValue::from_string(text).map(Self)
    }

    /// The document's text.
    pub fn get(&self) -> &str {
        self.0.get()
    }

    /// The document as a tree, for readers that look inside it (the hash
    /// chain's canonical form, tests).
    pub fn value(&self) -> serde_json::Value {
        // The text is valid JSON, written by serde_json from typed values,
        // so it parses back.
        serde_json::from_str(self.get()).unwrap_or(serde_json::Value::Null)
    }
}

impl From<&serde_json::Value> for RawJson {
    fn from(value: &serde_json::Value) -> Self {
        // A Value always serialises, and to valid JSON.
        Self(serde_json::value::to_raw_value(value).expect("a JSON value serialises"))
    }
}

impl From<Box<RawValue>> for RawJson {
    fn from(raw: Box<RawValue>) -> Self {
        Self(raw)
    }
}

impl PartialEq for RawJson {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get() || self.value() == other.value()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_json_is_equal_by_content_whatever_its_spacing_and_key_order() {
        let jsonb = RawJson::from_string(r#"{"b": [1, 2], "a": "x"}"#.into()).unwrap();
        let compact = RawJson::from_string(r#"{"a":"x","b":[1,2]}"#.into()).unwrap();
        let other = RawJson::from_string(r#"{"a":"x","b":[2,1]}"#.into()).unwrap();
        assert_eq!(jsonb, compact);
        assert_ne!(compact, other);
        assert_eq!(jsonb.get(), r#"{"b": [1, 2], "a": "x"}"#);
    }

    #[test]
    fn raw_json_refuses_text_that_is_not_json() {
        assert!(RawJson::from_string("{\"a\":".into()).is_err());
        assert!(RawJson::from_string("{} {}".into()).is_err());
    }

    #[test]
    fn a_recorded_event_decodes_from_its_text_and_refuses_trailing_text() {
        let event = MeetingEvent::MeetingStarted(crate::event::MeetingStarted {
            meeting_id: crate::MeetingId::new(),
            started_by: UserId("alice".into()),
            started_at: crate::time::now(),
        });
        let (event_type, data) = event.to_parts();
        let text = data.to_string();
        assert_eq!(
            MeetingEvent::from_parts(event_type, SCHEMA_VERSION, &text).unwrap(),
            event
        );
        assert!(
            MeetingEvent::from_parts(event_type, SCHEMA_VERSION, &format!("{text} 1")).is_err()
        );
    }
}
