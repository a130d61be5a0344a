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
mod audit;
mod breakout;
mod call;
mod chat;
mod error;
mod extract;
mod grants;
mod lifecycle;
pub(crate) mod limits;
mod media;
mod openapi;
mod password;
mod policy;
mod presence;
mod queries;
mod recording;
mod roles;
mod web;
mod webhooks;
mod ws;

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tracing::Instrument;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use command::CommandHandler;

use crate::auth::JwtKeys;
pub use error::ApiError;
pub use extract::RequestId;
pub use limits::{Budget, Category, RateLimits};
pub use ws::{
    CLIENT_QUEUE, CLOSE_IDLE, CLOSE_MEETING_OVER, CLOSE_NOT_ALLOWED, CLOSE_SLOW_CONSUMER,
    CLOSE_TOO_BIG, MAX_CLIENT_MESSAGE, MAX_REQUEST_ID_CHARS,
};

/// What every handler can reach: one pointer, so the state every
/// extractor and middleware takes costs one reference count to clone.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl Shared {
    /// The log's head position.
    pub async fn head(&self) -> Result<i64, ApiError> {
        self.commands
            .store()
            .head_position()
            .await
            .map_err(|e| ApiError::App(e.into()))
    }
}

/// The node's parts the handlers use.
pub struct Shared {
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
    /// The WebSockets open on this node, by caller and client network.
    pub sockets: ws::Sockets,
    /// How long a request may take to be answered.
    pub request_timeout: std::time::Duration,
    /// Each caller's budgets per category of requests.
    pub limits: Arc<RateLimits>,
    /// The metrics recorder (`None`: `/metrics` is off).
    pub metrics: Option<&'static metrics_exporter_prometheus::PrometheusHandle>,
    /// Browser origins allowed (`CORS_ALLOWED_ORIGINS`).
    pub origins: Arc<Origins>,
    /// Webhooks out: their subscriptions and the dispatcher's wake-up.
    pub webhooks: Arc<crate::webhooks::Webhooks>,
    /// The bound on password hashing.
    pub hashing: crate::secrets::Hashing,
    /// Whether the database answers (a probe's, within a second).
    pub health: crate::health::Health,
    /// The console's local sign-in (`MEETINGS_DEV_LOGIN`, embedded only).
    pub dev_login: bool,
}

/// Browser origins allowed to call the API (`CORS_ALLOWED_ORIGINS`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Origins {
    /// Unset: no CORS answers; WebSocket upgrades not checked by origin.
    #[default]
    Unset,
    /// `*`: any origin, without credentials.
    Any,
    /// These origins (scheme, host and port; no trailing slash).
    List(Vec<String>),
}

impl Origins {
    /// Reads the setting: `*`, or a comma-separated list of origins.
    pub fn parse(setting: Option<&str>) -> Result<Self, String> {
        let Some(setting) = setting.map(str::trim).filter(|s| !s.is_empty()) else {
            return Ok(Self::Unset);
        };
        if setting == "*" {
            return Ok(Self::Any);
        }
        let origins = setting
            .split(',')
            .map(|o| o.trim().trim_end_matches('/').to_owned())
            .filter(|o| !o.is_empty())
            .map(|o| {
                let valid = (o.starts_with("http://") || o.starts_with("https://"))
                    && !o["https://".len().min(o.len())..].contains('/')
                    && axum::http::HeaderValue::from_str(&o).is_ok();
                if valid {
                    Ok(o)
                } else {
                    Err(format!(
                        "CORS_ALLOWED_ORIGINS: {o:?} is not an origin (scheme://host[:port])"
                    ))
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::List(origins))
    }

    /// Whether a WebSocket upgrade from `origin` may go on: any without an
    /// `Origin` header (not a browser) or when unset; else one listed.
    pub fn admits(&self, origin: Option<&str>) -> bool {
        match (self, origin) {
            (Self::Unset | Self::Any, _) | (_, None) => true,
            (Self::List(list), Some(origin)) => list.iter().any(|o| o == origin),
        }
    }

    /// The CORS layer for these origins, if any are set.
    fn layer(&self) -> Option<tower_http::cors::CorsLayer> {
        use axum::http::{Method, header};
        use tower_http::cors::{AllowOrigin, CorsLayer};
        let headers = [
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::HeaderName::from_static("idempotency-key"),
            header::HeaderName::from_static("x-request-id"),
            header::HeaderName::from_static("x-min-position"),
        ];
        let exposed = [
            header::HeaderName::from_static("x-request-id"),
            header::HeaderName::from_static("x-ratelimit-limit"),
            header::HeaderName::from_static("x-ratelimit-remaining"),
            header::HeaderName::from_static("x-ratelimit-reset"),
            header::RETRY_AFTER,
            header::LOCATION,
        ];
        let layer = CorsLayer::new()
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers(headers)
            .expose_headers(exposed)
            .max_age(std::time::Duration::from_secs(3600));
        match self {
            Self::Unset => None,
            // Any origin may read, but no browser sends credentials to `*`.
            Self::Any => Some(layer.allow_origin(AllowOrigin::any())),
            Self::List(list) => {
                let list = list
                    .iter()
                    .filter_map(|o| axum::http::HeaderValue::from_str(o).ok())
                    .collect::<Vec<_>>();
                Some(
                    layer
                        .allow_origin(AllowOrigin::list(list))
                        .allow_credentials(true),
                )
            }
        }
    }
}

pub fn router(state: AppState) -> Router {
    let cors = state.origins.layer();
    // Each handler's path and method come from its `#[utoipa::path]`: the
    // routes and the OpenAPI document are one list.
    let api = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(lifecycle::create, queries::list))
        .routes(routes!(queries::history))
        .routes(routes!(
            queries::details,
            lifecycle::update,
            lifecycle::delete
        ))
        .routes(routes!(queries::status))
        .routes(routes!(queries::info))
        .routes(routes!(queries::exists))
        .routes(routes!(queries::attendance))
        .routes(routes!(queries::participants, roles::invite))
        .routes(routes!(media::status))
        .routes(routes!(roles::remove))
        .routes(routes!(roles::change_role))
        .routes(routes!(admission::admit))
        .routes(routes!(admission::reject))
        .routes(routes!(policy::apply))
        .routes(routes!(chat::chat, queries::chat))
        .routes(routes!(chat::react))
        .routes(routes!(breakout::open, queries::breakout_rooms))
        .routes(routes!(breakout::assign))
        .routes(routes!(breakout::close))
        .routes(routes!(recording::start_recording))
        .routes(routes!(recording::stop_recording))
        .routes(routes!(queries::recordings))
        .routes(routes!(recording::report_file))
        .routes(routes!(lifecycle::start))
        .routes(routes!(admission::join))
        .routes(routes!(admission::leave))
        .routes(routes!(lifecycle::end))
        .routes(routes!(grants::token))
        .routes(routes!(grants::link))
        .routes(routes!(presence::livekit_webhook))
        .routes(routes!(policy::configure))
        .routes(routes!(audit::events))
        .routes(routes!(audit::verify))
        .routes(routes!(audit::receipt))
        .routes(routes!(audit::as_of))
        .routes(routes!(audit::meeting_events))
        .routes(routes!(webhooks::create, webhooks::list))
        .routes(routes!(webhooks::get, webhooks::patch, webhooks::delete))
        .routes(routes!(webhooks::rotate_secret))
        .routes(routes!(webhooks::deliveries))
        .routes(routes!(webhooks::replay));
    let ops = OpenApiRouter::new()
        .routes(routes!(ws::connect))
        .routes(routes!(healthz))
        .routes(routes!(ready))
        .routes(routes!(metrics));
    let (api, mut document) = OpenApiRouter::new()
        .nest("/api/v1", api)
        .merge(ops)
        .split_for_parts();
    openapi::finish(&mut document);
    let docs = utoipa_swagger_ui::SwaggerUi::new("/docs").url("/api/v1/openapi.json", document);
    let docs = Router::from(docs).layer(middleware::map_response(web::docs_headers));
    let router = api
        .merge(docs)
        .merge(web::routes())
        .fallback(|| async { ApiError::RouteNotFound })
        // After every route: each keeps its `Allow` header.
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(middleware::from_fn(refuse_nul))
        .layer(middleware::from_fn_with_state(state.clone(), limits::limit))
        .layer(middleware::from_fn_with_state(
            state.health.clone(),
            database_gate,
        ))
        .layer(middleware::from_fn_with_state(
            state.request_timeout,
            |axum::extract::State(limit), request, next| request_timeout(limit, request, next),
        ));
    let router = match state.metrics {
        Some(_) => router.layer(middleware::from_fn(crate::metrics::http)),
        None => router,
    };
    let router = match cors {
        Some(cors) => router.layer(cors),
        None => router,
    };
    router
        .layer(middleware::from_fn(request_id))
        .with_state(state)
}

/// `GET /metrics`: Prometheus text (404 when metrics are off).
#[utoipa::path(get, path = "/metrics", tag = "ops", security(()), responses(
    (status = 200, description = "Prometheus text exposition", body = String, content_type = "text/plain"),
    (status = 404, description = "Metrics are off", body = openapi::ErrorBody),
))]
async fn metrics(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> Result<Response, ApiError> {
    let handle = state.metrics.ok_or(ApiError::RouteNotFound)?;
    // While the database does not answer, what this process knows.
    let positions = match state.health.is_up() {
        true => Some(positions(&state).await?),
        false => None,
    };
    let text = crate::metrics::render(handle, positions.as_ref());
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

/// The log's head and each read model's checkpoint.
async fn positions(state: &AppState) -> Result<crate::metrics::Positions, ApiError> {
    let head = state.head().await?;
    let mut conn = state.reads.acquire().await?;
    let mut projections = Vec::new();
    for projection in projections::Projection::ALL {
        let name = projection.name();
        projections.push((name, projections::checkpoint::get(&mut conn, name).await?));
    }
    Ok(crate::metrics::Positions { head, projections })
}

/// Answers a request that needs the database with 503 DATABASE_UNAVAILABLE
/// at once while the database does not answer, and one in flight the
/// moment it stops answering ([`crate::health`]). Pages, the document,
/// `/healthz` and `/metrics` need no database.
async fn database_gate(
    axum::extract::State(health): axum::extract::State<crate::health::Health>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    let needs_database =
        path.starts_with("/api/") && path != "/api/v1/openapi.json" || path.starts_with("/ws/");
    if !needs_database {
        return next.run(request).await;
    }
    let unavailable = || {
        ApiError::App(events::StoreError::Unavailable("the database does not answer".into()).into())
            .into_response()
    };
    if !health.is_up() {
        return unavailable();
    }
    tokio::select! {
        response = next.run(request) => response,
        _ = health.down() => unavailable(),
    }
}

/// `GET /healthz`: the process is up.
#[utoipa::path(get, path = "/healthz", tag = "ops", security(()), responses((status = 200, description = "`ok`", body = String)))]
async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: the log answers, within a second (503 otherwise).
#[utoipa::path(get, path = "/readyz", tag = "ops", security(()), responses(
    (status = 200, description = "`ready`", body = String),
    (status = 503, description = "DATABASE_UNAVAILABLE", body = openapi::ErrorBody),
))]
async fn ready(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> Result<&'static str, ApiError> {
    if !state.health.is_up() {
        return Err(ApiError::App(
            events::StoreError::Unavailable("the database does not answer".into()).into(),
        ));
    }
    let head = state.commands.store().head_position();
    match tokio::time::timeout(std::time::Duration::from_secs(1), head).await {
        Ok(Ok(_)) => Ok("ready"),
        Ok(Err(e)) => Err(ApiError::App(e.into())),
        Err(_) => Err(ApiError::App(
            events::StoreError::Unavailable("no answer within a second".into()).into(),
        )),
    }
}

/// Answers 408 REQUEST_TIMEOUT when a request takes longer than `limit`
/// (`HTTP_REQUEST_TIMEOUT_SECONDS`, a body sent slowly included).
async fn request_timeout(limit: std::time::Duration, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::TimedOut.into_response(),
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

tokio::task_local! {
    /// The id of the request being answered, for the error bodies made
    /// while answering it.
    static CURRENT_REQUEST: RequestId;
}

/// The id of the request this task answers, if it answers one.
pub fn current_request() -> Option<RequestId> {
    CURRENT_REQUEST.try_with(RequestId::clone).ok()
}

/// Gives every request an id (the client's `X-Request-Id` if
/// [`RequestId::accept`] takes it, else a new one), runs it in a span
/// carrying that id (so every log line of the request has it) and echoes
/// it in the response.
async fn request_id(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| RequestId::accept(v.as_bytes()))
        .unwrap_or_else(RequestId::generate);
    request.extensions_mut().insert(id.clone());
    let span = tracing::info_span!("request", request_id = %id.0, method = %request.method(), path = %request.uri().path());
    let started = std::time::Instant::now();
    let answered = async move {
        let response = next.run(request).await;
        // The access log, at debug level (`RUST_LOG=meetings=debug`).
        tracing::debug!(
            status = response.status().as_u16(),
            micros = started.elapsed().as_micros() as u64,
            "answered"
        );
        response
    };
    let mut response = CURRENT_REQUEST
        .scope(id.clone(), answered.instrument(span))
        .await;
    if let Ok(value) = HeaderValue::from_str(&id.0) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}
