//! Delivering one subscription: its events in log order, each until the
//! receiver takes it (2xx) or its attempts run out, one at a time (a later
//! event is never sent before an earlier one is done with), with the
//! progress and every attempt recorded. A 410 Gone turns the subscription
//! off. The worker reads the log through the feed from the stored
//! position, so a restart goes on where the last recorded progress left
//! it: what was sent after that is sent again, with the same
//! `webhook-id` (the event's id). Progress is recorded at least every
//! [`SAVE_EVERY`] while delivering and after at most [`SAVE_AFTER`]
//! deliveries, so a kill -9 sends again at most that many events.
//!
//! Each event goes out only if the subscription's owner follows its
//! meeting now ([`super::owner`]) and would see it on the meeting's
//! WebSocket.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use command::CommandHandler;
use command::meeting::Caller;
use events::{MeetingId, RecordedEvent, StreamId};
use live::feed::FeedItem;
use tokio::sync::watch;

use super::Webhooks;
use super::owner;
use super::store::{self, Delivery, Progress, Subscription};

/// Events taken from the feed at a time.
const BATCH: usize = 256;
/// How often a worker checks its subscription for changes (a replay, a
/// new URL, turned off or deleted) while it follows or waits.
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// How often a worker records its progress while it delivers (and when it
/// goes idle): what a kill -9 sends again is at most this much.
pub const SAVE_EVERY: Duration = Duration::from_millis(100);
/// The most events delivered between two records of the progress: what a
/// kill -9 sends again is at most this many.
pub const SAVE_AFTER: usize = 32;
/// The most of an answer kept in the delivery log.
const KEEP_BODY: usize = 1024;
/// The longest `Retry-After` honoured (the schedule's longest step).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(10 * 3600);

/// How a subscription's owner stands in one meeting.
#[derive(Default)]
struct Standing {
    /// Whether they follow it now ([`owner::follows`]).
    follows: Option<bool>,
    /// Their role in it, for the events only moderators see.
    role: crate::visibility::RoleCache,
}

/// Why a worker stopped following.
enum Stop {
    /// The node is stopping, or the subscription is off or gone.
    Done,
    /// The subscription was replayed: start again from its new position.
    Replayed,
}

/// Delivers one subscription until it is turned off or deleted, or `stop`.
pub async fn subscription(
    commands: Arc<CommandHandler>,
    hooks: Arc<Webhooks>,
    id: String,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        match follow(&commands, &hooks, &id, &mut stop).await {
            Ok(Stop::Done) => return,
            Ok(Stop::Replayed) => continue,
            Err(e) => {
                tracing::warn!(error = %e, subscription = %id, "webhook delivery restarts");
                tokio::select! {
                    _ = tokio::time::sleep(CHECK_EVERY) => {}
                    _ = stop.changed() => return,
                }
            }
        }
    }
}

/// One worker's state between the batches of one epoch.
struct Worker<'a> {
    commands: &'a CommandHandler,
    hooks: &'a Webhooks,
    sub: Subscription,
    owner: Caller,
    /// How the owner stands in each meeting, looked up once and again
    /// after an event of the meeting that may change it.
    standing: HashMap<StreamId, Standing>,
    progress: Progress,
    /// Events delivered since the progress was last recorded.
    unsaved: usize,
    /// The delivery log's last cursor.
    seq: i64,
    /// Attempts not recorded yet.
    attempts: Vec<Delivery>,
    /// The position last recorded, and when.
    saved: i64,
    saved_at: Instant,
    /// This node's changes to subscriptions (see [`Webhooks::changed`]).
    changes: watch::Receiver<u64>,
}

async fn follow(
    commands: &CommandHandler,
    hooks: &Webhooks,
    id: &str,
    stop: &mut watch::Receiver<bool>,
) -> anyhow::Result<Stop> {
    // Listened to before the subscription is read: a change made after
    // the read is then always seen.
    let changes = hooks.changes.subscribe();
    let Some(sub) = store::get(&hooks.pool, id).await?.filter(|s| s.enabled) else {
        return Ok(Stop::Done);
    };
    let owner = owner::caller(&sub);
    let mut worker = Worker {
        commands,
        hooks,
        progress: Progress {
            position: sub.position,
            attempts: sub.attempts,
            next_attempt_at: sub.next_attempt_at,
        },
        seq: store::last_seq(&hooks.pool, id).await?,
        sub,
        owner,
        standing: HashMap::new(),
        unsaved: 0,
        attempts: Vec::new(),
        saved: 0,
        saved_at: Instant::now(),
        changes,
    };
    worker.saved = worker.progress.position;
    let mut feed = hooks.feed.subscribe(worker.progress.position);
    let mut tick = tokio::time::interval(SAVE_EVERY);
    let mut refreshed = Instant::now();
    loop {
        let events = tokio::select! {
            item = feed.next(BATCH) => match item? {
                FeedItem::Events(events) => events,
                _ => continue,
            },
            _ = tick.tick() => {
                if worker.dirty()
                    && let Some(stopped) = worker.save().await?
                {
                    return Ok(stopped);
                }
                if refreshed.elapsed() >= CHECK_EVERY {
                    refreshed = Instant::now();
                    if let Some(stopped) = worker.refresh().await? {
                        return Ok(stopped);
                    }
                }
                continue;
            }
            _ = stop.changed() => {
                if worker.dirty() {
                    worker.save().await?;
                }
                return Ok(Stop::Done);
            }
        };
        for event in &events {
            // A change made on this node (a new URL, the owner's roles)
            // counts from the next event on.
            if let Some(stopped) = worker.look_again().await? {
                return Ok(stopped);
            }
            worker.note(event);
            if worker.wants(event).await? {
                if let Some(stopped) = worker.deliver(event, stop).await? {
                    return Ok(stopped);
                }
                worker.unsaved += 1;
            }
            worker.progress = Progress {
                position: event.position,
                attempts: 0,
                next_attempt_at: None,
            };
            let due = worker.unsaved >= SAVE_AFTER || worker.saved_at.elapsed() >= SAVE_EVERY;
            if due
                && worker.dirty()
                && let Some(stopped) = worker.save().await?
            {
                return Ok(stopped);
            }
        }
    }
}

impl Worker<'_> {
    /// Reads the subscription again: `Some` when the worker must stop.
    async fn refresh(&mut self) -> anyhow::Result<Option<Stop>> {
        match store::get(&self.hooks.pool, &self.sub.id).await? {
            Some(now) if now.epoch != self.sub.epoch => Ok(Some(Stop::Replayed)),
            Some(now) if now.enabled => {
                if now.owner_roles != self.sub.owner_roles {
                    // The owner's roles changed: every standing with them.
                    self.owner = owner::caller(&now);
                    self.standing.clear();
                }
                self.sub = now;
                Ok(None)
            }
            _ => Ok(Some(Stop::Done)),
        }
    }

    /// Reads the subscription again if it was changed on this node.
    async fn look_again(&mut self) -> anyhow::Result<Option<Stop>> {
        if !self.changes.has_changed().unwrap_or(false) {
            return Ok(None);
        }
        self.changes.mark_unchanged();
        self.refresh().await
    }

    /// Whether there is progress or an attempt not recorded yet.
    fn dirty(&self) -> bool {
        self.progress.position != self.saved || !self.attempts.is_empty()
    }

    /// Records the progress and attempts; `Some` when the subscription
    /// was replayed or deleted meanwhile.
    async fn save(&mut self) -> anyhow::Result<Option<Stop>> {
        let saved = store::save(
            &self.hooks.pool,
            &self.sub.id,
            self.sub.epoch,
            self.progress,
            &self.attempts,
        )
        .await?;
        self.attempts.clear();
        self.unsaved = 0;
        (self.saved, self.saved_at) = (self.progress.position, Instant::now());
        if saved {
            Ok(None)
        } else {
            // Replayed (a new epoch) or deleted: refresh tells which.
            Ok(Some(self.refresh().await?.unwrap_or(Stop::Replayed)))
        }
    }

    /// Forgets how the owner stands in the event's meeting if the event
    /// may change it (a role, a seat, a ban).
    fn note(&mut self, event: &RecordedEvent) {
        if owner::STANDING_CHANGES.contains(&event.event_type.as_str()) {
            self.standing.remove(&event.stream_id);
        }
    }

    /// Whether the subscription takes this event: its type, its meeting,
    /// whether its owner follows the meeting now, and what they may see
    /// of it.
    async fn wants(&mut self, event: &RecordedEvent) -> anyhow::Result<bool> {
        if !self.sub.wants(&event.event_type) {
            return Ok(false);
        }
        if let Some(meeting) = &self.sub.meeting_id
            && event.stream_id.0.strip_prefix("meeting-") != Some(meeting.as_str())
        {
            return Ok(false);
        }
        let Some(meeting) = MeetingId::from_stream_id(&event.stream_id) else {
            return Ok(false);
        };
        let standing = self.standing.entry(event.stream_id.clone()).or_default();
        let follows = match standing.follows {
            Some(follows) => follows,
            None => {
                let follows = owner::follows(self.commands, &self.owner, meeting).await?;
                standing.follows = Some(follows);
                follows
            }
        };
        let reader = crate::visibility::Reader::outside(&self.owner.user_id, event);
        Ok(follows
            && match reader {
                Some(reader) => reader.sees(self.commands, event, &mut standing.role).await,
                None => false,
            })
    }

    /// Sends one event until it is taken or given up on; `Some` when the
    /// worker must stop.
    async fn deliver(
        &mut self,
        event: &RecordedEvent,
        stop: &mut watch::Receiver<bool>,
    ) -> anyhow::Result<Option<Stop>> {
        let body = match body(event) {
            Ok(body) => body,
            Err(e) => {
                // Given up on at once, and said so in the delivery log.
                crate::visibility::undecodable(event, &e);
                self.seq += 1;
                let answer = Answer::refused(format!("the event does not decode: {e}"));
                self.attempts
                    .push(answer.delivery(self.seq, event, 1, true));
                return Ok(None);
            }
        };
        let schedule = &self.hooks.config.retry_schedule.0;
        loop {
            let n = self.progress.attempts as usize;
            let due = self
                .progress
                .next_attempt_at
                .unwrap_or_else(|| Utc::now() + schedule[n.min(schedule.len() - 1)]);
            if let Some(stopped) = self.wait_until(due, stop).await? {
                return Ok(Some(stopped));
            }
            let answer = self.hooks.send(&self.sub, event, &body).await;
            let outcome = if answer.delivered() {
                "delivered"
            } else {
                "failed"
            };
            metrics::counter!("meetings_webhook_deliveries_total", "outcome" => outcome)
                .increment(1);
            let last = n + 1 >= schedule.len() || answer.gone();
            self.seq += 1;
            self.attempts
                .push(answer.delivery(self.seq, event, n as i64 + 1, last));
            if answer.delivered() {
                return Ok(None);
            }
            if answer.gone() {
                self.save().await?;
                store::disable(
                    &self.hooks.pool,
                    &self.sub.id,
                    "the receiver answered 410 Gone",
                )
                .await?;
                return Ok(Some(Stop::Done));
            }
            if last {
                tracing::warn!(subscription = %self.sub.id, position = event.position, "webhook given up on");
                return Ok(None);
            }
            let wait = answer
                .retry_after
                .map(|w| w.min(MAX_RETRY_AFTER))
                .unwrap_or(schedule[n + 1]);
            self.progress.attempts = n as i64 + 1;
            self.progress.next_attempt_at = Some(Utc::now() + wait);
            if let Some(stopped) = self.save().await? {
                return Ok(Some(stopped));
            }
        }
    }

    /// Waits for an attempt's time, checking the subscription meanwhile.
    async fn wait_until(
        &mut self,
        due: DateTime<Utc>,
        stop: &mut watch::Receiver<bool>,
    ) -> anyhow::Result<Option<Stop>> {
        loop {
            let left = (due - Utc::now()).to_std().unwrap_or_default();
            if left.is_zero() {
                return Ok(None);
            }
            tokio::select! {
                _ = tokio::time::sleep(left.min(CHECK_EVERY)) => {}
                _ = stop.changed() => return Ok(Some(Stop::Done)),
            }
            if let Some(stopped) = self.refresh().await? {
                return Ok(Some(stopped));
            }
        }
    }
}

/// The request body: `{type, timestamp, data: {position, event_id,
/// meeting_id, actor, ...the event's data}}`.
/// An event whose data is not an object or whose metadata names no
/// actor has no body: an error, never an empty one.
pub fn body(event: &RecordedEvent) -> Result<Vec<u8>, serde_json::Error> {
    #[derive(serde::Deserialize)]
    struct Metadata {
        actor: serde_json::Value,
    }
    let mut data: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(event.data.get())?;
    let metadata: Metadata = serde_json::from_str(event.metadata.get())?;
    data.insert("position".into(), event.position.into());
    data.insert("event_id".into(), event.event_id.to_string().into());
    if let Some(meeting) = event.stream_id.0.strip_prefix("meeting-") {
        data.insert("meeting_id".into(), meeting.into());
    }
    data.insert("actor".into(), metadata.actor);
    serde_json::to_vec(&serde_json::json!({
        "type": event.event_type,
        "timestamp": events::time::text(event.recorded_at),
        "data": data,
    }))
}

/// What one attempt got.
pub struct Answer {
    pub status: Option<u16>,
    pub retry_after: Option<Duration>,
    pub error: Option<String>,
    pub body: Option<String>,
    pub latency: Duration,
    pub at: DateTime<Utc>,
}

impl Answer {
    /// An attempt not made, for why.
    fn refused(why: String) -> Self {
        Self {
            status: None,
            retry_after: None,
            error: Some(why),
            body: None,
            latency: Duration::ZERO,
            at: Utc::now(),
        }
    }

    fn delivered(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }

    fn gone(&self) -> bool {
        self.status == Some(410)
    }

    fn delivery(&self, seq: i64, event: &RecordedEvent, attempt: i64, last: bool) -> Delivery {
        Delivery {
            seq,
            position: event.position,
            event_id: event.event_id.to_string(),
            event_type: event.event_type.clone(),
            attempt,
            status: if self.delivered() {
                "delivered"
            } else {
                "failed"
            }
            .into(),
            last: last && !self.delivered(),
            response_status: self.status.map(i64::from),
            latency_ms: self.latency.as_millis() as i64,
            error: self.error.clone(),
            response_body: self.body.clone(),
            attempted_at: self.at,
        }
    }
}

impl Webhooks {
    /// One attempt: signs and posts the body, reads at most 1 KiB back.
    pub async fn send(&self, sub: &Subscription, event: &RecordedEvent, body: &[u8]) -> Answer {
        let at = Utc::now();
        let started = Instant::now();
        let id = event.event_id.to_string();
        let timestamp = at.timestamp();
        let outcome = self.post(sub, &id, timestamp, body).await;
        let latency = started.elapsed();
        match outcome {
            Ok((status, retry_after, text)) => Answer {
                status: Some(status),
                retry_after,
                error: None,
                body: text,
                latency,
                at,
            },
            Err(error) => Answer {
                status: None,
                retry_after: None,
                error: Some(error),
                body: None,
                latency,
                at,
            },
        }
    }

    async fn post(
        &self,
        sub: &Subscription,
        id: &str,
        timestamp: i64,
        body: &[u8],
    ) -> Result<(u16, Option<Duration>, Option<String>), String> {
        let url = reqwest::Url::parse(&sub.url).map_err(|e| e.to_string())?;
        if !self.config.allow_private_networks && super::target::literal_forbidden(&url) {
            return Err("the address is not a public one".into());
        }
        let signature = super::sign::header(sub.signing_secrets(Utc::now()), id, timestamp, body);
        let mut response = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body.to_vec())
            .send()
            .await
            .map_err(|e| describe(&e))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(retry_after);
        let mut kept = Vec::new();
        while kept.len() < KEEP_BODY {
            match response.chunk().await {
                Ok(Some(chunk)) => kept.extend_from_slice(&chunk),
                _ => break,
            }
        }
        kept.truncate(KEEP_BODY);
        let text = (!kept.is_empty()).then(|| String::from_utf8_lossy(&kept).into_owned());
        Ok((status, retry_after, text))
    }
}

/// An error with its causes (reqwest's own text is only the outermost).
fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `Retry-After`: seconds, or an HTTP date.
fn retry_after(value: &str) -> Option<Duration> {
    if let Ok(seconds) = value.trim().parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value.trim()).ok()?;
    (at.with_timezone(&Utc) - Utc::now()).to_std().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_without_an_object_for_data_or_an_actor_has_no_body_not_an_empty_one() {
        let event = |data: &str, metadata: &str| RecordedEvent {
            position: 7,
            event_id: events::EventId::new(),
            stream_id: events::MeetingId::new().stream_id(),
            stream_version: 1,
            event_type: "meeting_started".into(),
            schema_version: 1,
            data: events::RawJson::from_string(data.into()).unwrap(),
            metadata: events::RawJson::from_string(metadata.into()).unwrap(),
            recorded_at: Utc::now(),
            prev_hash: vec![0; 32],
            hash: vec![0; 32],
        };
        let actor = r#"{"actor": {"user_id": "alice", "name": "Alice", "kind": "user"}}"#;
        let good: serde_json::Value =
            serde_json::from_slice(&body(&event(r#"{"a": 1}"#, actor)).unwrap()).unwrap();
        assert_eq!(good["data"]["a"], 1);
        assert_eq!(good["data"]["actor"]["user_id"], "alice");
        assert_eq!(good["data"]["position"], 7);
        assert!(
            body(&event("[1, 2]", actor)).is_err(),
            "data that is no object"
        );
        assert!(
            body(&event("{}", "{}")).is_err(),
            "metadata without an actor"
        );
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        assert_eq!(retry_after("7"), Some(Duration::from_secs(7)));
        let later = (Utc::now() + chrono::Duration::seconds(90)).to_rfc2822();
        let wait = retry_after(&later).expect("a date");
        assert!((80..=90).contains(&wait.as_secs()), "{wait:?}");
        assert_eq!(retry_after("soon"), None);
    }
}
