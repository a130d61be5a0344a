//! The vocabulary every part of Meetings agrees on, and the ports.
//!
//! Typed ids ([`ids`]), the deployment's roles ([`deployment`]), the
//! domain events and their payloads ([`event`]),
//! the room settings declared once ([`settings`]), the envelope that wraps
//! an event in the log ([`envelope`]), the tamper-evident hash chain
//! ([`hash`]), the rules for text from outside ([`text`]), timestamps as
//! the log keeps them ([`time`]), the JSON
//! shapes replies and queries share ([`views`]), and the ports
//! the rest of the system is written against: the event log
//! ([`store::EventStore`]) and singleton leases ([`lease::Leases`]).
//!
//! No I/O lives here: the log's adapters are in the `eventlog` crate and
//! live delivery (bus, feed, relay) in `live`, so the write model builds
//! and tests without a database or a broker.

pub mod deployment;
pub mod envelope;
pub mod event;
pub mod hash;
pub mod ids;
pub mod lease;
pub mod settings;
pub mod store;
pub mod text;
pub mod time;
pub mod views;

pub use envelope::{Actor, ActorKind, Metadata, NewEvent, Payload, RawJson, RecordedEvent};
pub use event::MeetingEvent;
pub use ids::{
    BreakoutRoomId, BreakoutSessionId, CommandId, EventId, MeetingId, MessageId, ParticipantId,
    RecordingId, RoomCode, SecretId, StreamId, UserId,
};
pub use store::{
    Append, AppendError, Appended, EventStore, IdempotencyRecord, PastSnapshot, Rebase, RebaseWith,
    Rebased, Snapshot, StoreError, StoredReply, Until,
};
