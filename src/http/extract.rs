//! Extractors: who calls ([`AuthUser`]), which request this is
//! ([`RequestId`]), the JSON body with errors in our format ([`JsonBody`]),
//! and the client's `Idempotency-Key` ([`IdempotencyHeader`]).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, OptionalFromRequestParts, Path, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use command::IdempotencyKey;
use command::meeting::Caller;
use events::views::MeetingStatus;

use super::{ApiError, AppState};
use crate::auth::{AuthError, bearer};

/// The authenticated caller; a route that takes it answers 401 without a
/// valid bearer token, and 403 for a guest's token on a route that is not
/// about the guest's meeting ([`authenticate`]).
pub struct AuthUser(pub Caller);

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let meeting = meeting_in_path(parts, state).await;
        // The limits layer verified it already.
        if let Some(super::limits::Verified(caller)) = parts.extensions.remove() {
            return admit(state, caller, meeting.as_deref()).await.map(Self);
        }
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let token = bearer(header)?.to_owned();
        authenticate(state, &token, meeting.as_deref())
            .await
            .map(Self)
    }
}

/// A route a guest may also call without any token (the join by link):
/// `None` without an `Authorization` header, the caller with a valid one,
/// 401 with an invalid one.
impl OptionalFromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, ApiError> {
        if !parts
            .headers
            .contains_key(axum::http::header::AUTHORIZATION)
        {
            return Ok(None);
        }
        <Self as FromRequestParts<AppState>>::from_request_parts(parts, state)
            .await
            .map(Some)
    }
}

/// The path's `{meeting}` (an id or a room code), if the route has one.
pub async fn meeting_in_path(parts: &mut Parts, state: &AppState) -> Option<String> {
    <Path<std::collections::HashMap<String, String>> as FromRequestParts<AppState>>::from_request_parts(
        parts, state,
    )
    .await
    .ok()
    .and_then(|Path(mut params)| params.remove("meeting"))
}

/// The caller a token names, for a request about `meeting` (the path's
/// reference, if any). A guest's token is good only on the routes of its
/// own meeting, and only until that meeting is over: elsewhere 403, after
/// the end 401 (it expired with its meeting).
pub async fn authenticate(
    state: &AppState,
    token: &str,
    meeting: Option<&str>,
) -> Result<Caller, ApiError> {
    let caller = state.keys.verify(token).await.inspect_err(|e| {
        tracing::debug!(error = %e, "token refused");
    })?;
    admit(state, caller, meeting).await
}

/// A verified caller, for a request about `meeting`: a guest only on
/// their own meeting, while it lasts.
async fn admit(
    state: &AppState,
    caller: Caller,
    meeting: Option<&str>,
) -> Result<Caller, ApiError> {
    let Some(own) = caller.guest_of() else {
        return Ok(caller);
    };
    let asked = match meeting {
        Some(reference) => state.commands.resolve(reference).await.ok(),
        None => None,
    };
    if asked != Some(own) {
        return Err(ApiError::GuestElsewhere);
    }
    let over = state
        .commands
        .inspect(own, |m| {
            m.is_none_or(|m| matches!(m.status, MeetingStatus::Ended | MeetingStatus::Cancelled))
        })
        .await?;
    if over {
        return Err(AuthError::MeetingOver.into());
    }
    Ok(caller)
}

/// The id of the current request (set by the request-id layer): the
/// client's `X-Request-Id` when it is [`RequestId::accept`]able, else a
/// new UUID.
#[derive(Debug, Clone)]
pub struct RequestId(pub std::sync::Arc<str>);

impl RequestId {
    /// The longest `X-Request-Id` taken from a client.
    pub const MAX_LEN: usize = 128;

    /// A new id (a UUID v7, so ids sort by time).
    pub fn generate() -> Self {
        Self(Uuid::now_v7().to_string().into())
    }

    /// A client's id, if it is 1 to [`Self::MAX_LEN`] characters of
    /// letters, digits and `-_.:` (so it is safe in logs and headers).
    pub fn accept(value: &[u8]) -> Option<Self> {
        let fits = (1..=Self::MAX_LEN).contains(&value.len())
            && value
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b));
        fits.then(|| Self(String::from_utf8_lossy(value).into()))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<RequestId>()
            .cloned()
            .unwrap_or_else(RequestId::generate))
    }
}

/// A JSON body. An empty body is the type's default (every field absent);
/// malformed JSON, a wrong type or an unknown field is 422
/// VALIDATION_FAILED naming the field.
pub struct JsonBody<T>(pub T);

impl<T, S> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned + Default,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = body_bytes(request, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(T::default()));
        }
        if escapes_nul(&bytes) {
            return Err(ApiError::invalid("body", "text must not contain U+0000"));
        }
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        serde_path_to_error::deserialize(de).map(Self).map_err(|e| {
            let path = e.path().to_string();
            let field = if path == "." || path == "?" {
                "body".to_owned()
            } else {
                path
            };
            ApiError::invalid(field, e.into_inner().to_string())
        })
    }
}

/// A request's body, its refusals in the error format (413 over the
/// limit).
async fn body_bytes<S: Send + Sync>(request: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(request, state).await.map_err(|e| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge
        } else {
            ApiError::invalid("body", e.body_text())
        }
    })
}

/// A body of UTF-8 text (one a signature covers as sent: a media server's
/// webhook), its refusals in the error format.
pub struct TextBody(pub String);

impl<S: Send + Sync> FromRequest<S> for TextBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = body_bytes(request, state).await?;
        String::from_utf8(bytes.to_vec())
            .map(Self)
            .map_err(|_| ApiError::invalid("body", "must be UTF-8 text"))
    }
}

/// Whether JSON text holds an escaped NUL (`\u0000`, which is the only way
/// JSON can carry one): a `\` starting an escape, i.e. after an even run
/// of backslashes, then `u0000`.
fn escapes_nul(json: &[u8]) -> bool {
    let mut backslashes = 0;
    for (at, byte) in json.iter().enumerate() {
        if *byte == b'\\' {
            backslashes += 1;
            continue;
        }
        if backslashes % 2 == 1 && json[at..].starts_with(b"u0000") {
            return true;
        }
        backslashes = 0;
    }
    false
}

/// The client's `Idempotency-Key` header (1 to 255 visible ASCII characters).
pub struct IdempotencyHeader(pub String);

impl<S: Send + Sync> OptionalFromRequestParts<S> for IdempotencyHeader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, ApiError> {
        let Some(value) = parts.headers.get("idempotency-key") else {
            return Ok(None);
        };
        let key = value
            .to_str()
            .ok()
            .filter(|k| (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()))
            .ok_or_else(|| {
                ApiError::invalid(
                    "Idempotency-Key",
                    "must be 1 to 255 visible ASCII characters",
                )
            })?;
        Ok(Some(Self(key.to_owned())))
    }
}

impl IdempotencyHeader {
    /// The key scoped to its caller, with a fingerprint of the request so
    /// a reuse for another request is refused.
    pub fn for_request(
        self,
        caller: &Caller,
        route: &str,
        body: &impl serde::Serialize,
    ) -> IdempotencyKey {
        let mut digest = Sha256::new();
        digest.update(route.as_bytes());
        digest.update([0]);
        digest.update(
            serde_json::to_vec(body).expect("request bodies are plain data: they serialise"),
        );
        IdempotencyKey {
            scope: caller.user_id.to_string(),
            key: self.0,
            fingerprint: hex::encode(digest.finalize()),
        }
    }
}

/// A route's query string, or 422 naming what is wrong with it.
pub(super) fn query_of<T>(
    params: Result<axum::extract::Query<T>, axum::extract::rejection::QueryRejection>,
) -> Result<T, ApiError> {
    params
        .map(|axum::extract::Query(params)| params)
        .map_err(|e| ApiError::invalid("query", e.body_text()))
}

/// 422 unless `value` (when given) is at least `min`.
pub(super) fn at_least(field: &str, value: Option<i64>, min: i64) -> Result<(), ApiError> {
    match value {
        Some(v) if v < min => Err(ApiError::invalid(field, format!("must be at least {min}"))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::escapes_nul;

    #[test]
    fn an_escaped_nul_is_found_and_an_escaped_backslash_before_u0000_is_not() {
        assert!(escapes_nul(br#"{"a":"x\u0000y"}"#));
        assert!(escapes_nul(br#"{"a":"\\\u0000"}"#));
        assert!(!escapes_nul(br#"{"a":"\\u0000"}"#));
        assert!(!escapes_nul(br#"{"a":"u0000 \u0001"}"#));
    }
}
