//! The NATS JetStream bus: where committed events are published
//! (`<prefix>.events.<meeting_id>.<event_type>` in stream `<PREFIX>_EVENTS`)
//! and how far a stream has got.
//!
//! Every message carries `Nats-Msg-Id` = event id (JetStream drops a
//! re-publish inside the duplicate window), `Meetings-Position`,
//! `Meetings-Event-Type` and `Meetings-Seal` (the payload sealed with the
//! nodes' shared key, [`Seal`]); the payload is the [`RecordedEvent`] as
//! JSON. A message whose seal does not check is not an event: the hub
//! never gets it, and a relay never resumes after it.

use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, context::PublishAckFuture, stream};

use std::sync::Arc;

use async_trait::async_trait;
use tokio::task::JoinHandle;

use events::envelope::RecordedEvent;
use events::ids::MeetingId;

use crate::bus::{Bus, BusError};
use crate::feed::Hub;
use crate::seal::{self, Seal};

pub const HEADER_POSITION: &str = "Meetings-Position";
pub const HEADER_EVENT_TYPE: &str = "Meetings-Event-Type";
pub const HEADER_MSG_ID: &str = "Nats-Msg-Id";

/// Room kept in a message for its headers (ours take about 150 bytes).
const HEADER_ROOM: usize = 1024;

/// How long JetStream remembers message ids to drop re-publishes.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);
/// How many of the stream's last messages a relay looks through for the
/// last sealed one before it trusts its checkpoint alone.
const LOOK_BACK: u64 = 256;

fn bus<E: std::error::Error + Send + Sync + 'static>(e: E) -> BusError {
    BusError::from_error(e)
}

/// The events stream of one deployment on JetStream.
#[derive(Clone)]
pub struct JetStreamLog {
    client: async_nats::Client,
    js: jetstream::Context,
    prefix: String,
    seal: Seal,
}

impl JetStreamLog {
    pub fn new(client: async_nats::Client, prefix: &str, seal: Seal) -> Self {
        Self {
            js: jetstream::new(client.clone()),
            client,
            prefix: prefix.to_owned(),
            seal,
        }
    }

    /// `<PREFIX>_EVENTS`
    pub fn stream_name(&self) -> String {
        format!("{}_EVENTS", self.prefix.to_uppercase())
    }

    /// `<prefix>.events.<meeting_id>.<event_type>`
    pub fn subject(&self, event: &RecordedEvent) -> String {
        let meeting = MeetingId::from_stream_id(&event.stream_id)
            .map(|id| id.to_string())
            .unwrap_or_else(|| event.stream_id.0.replace(['.', '*', '>', ' '], "_"));
        format!("{}.events.{}.{}", self.prefix, meeting, event.event_type)
    }

    /// Creates the stream if it does not exist (file storage, 2 min
    /// duplicate window) and returns it.
    pub async fn ensure_stream(&self) -> Result<stream::Stream, BusError> {
        self.js
            .get_or_create_stream(stream::Config {
                name: self.stream_name(),
                subjects: vec![format!("{}.events.>", self.prefix)],
                storage: stream::StorageType::File,
                duplicate_window: DUPLICATE_WINDOW,
                ..Default::default()
            })
            .await
            .map_err(bus)
    }

    /// Sends one event; the returned future resolves when JetStream has
    /// stored it (or dropped it as a duplicate). An event larger than the
    /// server takes is not sent (`None`): it stays in the log, where every
    /// consumer finds it when it sees the gap, and the events behind it go
    /// on.
    pub async fn publish_one(
        &self,
        event: &RecordedEvent,
    ) -> Result<Option<PublishAckFuture>, BusError> {
        let mut headers = HeaderMap::new();
        headers.insert(HEADER_MSG_ID, event.event_id.to_string().as_str());
        headers.insert(HEADER_POSITION, event.position.to_string().as_str());
        headers.insert(HEADER_EVENT_TYPE, event.event_type.as_str());
        let payload = serde_json::to_vec(event).map_err(bus)?;
        headers.insert(seal::HEADER, self.seal.sign(&[&payload]).as_str());
        let limit = self.client.server_info().max_payload;
        if limit > 0 && payload.len() + HEADER_ROOM > limit {
            tracing::warn!(
                position = event.position,
                bytes = payload.len(),
                limit,
                "an event larger than the bus takes is left to the log"
            );
            return Ok(None);
        }
        self.js
            .publish_with_headers(self.subject(event), headers, payload.into())
            .await
            .map(Some)
            .map_err(bus)
    }

    /// The log position of the last sealed message in the stream (0 if
    /// there is none among the last [`LOOK_BACK`]), creating the stream if
    /// needed.
    pub async fn last_position(&self) -> Result<i64, BusError> {
        let mut stream = self.ensure_stream().await?;
        let state = &stream.info().await.map_err(bus)?.state;
        let (first, last) = (state.first_sequence.max(1), state.last_sequence);
        let mut sequence = last;
        while sequence >= first && sequence > 0 && last - sequence < LOOK_BACK {
            match stream.get_raw_message(sequence).await {
                Ok(message) if sealed(&self.seal, &message.headers, &message.payload) => {
                    return Ok(position_header(&message.headers).unwrap_or(0));
                }
                Ok(_) => tracing::warn!(sequence, "an unsealed message in the events stream"),
                // Deleted or purged meanwhile: look at the one before.
                Err(e) => tracing::debug!(sequence, error = %e, "no message at this sequence"),
            }
            sequence -= 1;
        }
        Ok(0)
    }
}

/// Whether a message's seal checks for its payload.
fn sealed(seal: &Seal, headers: &HeaderMap, payload: &[u8]) -> bool {
    headers
        .get(seal::HEADER)
        .is_some_and(|tag| seal.verify(&[payload], tag.as_str()))
}

/// The `Meetings-Position` header of a message.
pub fn position_header(headers: &HeaderMap) -> Option<i64> {
    headers.get(HEADER_POSITION)?.as_str().parse().ok()
}

#[async_trait]
impl Bus for JetStreamLog {
    fn shared(&self) -> bool {
        true
    }

    async fn last_position(&self) -> Result<Option<i64>, BusError> {
        JetStreamLog::last_position(self).await.map(Some)
    }

    /// Sends the whole batch, then waits for every ack; an event too large
    /// for the server is skipped (see [`JetStreamLog::publish_one`]).
    async fn publish(&self, events: &[Arc<RecordedEvent>]) -> Result<(), BusError> {
        let mut acks = Vec::with_capacity(events.len());
        for event in events {
            acks.extend(self.publish_one(event).await?);
        }
        for ack in acks {
            ack.await.map_err(bus)?;
        }
        Ok(())
    }

    fn feed_hub(&self, hub: Hub) -> Option<JoinHandle<()>> {
        Some(tokio::spawn(feed_hub(
            self.client.clone(),
            self.prefix.clone(),
            hub,
            self.seal.clone(),
        )))
    }
}

/// Feeds the node's [`Hub`] from one core NATS subscription to
/// `<prefix>.events.>`: one bus subscription per node, however many feeds.
/// A message whose seal does not check is dropped (and counted in
/// `meetings_bus_unsealed_total`). Runs until the subscription ends.
pub async fn feed_hub(client: async_nats::Client, prefix: String, hub: Hub, seal: Seal) {
    use futures::StreamExt;
    let subject = format!("{prefix}.events.>");
    loop {
        match client.subscribe(subject.clone()).await {
            Ok(mut subscription) => {
                while let Some(message) = subscription.next().await {
                    let headers = message.headers.as_ref();
                    if !headers.is_some_and(|h| sealed(&seal, h, &message.payload)) {
                        metrics::counter!("meetings_bus_unsealed_total").increment(1);
                        tracing::warn!(subject = %message.subject, "an unsealed message on the bus, dropped");
                        continue;
                    }
                    match serde_json::from_slice::<RecordedEvent>(&message.payload) {
                        Ok(event) => hub.publish(Arc::new(event)),
                        Err(e) => {
                            tracing::warn!(error = %e, subject = %message.subject, "undecodable event on the bus")
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot subscribe to the bus"),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
