//! The bus port: how committed events travel from the log to every node's
//! [`Hub`] (and from there to projections and WebSocket subscribers).
//!
//! Two implementations: NATS JetStream (`crate::nats`), shared by every
//! node of a deployment, and [`InProcessBus`], which hands events straight
//! to this process's hub. The relay ([`crate::relay`]) reads the log in
//! position order and publishes through whichever bus is configured;
//! feeds never trust a bus for completeness (see [`crate::feed`]).

use std::sync::Arc;

use async_trait::async_trait;
use tokio::task::JoinHandle;

use events::envelope::RecordedEvent;

use crate::feed::Hub;

#[derive(Debug, thiserror::Error)]
#[error("bus: {0}")]
pub struct BusError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

impl BusError {
    pub fn from_error<E: std::error::Error + Send + Sync + 'static>(e: E) -> Self {
        Self(Box::new(e))
    }
}

#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Whether every node of the deployment shares this bus: then one
    /// relay publishes (under a lease); otherwise each node relays to its
    /// own bus.
    fn shared(&self) -> bool;

    /// The position of the last event the bus holds, where it keeps any
    /// (a relay resumes after it); `None` when it keeps nothing, so a
    /// relay starts at the log's head.
    async fn last_position(&self) -> Result<Option<i64>, BusError>;

    /// Publishes events in position order; returns once the bus holds them.
    async fn publish(&self, events: &[Arc<RecordedEvent>]) -> Result<(), BusError>;

    /// Starts delivering the bus's events to this node's hub, if the bus
    /// does not deliver there itself.
    fn feed_hub(&self, hub: Hub) -> Option<JoinHandle<()>>;
}

/// Events go straight from the relay to this process's hub.
#[derive(Clone)]
pub struct InProcessBus {
    hub: Hub,
}

impl InProcessBus {
    pub fn new(hub: Hub) -> Self {
        Self { hub }
    }
}

#[async_trait]
impl Bus for InProcessBus {
    fn shared(&self) -> bool {
        false
    }

    async fn last_position(&self) -> Result<Option<i64>, BusError> {
        Ok(None)
    }

    async fn publish(&self, events: &[Arc<RecordedEvent>]) -> Result<(), BusError> {
        for event in events {
            self.hub.publish(event.clone());
        }
        Ok(())
    }

    fn feed_hub(&self, _hub: Hub) -> Option<JoinHandle<()>> {
        None
    }
}
