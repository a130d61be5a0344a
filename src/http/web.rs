//! The pages this binary serves to people: the join page behind every
//! `meeting_link` (`/meeting/{room_code}`), the console (`/console`), their
//! assets (compiled in from `web/`, no build step, no network), and the
//! console's local sign-in for the embedded default.
//!
//! The pages hold no data: they are static and talk to the public API and
//! the WebSocket like any other client (README, "The join page and the
//! console"), so everything they show passes the same checks as a curl
//! would.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::LazyLock;

use super::extract::JsonBody;
use super::{ApiError, AppState};

/// One compiled-in file: its name under `/assets/`, media type and text.
struct Asset {
    name: &'static str,
    media_type: &'static str,
    body: &'static str,
}

macro_rules! assets {
    ($( $name:literal => $media_type:literal ),* $(,)?) => {
        const ASSETS: &[Asset] = &[$(
            Asset {
                name: $name,
                media_type: $media_type,
                body: include_str!(concat!("../../web/", $name)),
            },
        )*];
    };
}

assets! {
    "app.css" => "text/css; charset=utf-8",
    "api.js" => "text/javascript; charset=utf-8",
    "room.js" => "text/javascript; charset=utf-8",
    "join.js" => "text/javascript; charset=utf-8",
    "console.js" => "text/javascript; charset=utf-8",
    "timeline.js" => "text/javascript; charset=utf-8",
}

const JOIN_PAGE: &str = include_str!("../../web/join.html");
const CONSOLE_PAGE: &str = include_str!("../../web/console.html");

/// What the pages may load and where they may connect: this server only.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// What the interactive reference (`/docs`, Swagger UI from the binary)
/// may load: this server only; Swagger UI sets styles on its elements and
/// draws icons as `data:` images, nothing inline runs.
const DOCS_CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The headers of every answer of `/docs`.
pub async fn docs_headers(mut response: Response) -> Response {
    guard(response.headers_mut(), DOCS_CONTENT_SECURITY_POLICY);
    response
}

/// What a browser is told of a page or an asset: its policy, no sniffing,
/// no referrer.
fn guard(headers: &mut axum::http::HeaderMap, policy: &'static str) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(policy),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

/// The pages' routes (outside `/api/v1` and the OpenAPI document).
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/meeting/{room_code}", get(join_page))
        .route("/console", get(console_page))
        .route("/console/", get(console_page))
        .route("/console/dev-login", post(dev_login))
        .route("/assets/{name}", get(asset))
}

const HTML: &str = "text/html; charset=utf-8";

/// A page or asset ready to serve: its text and the `ETag` of it, made
/// once per process rather than on every request.
struct Ready {
    media_type: &'static str,
    body: axum::body::Bytes,
    etag: String,
}

impl Ready {
    fn new(body: String, media_type: &'static str) -> Self {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        body.hash(&mut hasher);
        Self {
            media_type,
            etag: format!("\"{:016x}\"", hasher.finish()),
            body: body.into(),
        }
    }
}

/// Every page and asset by name: the assets', `join`, and the console
/// with its local sign-in off (`console`) and on (`console+dev`).
static READY: LazyLock<HashMap<&'static str, Ready>> = LazyLock::new(|| {
    let console = |dev: &str| CONSOLE_PAGE.replace("{{DEV_LOGIN}}", dev);
    let mut ready: HashMap<&'static str, Ready> = ASSETS
        .iter()
        .map(|a| (a.name, Ready::new(a.body.to_owned(), a.media_type)))
        .collect();
    ready.insert("join", Ready::new(JOIN_PAGE.to_owned(), HTML));
    ready.insert("console", Ready::new(console("false"), HTML));
    ready.insert("console+dev", Ready::new(console("true"), HTML));
    ready
});

async fn join_page(Path(_room_code): Path<String>, asked: HeaderMap) -> Response {
    served(&READY["join"], &asked)
}

async fn console_page(State(state): State<AppState>, asked: HeaderMap) -> Response {
    let page = if state.dev_login {
        "console+dev"
    } else {
        "console"
    };
    served(&READY[page], &asked)
}

async fn asset(Path(name): Path<String>, asked: HeaderMap) -> Result<Response, ApiError> {
    let ready = ASSETS
        .iter()
        .find(|a| a.name == name)
        .and_then(|a| READY.get(a.name))
        .ok_or(ApiError::RouteNotFound)?;
    Ok(served(ready, &asked))
}

/// A page or asset with the headers every one carries: its `ETag`,
/// revalidated on each load (`no-cache`: a new binary serves new assets at
/// the same names) and answered 304 while unchanged; locked to this
/// origin.
fn served(ready: &Ready, asked: &HeaderMap) -> Response {
    let etag = &ready.etag;
    let unchanged = asked
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| tag.trim() == etag || tag.trim() == "*");
    let mut response = if unchanged {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ready.body.clone().into_response()
    };
    let headers = response.headers_mut();
    if let Ok(etag) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, etag);
    }
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(ready.media_type),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    guard(headers, CONTENT_SECURITY_POLICY);
    response
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DevLogin {
    name: Option<String>,
    /// `admin` and/or `auditor`, to try those doors too.
    roles: Option<Vec<String>>,
}

#[derive(Debug, Serialize)]
struct DevToken {
    token: String,
    user_id: String,
}

/// `POST /console/dev-login {name, roles?}` -> a token for that name
/// (`sub` is the name in lower case with dashes), only when
/// `MEETINGS_DEV_LOGIN` is on (the embedded default only); 404 otherwise.
async fn dev_login(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<DevLogin>,
) -> Result<Json<DevToken>, ApiError> {
    if !state.dev_login {
        return Err(ApiError::RouteNotFound);
    }
    let name = body.name.as_deref().map(str::trim).unwrap_or_default();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "name",
            "1 to 100 characters, no control characters",
        ));
    }
    let user_id = super::admission::slug(name, 64);
    if user_id.is_empty() {
        return Err(ApiError::invalid(
            "name",
            "must hold at least one letter or digit",
        ));
    }
    let roles = body.roles.unwrap_or_default();
    if let Some(role) = roles
        .iter()
        .find(|r| events::deployment::DeploymentRole::parse(r).is_none())
    {
        return Err(ApiError::invalid(
            "roles",
            format!("{role:?} is not admin or auditor"),
        ));
    }
    let token = state
        .keys
        .issue(&user_id, name, None, &roles, chrono::Duration::hours(8))
        .map_err(ApiError::media)?;
    Ok(Json(DevToken { token, user_id }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_becomes_a_lower_case_dashed_id() {
        let slug = |name| super::super::admission::slug(name, 64);
        assert_eq!(slug("Hana Host"), "hana-host");
        assert_eq!(slug("  Zoe  O'Brien!! "), "zoe-o-brien");
        assert_eq!(slug("!!!"), "");
    }

    #[test]
    fn every_page_names_only_assets_that_are_compiled_in() {
        for page in [JOIN_PAGE, CONSOLE_PAGE] {
            for part in page.split("/assets/").skip(1) {
                let name = part.split('"').next().unwrap_or_default();
                assert!(
                    ASSETS.iter().any(|a| a.name == name),
                    "{name} is not compiled in"
                );
            }
        }
    }
}
