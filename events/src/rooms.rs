//! Rooms: the node's live events routed by stream, so a subscriber to one
//! meeting is woken only by that meeting's events.
//!
//! One task per node follows the [`Feed`] (every committed event, in order,
//! with no gap: it reads the log whenever the bus is behind or quiet) and
//! hands each event to the room of its stream, if anyone is in it. A room
//! is a small broadcast channel created by its first subscriber and removed
//! with its last. A subscriber that lags behind its room reads the log.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{broadcast, watch};

use crate::envelope::RecordedEvent;
use crate::feed::{Feed, FeedItem};
use crate::ids::StreamId;

/// Live events a room holds for a slow subscriber before it must read the
/// log (rooms are allocated whole: keep them small).
pub const ROOM_CAPACITY: usize = 64;
/// Events the router takes from the feed at a time.
const ROUTE_BATCH: usize = 1024;

type RoomMap = HashMap<StreamId, broadcast::Sender<Arc<RecordedEvent>>>;

/// The rooms of one node.
#[derive(Clone, Default)]
pub struct Rooms {
    rooms: Arc<Mutex<RoomMap>>,
}

/// A subscription to one stream's live events; leaving the room when the
/// last one is dropped.
pub struct Room {
    receiver: broadcast::Receiver<Arc<RecordedEvent>>,
    stream: StreamId,
    rooms: Arc<Mutex<RoomMap>>,
}

impl Room {
    pub async fn recv(&mut self) -> Result<Arc<RecordedEvent>, broadcast::error::RecvError> {
        self.receiver.recv().await
    }
}

impl Drop for Room {
    fn drop(&mut self) {
        let mut rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        // Our own receiver is still alive here: 1 means we are the last.
        if rooms
            .get(&self.stream)
            .is_some_and(|sender| sender.receiver_count() <= 1)
        {
            rooms.remove(&self.stream);
        }
    }
}

impl Rooms {
    /// Starts routing the feed's events after `after` until `stop` turns
    /// true.
    pub fn start(
        feed: &Feed,
        after: i64,
        mut stop: watch::Receiver<bool>,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let rooms = Self::default();
        let router = rooms.clone();
        let mut subscription = feed.subscribe(after);
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    item = subscription.next(ROUTE_BATCH) => match item {
                        Ok(FeedItem::Events(events)) => router.route(&events),
                        Ok(FeedItem::CaughtUp { .. }) => {}
                        Err(e) => {
                            tracing::warn!(error = %e, "the room router cannot read the log; retrying");
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
        (rooms, task)
    }

    /// Enters the room of `stream`.
    pub fn join(&self, stream: &StreamId) -> Room {
        let mut rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        let receiver = rooms
            .entry(stream.clone())
            .or_insert_with(|| broadcast::channel(ROOM_CAPACITY).0)
            .subscribe();
        Room {
            receiver,
            stream: stream.clone(),
            rooms: self.rooms.clone(),
        }
    }

    /// How many rooms have someone in them.
    pub fn len(&self) -> usize {
        self.rooms.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn route(&self, events: &[Arc<RecordedEvent>]) {
        let rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        for event in events {
            if let Some(room) = rooms.get(&event.stream_id) {
                // Nobody left in the room is not an error.
                let _ = room.send(event.clone());
            }
        }
    }
}
