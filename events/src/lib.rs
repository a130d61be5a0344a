//! The vocabulary and the log.
//!
//! This crate owns everything that every other part of Meetings agrees on:
//! typed ids ([`ids`]), the domain events and their payloads ([`event`]),
//! the envelope that wraps an event in the log ([`envelope`]), the
//! tamper-evident hash chain ([`hash`]) and the [`store::EventStore`] port.
//!
//! Adapters sit behind cargo features so that the write model builds and
//! tests without a database: `postgres` (the production event log),
//! `sqlite` (the embedded default) and `nats` (the JetStream bus).

pub mod batch;
pub mod bus;
pub mod envelope;
pub mod event;
pub mod feed;
pub mod gate;
pub mod hash;
pub mod ids;
pub mod lease;
pub mod recent;
pub mod rooms;
pub mod store;
pub mod time;

#[cfg(feature = "nats")]
pub mod nats;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "sqlite")]
pub mod sqlite;

pub use envelope::{Actor, ActorKind, Metadata, NewEvent, Payload, RawJson, RecordedEvent};
pub use event::MeetingEvent;
pub use ids::{
    BreakoutRoomId, BreakoutSessionId, EventId, MeetingId, MessageId, ParticipantId, RecordingId,
    RoomCode, SecretId, StreamId, UserId,
};
pub use store::{
    Append, AppendError, Appended, EventStore, IdempotencyRecord, StoreError, StoredReply,
};
