//! Live delivery: how a committed event reaches everyone who follows the
//! log as it grows.
//!
//! The [`relay`] reads the log in position order and publishes to the
//! [`bus`] (NATS JetStream behind the `nats` feature, or in-process); each
//! node's bus subscription feeds its [`feed::Hub`]; a [`feed::Feed`] gives
//! every committed event from any position (catch-up from the log, then
//! live, gaps filled from the log); [`channels`] routes the live events by
//! stream, so a WebSocket connection is woken only by its meeting; the
//! [`seal`] is what makes a message on a shared bus one from a node.

pub mod bus;
pub mod channels;
pub mod feed;
pub mod relay;
pub mod seal;

#[cfg(feature = "nats")]
pub mod nats;
