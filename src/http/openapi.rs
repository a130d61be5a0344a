//! The OpenAPI 3.1 document, made from the handlers' own annotations and
//! the types their bodies are (de)serialised from (`utoipa`): the router
//! is built from the same annotated handlers ([`super::router`] uses
//! `utoipa-axum`'s `routes!`), so a route cannot exist without its
//! description. Served at `GET /api/v1/openapi.json`, with an interactive
//! reference at `GET /docs` whose assets are in the binary.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The body of every error answer.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ErrorBody {
    /// Always `error`.
    status: String,
    /// A stable code (DESIGN section 5): `VALIDATION_FAILED`,
    /// `UNAUTHORIZED`, `MEETING_NOT_FOUND`, `RATE_LIMIT_EXCEEDED`, ...
    code: String,
    message: String,
    /// What the code needs said: the field, the limit, the position.
    details: serde_json::Map<String, serde_json::Value>,
    timestamp: chrono::DateTime<chrono::Utc>,
    /// The request's `X-Request-Id`.
    request_id: Option<String>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Meetings",
        description = "Event-sourced video-meeting management: commands append to a hash-chained log; queries read projections; every command answers the log position its effect is visible at."
    ),
    modifiers(&Bearer),
    security(("bearer" = [])),
    components(schemas(ErrorBody)),
    tags(
        (name = "meetings", description = "A meeting's life"),
        (name = "participants", description = "Admission, roles and the waiting room"),
        (name = "chat", description = "Chat and reactions"),
        (name = "breakout rooms"),
        (name = "recordings"),
        (name = "settings", description = "Live settings and the security policy"),
        (name = "media", description = "LiveKit and Jitsi"),
        (name = "queries", description = "Read models"),
        (name = "live", description = "The WebSocket"),
        (name = "ops", description = "Health, readiness, metrics"),
    )
)]
pub struct ApiDoc;

/// The bearer scheme: a JWT (HS256 with the server's secret, or an
/// identity provider's RS256/ES256).
struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}
