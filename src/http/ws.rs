//! The WebSocket gateway: `GET /ws/meetings/{meeting}?token=<jwt>&after=<position>`.
//!
//! Before the upgrade: 401 without a valid token, 404 for an unknown
//! meeting, 403 for a caller who may not read it. After: every event of the
//! meeting after `after` from the log, in order, then `{"type":"caught_up"}`,
//! then live events from the meeting's room (the node's one bus
//! subscription, routed by meeting in memory, so a connection is woken only
//! by its meeting's events). Live events are checked by stream version: one
//! already sent is dropped, a jump is filled from the log, so there is no
//! gap and no duplicate across the switch. A client whose queue of unsent
//! frames overflows is closed with code 4008 and a reason naming the
//! position to resume from.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc, oneshot};

use events::{MeetingId, RecordedEvent, StreamId};

use super::{ApiError, AppState};

/// Frames queued for one client before it counts as too slow.
pub const CLIENT_QUEUE: usize = 1024;
/// Close code for a client that fell behind (in the private range).
pub const CLOSE_SLOW_CONSUMER: u16 = 4008;
/// Bytes a connection reads from its client at a time. Client frames are
/// small (a longer one grows the buffer as it arrives), and the buffer is
/// allocated and zero-filled per connection: the default of 128 KiB would
/// be most of a connection's memory.
const READ_BUFFER: usize = 1024;
/// How long one write to a client may take.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Deserialize)]
pub struct WsParams {
    token: Option<String>,
    after: Option<i64>,
}

pub async fn connect(
    State(state): State<AppState>,
    Path(meeting): Path<String>,
    params: Result<Query<WsParams>, axum::extract::rejection::QueryRejection>,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let caller = params
        .token
        .as_deref()
        .and_then(|token| state.keys.verify(token).ok())
        .ok_or(ApiError::Unauthorized)?;
    let meeting_id = state.commands.resolve(&meeting).await?;
    let id = meeting_id.to_string();
    let mut allowed =
        query::access::may_read(&state.reads, &id, caller.user_id.as_str(), &caller.roles).await?;
    if allowed.is_none() {
        // The meeting exists in the log; give the read model a moment.
        let head = state
            .commands
            .store()
            .head_position()
            .await
            .map_err(|e| ApiError::App(e.into()))?;
        state
            .progress
            .wait_for(head, state.min_position_wait)
            .await?;
        allowed =
            query::access::may_read(&state.reads, &id, caller.user_id.as_str(), &caller.roles)
                .await?;
    }
    match allowed {
        None => return Err(ApiError::App(command::AppError::NotFound)),
        Some(false) => return Err(ApiError::CannotRead),
        Some(true) => {}
    }
    let after = params.after.unwrap_or(0).max(0);
    Ok(upgrade
        .read_buffer_size(READ_BUFFER)
        .on_upgrade(move |socket| serve(state, meeting_id, after, socket)))
}

/// The frame for one event.
pub fn frame(event: &RecordedEvent) -> Value {
    json!({
        "type": event.event_type,
        "position": event.position,
        "meeting_id": MeetingId::from_stream_id(&event.stream_id).map(|m| m.to_string()),
        "user_id": event.metadata["actor"]["user_id"],
        "data": event.data,
        "timestamp": event.recorded_at,
    })
}

/// Where a connection stands in its meeting's stream.
struct Cursor {
    stream: StreamId,
    after: i64,
    version: i64,
    position: i64,
}

impl Cursor {
    /// Takes the events of the log this connection has not sent.
    async fn unsent(&mut self, state: &AppState) -> Result<Vec<RecordedEvent>, events::StoreError> {
        let mut events = state
            .commands
            .store()
            .read_stream(&self.stream, self.version)
            .await?;
        events.retain(|e| self.accept(e));
        Ok(events)
    }

    /// Moves past an event of this stream; true if it is to be sent. Takes
    /// a reference: a live event is shared by every subscriber, never copied.
    fn accept(&mut self, event: &RecordedEvent) -> bool {
        if event.stream_version <= self.version {
            return false;
        }
        self.version = event.stream_version;
        if event.position <= self.after {
            return false;
        }
        self.position = event.position;
        true
    }
}

async fn serve(state: AppState, meeting: MeetingId, after: i64, socket: WebSocket) {
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
                        let _ = tokio::time::timeout(SEND_TIMEOUT, sink.send(Message::Close(Some(close)))).await;
                    }
                    return;
                }
                frame = queue.recv() => match frame {
                    Some(frame) => {
                        let sent = tokio::time::timeout(SEND_TIMEOUT, sink.send(frame)).await;
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

    // In the room before reading the backlog, so nothing committed while
    // we read is missed.
    let mut live = state.rooms.join(&meeting.stream_id());
    let mut cursor = Cursor {
        stream: meeting.stream_id(),
        after,
        version: 0,
        position: after,
    };
    let outcome = follow(&state, &mut cursor, &mut live, &mut incoming, &frames).await;
    if let Err(Stop::Slow) = outcome {
        let reason = format!("slow consumer: resume with after={}", cursor.position);
        let _ = close_tx.send(CloseFrame {
            code: CLOSE_SLOW_CONSUMER,
            reason: Utf8Bytes::from(reason),
        });
    }
    drop(frames);
    let _ = writer.await;
}

enum Stop {
    /// The client went away or the server is stopping.
    Gone,
    /// The client's queue overflowed.
    Slow,
}

fn push(frames: &mpsc::Sender<Message>, value: Value) -> Result<(), Stop> {
    match frames.try_send(Message::Text(value.to_string().into())) {
        Ok(()) => Ok(()),
        Err(mpsc::error::TrySendError::Full(_)) => Err(Stop::Slow),
        Err(mpsc::error::TrySendError::Closed(_)) => Err(Stop::Gone),
    }
}

fn push_all(frames: &mpsc::Sender<Message>, events: &[RecordedEvent]) -> Result<(), Stop> {
    events.iter().try_for_each(|e| push(frames, frame(e)))
}

async fn follow(
    state: &AppState,
    cursor: &mut Cursor,
    live: &mut events::rooms::Room,
    incoming: &mut futures::stream::SplitStream<WebSocket>,
    frames: &mpsc::Sender<Message>,
) -> Result<(), Stop> {
    let backlog = cursor.unsent(state).await.map_err(|_| Stop::Gone)?;
    push_all(frames, &backlog)?;
    push(
        frames,
        json!({"type": "caught_up", "position": cursor.position}),
    )?;
    loop {
        tokio::select! {
            received = live.recv() => match received {
                Ok(event) if event.stream_version == cursor.version + 1 => {
                    if cursor.accept(&event) {
                        push(frames, frame(&event))?;
                    }
                }
                Ok(event) if event.stream_version <= cursor.version => {}
                // A jump in versions, or events this connection fell behind
                // on in its room: the log has them.
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {
                    let missing = cursor.unsent(state).await.map_err(|_| Stop::Gone)?;
                    push_all(frames, &missing)?;
                }
                Err(broadcast::error::RecvError::Closed) => return Err(Stop::Gone),
            },
            message = incoming.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    let request: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                    let reply = match request["type"].as_str() {
                        Some("ping") => json!({"type": "pong"}),
                        _ => json!({
                            "type": "error",
                            "code": "VALIDATION_FAILED",
                            "message": "unknown frame type",
                            "request_id": request["request_id"],
                        }),
                    };
                    push(frames, reply)?;
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Err(Stop::Gone),
                Some(Ok(_)) => {}
            },
        }
    }
}
