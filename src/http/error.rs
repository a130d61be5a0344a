//! The one mapping from every failure to an HTTP status and a stable code
//! (DESIGN section 5), and the error body
//! `{"status":"error","code","message","details","timestamp"}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{Value, json};

use command::AppError;
use command::meeting::MeetingError;
use events::StoreError;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    App(#[from] AppError),
    /// No caller, or a token that does not hold (why, for the client).
    #[error("authentication required: {}", .0.public_reason())]
    Unauthorized(#[from] crate::auth::AuthError),
    /// The route exists, the method does not (the `Allow` header lists
    /// those that do).
    #[error("method not allowed on this route")]
    MethodNotAllowed,
    #[error("{field}: {reason}")]
    Validation { field: String, reason: String },
    #[error("no such route")]
    RouteNotFound,
    /// The request took longer than the server gives one.
    #[error("the request took too long")]
    TimedOut,
    /// The body is larger than the server reads (2 MB).
    #[error("the request body is too large")]
    TooLarge,
    /// The caller may not read this meeting.
    #[error("you may not read this meeting")]
    CannotRead,
    /// `X-Min-Position` was not reached in time.
    #[error("read models are at position {applied}, not yet at {wanted}")]
    Lagging { applied: i64, wanted: i64 },
    /// A read-model query failed.
    #[error(transparent)]
    Read(#[from] sqlx::Error),
    /// A password could not be hashed, stored or checked.
    #[error(transparent)]
    Secret(#[from] crate::secrets::SecretError),
    /// A guest's token used on something other than its meeting.
    #[error("a guest token is good for its own meeting only")]
    GuestElsewhere,
    /// A media server the request needs is not configured (code, name).
    #[error("{1} is not configured on this server")]
    NotConfigured(&'static str, &'static str),
    /// A plain request to the WebSocket's route (why).
    #[error("a WebSocket upgrade is required here: {0}")]
    NotUpgrade(String),
    /// A browser page from an origin not in `CORS_ALLOWED_ORIGINS`.
    #[error("this origin may not open a WebSocket here")]
    ForeignOrigin,
    /// A caller over their budget in a category of requests.
    #[error("rate limit exceeded ({} per {} s for {})", .0.budget.limit, .0.budget.window.as_secs(), .0.category.name())]
    RateLimited(super::limits::Exceeded),
    /// A media server's token could not be made.
    #[error("media token: {0}")]
    Media(String),
    /// No webhook subscription of this id that the caller may see.
    #[error("no such webhook subscription")]
    WebhookNotFound,
    /// The caller may not do this (why).
    #[error("{0}")]
    Forbidden(&'static str),
    /// A caller or a client network holds as many WebSockets as it may
    /// (which bound).
    #[error("too many open connections {0}")]
    TooManyConnections(&'static str),
}

impl From<super::limits::Exceeded> for ApiError {
    fn from(e: super::limits::Exceeded) -> Self {
        Self::RateLimited(e)
    }
}

impl From<crate::workers::Freshness> for ApiError {
    fn from(e: crate::workers::Freshness) -> Self {
        match e {
            crate::workers::Freshness::Lagging { applied, wanted } => {
                Self::Lagging { applied, wanted }
            }
            crate::workers::Freshness::Database(e) => Self::Read(e),
        }
    }
}

/// A budget that ran out, the domain's (chat and reactions per meeting)
/// or the edge's (per caller and category): one body and one set of
/// headers for both.
struct RateLimit {
    limit: u32,
    window_secs: u64,
    retry_after_secs: u64,
}

impl RateLimit {
    fn reset_at(&self) -> chrono::DateTime<Utc> {
        Utc::now() + chrono::Duration::seconds(self.retry_after_secs as i64)
    }

    /// Spec 001's details (`limit`, `window`, `reset_at`), with the
    /// seconds to wait.
    fn details(&self) -> Value {
        json!({
            "limit": self.limit,
            "window": self.window_secs,
            "window_seconds": self.window_secs,
            "retry_after_seconds": self.retry_after_secs,
            "reset_at": self.reset_at().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        })
    }
}

/// Seconds a client should wait before retrying a lagging query.
const RETRY_AFTER_SECS: u32 = 1;
/// Seconds a client should wait before retrying while the database is
/// unreachable.
const UNAVAILABLE_RETRY_AFTER_SECS: u32 = 2;

impl ApiError {
    /// A media server's token failed to be made (a 500, logged).
    pub fn media(e: impl std::fmt::Display) -> Self {
        Self::Media(e.to_string())
    }

    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Validation {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The budget that ran out, if this is a 429.
    fn rate_limit(&self) -> Option<RateLimit> {
        match self {
            Self::RateLimited(exceeded) => Some(RateLimit {
                limit: exceeded.budget.limit,
                window_secs: exceeded.budget.window.as_secs(),
                // Whole seconds, rounded up: a retry then is let through.
                retry_after_secs: exceeded.retry_after.as_secs()
                    + u64::from(exceeded.retry_after.subsec_nanos() > 0),
            }),
            Self::App(AppError::Domain(MeetingError::RateLimited {
                limit,
                window_secs,
                retry_after_secs,
            })) => Some(RateLimit {
                limit: *limit,
                window_secs: u64::from(*window_secs),
                retry_after_secs: u64::from(*retry_after_secs),
            }),
            _ => None,
        }
    }

    /// Whether the database could not be reached (down, timed out): a 503
    /// worth retrying, not a 500.
    fn unavailable(&self) -> bool {
        match self {
            Self::App(AppError::Infra(StoreError::Unavailable(_))) => true,
            Self::Read(e) | Self::Secret(crate::secrets::SecretError::Database(e)) => {
                eventlog::unavailable(e)
            }
            _ => false,
        }
    }

    /// The code and client message (for a WebSocket `error` frame).
    pub fn code_and_message(&self) -> (&'static str, String) {
        let (_, code, message, _) = self.parts();
        (code, message)
    }

    /// Status, code, client message and details.
    fn parts(&self) -> (StatusCode, &'static str, String, Value) {
        use StatusCode as S;
        let plain = |status, code| (status, code, self.to_string(), json!({}));
        match self {
            Self::Unauthorized(_) => plain(S::UNAUTHORIZED, "UNAUTHORIZED"),
            Self::MethodNotAllowed => plain(S::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED"),
            Self::NotUpgrade(_) => plain(S::UPGRADE_REQUIRED, "UPGRADE_REQUIRED"),
            Self::RouteNotFound => plain(S::NOT_FOUND, "ROUTE_NOT_FOUND"),
            Self::TooLarge => plain(S::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE"),
            Self::TimedOut => plain(S::REQUEST_TIMEOUT, "REQUEST_TIMEOUT"),
            Self::WebhookNotFound => plain(S::NOT_FOUND, "WEBHOOK_NOT_FOUND"),
            Self::CannotRead | Self::GuestElsewhere | Self::ForeignOrigin | Self::Forbidden(_) => {
                plain(S::FORBIDDEN, "INSUFFICIENT_PERMISSION")
            }
            Self::NotConfigured(code, _) => plain(S::SERVICE_UNAVAILABLE, code),
            Self::TooManyConnections(_) => plain(S::TOO_MANY_REQUESTS, "TOO_MANY_CONNECTIONS"),
            // Password hashing is queued as deep as the node lets it.
            Self::Secret(crate::secrets::SecretError::Busy) => {
                plain(S::SERVICE_UNAVAILABLE, "SERVER_BUSY")
            }
            Self::RateLimited(_) => {
                let limit = self.rate_limit().expect("a rate limit");
                (
                    S::TOO_MANY_REQUESTS,
                    "RATE_LIMIT_EXCEEDED",
                    "Rate limit exceeded".into(),
                    limit.details(),
                )
            }
            Self::Lagging { applied, wanted } => (
                S::SERVICE_UNAVAILABLE,
                "PROJECTION_LAGGING",
                self.to_string(),
                json!({ "applied_position": applied, "min_position": wanted }),
            ),
            _ if self.unavailable() => (
                S::SERVICE_UNAVAILABLE,
                "DATABASE_UNAVAILABLE",
                "the database cannot be reached; try again shortly".into(),
                json!({}),
            ),
            Self::Read(_) | Self::Secret(_) | Self::Media(_) => (
                S::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                "internal error".into(),
                json!({}),
            ),
            Self::Validation { field, reason } => (
                S::UNPROCESSABLE_ENTITY,
                "VALIDATION_FAILED",
                format!("{field}: {reason}"),
                json!({ "field": field, "reason": reason }),
            ),
            Self::App(app) => match app {
                AppError::NotFound => plain(S::NOT_FOUND, "MEETING_NOT_FOUND"),
                AppError::Conflict => plain(S::CONFLICT, "VERSION_CONFLICT"),
                AppError::IdempotencyKeyReused => (
                    S::UNPROCESSABLE_ENTITY,
                    "VALIDATION_FAILED",
                    "Idempotency-Key was already used for a different request".into(),
                    json!({ "field": "Idempotency-Key", "reason": "reused for a different request" }),
                ),
                AppError::Infra(_) => (
                    S::INTERNAL_SERVER_ERROR,
                    "INTERNAL",
                    "internal error".into(),
                    json!({}),
                ),
                AppError::Domain(domain) => match domain {
                    MeetingError::Validation { field, reason } => (
                        S::UNPROCESSABLE_ENTITY,
                        "VALIDATION_FAILED",
                        domain.to_string(),
                        json!({ "field": field, "reason": reason }),
                    ),
                    MeetingError::NotFound => plain(S::NOT_FOUND, "MEETING_NOT_FOUND"),
                    MeetingError::AlreadyExists => plain(S::CONFLICT, "VERSION_CONFLICT"),
                    MeetingError::NotHost => plain(S::FORBIDDEN, "INSUFFICIENT_PERMISSION"),
                    MeetingError::AlreadyActive => plain(S::CONFLICT, "MEETING_ALREADY_ACTIVE"),
                    MeetingError::Ended | MeetingError::Cancelled => {
                        plain(S::GONE, "MEETING_ENDED")
                    }
                    MeetingError::NotActive => plain(S::BAD_REQUEST, "ROOM_NOT_ACTIVE"),
                    MeetingError::Locked => plain(S::FORBIDDEN, "MEETING_LOCKED"),
                    MeetingError::Full | MeetingError::RoomFull => {
                        plain(S::FORBIDDEN, "MAX_PARTICIPANTS_REACHED")
                    }
                    MeetingError::NotPresent | MeetingError::NotWaiting => {
                        plain(S::NOT_FOUND, "PARTICIPANT_NOT_FOUND")
                    }
                    MeetingError::ParticipantNotFound(user) => (
                        S::NOT_FOUND,
                        "PARTICIPANT_NOT_FOUND",
                        domain.to_string(),
                        json!({ "user_id": user }),
                    ),
                    MeetingError::NotModerator
                    | MeetingError::NotPermitted
                    | MeetingError::HostRemoval
                    | MeetingError::Blocked => plain(S::FORBIDDEN, "INSUFFICIENT_PERMISSION"),
                    MeetingError::InvalidPassword => plain(S::FORBIDDEN, "INVALID_PASSWORD"),
                    MeetingError::GuestsNotAllowed => plain(S::UNAUTHORIZED, "UNAUTHORIZED"),
                    MeetingError::NotInMeeting => plain(S::FORBIDDEN, "NOT_IN_MEETING"),
                    MeetingError::NotMember => plain(S::FORBIDDEN, "INSUFFICIENT_PERMISSION"),
                    MeetingError::ChatDisabled => plain(S::FORBIDDEN, "CHAT_DISABLED"),
                    MeetingError::ScreenShareDisabled => {
                        plain(S::FORBIDDEN, "SCREEN_SHARE_DISABLED")
                    }
                    MeetingError::CameraDisabled => plain(S::FORBIDDEN, "CAMERA_DISABLED"),
                    MeetingError::RecordingDisabled => plain(S::FORBIDDEN, "RECORDING_DISABLED"),
                    MeetingError::RecordingInProgress => {
                        plain(S::CONFLICT, "RECORDING_IN_PROGRESS")
                    }
                    MeetingError::NotRecording => plain(S::CONFLICT, "RECORDING_NOT_IN_PROGRESS"),
                    MeetingError::RecordingNotFound => plain(S::NOT_FOUND, "RECORDING_NOT_FOUND"),
                    MeetingError::BreakoutOpen => plain(S::CONFLICT, "BREAKOUT_ROOMS_OPEN"),
                    MeetingError::BreakoutNotOpen => plain(S::CONFLICT, "BREAKOUT_ROOMS_NOT_OPEN"),
                    MeetingError::RateLimited { .. } => {
                        let limit = self.rate_limit().expect("a rate limit");
                        (
                            S::TOO_MANY_REQUESTS,
                            "RATE_LIMIT_EXCEEDED",
                            domain.to_string(),
                            limit.details(),
                        )
                    }
                },
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message, details) = self.parts();
        if self.unavailable() {
            tracing::warn!(error = ?self, "the database is unavailable");
        } else if status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE {
            // The request span carries the request id.
            tracing::error!(error = ?self, "request failed");
        }
        let body = json!({
            "status": "error",
            "code": code,
            "message": message,
            "details": details,
            "timestamp": Utc::now(),
            "request_id": super::current_request().map(|id| id.0.to_string()),
        });
        let mut response = (status, axum::Json(body)).into_response();
        if let Self::Unauthorized(reason) = &self {
            response
                .headers_mut()
                .insert(axum::http::header::WWW_AUTHENTICATE, challenge(reason));
        }
        if matches!(
            self,
            Self::Lagging { .. } | Self::Secret(crate::secrets::SecretError::Busy)
        ) {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, RETRY_AFTER_SECS.into());
        }
        if self.unavailable() {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                UNAVAILABLE_RETRY_AFTER_SECS.into(),
            );
        }
        if let Some(limit) = self.rate_limit() {
            let headers = response.headers_mut();
            headers.insert("x-ratelimit-limit", limit.limit.into());
            headers.insert("x-ratelimit-remaining", 0.into());
            headers.insert("x-ratelimit-reset", limit.reset_at().timestamp().into());
            headers.insert(
                axum::http::header::RETRY_AFTER,
                limit.retry_after_secs.into(),
            );
        }
        response
    }
}

/// The `WWW-Authenticate` challenge for a refused caller (RFC 6750 3.1):
/// without a token, the scheme alone; with one, `invalid_token` and what
/// was wrong with it.
fn challenge(reason: &crate::auth::AuthError) -> axum::http::HeaderValue {
    if reason.is_missing() {
        return axum::http::HeaderValue::from_static(r#"Bearer realm="meetings""#);
    }
    // error_description allows printable ASCII but `"` and `\`.
    let description: String = reason
        .public_reason()
        .chars()
        .map(|c| match c {
            ' '..='~' if c != '"' && c != '\\' => c,
            _ => '?',
        })
        .collect();
    axum::http::HeaderValue::from_str(&format!(
        r#"Bearer realm="meetings", error="invalid_token", error_description="{description}""#
    ))
    .unwrap_or_else(|_| axum::http::HeaderValue::from_static(r#"Bearer error="invalid_token""#))
}
