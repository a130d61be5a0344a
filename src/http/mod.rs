//! The HTTP API (axum): routes, shared state, and the request-id layer.
//!
//! Handlers are thin: extract, build the command, dispatch, map the result.
//! The command machinery (caller, meeting, idempotency, the one typed
//! response) is [`call`]; each area of commands has its file, named as its
//! module in `command::meeting` ([`grants`]: media tokens and links,
//! [`presence`]: LiveKit's webhooks); [`queries`] answers from the read models,
//! [`ws`] streams the log live, both after the one read check in
//! [`access`]; [`error`] maps every failure to a status and a code.

mod access;
mod admission;
mod breakout;
mod call;
mod chat;
mod error;
mod extract;
mod grants;
mod lifecycle;
mod media;
mod password;
mod policy;
mod presence;
mod queries;
mod recording;
mod roles;
mod ws;

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post, put};
use tracing::Instrument;
use uuid::Uuid;

use command::CommandHandler;

use crate::auth::JwtKeys;
pub use error::ApiError;
pub use extract::RequestId;
pub use ws::{
    CLIENT_QUEUE, CLOSE_IDLE, CLOSE_MEETING_OVER, CLOSE_NOT_ALLOWED, CLOSE_SLOW_CONSUMER,
};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub commands: Arc<CommandHandler>,
    pub keys: Arc<JwtKeys>,
    /// Base of meeting links (`FRONTEND_URL`, else `PUBLIC_URL`), without
    /// a trailing slash.
    pub frontend_url: Arc<str>,
    /// The media servers people are handed to.
    pub media: Arc<crate::media::Media>,
    /// The read models.
    pub reads: sqlx::AnyPool,
    pub progress: crate::workers::Progress,
    /// How long `X-Min-Position` may wait.
    pub min_position_wait: std::time::Duration,
    /// The node's live events by meeting (for WebSocket subscribers).
    pub channels: live::channels::StreamChannels,
    pub websocket: crate::config::WebSocketConfig,
    /// How long a request may take to be answered.
    pub request_timeout: std::time::Duration,
}

pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/meetings", post(lifecycle::create).get(queries::list))
        .route("/meetings/history", get(queries::history))
        .route(
            "/meetings/{meeting}",
            get(queries::details)
                .put(lifecycle::update)
                .delete(lifecycle::delete),
        )
        .route("/meetings/{meeting}/status", get(queries::status))
        .route("/meetings/{meeting}/info", get(queries::info))
        .route("/meetings/{meeting}/exists", get(queries::exists))
        .route("/meetings/{meeting}/attendance", get(queries::attendance))
        .route(
            "/meetings/{meeting}/participants",
            get(queries::participants).post(roles::invite),
        )
        .route(
            "/meetings/{meeting}/participants/status",
            put(media::status),
        )
        .route(
            "/meetings/{meeting}/participants/{user_id}",
            axum::routing::delete(roles::remove),
        )
        .route(
            "/meetings/{meeting}/participants/{user_id}/role",
            put(roles::change_role),
        )
        .route(
            "/meetings/{meeting}/waiting-room/{participant_id}/admit",
            post(admission::admit),
        )
        .route(
            "/meetings/{meeting}/waiting-room/{participant_id}/reject",
            post(admission::reject),
        )
        .route("/meetings/{meeting}/security/policy", post(policy::apply))
        .route(
            "/meetings/{meeting}/chat",
            post(chat::chat).get(queries::chat),
        )
        .route("/meetings/{meeting}/reactions", post(chat::react))
        .route(
            "/meetings/{meeting}/breakout-rooms",
            post(breakout::open).get(queries::breakout_rooms),
        )
        .route(
            "/meetings/{meeting}/breakout-rooms/assign",
            post(breakout::assign),
        )
        .route(
            "/meetings/{meeting}/breakout-rooms/close",
            post(breakout::close),
        )
        .route(
            "/meetings/{meeting}/recording/start",
            post(recording::start_recording),
        )
        .route(
            "/meetings/{meeting}/recording/stop",
            post(recording::stop_recording),
        )
        .route("/meetings/{meeting}/recordings", get(queries::recordings))
        .route(
            "/meetings/{meeting}/recordings/{recording_id}/file",
            post(recording::report_file),
        )
        .route("/meetings/{meeting}/start", post(lifecycle::start))
        .route("/meetings/{meeting}/join", post(admission::join))
        .route("/meetings/{meeting}/leave", post(admission::leave))
        .route("/meetings/{meeting}/end", post(lifecycle::end))
        .route("/meetings/{meeting}/token", post(grants::token))
        .route("/meetings/{meeting}/link", get(grants::link))
        .route(
            "/integrations/livekit/webhook",
            post(presence::livekit_webhook),
        )
        .route("/meetings/{meeting}/config", patch(policy::configure));
    Router::new()
        .nest("/api/v1", api)
        .route("/ws/meetings/{meeting}", get(ws::connect))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .fallback(|| async { ApiError::RouteNotFound })
        .layer(middleware::from_fn(refuse_nul))
        .layer(middleware::from_fn_with_state(
            state.request_timeout,
            |axum::extract::State(limit), request, next| {
                crate::server::request_timeout(limit, request, next)
            },
        ))
        .layer(middleware::from_fn(request_id))
        .with_state(state)
}

/// `GET /readyz`: the log answers, within a second (503 otherwise).
async fn ready(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> Result<&'static str, ApiError> {
    let head = state.commands.store().head_position();
    match tokio::time::timeout(std::time::Duration::from_secs(1), head).await {
        Ok(Ok(_)) => Ok("ready"),
        Ok(Err(e)) => Err(ApiError::App(e.into())),
        Err(_) => Err(ApiError::App(
            events::StoreError::Unavailable("no answer within a second".into()).into(),
        )),
    }
}

/// Refuses a URL that carries a NUL (`%00`), in its path or its query,
/// before any handler sees it: no id, code, search or token holds one.
async fn refuse_nul(request: Request, next: Next) -> Response {
    let uri = request.uri();
    let has_nul = |text: &str| {
        text.as_bytes()
            .windows(3)
            .any(|w| w.eq_ignore_ascii_case(b"%00"))
    };
    if has_nul(uri.path()) || uri.query().is_some_and(has_nul) {
        return ApiError::invalid("url", "must not contain U+0000").into_response();
    }
    next.run(request).await
}

/// Gives every request an id (the client's `X-Request-Id` if it is a UUID),
/// runs it in a span carrying that id, and echoes it in the response.
async fn request_id(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| Uuid::parse_str(v).ok())
        .unwrap_or_else(Uuid::now_v7);
    request.extensions_mut().insert(RequestId(id));
    let span = tracing::info_span!("request", request_id = %id, method = %request.method(), path = %request.uri().path());
    let mut response = next.run(request).instrument(span).await;
    if let Ok(value) = HeaderValue::from_str(&id.to_string()) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}
