//! The log over HTTP for auditors (deployment roles `auditor` and
//! `admin`): `GET /api/v1/events`, every event as stored (hashes in hex),
//! filtered by meeting and type, as a JSON page or, with
//! `Accept: application/x-ndjson`, streamed one event per line in pages
//! read one at a time (memory stays constant whatever the log's size).

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use events::{RecordedEvent, StreamId};

use super::extract::{AuthUser, at_least, query_of};
use super::{ApiError, AppState};

/// Events read from the log at a time.
const PAGE: usize = 1000;
/// The most events one JSON answer holds.
pub const MAX_JSON_LIMIT: usize = 10_000;
/// Events a JSON answer holds unless asked.
const DEFAULT_JSON_LIMIT: usize = 1000;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsParams {
    /// Events after this position (default 0: from the start).
    #[param(minimum = 0, nullable = false)]
    after: Option<i64>,
    /// At most this many events (JSON: 1 to 10,000, default 1,000;
    /// NDJSON: default all up to the head at the time of the request).
    #[param(minimum = 1, nullable = false)]
    limit: Option<i64>,
    /// Only this meeting's events (its id or room code).
    #[param(nullable = false)]
    meeting: Option<String>,
    /// Only events of this type (`participant_joined`, ...).
    #[param(rename = "type", nullable = false)]
    #[serde(rename = "type")]
    event_type: Option<String>,
}

/// A page of the log.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EventsPage {
    #[schema(value_type = Vec<Object>)]
    events: Vec<RecordedEvent>,
    /// Ask again with `after` = this for what follows.
    next_after: i64,
    /// The log's last position when the page was read.
    head: i64,
}

/// What to read: after which position, up to where, which events.
struct Selection {
    after: i64,
    until: i64,
    limit: usize,
    stream: Option<StreamId>,
    event_type: Option<String>,
}

impl Selection {
    fn keeps(&self, event: &RecordedEvent) -> bool {
        self.stream.as_ref().is_none_or(|s| &event.stream_id == s)
            && self
                .event_type
                .as_deref()
                .is_none_or(|t| event.event_type == t)
    }

    /// The next events kept, reading from the log page by page; the
    /// position read up to, and whether the end (`until` or `limit`) was
    /// reached.
    async fn next(
        &mut self,
        state: &AppState,
        room: usize,
    ) -> Result<(Vec<RecordedEvent>, bool), ApiError> {
        let want = room.min(self.limit);
        let mut kept = Vec::new();
        'pages: while kept.len() < want && self.after < self.until {
            let page = state
                .commands
                .store()
                .read_all(self.after, PAGE)
                .await
                .map_err(|e| ApiError::App(e.into()))?;
            if page.is_empty() {
                self.after = self.until;
                break;
            }
            for event in page {
                if event.position > self.until {
                    self.after = self.until;
                    break 'pages;
                }
                self.after = event.position;
                if self.keeps(&event) {
                    kept.push(event);
                    if kept.len() == want {
                        break 'pages;
                    }
                }
            }
        }
        self.limit -= kept.len();
        let done = self.limit == 0 || self.after >= self.until;
        Ok((kept, done))
    }
}

/// `GET /api/v1/events`.
#[utoipa::path(
    get,
    path = "/events",
    tag = "audit",
    params(EventsParams),
    responses(
        (status = 200, description = "A page of the log (or NDJSON, one event per line, with `Accept: application/x-ndjson`)", body = EventsPage),
        (status = 403, description = "INSUFFICIENT_PERMISSION: not an auditor or admin", body = super::openapi::ErrorBody),
        (status = 404, description = "MEETING_NOT_FOUND (the `meeting` filter)", body = super::openapi::ErrorBody),
    )
)]
pub async fn events(
    AuthUser(caller): AuthUser,
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Result<Query<EventsParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let params = query_of(params)?;
    audits(&caller)?;
    at_least("after", params.after, 0)?;
    let after = params.after.unwrap_or(0);
    let ndjson = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/x-ndjson"));
    let limit = match params.limit {
        Some(n) if n < 1 => return Err(ApiError::invalid("limit", "must be at least 1")),
        Some(n) if !ndjson && n as usize > MAX_JSON_LIMIT => {
            return Err(ApiError::invalid(
                "limit",
                format!("must be at most {MAX_JSON_LIMIT} (or ask for application/x-ndjson)"),
            ));
        }
        Some(n) => n as usize,
        None if ndjson => usize::MAX,
        None => DEFAULT_JSON_LIMIT,
    };
    let stream = match params.meeting.as_deref() {
        Some(reference) => Some(state.commands.resolve(reference).await?.stream_id()),
        None => None,
    };
    let head = state.head().await?;
    let mut selection = Selection {
        after,
        until: head,
        limit,
        stream,
        event_type: params.event_type,
    };
    if !ndjson {
        let (events, _) = selection.next(&state, limit).await?;
        let page = EventsPage {
            events,
            next_after: selection.after,
            head,
        };
        return Ok(axum::Json(page).into_response());
    }
    // One page at a time, each sent before the next is read.
    let lines = futures::stream::unfold(Some(selection), move |selection| {
        let state = state.clone();
        async move {
            let mut selection = selection?;
            match selection.next(&state, PAGE).await {
                Ok((events, done)) => {
                    let mut text = Vec::with_capacity(events.len() * 512);
                    for event in &events {
                        serde_json::to_writer(&mut text, event)
                            .expect("a recorded event serialises");
                        text.push(b'\n');
                    }
                    let next = (!done).then_some(selection);
                    Some((Ok::<_, std::io::Error>(axum::body::Bytes::from(text)), next))
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the NDJSON export stopped");
                    Some((Err(std::io::Error::other(e.to_string())), None))
                }
            }
        }
    });
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(lines),
    )
        .into_response())
}

/// Only the deployment's auditors and admins read the whole log.
fn audits(caller: &command::meeting::Caller) -> Result<(), ApiError> {
    if caller.reads_all() {
        Ok(())
    } else {
        Err(ApiError::CannotRead)
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VerifyParams {
    /// The first position to check (default 1).
    #[param(minimum = 1, nullable = false)]
    from: Option<i64>,
    /// The last (default the head).
    #[param(minimum = 1, nullable = false)]
    to: Option<i64>,
}

/// `GET /api/v1/audit/verify`: the hash chain recomputed over a range.
#[utoipa::path(
    get,
    path = "/audit/verify",
    tag = "audit",
    params(VerifyParams),
    responses(
        (status = 200, description = "`verified` and the range, or where the chain breaks and why", body = crate::audit::Verification),
        (status = 403, description = "INSUFFICIENT_PERMISSION: not an auditor or admin", body = super::openapi::ErrorBody),
    )
)]
pub async fn verify(
    AuthUser(caller): AuthUser,
    State(state): State<AppState>,
    params: Result<Query<VerifyParams>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<crate::audit::Verification>, ApiError> {
    let params = query_of(params)?;
    audits(&caller)?;
    at_least("from", params.from, 1)?;
    at_least("to", params.to, 1)?;
    use crate::audit::VerifyError;
    crate::audit::verify_log(state.commands.store(), params.from, params.to)
        .await
        .map(axum::Json)
        .map_err(|e| match e {
            VerifyError::Range { field, reason } => ApiError::invalid(field, reason),
            VerifyError::Store(e) => ApiError::App(e.into()),
        })
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReceiptParams {
    /// The `position` a command answered.
    #[param(minimum = 1)]
    position: i64,
    /// The `hash` it answered (hex).
    #[param(pattern = "^[0-9a-fA-F]{64}$")]
    hash: String,
}

/// `GET /api/v1/audit/receipt`: whether a command's receipt still holds.
/// Anyone signed in may ask: the answer shows no event, only whether the
/// hash is still where it was; the log's head and why a receipt does not
/// hold only to auditors and admins.
#[utoipa::path(
    get,
    path = "/audit/receipt",
    tag = "audit",
    params(ReceiptParams),
    responses(
        (status = 200, description = "Whether the log still holds the hash at the position, with an intact chain after it", body = crate::audit::ReceiptCheck),
    )
)]
pub async fn receipt(
    AuthUser(caller): AuthUser,
    State(state): State<AppState>,
    params: Result<Query<ReceiptParams>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<crate::audit::ReceiptCheck>, ApiError> {
    let params = query_of(params)?;
    at_least("position", Some(params.position), 1)?;
    let hex = params.hash.len() == 64 && params.hash.bytes().all(|b| b.is_ascii_hexdigit());
    if !hex {
        return Err(ApiError::invalid("hash", "must be 64 hex digits"));
    }

    let check = crate::audit::check_receipt(state.commands.store(), params.position, &params.hash)
        .await
        .map_err(|e| ApiError::App(e.into()))?;
    Ok(axum::Json(match caller.reads_all() {
        true => check,
        false => check.for_a_reader(),
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AsOfParams {
    /// The meeting as its events up to this log position left it.
    #[param(minimum = 1, nullable = false)]
    position: Option<i64>,
    /// ... or as its events recorded up to this time (RFC 3339) left it.
    #[param(nullable = false)]
    at: Option<chrono::DateTime<chrono::Utc>>,
}

/// `GET /api/v1/meetings/{meeting}/as-of?position=N | at=T`: the meeting
/// as it stood then, folded from its events (auditors, admins and its
/// host).
#[utoipa::path(
    get,
    path = "/meetings/{meeting}/as-of",
    tag = "audit",
    params(super::openapi::MeetingPath, AsOfParams),
    responses(
        (status = 200, description = "The meeting then", body = crate::audit::AsOf),
        (status = 403, description = "INSUFFICIENT_PERMISSION: not an auditor, admin or its host", body = super::openapi::ErrorBody),
        (status = 404, description = "MEETING_NOT_FOUND, or it did not exist yet", body = super::openapi::ErrorBody),
    )
)]
pub async fn as_of(
    AuthUser(caller): AuthUser,
    State(state): State<AppState>,
    axum::extract::Path(meeting): axum::extract::Path<String>,
    params: Result<Query<AsOfParams>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<crate::audit::AsOf>, ApiError> {
    let params = query_of(params)?;
    let until = match (params.position, params.at) {
        (Some(p), None) if p >= 1 => crate::audit::Until::Position(p),
        (Some(_), None) => return Err(ApiError::invalid("position", "must be at least 1")),
        (None, Some(at)) => crate::audit::Until::Time(at),
        _ => return Err(ApiError::invalid("position", "give one of position or at")),
    };
    let id = state.commands.resolve(&meeting).await?;
    let host = state
        .commands
        .inspect(id, |m| m.map(|m| m.host_id.clone()))
        .await?
        .ok_or(command::AppError::NotFound)?;
    if audits(&caller).is_err() && caller.user_id != host {
        return Err(ApiError::CannotRead);
    }
    let store = state.commands.store().as_ref();
    crate::audit::as_of(store, id, until)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "as-of failed");
            ApiError::App(events::StoreError::Backend(e.to_string().into()).into())
        })?
        .map(axum::Json)
        .ok_or(ApiError::App(command::AppError::NotFound))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MeetingEventsParams {
    /// Its events after this log position (default 0).
    #[param(minimum = 0, nullable = false)]
    after: Option<i64>,
    /// At most this many (1 to 10,000, default 1,000).
    #[param(minimum = 1, maximum = 10000, nullable = false)]
    limit: Option<i64>,
}

/// `GET /api/v1/meetings/{meeting}/events`: the meeting's own log for its
/// readers, private events filtered exactly as the WebSocket filters them
/// (auditors and admins see everything).
#[utoipa::path(
    get,
    path = "/meetings/{meeting}/events",
    tag = "audit",
    params(super::openapi::MeetingPath, MeetingEventsParams),
    responses(
        (status = 200, description = "A page of the meeting's events", body = EventsPage),
        (status = 403, description = "INSUFFICIENT_PERMISSION: not a reader of the meeting", body = super::openapi::ErrorBody),
        (status = 404, description = "MEETING_NOT_FOUND", body = super::openapi::ErrorBody),
    )
)]
pub async fn meeting_events(
    AuthUser(caller): AuthUser,
    State(state): State<AppState>,
    axum::extract::Path(meeting): axum::extract::Path<String>,
    params: Result<Query<MeetingEventsParams>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<EventsPage>, ApiError> {
    let params = query_of(params)?;
    at_least("after", params.after, 0)?;
    let after = params.after.unwrap_or(0);
    let limit = match params.limit {
        None => DEFAULT_JSON_LIMIT,
        Some(n) if (1..=MAX_JSON_LIMIT as i64).contains(&n) => n as usize,
        Some(_) => {
            return Err(ApiError::invalid(
                "limit",
                format!("must be between 1 and {MAX_JSON_LIMIT}"),
            ));
        }
    };
    let id = state.commands.resolve(&meeting).await?;
    let everything = audits(&caller).is_ok();
    let entry = super::access::live(&state, &caller, id).await?;
    let reader = crate::visibility::Reader {
        user: caller.user_id.clone(),
        meeting: id,
        waiting: entry.waiting,
    };
    let head = state.head().await?;
    // Pages of the stream after `after`, until `limit` events the caller
    // may see are found or the stream ends: the read costs what the page
    // returns (and what it skips of others' private events).
    let (mut events, mut next_after, mut role) = (Vec::new(), after, None);
    // Whether the stream holds nothing more up to the head.
    let mut done = false;
    while events.len() < limit && !done {
        let page = state
            .commands
            .store()
            .read_stream_after(&id.stream_id(), next_after, limit)
            .await
            .map_err(|e| ApiError::App(e.into()))?;
        let (full, mut taken_all) = (page.len() == limit, true);
        for event in page {
            if event.position > head {
                done = true;
                break;
            }
            if events.len() == limit {
                taken_all = false;
                break;
            }
            next_after = event.position;
            if everything || reader.sees(&state.commands, &event, &mut role).await {
                events.push(event);
            }
        }
        done |= !full && taken_all;
    }
    if done {
        next_after = next_after.max(head);
    }
    Ok(axum::Json(EventsPage {
        events,
        next_after,
        head,
    }))
}
