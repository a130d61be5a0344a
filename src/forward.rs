//! The router of hot meetings over NATS (see `command::route`): which
//! node holds a meeting, and the requests that carry its commands there.
//!
//! - A meeting is *hot* on a node once the node meets another node's
//!   writes on it, and stays hot while the node keeps sending it commands
//!   ([`HOT_FOR`] after the last).
//! - Its holder is named in a JetStream key-value bucket,
//!   `<PREFIX>_HOLDERS`, key = the meeting's id, value = the node's id:
//!   the first node to create the key holds it, and keeps it by updating
//!   the key (compare-and-set on its revision) at least every
//!   [`RECHECK`]; the bucket forgets a key [`LEASE`] after its last
//!   write, so the meeting of a node that died or went quiet is free
//!   again soon.
//! - Every node answers `<prefix>.commands.<node id>`: a [`Forwarded`]
//!   command in, its [`Answered`] outcome back; both sealed with the
//!   nodes' shared key ([`Seal`], over the whole body: caller, roles,
//!   time, command), the answer also bound to the command's id. An
//!   unsealed command is not read, an unsealed answer not believed. A
//!   command sent more than [`MAX_SKEW`] away from the holder's clock is
//!   refused, and the holder decides it at its own time: the meeting's
//!   clock is its holder's, never a message's.
//! - A request nobody answers (`no responders`: the holder is gone) runs
//!   on the node that has it. While the holder has not answered, the
//!   sender asks every [`PROBE_EVERY`] whether it is still there (a ping
//!   it answers at once); gone or hung, the command runs here too. That is
//!   safe because a command's events are named after its id
//!   ([`events::EventId::of_command`]): whatever the old holder committed
//!   of it, the log takes once. A holder that is there but has not
//!   answered within [`ANSWER_WITHIN`] leaves the outcome unknown,
//!   answered as the log's unavailability is (503, try again). While NATS
//!   is not connected no command is forwarded.
//!
//! The log still checks every append, so none of this is needed for
//! correctness: two nodes that both think they hold a meeting, or a stale
//! holder, only cost the speed the routing is for.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream::kv;
use async_nats::{HeaderMap, RequestErrorKind};
use async_trait::async_trait;
use command::{Answered, AppError, CommandHandler, Executed, Forwarded, Route, Router};
use events::{CommandId, MeetingId, StoreError};
use futures::StreamExt;
use live::seal::{self, Seal};
use tokio::sync::{OnceCell, watch};

/// How long the bucket keeps a holder's key after its last write.
pub const LEASE: Duration = Duration::from_secs(5);
/// How often a node asks the bucket again who holds a hot meeting (and a
/// holder renews its key).
pub const RECHECK: Duration = Duration::from_secs(1);
/// How long a meeting stays hot on a node after its last command there.
pub const HOT_FOR: Duration = Duration::from_secs(10);
/// How long a forwarded command waits for the holder's answer.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(5);
/// How often a sender waiting for the holder's answer asks whether the
/// holder is still there; also how long the holder has to say so.
pub const PROBE_EVERY: Duration = Duration::from_millis(400);
/// How far a forwarded command's time may be from the holder's clock.
pub const MAX_SKEW: Duration = Duration::from_secs(30);
/// The header of a liveness probe (no body, not sealed: the answer says
/// nothing but "here").
const PROBE_HEADER: &str = "Meetings-Probe";

/// How many meetings a node remembers as hot before it forgets those that
/// have cooled down (a cooled one is otherwise dropped when next routed).
const FORGET_ABOVE: usize = 10_000;
/// The most forwarded commands of one meeting written together.
const MAX_TOGETHER: usize = 64;

/// Forwarded commands waiting, per meeting, with where each answer goes;
/// a meeting is in the map while its worker runs.
type Queues = Arc<Mutex<HashMap<MeetingId, Vec<(Forwarded, Option<async_nats::Subject>)>>>>;

/// What a node knows of one hot meeting.
struct Hot {
    until: Instant,
    /// Its holder as last read (None: unknown, or the holder was gone).
    holder: Option<String>,
    /// The key's revision, when this node holds it.
    revision: Option<u64>,
    checked: Instant,
}

pub struct NatsRouter {
    client: async_nats::Client,
    bucket: String,
    holders: OnceCell<kv::Store>,
    node: String,
    prefix: String,
    hot: Mutex<HashMap<MeetingId, Hot>>,
    seal: Seal,
}

impl NatsRouter {
    /// A router for a node of a new id, on the deployment's NATS prefix,
    /// sealing with the nodes' shared key.
    pub fn new(client: async_nats::Client, prefix: &str, seal: Seal) -> Arc<Self> {
        Arc::new(Self {
            client,
            bucket: format!("{}_HOLDERS", prefix.to_uppercase()),
            holders: OnceCell::new(),
            node: uuid::Uuid::new_v4().simple().to_string(),
            prefix: prefix.to_owned(),
            hot: Mutex::new(HashMap::new()),
            seal,
        })
    }

    /// This node's id.
    pub fn node(&self) -> &str {
        &self.node
    }

    fn subject(&self, node: &str) -> String {
        format!("{}.commands.{node}", self.prefix)
    }

    fn hot(&self) -> std::sync::MutexGuard<'_, HashMap<MeetingId, Hot>> {
        self.hot.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The bucket, created on first use (so a node starts while NATS is
    /// down; until it is there, every command runs where it arrives).
    async fn holders(&self) -> anyhow::Result<&kv::Store> {
        self.holders
            .get_or_try_init(|| async {
                use async_nats::jetstream::stream;
                // The bucket's stream as the client's `create_key_value`
                // makes it; made here because that call first asks for the
                // account's limits in a form NATS 2.9 does not answer in.
                let js = async_nats::jetstream::new(self.client.clone());
                js.get_or_create_stream(stream::Config {
                    name: format!("KV_{}", self.bucket),
                    description: Some("which node executes a hot meeting's commands".into()),
                    subjects: vec![format!("$KV.{}.>", self.bucket)],
                    max_messages_per_subject: 1,
                    max_age: LEASE,
                    storage: stream::StorageType::Memory,
                    allow_rollup: true,
                    deny_delete: true,
                    allow_direct: true,
                    discard: stream::DiscardPolicy::New,
                    num_replicas: 1,
                    ..Default::default()
                })
                .await?;
                Ok(js.get_key_value(&self.bucket).await?)
            })
            .await
    }

    /// Asks the bucket who holds the meeting, taking or renewing it when
    /// nobody else does; what is known afterwards.
    async fn recheck(
        &self,
        meeting_id: MeetingId,
    ) -> anyhow::Result<(Option<String>, Option<u64>)> {
        let holders = self.holders().await?;
        let key = meeting_id.to_string();
        let mine = self.hot().get(&meeting_id).and_then(|h| h.revision);
        let me = bytes::Bytes::from(self.node.clone());
        if let Some(revision) = mine
            && let Ok(revision) = holders.update(&key, me.clone(), revision).await
        {
            return Ok((Some(self.node.clone()), Some(revision)));
        }
        for _ in 0..2 {
            match holders.entry(key.clone()).await? {
                Some(entry) if entry.operation == kv::Operation::Put => {
                    let holder = String::from_utf8_lossy(&entry.value).into_owned();
                    let revision = (holder == self.node).then_some(entry.revision);
                    return Ok((Some(holder), revision));
                }
                _ => match holders.create(&key, me.clone()).await {
                    Ok(revision) => return Ok((Some(self.node.clone()), Some(revision))),
                    Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => continue,
                    Err(e) => return Err(e.into()),
                },
            }
        }
        Ok((None, None))
    }

    /// Answers the commands forwarded to this node until `stop`. The
    /// commands of one meeting that arrive while its last ones are being
    /// written go to the log together, in one append where they can
    /// ([`CommandHandler::execute_together`]).
    pub async fn serve(
        self: Arc<Self>,
        handler: Arc<CommandHandler>,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut requests = loop {
            match self.client.subscribe(self.subject(&self.node)).await {
                Ok(requests) => break requests,
                Err(e) => {
                    tracing::warn!(error = %e, "subscribing to forwarded commands; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(RECHECK) => {}
                        _ = stop.changed() => return,
                    }
                }
            }
        };
        let queues: Queues = Arc::default();
        loop {
            let request = tokio::select! {
                request = requests.next() => match request {
                    Some(request) => request,
                    None => return,
                },
                _ = stop.changed() => return,
            };
            let headers = request.headers.as_ref();
            if headers.is_some_and(|h| h.get(PROBE_HEADER).is_some()) {
                if let Some(reply) = request.reply
                    && let Err(e) = self.client.publish(reply, bytes::Bytes::new()).await
                {
                    tracing::debug!(error = %e, "answering a probe");
                }
                continue;
            }
            let sealed = headers
                .and_then(|h| h.get(seal::HEADER))
                .is_some_and(|tag| self.seal.verify(&[&request.payload], tag.as_str()));
            if !sealed {
                metrics::counter!("meetings_forwarded_refused_total", "reason" => "unsealed")
                    .increment(1);
                tracing::warn!(
                    subject = %request.subject,
                    "a forwarded command without a seal that checks (is NODE_SHARED_SECRET the same on every node?): not run"
                );
                continue;
            }
            let mut forwarded = match serde_json::from_slice::<Forwarded>(&request.payload) {
                Ok(forwarded) => forwarded,
                Err(e) => {
                    tracing::warn!(error = %e, "a sealed forwarded command that does not read");
                    continue;
                }
            };
            let now = chrono::Utc::now();
            let skew = (now - forwarded.ctx.at)
                .abs()
                .to_std()
                .unwrap_or(Duration::MAX);
            if skew > MAX_SKEW {
                metrics::counter!("meetings_forwarded_refused_total", "reason" => "stale")
                    .increment(1);
                let answered = Answered::Failed {
                    error: format!(
                        "a forwarded command sent {} s from this node's clock (at most {} s)",
                        skew.as_secs(),
                        MAX_SKEW.as_secs()
                    ),
                };
                self.answer(request.reply, forwarded.command_id, &answered)
                    .await;
                continue;
            }
            // The holder's clock decides: a message never moves the
            // meeting's clock.
            forwarded.ctx.at = now;
            let meeting_id = forwarded.meeting_id;
            let first = {
                let mut queues = queues.lock().unwrap_or_else(|e| e.into_inner());
                let first = !queues.contains_key(&meeting_id);
                let queue = queues.entry(meeting_id).or_default();
                queue.push((forwarded, request.reply));
                first
            };
            // The meeting's worker runs until its queue is empty.
            if first {
                let (router, handler, queues) = (self.clone(), handler.clone(), queues.clone());
                tokio::spawn(router.work(handler, queues, meeting_id));
            }
        }
    }

    /// Executes a meeting's forwarded commands, whatever queued meanwhile
    /// at a time, until none is left.
    async fn work(
        self: Arc<Self>,
        handler: Arc<CommandHandler>,
        queues: Queues,
        meeting_id: MeetingId,
    ) {
        loop {
            let batch: Vec<(Forwarded, Option<async_nats::Subject>)> = {
                let mut queues = queues.lock().unwrap_or_else(|e| e.into_inner());
                let Some(queue) = queues.get_mut(&meeting_id) else {
                    return;
                };
                if queue.is_empty() {
                    queues.remove(&meeting_id);
                    return;
                }
                let n = queue.len().min(MAX_TOGETHER);
                queue.drain(..n).collect()
            };
            self.keep(meeting_id).await;
            let (items, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
            let answers = handler.execute_together(meeting_id, &items).await;
            let mut alone = Vec::new();
            for ((item, reply), answer) in items.into_iter().zip(replies).zip(answers) {
                match answer {
                    Some(result) => {
                        self.answer(reply, item.command_id, &Answered::from(result))
                            .await
                    }
                    None => alone.push((item, reply)),
                }
            }
            for (item, reply) in alone {
                let result = handler
                    .execute_here(
                        item.command_id,
                        meeting_id,
                        &item.ctx,
                        item.command,
                        item.idempotency,
                    )
                    .await;
                self.answer(reply, item.command_id, &Answered::from(result))
                    .await;
            }
        }
    }

    /// Sends a forwarded command's answer to whoever waits for it, sealed
    /// together with the command's id.
    async fn answer(
        &self,
        reply: Option<async_nats::Subject>,
        command: CommandId,
        answered: &Answered,
    ) {
        let Some(reply) = reply else { return };
        match serde_json::to_vec(answered) {
            Ok(body) => {
                let mut headers = HeaderMap::new();
                let tag = self.seal.sign(&[command.0.as_bytes(), &body]);
                headers.insert(seal::HEADER, tag.as_str());
                let sent = self
                    .client
                    .publish_with_headers(reply, headers, body.into())
                    .await;
                if let Err(e) = sent {
                    tracing::warn!(error = %e, "answering a forwarded command");
                }
            }
            Err(e) => tracing::warn!(error = %e, "encoding a forwarded command's answer"),
        }
    }

    /// Whether `node` still answers: a probe answered within
    /// [`PROBE_EVERY`]. Gone (no responders) or hung: no. NATS itself
    /// failing tells nothing of the node: yes.
    async fn alive(&self, node: &str) -> bool {
        let mut headers = HeaderMap::new();
        headers.insert(PROBE_HEADER, "1");
        let probe = async_nats::Request::new()
            .headers(headers)
            .timeout(Some(PROBE_EVERY));
        match self.client.send_request(self.subject(node), probe).await {
            Ok(_) => true,
            Err(e) => !matches!(
                e.kind(),
                RequestErrorKind::NoResponders | RequestErrorKind::TimedOut
            ),
        }
    }

    /// The node holding `meeting_id` is gone: run its commands here until
    /// the bucket is asked again (its key lapses within [`LEASE`]).
    fn gone(&self, meeting_id: MeetingId) {
        if let Some(known) = self.hot().get_mut(&meeting_id) {
            (known.holder, known.checked) = (None, Instant::now());
        }
    }

    /// A command of the meeting was forwarded here: keep it hot, and keep
    /// the key while this node holds it.
    async fn keep(&self, meeting_id: MeetingId) {
        self.contended(meeting_id);
        self.route(meeting_id).await;
    }
}

#[async_trait]
impl Router for NatsRouter {
    async fn route(&self, meeting_id: MeetingId) -> Route {
        let now = Instant::now();
        {
            let mut hot = self.hot();
            let Some(known) = hot.get_mut(&meeting_id) else {
                return Route::Here;
            };
            if known.until <= now {
                hot.remove(&meeting_id);
                return Route::Here;
            }
            known.until = now + HOT_FOR;
            if now.duration_since(known.checked) < RECHECK {
                return match &known.holder {
                    Some(node) if *node != self.node => Route::There(node.clone()),
                    _ => Route::Here,
                };
            }
            // One look at the bucket per RECHECK, whoever asks first.
            known.checked = now;
        }
        if self.client.connection_state() != async_nats::connection::State::Connected {
            return Route::Here;
        }
        let (holder, revision) = match self.recheck(meeting_id).await {
            Ok(found) => found,
            Err(e) => {
                tracing::debug!(error = %e, %meeting_id, "no holder known; running here");
                (None, None)
            }
        };
        if let Some(known) = self.hot().get_mut(&meeting_id) {
            (known.holder, known.revision) = (holder.clone(), revision);
        }
        match holder {
            Some(node) if node != self.node => Route::There(node),
            _ => Route::Here,
        }
    }

    async fn forward(&self, node: &str, command: &Forwarded) -> Option<Result<Executed, AppError>> {
        let unavailable =
            |why: String| Some(Err(AppError::Infra(StoreError::Unavailable(why.into()))));
        let body = match serde_json::to_vec(command) {
            Ok(body) => body,
            Err(e) => return Some(Err(AppError::Infra(StoreError::Backend(Box::new(e))))),
        };
        let mut headers = HeaderMap::new();
        headers.insert(seal::HEADER, self.seal.sign(&[&body]).as_str());
        // One timer per command: the probes' (the answer's own deadline
        // is counted in probes).
        let request = async_nats::Request::new()
            .payload(body.into())
            .headers(headers)
            .timeout(None);
        let answer = self.client.send_request(self.subject(node), request);
        let mut answer = std::pin::pin!(answer);
        let mut probes =
            tokio::time::interval_at(tokio::time::Instant::now() + PROBE_EVERY, PROBE_EVERY);
        let waited = std::time::Instant::now();
        let answer = loop {
            tokio::select! {
                answer = &mut answer => break answer,
                _ = probes.tick() => {
                    if !self.alive(node).await {
                        // Gone or hung: run here (the command's id keeps
                        // the log from taking it twice).
                        self.gone(command.meeting_id);
                        return None;
                    }
                    if waited.elapsed() >= ANSWER_WITHIN {
                        return unavailable("the meeting's node did not answer in time".into());
                    }
                }
            }
        };
        match answer {
            Ok(answer) => {
                let sealed = answer
                    .headers
                    .as_ref()
                    .and_then(|h| h.get(seal::HEADER))
                    .is_some_and(|tag| {
                        let parts: [&[u8]; 2] = [command.command_id.0.as_bytes(), &answer.payload];
                        self.seal.verify(&parts, tag.as_str())
                    });
                if !sealed {
                    tracing::warn!(
                        node,
                        "an answer to a forwarded command without a seal that checks"
                    );
                    return unavailable(
                        "the meeting's node gave an answer that is not its own".into(),
                    );
                }
                match serde_json::from_slice::<Answered>(&answer.payload) {
                    Ok(answered) => Some(answered.into()),
                    Err(e) => Some(Err(AppError::Infra(StoreError::Backend(Box::new(e))))),
                }
            }
            Err(e) if e.kind() == RequestErrorKind::NoResponders => {
                self.gone(command.meeting_id);
                None
            }
            Err(e) => unavailable(format!("the meeting's node did not answer: {e}")),
        }
    }

    fn contended(&self, meeting_id: MeetingId) {
        let now = Instant::now();
        let mut hot = self.hot();
        if hot.len() >= FORGET_ABOVE {
            hot.retain(|_, known| known.until > now);
        }
        let known = hot.entry(meeting_id).or_insert_with(|| Hot {
            until: now,
            holder: None,
            revision: None,
            // Due for a look at the bucket at once.
            checked: now.checked_sub(RECHECK).unwrap_or(now),
        });
        known.until = now + HOT_FOR;
    }
}
