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

/// The path's `{meeting}`.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct MeetingPath {
    /// The meeting id or its room code.
    meeting: String,
}

/// The `Idempotency-Key` header of a command.
#[derive(utoipa::IntoParams)]
#[into_params(names("Idempotency-Key"), parameter_in = Header)]
#[allow(dead_code)]
pub struct Keyed(
    /// 1-255 visible ASCII characters; a retry answers as the first time.
    #[param(
        nullable = false,
        min_length = 1,
        max_length = 255,
        pattern = "^[!-~]+$"
    )]
    Option<String>,
);

/// The `X-Min-Position` header of a query.
#[derive(utoipa::IntoParams)]
#[into_params(names("X-Min-Position"), parameter_in = Header)]
#[allow(dead_code)]
pub struct MinPosition(
    /// Wait until the read models reach this log position.
    #[param(nullable = false, minimum = 0)]
    Option<i64>,
);

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
        (name = "audit", description = "The log for auditors"),
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
            "livekit",
            SecurityScheme::ApiKey(utoipa::openapi::security::ApiKey::Header(
                utoipa::openapi::security::ApiKeyValue::with_description(
                    "Authorization",
                    "LiveKit's webhook signature: a JWT signed with the API secret, whose sha256 claim is the body's",
                ),
            )),
        );
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

/// Completes the document once every route is in it: its own `info` (the
/// routers it was assembled from bring their crate's), the answers every
/// operation shares ([`CommonErrors`]) and the links from what makes a
/// thing to what uses it ([`Links`]).
pub fn finish(document: &mut utoipa::openapi::OpenApi) {
    document.info = ApiDoc::openapi().info;
    document.info.version = env!("CARGO_PKG_VERSION").into();
    document.info.license = Some(utoipa::openapi::License::new(env!("CARGO_PKG_LICENSE")));
    CommonErrors.modify(document);
    Links.modify(document);
}

/// Every operation of the document, to change.
fn operations_mut(
    openapi: &mut utoipa::openapi::OpenApi,
) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    openapi.paths.paths.values_mut().flat_map(|item| {
        [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
    })
}

/// The answers that make a thing, and which path parameter of other
/// operations the thing's id fills: (operation, status, parameter, where
/// the answer holds it).
const MAKERS: [(&str, &str, &str, &str); 5] = [
    (
        "create_meeting",
        "201",
        "meeting",
        "$response.body#/meeting_id",
    ),
    ("create_webhook", "201", "id", "$response.body#/id"),
    ("join", "200", "user_id", "$response.body#/user_id"),
    (
        "join",
        "202",
        "participant_id",
        "$response.body#/participant_id",
    ),
    (
        "start_recording",
        "200",
        "recording_id",
        "$response.body#/recording_id",
    ),
];

/// OpenAPI `links` from each answer in [`MAKERS`] to every operation whose
/// path parameters it fills (with the maker's own, such as `meeting`,
/// passed on from its request): what a client, or a fuzzer's stateful
/// phase, follows from "create" to "use".
struct Links;

impl Modify for Links {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::RefOr;
        use utoipa::openapi::link::LinkBuilder;
        fn parameters_of(path: &str) -> Vec<&str> {
            path.split('{')
                .skip(1)
                .filter_map(|rest| rest.split('}').next())
                .collect()
        }
        // Every operation: (id, path).
        let mut operations = Vec::new();
        for (path, item) in &openapi.paths.paths {
            for operation in [&item.get, &item.post, &item.put, &item.patch, &item.delete]
                .into_iter()
                .flatten()
            {
                if let Some(id) = &operation.operation_id {
                    operations.push((id.clone(), path.clone()));
                }
            }
        }

        for (maker, status, parameter, value) in MAKERS {
            let Some((_, maker_path)) = operations.iter().find(|(id, _)| id == maker) else {
                continue;
            };
            let inherited = parameters_of(maker_path);
            let links: Vec<(String, utoipa::openapi::link::Link)> = operations
                .iter()
                .filter(|(id, path)| {
                    let wanted = parameters_of(path);
                    id != maker
                        && wanted.contains(&parameter)
                        && wanted
                            .iter()
                            .all(|p| *p == parameter || inherited.contains(p))
                })
                .map(|(id, path)| {
                    // utoipa 5.5 writes a link's fields in snake case
                    // (`operation_id`), which no reader of OpenAPI takes:
                    // the id goes in under its own name.
                    let named = utoipa::openapi::extensions::Extensions::from_iter([(
                        "operationId",
                        id.clone(),
                    )]);
                    let mut link = LinkBuilder::new()
                        .extensions(Some(named))
                        .parameter(parameter, value);
                    for shared in parameters_of(path).into_iter().filter(|p| *p != parameter) {
                        link = link.parameter(shared, format!("$request.path.{shared}"));
                    }
                    (id.clone(), link.build())
                })
                .collect();
            for operation in
                operations_mut(openapi).filter(|o| o.operation_id.as_deref() == Some(maker))
            {
                if let Some(RefOr::T(response)) = operation.responses.responses.get_mut(status) {
                    for (name, link) in &links {
                        response.links.insert(name.clone(), RefOr::T(link.clone()));
                    }
                }
            }
        }
    }
}

/// The answers any operation may give besides its own: 422 (a URL with
/// `%00`, a bad header), 413 and 408 for a body, 429 where a budget
/// applies, 503 when the database is unreachable, 405 for another method;
/// and 401 wherever a token is needed.
struct CommonErrors;

impl Modify for CommonErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
        };
        let common = [
            ("408", "REQUEST_TIMEOUT: the request took too long"),
            ("413", "PAYLOAD_TOO_LARGE: a body over 2 MB"),
            ("422", "VALIDATION_FAILED: the field in `details`"),
            (
                "429",
                "RATE_LIMIT_EXCEEDED: with X-RateLimit-* and Retry-After",
            ),
            (
                "503",
                "DATABASE_UNAVAILABLE (Retry-After) or PROJECTION_LAGGING",
            ),
        ];
        let top_level = openapi.security.clone().unwrap_or_default();
        for operation in operations_mut(openapi) {
            let responses = &mut operation.responses.responses;
            for (status, description) in common {
                responses
                    .entry(status.into())
                    .or_insert_with(|| error(description).into());
            }
            let security = operation.security.as_ref().unwrap_or(&top_level);
            let open = security.iter().any(|s| {
                serde_json::to_value(s).is_ok_and(|v| v.as_object().is_some_and(|o| o.is_empty()))
            });
            if !open {
                responses.entry("401".into()).or_insert_with(|| {
                    error("UNAUTHORIZED: missing, malformed, expired or forged token (WWW-Authenticate says why)").into()
                });
            }
        }
    }
}
