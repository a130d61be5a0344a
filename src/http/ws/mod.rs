//! The WebSocket gateway: `GET /ws/meetings/{meeting}?token=<jwt>&after=<position>`.
//!
//! Before the upgrade: 401 without a valid token, 404 for an unknown
//! meeting, 403 for a caller who may not read it (or is banned), 422 for an
//! `after` beyond the log's head. After: every event of the meeting after
//! `after` from the log, in order, then `{"type":"caught_up"}`, then live
//! events from the meeting's stream channel (the node's one bus
//! subscription, routed by meeting in memory, so a connection is woken only
//! by its meeting's events). Live events are checked by stream version: one
//! already sent is dropped, a jump is filled from the log, so there is no
//! gap and no duplicate across the switch.
//!
//! Private events (a private chat message, waiting-room requests) are sent
//! only to those their audience includes, from the log and live alike.
//! Someone in the waiting room may connect too: they see only the events
//! about their own wait until they are admitted, then the meeting.
//! Client frames `chat`, `hand_raise`, `reaction`, `participant_update`
//! run the same commands as REST and are answered `ack` (with the
//! position) or `error` (with the code); `ping` is answered `pong`.
//!
//! The server closes a connection with a code: [`CLOSE_MEETING_OVER`]
//! (4000) after the meeting's last events once it ended or was cancelled;
//! [`CLOSE_NOT_ALLOWED`] (4003) right after the event that bans the viewer
//! or turns them away from the waiting room; [`CLOSE_SLOW_CONSUMER`]
//! (4008) when the client's queue of unsent frames overflows, with the
//! position to resume from in the reason; [`CLOSE_IDLE`] (4009) when the
//! client sent nothing, not even the pong to a ping (the server pings every
//! `WS_PING_SECONDS`), for `WS_IDLE_TIMEOUT_SECONDS`, or when neither
//! side sent anything but pings and pongs for `WS_QUIET_TIMEOUT_SECONDS`
//! (the meeting was quiet and so was the client); [`CLOSE_TOO_BIG`] (1009)
//! when a client message is larger than [`MAX_CLIENT_MESSAGE`].
//!
//! What one client may hold is bounded: WebSockets per caller
//! (`WS_MAX_PER_CALLER`) and per client network (`WS_MAX_PER_ADDRESS`;
//! an IPv4 address, an IPv6 /64) on this node, refused before the upgrade
//! with 429 TOO_MANY_CONNECTIONS; a message of at most
//! [`MAX_CLIENT_MESSAGE`] bytes; a `request_id` of at most
//! [`MAX_REQUEST_ID_CHARS`] characters echoed back.
//!
//! Here: the upgrade, the connection's loop and its cursor in the log;
//! [`viewer`]: who is connected (what they may see is
//! [`crate::visibility`]); [`client`]: the client's frames;
//! [`sockets`]: what one client holds.

mod client;
mod sockets;
mod viewer;

use std::borrow::Cow;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use chrono::{DateTime, Utc};
use futures::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc, oneshot};

use events::{MeetingId, RawJson, RecordedEvent, StreamId};

use super::{ApiError, AppState};
use crate::peer::PeerAddr;
use client::{Control, answer, too_big};
pub use sockets::Sockets;
use viewer::{After, Viewer};

/// Frames queued for one client before it counts as too slow.
pub const CLIENT_QUEUE: usize = 1024;
/// Close code for a client that fell behind (in the private range).
pub const CLOSE_SLOW_CONSUMER: u16 = 4008;
/// Close code once the meeting ended or was cancelled and its last events
/// were sent.
pub const CLOSE_MEETING_OVER: u16 = 4000;
/// Close code for a viewer who may read no more: banned, or turned away
/// from the waiting room.
pub const CLOSE_NOT_ALLOWED: u16 = 4003;
/// Close code for a client that answered no ping for the idle timeout,
/// or a connection quiet on both sides for the quiet timeout.
pub const CLOSE_IDLE: u16 = 4009;
/// Close code for a client message over [`MAX_CLIENT_MESSAGE`] (RFC 6455's
/// "message too big").
pub const CLOSE_TOO_BIG: u16 = 1009;
/// The largest client message read, in bytes, however many frames it
/// comes in. The largest valid one, a `chat` sharing a file with every
/// field at its limit (1,000 characters of text, a 2,048-character URL,
/// 255-character name, type and recipient), is under 16 KiB as UTF-8
/// JSON; twice that leaves room for escaped text.
pub const MAX_CLIENT_MESSAGE: usize = 32 * 1024;
/// Most characters of a client frame's `request_id` (echoed back in the
/// answer): a string of at most this many, or a number.
pub const MAX_REQUEST_ID_CHARS: usize = 128;
/// Bytes a connection reads from its client at a time. Client frames are
/// small (a longer one grows the buffer as it arrives), and the buffer is
/// allocated and zero-filled per connection: the default of 128 KiB would
/// be most of a connection's memory.
const READ_BUFFER: usize = 1024;

#[derive(Debug, Deserialize)]
pub struct WsParams {
    token: Option<String>,
    after: Option<i64>,
}

/// The subprotocol a browser offers beside its token, and the server
/// answers with.
pub const SUBPROTOCOL: &str = "meetings.v1";
/// The prefix of the subprotocol that carries a token: `bearer.<jwt>`.
const TOKEN_SUBPROTOCOL: &str = "bearer.";

/// The meeting's events, from `after` then live (an upgrade to WebSocket:
/// the frames are described in the README). The token may come in
/// `Authorization`, the `bearer.<jwt>` subprotocol or `?token=`.
#[utoipa::path(
    get,
    path = "/ws/meetings/{meeting}",
    tag = "live",
    params(
        super::openapi::MeetingPath,
        ("token" = Option<String>, Query, description = "The bearer token, for clients that cannot set headers"),
        ("after" = Option<i64>, Query, description = "Send the events after this log position first"),
    ),
    responses(
        (status = 101, description = "Switching to WebSocket"),
        (status = 426, description = "UPGRADE_REQUIRED: not a WebSocket upgrade", body = super::openapi::ErrorBody),
        (status = 403, description = "INSUFFICIENT_PERMISSION (may not read it, banned, or a foreign Origin)", body = super::openapi::ErrorBody),
        (status = 404, description = "MEETING_NOT_FOUND", body = super::openapi::ErrorBody),
    )
)]
pub async fn connect(
    State(state): State<AppState>,
    slot: Option<axum::Extension<crate::server::ConnectionSlot>>,
    peer: Option<axum::Extension<PeerAddr>>,
    Path(meeting): Path<String>,
    headers: axum::http::HeaderMap,
    params: Result<Query<WsParams>, axum::extract::rejection::QueryRejection>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let upgrade = upgrade.map_err(|e| ApiError::NotUpgrade(e.body_text()))?;
    let Query(params) = params.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let origin = headers
        .get(axum::http::header::ORIGIN)
        .map(|v| v.to_str().unwrap_or("?"));
    if !state.origins.admits(origin) {
        return Err(ApiError::ForeignOrigin);
    }
    let token = token(&headers, params.token.as_deref())?;
    let caller = super::extract::authenticate(&state, token, Some(&meeting)).await?;
    let meeting_id = state.commands.resolve(&meeting).await?;
    let entry = super::access::live(&state, &caller, meeting_id).await?;
    let after = params.after.unwrap_or(0).max(0);
    let head = state.head().await?;
    if after > head {
        // Nothing was ever sent from there: a position from another log.
        return Err(ApiError::invalid(
            "after",
            format!("is beyond the log's head ({head})"),
        ));
    }
    let peer = peer.map(|p| p.0);
    let places = state.sockets.take(&state.websocket, &caller, peer)?;
    let viewer = Viewer {
        reader: crate::visibility::Reader {
            user: caller.user_id.clone(),
            meeting: meeting_id,
            waiting: entry.waiting,
        },
        caller,
        peer,
    };
    Ok(upgrade
        .protocols([SUBPROTOCOL])
        .read_buffer_size(READ_BUFFER)
        .max_message_size(MAX_CLIENT_MESSAGE)
        .max_frame_size(MAX_CLIENT_MESSAGE)
        .on_upgrade(move |socket| async move {
            // The connection's slot and places live as long as the socket.
            let _held = (slot, places);
            serve(state, viewer, after, entry.over, socket).await
        }))
}

/// The caller's token, from the first place that holds one: the
/// `Authorization: Bearer` header, a `bearer.<token>` entry of
/// `Sec-WebSocket-Protocol` (what a browser can send), or `?token=`.
fn token<'a>(
    headers: &'a axum::http::HeaderMap,
    query: Option<&'a str>,
) -> Result<&'a str, crate::auth::AuthError> {
    let authorization = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if authorization.is_some() {
        return crate::auth::bearer(authorization);
    }
    let offered = headers
        .get_all(axum::http::header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|p| p.trim().strip_prefix(TOKEN_SUBPROTOCOL));
    offered
        .or(query)
        .filter(|t| !t.is_empty())
        .ok_or(crate::auth::AuthError::Missing)
}

/// The frame for one event: its payload is copied as the log's text, never
/// parsed.
pub fn frame(event: &RecordedEvent) -> String {
    /// The part of an event's metadata a frame shows.
    #[derive(Deserialize)]
    struct Metadata<'a> {
        #[serde(borrow)]
        actor: Actor<'a>,
    }
    #[derive(Deserialize)]
    struct Actor<'a> {
        #[serde(borrow)]
        user_id: Cow<'a, str>,
    }
    #[derive(Serialize)]
    struct Frame<'a> {
        #[serde(rename = "type")]
        kind: &'a str,
        position: i64,
        meeting_id: Option<MeetingId>,
        user_id: Option<Cow<'a, str>>,
        data: &'a RawJson,
        timestamp: DateTime<Utc>,
    }
    let metadata = serde_json::from_str::<Metadata<'_>>(event.metadata.get())
        .inspect_err(|e| crate::visibility::undecodable(event, e))
        .ok();
    serde_json::to_string(&Frame {
        kind: &event.event_type,
        position: event.position,
        meeting_id: MeetingId::from_stream_id(&event.stream_id),
        user_id: metadata.map(|m| m.actor.user_id),
        data: &event.data,
        timestamp: event.recorded_at,
    })
    .expect("a frame of strings, numbers and JSON text serialises")
}

/// Events of the log read at a time for one connection (its backlog, or
/// what it missed): a connection's reads cost what they return, however
/// long the meeting.
const LOG_PAGE: usize = 256;

/// Where a connection stands in its meeting's stream: the last event
/// taken (its version, once one was read, and position; `after` at first).
struct Cursor {
    stream: StreamId,
    version: Option<i64>,
    position: i64,
}

/// What a live event is to a connection.
enum Next {
    /// The stream's next event: send it.
    Take,
    /// Taken already.
    Seen,
    /// After a gap (or before the connection knows where it stands): the
    /// log has what is missing.
    Gap,
}

impl Cursor {
    /// The next page of the log's events of this stream that this
    /// connection has not taken (empty when it has them all).
    async fn unsent(&mut self, state: &AppState) -> Result<Vec<RecordedEvent>, events::StoreError> {
        let page = state
            .commands
            .store()
            .read_stream_after(&self.stream, self.position, LOG_PAGE)
            .await?;
        if let Some(last) = page.last() {
            self.take(last);
        }
        Ok(page)
    }

    /// What a live event is to this connection. Takes a reference: a live
    /// event is shared by every subscriber, never copied.
    fn next(&self, event: &RecordedEvent) -> Next {
        match self.version {
            Some(version) if event.stream_version == version + 1 => Next::Take,
            Some(version) if event.stream_version <= version => Next::Seen,
            _ if event.position <= self.position => Next::Seen,
            _ => Next::Gap,
        }
    }

    /// Moves past an event of this stream.
    fn take(&mut self, event: &RecordedEvent) {
        self.version = Some(event.stream_version);
        self.position = event.position;
    }
}

async fn serve(
    state: AppState,
    mut viewer: Viewer,
    after: i64,
    over_at_start: bool,
    socket: WebSocket,
) {
    let _counted = crate::metrics::WebSocketGauge::open();
    let meeting = viewer.reader.meeting;
    let send_timeout = Duration::from_secs(state.websocket.send_timeout_seconds);
    let (mut sink, mut incoming) = socket.split();
    let (frames, mut queue) = mpsc::channel::<Message>(CLIENT_QUEUE);
    let (close_tx, mut close_rx) = oneshot::channel::<CloseFrame>();

    // The writer: the only task that touches the sink.
    let writer = tokio::spawn(async move {
        loop {
            tokio::select! {
                biased;
                close = &mut close_rx => {
                    if let Ok(close) = close {
                        let _ = tokio::time::timeout(send_timeout, sink.send(Message::Close(Some(close)))).await;
                    }
                    return;
                }
                frame = queue.recv() => match frame {
                    Some(frame) => {
                        let sent = tokio::time::timeout(send_timeout, sink.send(frame)).await;
                        if !matches!(sent, Ok(Ok(()))) {
                            return;
                        }
                    }
                    None => {
                        let _ = sink.close().await;
                        return;
                    }
                },
            }
        }
    });

    // Subscribed before reading the backlog, so nothing committed while
    // we read is missed.
    let mut live = state.channels.subscribe(&meeting.stream_id());
    let mut cursor = Cursor {
        stream: meeting.stream_id(),
        version: None,
        position: after,
    };
    let outcome = follow(
        &state,
        &mut viewer,
        over_at_start,
        &mut cursor,
        &mut live,
        &mut incoming,
        &frames,
    )
    .await;
    let close = |code, reason: String| CloseFrame {
        code,
        reason: Utf8Bytes::from(reason),
    };
    match outcome {
        // The queue is full: the close goes ahead of it.
        Err(Stop::Slow) => {
            let reason = format!("slow consumer: resume with after={}", cursor.position);
            let _ = close_tx.send(close(CLOSE_SLOW_CONSUMER, reason));
        }
        // After the frames already queued (the meeting's last events).
        Err(Stop::Over) => {
            let over = close(CLOSE_MEETING_OVER, "the meeting is over".into());
            let _ = frames.try_send(Message::Close(Some(over)));
        }
        Err(Stop::Refused(why)) => {
            let _ = frames.try_send(Message::Close(Some(close(CLOSE_NOT_ALLOWED, why.into()))));
        }
        Err(Stop::Idle) => {
            let _ = close_tx.send(close(CLOSE_IDLE, "no answer to pings".into()));
        }
        Err(Stop::Quiet) => {
            let _ = close_tx.send(close(CLOSE_IDLE, "quiet for too long".into()));
        }
        Err(Stop::TooBig) => {
            let reason = format!("a message is at most {MAX_CLIENT_MESSAGE} bytes");
            let _ = close_tx.send(close(CLOSE_TOO_BIG, reason));
        }
        Ok(()) | Err(Stop::Gone) => {}
    }
    drop(frames);
    let _ = writer.await;
}

enum Stop {
    /// The client went away or the server is stopping.
    Gone,
    /// The client's queue overflowed.
    Slow,
    /// The meeting ended or was cancelled; everything of it was sent.
    Over,
    /// The viewer may read no more.
    Refused(&'static str),
    /// The client sent nothing, not even a pong, for the idle timeout.
    Idle,
    /// Nothing but pings and pongs went either way for the quiet timeout.
    Quiet,
    /// The client sent a message larger than [`MAX_CLIENT_MESSAGE`].
    TooBig,
}

fn push(frames: &mpsc::Sender<Message>, text: String) -> Result<(), Stop> {
    match frames.try_send(Message::Text(text.into())) {
        Ok(()) => Ok(()),
        Err(mpsc::error::TrySendError::Full(_)) => Err(Stop::Slow),
        Err(mpsc::error::TrySendError::Closed(_)) => Err(Stop::Gone),
    }
}

/// Sends what the log holds that this connection has not taken, a page at
/// a time, waiting for the client to read each (at most the send
/// timeout) rather than closing it for a backlog; tells whether the
/// meeting ended among them.
async fn catch_up(
    state: &AppState,
    viewer: &mut Viewer,
    cursor: &mut Cursor,
    frames: &mpsc::Sender<Message>,
) -> Result<bool, Stop> {
    let send_timeout = Duration::from_secs(state.websocket.send_timeout_seconds);
    let mut over = false;
    loop {
        let page = cursor.unsent(state).await.map_err(|_| Stop::Gone)?;
        if page.is_empty() {
            return Ok(over);
        }
        // Room for the whole page before it is queued.
        let room = frames.reserve_many(page.len().min(CLIENT_QUEUE));
        match tokio::time::timeout(send_timeout, room).await {
            Ok(Ok(permits)) => drop(permits),
            Ok(Err(_)) => return Err(Stop::Gone),
            Err(_) => return Err(Stop::Slow),
        }
        over |= push_all(state, viewer, frames, &page).await?;
        if page.len() < LOG_PAGE {
            return Ok(over);
        }
    }
}

/// Sends the events the viewer may see; stops at an event that refuses
/// the viewer, and tells whether the meeting ended among them.
async fn push_all(
    state: &AppState,
    viewer: &mut Viewer,
    frames: &mpsc::Sender<Message>,
    events: &[RecordedEvent],
) -> Result<bool, Stop> {
    let mut role = None;
    let mut over = false;
    for event in events {
        if viewer.sees(state, event, &mut role).await {
            push(frames, frame(event))?;
        }
        match viewer.after(event) {
            After::Continue => {}
            After::Over => over = true,
            After::Refused(why) => return Err(Stop::Refused(why)),
        }
    }
    Ok(over)
}

async fn follow(
    state: &AppState,
    viewer: &mut Viewer,
    over_at_start: bool,
    cursor: &mut Cursor,
    live: &mut live::channels::StreamReceiver,
    incoming: &mut futures::stream::SplitStream<WebSocket>,
    frames: &mpsc::Sender<Message>,
) -> Result<(), Stop> {
    let over = catch_up(state, viewer, cursor, frames).await?;
    push(
        frames,
        Control::CaughtUp {
            position: cursor.position,
        }
        .text(),
    )?;
    if over || over_at_start {
        return Err(Stop::Over);
    }
    let ping_every = Duration::from_secs(state.websocket.ping_seconds.max(1));
    let idle = Duration::from_secs(state.websocket.idle_timeout_seconds);
    let quiet = Duration::from_secs(state.websocket.quiet_timeout_seconds);
    let mut pings = tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
    let mut heard = tokio::time::Instant::now();
    // The last time anything but a ping or a pong went either way: the
    // client sent a frame, or the meeting had an event.
    let mut active = tokio::time::Instant::now();
    let mut seen = cursor.position;
    loop {
        if cursor.position != seen {
            seen = cursor.position;
            active = tokio::time::Instant::now();
        }
        tokio::select! {
            _ = pings.tick() => {
                if heard.elapsed() >= idle {
                    return Err(Stop::Idle);
                }
                if !quiet.is_zero() && active.elapsed() >= quiet {
                    return Err(Stop::Quiet);
                }
                match frames.try_send(Message::Ping(Default::default())) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => return Err(Stop::Slow),
                    Err(mpsc::error::TrySendError::Closed(_)) => return Err(Stop::Gone),
                }
            }
            received = live.recv() => {
                let over = match received.as_ref().map(|event| (cursor.next(event), event)) {
                    Ok((Next::Take, event)) => {
                        cursor.take(event);
                        if viewer.sees(state, event, &mut None).await {
                            push(frames, frame(event))?;
                        }
                        match viewer.after(event) {
                            After::Continue => false,
                            After::Over => true,
                            After::Refused(why) => return Err(Stop::Refused(why)),
                        }
                    }
                    Ok((Next::Seen, _)) => false,
                    // A jump in versions, or events this connection fell
                    // behind on in its channel: the log has them.
                    Ok((Next::Gap, _)) | Err(broadcast::error::RecvError::Lagged(_)) => {
                        catch_up(state, viewer, cursor, frames).await?
                    }
                    Err(broadcast::error::RecvError::Closed) => return Err(Stop::Gone),
                };
                if over {
                    // What ended the meeting was one append: the rest of
                    // it is in the log already.
                    catch_up(state, viewer, cursor, frames).await?;
                    return Err(Stop::Over);
                }
            }
            message = incoming.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    heard = tokio::time::Instant::now();
                    active = heard;
                    let reply = answer(state, viewer, &text).await;
                    push(frames, reply.text())?;
                }
                Some(Err(e)) if too_big(&e) => return Err(Stop::TooBig),
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Err(Stop::Gone),
                // A pong (or any other frame) says the client is there.
                Some(Ok(_)) => heard = tokio::time::Instant::now(),
            },
        }
    }
}
