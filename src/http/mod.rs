//! The HTTP API (axum): routes, shared state, and the request-id layer.
//! Handlers are thin: extract, build the command, dispatch, map the result.

mod breakout;
mod error;
mod extract;
mod meetings;
mod participants;
mod queries;
mod ws;

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, patch, post, put};
use tracing::Instrument;
use uuid::Uuid;

use command::CommandHandler;

use crate::auth::JwtKeys;
pub use error::ApiError;
pub use extract::RequestId;
pub use ws::{CLIENT_QUEUE, CLOSE_SLOW_CONSUMER};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub commands: Arc<CommandHandler>,
    pub keys: Arc<JwtKeys>,
    /// Base of meeting links, without a trailing slash.
    pub public_url: Arc<str>,
    /// The read models.
    pub reads: sqlx::AnyPool,
    pub progress: crate::workers::Progress,
    /// How long `X-Min-Position` may wait.
    pub min_position_wait: std::time::Duration,
    /// Committed events: the log plus the node's live hub.
    pub feed: events::feed::Feed,
    /// The node's live events by meeting (for WebSocket subscribers).
    pub rooms: events::rooms::Rooms,
}

pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/meetings", post(meetings::create).get(queries::list))
        .route("/meetings/history", get(queries::history))
        .route(
            "/meetings/{meeting}",
            get(queries::details)
                .put(meetings::update)
                .delete(meetings::delete),
        )
        .route("/meetings/{meeting}/status", get(queries::status))
        .route("/meetings/{meeting}/info", get(queries::info))
        .route("/meetings/{meeting}/exists", get(queries::exists))
        .route("/meetings/{meeting}/attendance", get(queries::attendance))
        .route(
            "/meetings/{meeting}/participants",
            get(queries::participants).post(participants::invite),
        )
        .route(
            "/meetings/{meeting}/participants/status",
            put(participants::status),
        )
        .route(
            "/meetings/{meeting}/participants/{user_id}",
            axum::routing::delete(participants::remove),
        )
        .route(
            "/meetings/{meeting}/participants/{user_id}/role",
            put(participants::change_role),
        )
        .route(
            "/meetings/{meeting}/waiting-room/{participant_id}/admit",
            post(participants::admit),
        )
        .route(
            "/meetings/{meeting}/waiting-room/{participant_id}/reject",
            post(participants::reject),
        )
        .route(
            "/meetings/{meeting}/security/policy",
            post(meetings::apply_policy),
        )
        .route(
            "/meetings/{meeting}/chat",
            post(participants::chat).get(queries::chat),
        )
        .route("/meetings/{meeting}/reactions", post(participants::react))
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
            post(breakout::start_recording),
        )
        .route(
            "/meetings/{meeting}/recording/stop",
            post(breakout::stop_recording),
        )
        .route("/meetings/{meeting}/recordings", get(queries::recordings))
        .route(
            "/meetings/{meeting}/recordings/{recording_id}/file",
            post(breakout::report_file),
        )
        .route("/meetings/{meeting}/start", post(meetings::start))
        .route("/meetings/{meeting}/join", post(meetings::join))
        .route("/meetings/{meeting}/leave", post(meetings::leave))
        .route("/meetings/{meeting}/end", post(meetings::end))
        .route("/meetings/{meeting}/config", patch(meetings::configure));
    Router::new()
        .nest("/api/v1", api)
        .route("/ws/meetings/{meeting}", get(ws::connect))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .fallback(|| async { ApiError::RouteNotFound })
        .layer(middleware::from_fn(request_id))
        .with_state(state)
}

async fn ready(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> Result<&'static str, ApiError> {
    state
        .commands
        .store()
        .head_position()
        .await
        .map_err(|e| ApiError::App(e.into()))?;
    Ok("ready")
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
