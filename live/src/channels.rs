//! Per-stream channels: the node's live events routed by stream, so a
//! subscriber to one meeting is woken only by that meeting's events.
//!
//! One task per node follows the [`Feed`] (every committed event, in order,
//! with no gap: it reads the log whenever the bus is behind or quiet) and
//! hands each event to the channel of its stream, if anyone listens. A
//! channel is a small broadcast channel created by its first subscriber
//! and removed with its last. A subscriber that lags behind its channel
//! reads the log.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{broadcast, watch};

use events::envelope::RecordedEvent;
use events::ids::StreamId;

use crate::feed::{Feed, FeedItem};

/// Live events a channel holds for a slow subscriber before it must read
/// the log (channels are allocated whole: keep them small).
pub const CHANNEL_CAPACITY: usize = 64;
/// Events the router takes from the feed at a time.
const ROUTE_BATCH: usize = 1024;

type ChannelMap = HashMap<StreamId, broadcast::Sender<Arc<RecordedEvent>>>;

/// The stream channels of one node.
#[derive(Clone, Default)]
pub struct StreamChannels {
    channels: Arc<Mutex<ChannelMap>>,
}

/// A subscription to one stream's live events; the channel goes when the
/// last one is dropped.
pub struct StreamReceiver {
    receiver: broadcast::Receiver<Arc<RecordedEvent>>,
    stream: StreamId,
    channels: Arc<Mutex<ChannelMap>>,
}

impl StreamReceiver {
    pub async fn recv(&mut self) -> Result<Arc<RecordedEvent>, broadcast::error::RecvError> {
        self.receiver.recv().await
    }
}

impl Drop for StreamReceiver {
    fn drop(&mut self) {
        let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        // Our own receiver is still alive here: 1 means we are the last.
        if channels
            .get(&self.stream)
            .is_some_and(|sender| sender.receiver_count() <= 1)
        {
            channels.remove(&self.stream);
        }
    }
}

impl StreamChannels {
    /// Starts routing the feed's events after `after` until `stop` turns
    /// true.
    pub fn start(
        feed: &Feed,
        after: i64,
        mut stop: watch::Receiver<bool>,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let channels = Self::default();
        let router = channels.clone();
        let mut subscription = feed.subscribe(after);
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    item = subscription.next(ROUTE_BATCH) => match item {
                        Ok(FeedItem::Events(events)) => router.route(&events),
                        Ok(FeedItem::CaughtUp { .. }) => {}
                        Err(e) => {
                            tracing::warn!(error = %e, "the stream router cannot read the log; retrying");
                            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                        }
                    },
                    changed = stop.changed() => {
                        if changed.is_err() || *stop.borrow() {
                            return;
                        }
                    }
                }
            }
        });
        (channels, task)
    }

    /// Subscribes to the live events of `stream`.
    pub fn subscribe(&self, stream: &StreamId) -> StreamReceiver {
        let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        let receiver = channels
            .entry(stream.clone())
            .or_insert_with(|| broadcast::channel(CHANNEL_CAPACITY).0)
            .subscribe();
        StreamReceiver {
            receiver,
            stream: stream.clone(),
            channels: self.channels.clone(),
        }
    }

    /// How many streams have a subscriber.
    pub fn len(&self) -> usize {
        self.channels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn route(&self, events: &[Arc<RecordedEvent>]) {
        let channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        for event in events {
            if let Some(channel) = channels.get(&event.stream_id) {
                // Nobody left listening is not an error.
                let _ = channel.send(event.clone());
            }
        }
    }
}
