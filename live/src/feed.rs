//! The feed: every committed event in position order, from any position,
//! for projections, the stream channels (WebSocket) and webhooks.
//!
//! A subscription first catches up from the log, then follows the live
//! [`Hub`] (the bus, fanned out in memory). It never trusts the bus for
//! completeness: live events at or below the last position are dropped, a
//! jump in positions is filled from the log, a lagging receiver goes back to
//! the log, and while no live event arrives it polls the log now and then,
//! so a feed keeps moving while the bus is down. Nor for content: a live
//! event is taken only if its `prev_hash` is the hash of the event the
//! subscription delivered last (else that position is read from the log),
//! so an event that is not the log's next one never reaches a subscriber.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;

use events::envelope::RecordedEvent;
use events::store::{EventStore, StoreError};

/// How many live events the in-memory fan-out holds for a slow receiver
/// before it must go back to the log.
pub const HUB_CAPACITY: usize = 8192;
/// How long a live subscription waits for the bus before it looks at the
/// log itself.
const POLL_WHEN_QUIET: Duration = Duration::from_millis(500);

/// The node's one stream of live events, fanned out to every subscriber.
/// Whatever feeds it (a NATS subscription, the relay in-process) sends each
/// event at most once per node.
#[derive(Clone)]
pub struct Hub {
    sender: broadcast::Sender<Arc<RecordedEvent>>,
}

impl Default for Hub {
    fn default() -> Self {
        Self::new()
    }
}

impl Hub {
    pub fn new() -> Self {
        let (sender, _) = broadcast::channel(HUB_CAPACITY);
        Self { sender }
    }

    /// Hands a live event to every subscriber of this node.
    pub fn publish(&self, event: Arc<RecordedEvent>) {
        // No subscriber is not an error: nobody is listening yet.
        let _ = self.sender.send(event);
    }

    pub fn receiver(&self) -> broadcast::Receiver<Arc<RecordedEvent>> {
        self.sender.subscribe()
    }
}

/// The log plus the live hub.
#[derive(Clone)]
pub struct Feed {
    store: Arc<dyn EventStore>,
    hub: Hub,
}

/// What a subscription yields.
#[derive(Debug, Clone)]
pub enum FeedItem {
    /// Events in position order, none seen before.
    Events(Vec<Arc<RecordedEvent>>),
    /// The subscription has read the whole log once and now follows live
    /// events; `position` is the last position it delivered.
    CaughtUp { position: i64 },
}

impl Feed {
    pub fn new(store: Arc<dyn EventStore>, hub: Hub) -> Self {
        Self { store, hub }
    }

    /// Every event with a position above `after`, in order.
    pub fn subscribe(&self, after: i64) -> Subscription {
        Subscription {
            store: self.store.clone(),
            // Subscribed before catching up, so nothing published while we
            // read the log is missed.
            live: self.hub.receiver(),
            last: after,
            last_hash: None,
            live_mode: false,
            announced: false,
        }
    }
}

pub struct Subscription {
    store: Arc<dyn EventStore>,
    live: broadcast::Receiver<Arc<RecordedEvent>>,
    last: i64,
    /// The hash of the event at `last`, once one was delivered.
    last_hash: Option<Vec<u8>>,
    live_mode: bool,
    announced: bool,
}

impl Subscription {
    /// The next events (at most `max` from the log at a time), or the
    /// one-time caught-up marker.
    pub async fn next(&mut self, max: usize) -> Result<FeedItem, StoreError> {
        loop {
            if !self.live_mode {
                let events = self.read_log(self.last, max).await?;
                if !events.is_empty() {
                    return Ok(FeedItem::Events(events));
                }
                self.live_mode = true;
                if !self.announced {
                    self.announced = true;
                    return Ok(FeedItem::CaughtUp {
                        position: self.last,
                    });
                }
                continue;
            }
            let received = tokio::time::timeout(POLL_WHEN_QUIET, self.live.recv()).await;
            let hub_gone = matches!(received, Ok(Err(broadcast::error::RecvError::Closed)));
            match received {
                Ok(Ok(event)) => {
                    if event.position <= self.last {
                        continue;
                    }
                    if self.follows(&event) {
                        self.take(&event);
                        let mut events = vec![event];
                        self.drain_ready(&mut events, max);
                        return Ok(FeedItem::Events(events));
                    }
                    // A gap, or not the event the log holds next: what is
                    // missing (and this position) is in the log; read it
                    // there until the log is exhausted.
                    self.live_mode = false;
                }
                Ok(Err(broadcast::error::RecvError::Lagged(_))) => self.live_mode = false,
                // No live source left (the hub is gone) or a quiet bus:
                // the log alone still carries every event.
                Ok(Err(broadcast::error::RecvError::Closed)) | Err(_) => {
                    if hub_gone {
                        // recv() answers at once from now on: pace the polls.
                        tokio::time::sleep(POLL_WHEN_QUIET).await;
                    }
                    let events = self.read_log(self.last, max).await?;
                    if !events.is_empty() {
                        return Ok(FeedItem::Events(events));
                    }
                }
            }
        }
    }

    /// Adds the live events already waiting, in order, to `events` (up to
    /// `max`), so a busy feed hands out batches rather than single events.
    /// Anything out of order sends the subscription back to the log.
    fn drain_ready(&mut self, events: &mut Vec<Arc<RecordedEvent>>, max: usize) {
        while events.len() < max {
            match self.live.try_recv() {
                Ok(event) if event.position <= self.last => {}
                Ok(event) if self.follows(&event) => {
                    self.take(&event);
                    events.push(event);
                }
                Ok(_) | Err(broadcast::error::TryRecvError::Lagged(_)) => {
                    self.live_mode = false;
                    return;
                }
                Err(_) => return,
            }
        }
    }

    /// Whether a live event is the log's next one after the last
    /// delivered: the next position, chained to the last hash. One that
    /// is not (or any, before a hash is known) is read from the log.
    fn follows(&self, event: &RecordedEvent) -> bool {
        if event.position != self.last + 1 {
            return false;
        }
        let chained = self.last_hash.as_deref() == Some(event.prev_hash.as_slice());
        if !chained && self.last_hash.is_some() {
            metrics::counter!("meetings_feed_unchained_total").increment(1);
            tracing::warn!(
                position = event.position,
                "a live event that does not chain to the last one: reading the log"
            );
        }
        chained
    }

    fn take(&mut self, event: &RecordedEvent) {
        self.last = event.position;
        self.last_hash = Some(event.hash.clone());
    }

    async fn read_log(
        &mut self,
        after: i64,
        max: usize,
    ) -> Result<Vec<Arc<RecordedEvent>>, StoreError> {
        let events = self.store.read_all(after, max).await?;
        if let Some(last) = events.last() {
            self.take(last);
        }
        Ok(events.into_iter().map(Arc::new).collect())
    }
}
