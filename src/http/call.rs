//! The machinery every command route shares: who calls and on which
//! meeting ([`Call`]), whether the route takes an `Idempotency-Key`
//! (declared by the handler's type, [`Keyed`] or [`Unkeyed`]), the
//! command's [`Context`], and one typed response for every reply.
//!
//! A route whose effect is naturally idempotent (setting values: `PUT`,
//! `PATCH`) is `Call<Unkeyed>` and ignores the header; every other command
//! is `Call<Keyed>`: a retry with the same key gets the first answer and
//! appends nothing.

use std::marker::PhantomData;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use command::meeting::{Caller, Command, Context, Reply};
use command::{AppError, Executed, IdempotencyKey};
use events::MeetingId;
use events::views::ParticipantStatus;

use super::extract::{AuthUser, IdempotencyHeader, RequestId, meeting_in_path};
use super::{ApiError, AppState};

/// The command's context: the caller, now (to the microsecond the log
/// keeps), and the request that carries it.
pub fn context(caller: Caller, request: RequestId) -> Context {
    Context {
        caller,
        at: events::time::now(),
        request_id: Some(request.0.to_string()),
    }
}

/// Whether a route takes an `Idempotency-Key`.
pub trait Keying: Send + Sync + 'static {
    const TAKES_KEY: bool;
}

/// The route takes an `Idempotency-Key` (every POST and DELETE command).
pub struct Keyed;
/// The route's effect is naturally idempotent (it sets values); the header
/// is ignored.
pub struct Unkeyed;

impl Keying for Keyed {
    const TAKES_KEY: bool = true;
}

impl Keying for Unkeyed {
    const TAKES_KEY: bool = false;
}

/// A command call by an authenticated caller, with its idempotency key
/// when the route takes one. The meeting, if the path names one, is
/// resolved by [`Call::meeting_id`].
pub struct Call<K: Keying = Keyed> {
    pub state: AppState,
    pub caller: Caller,
    request: RequestId,
    /// The path's `{meeting}` (an id or a room code), if it has one.
    meeting: Option<String>,
    idempotency: Option<IdempotencyHeader>,
    keying: PhantomData<K>,
}

impl<K: Keying> FromRequestParts<AppState> for Call<K> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let AuthUser(caller) =
            <AuthUser as FromRequestParts<AppState>>::from_request_parts(parts, state).await?;
        Self::with_caller(parts, state, caller).await
    }
}

impl<K: Keying> Call<K> {
    async fn with_caller(
        parts: &mut Parts,
        state: &AppState,
        caller: Caller,
    ) -> Result<Self, ApiError> {
        let request = RequestId::from_request_parts(parts, state)
            .await
            .unwrap_or_else(|e| match e {});
        // A route without `{meeting}` (create) has no path parameters.
        let meeting = meeting_in_path(parts, state).await;
        let idempotency = if K::TAKES_KEY {
            <IdempotencyHeader as OptionalFromRequestParts<AppState>>::from_request_parts(
                parts, state,
            )
            .await?
        } else {
            None
        };
        Ok(Self::new(
            state.clone(),
            caller,
            request,
            meeting,
            idempotency,
        ))
    }

    pub fn new(
        state: AppState,
        caller: Caller,
        request: RequestId,
        meeting: Option<String>,
        idempotency: Option<IdempotencyHeader>,
    ) -> Self {
        Self {
            state,
            caller,
            request,
            meeting,
            idempotency: idempotency.filter(|_| K::TAKES_KEY),
            keying: PhantomData,
        }
    }

    /// The meeting the path names.
    pub async fn meeting_id(&self) -> Result<MeetingId, ApiError> {
        let reference = self
            .meeting
            .as_deref()
            .ok_or(ApiError::App(AppError::NotFound))?;
        Ok(self.state.commands.resolve(reference).await?)
    }

    /// This call's command context.
    pub fn context(&self) -> Context {
        context(self.caller.clone(), self.request.clone())
    }

    /// The idempotency key scoped to the caller and fingerprinted with the
    /// route and `body`, when the route takes one and the client sent it.
    fn key(&mut self, route: &str, body: &impl Serialize) -> Option<IdempotencyKey> {
        let caller = &self.caller;
        self.idempotency
            .take()
            .map(|key| key.for_request(caller, route, body))
    }

    /// Resolves the path's meeting, runs the command on it and answers.
    /// `body` is what the idempotency fingerprint covers.
    pub async fn run(
        self,
        route: &str,
        command: Command,
        body: &impl Serialize,
    ) -> Result<Response, ApiError> {
        let meeting_id = self.meeting_id().await?;
        self.run_on(meeting_id, route, command, body).await
    }

    /// Runs the command on a meeting already resolved.
    pub async fn run_on(
        self,
        meeting_id: MeetingId,
        route: &str,
        command: Command,
        body: &impl Serialize,
    ) -> Result<Response, ApiError> {
        let state = self.state.clone();
        let done = self.execute_on(meeting_id, route, command, body).await?;
        Ok(respond(&state, done).await)
    }

    /// Runs the command on a meeting already resolved and gives what was
    /// done, for a route whose answer adds to the reply.
    pub async fn execute_on(
        mut self,
        meeting_id: MeetingId,
        route: &str,
        command: Command,
        body: &impl Serialize,
    ) -> Result<Executed, ApiError> {
        let key = self.key(&format!("{route} {meeting_id}"), body);
        let ctx = self.context();
        Ok(self
            .state
            .commands
            .execute(meeting_id, &ctx, command, key)
            .await?)
    }

    /// Schedules a new meeting (the one command without a meeting yet).
    pub async fn schedule(
        mut self,
        command: command::meeting::lifecycle::ScheduleMeeting,
        body: &impl Serialize,
    ) -> Result<Response, ApiError> {
        let key = self.key("POST /meetings", body);
        let ctx = self.context();
        let done = self.state.commands.schedule(&ctx, command, key).await?;
        Ok(respond(&self.state, done).await)
    }
}

/// A reply's body with what the response adds around it.
#[derive(Serialize)]
struct Answer<'a, B: Serialize> {
    #[serde(flatten)]
    body: &'a B,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    extra: Option<Extra>,
    #[serde(flatten)]
    join: &'a JoinAdditions,
    /// The position a reader must reach to see the command's effect.
    position: i64,
    /// The hash of the event at `position`, hex: a receipt the client
    /// can check later (`GET /api/v1/audit/receipt`).
    #[serde(skip_serializing_if = "Option::is_none")]
    hash: Option<&'a str>,
}

/// What a join's answer adds for the one who joined: their way into the
/// media room (when they are in and LiveKit is configured) and a guest's
/// token.
#[derive(Debug, Default, Serialize)]
pub struct JoinAdditions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media: Option<crate::media::MediaAccess>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guest_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guest_token_expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Fields the HTTP answer adds to a reply.
#[derive(Serialize)]
#[serde(untagged)]
enum Extra {
    /// A new meeting's shareable link, and where its media room is (spec
    /// 004) when LiveKit is configured.
    Link {
        meeting_link: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        livekit_url: Option<String>,
    },
    /// A join parked in the waiting room (answered 202).
    Waiting {
        code: &'static str,
        message: &'static str,
    },
}

/// The hash of the event at `position`, hex: from this process's recent
/// commits (where a command's own events are), else from the log.
async fn hash_at(state: &AppState, position: i64) -> Option<String> {
    if position < 1 {
        return None;
    }
    let store = state.commands.store();
    let recent = store.recent(position - 1, 1).and_then(|mut e| e.pop());
    let event = match recent {
        Some(event) => Some(event),
        None => store.read_all(position - 1, 1).await.ok()?.pop(),
    };
    event
        .filter(|e| e.position == position)
        .map(|e| hex::encode(e.hash))
}

/// The response to a command: its reply with `position`, the
/// `X-Event-Position` header, the status of its kind, and for a new
/// meeting `Location` and `meeting_link`.
pub async fn respond(state: &AppState, done: Executed) -> Response {
    respond_with(state, done, &JoinAdditions::default()).await
}

/// [`respond`], with what a join's answer adds.
pub async fn respond_with(state: &AppState, done: Executed, join: &JoinAdditions) -> Response {
    fn answer<B: Serialize>(
        status: StatusCode,
        body: &B,
        extra: Option<Extra>,
        join: &JoinAdditions,
        (position, hash): (i64, Option<&str>),
    ) -> Response {
        let answer = Answer {
            body,
            extra,
            join,
            position,
            hash,
        };
        (status, axum::Json(answer)).into_response()
    }
    let receipt = hash_at(state, done.position).await;
    let position = (done.position, receipt.as_deref());
    let ok = StatusCode::OK;
    let mut location = None;
    let mut response = match &done.reply {
        Reply::Scheduled(v) => {
            location = Some(format!("/api/v1/meetings/{}", v.meeting_id));
            let link = Extra::Link {
                meeting_link: format!("{}/meeting/{}", state.frontend_url, v.room_code),
                livekit_url: state.media.livekit.as_ref().map(|l| l.url().to_owned()),
            };
            answer(StatusCode::CREATED, v, Some(link), join, position)
        }
        Reply::Waiting(v) => match v.status {
            ParticipantStatus::Waiting => {
                let waiting = Extra::Waiting {
                    code: "WAITING_ROOM_REQUIRED",
                    message: "waiting for the host to admit you",
                };
                answer(StatusCode::ACCEPTED, v, Some(waiting), join, position)
            }
            ParticipantStatus::Joined | ParticipantStatus::Rejected => {
                answer(ok, v, None, join, position)
            }
        },
        Reply::Chat(v) => answer(StatusCode::CREATED, v, None, join, position),
        Reply::Breakout(v) => answer(StatusCode::CREATED, v, None, join, position),
        Reply::Started(v) => answer(ok, v, None, join, position),
        Reply::Ended(v) => answer(ok, v, None, join, position),
        Reply::Updated(v) => answer(ok, v, None, join, position),
        Reply::Cancelled(v) => answer(ok, v, None, join, position),
        Reply::Joined(v) => answer(ok, v, None, join, position),
        Reply::Left(v) => answer(ok, v, None, join, position),
        Reply::Member(v) => answer(ok, v, None, join, position),
        Reply::Removed(v) => answer(ok, v, None, join, position),
        Reply::Status(v) => answer(ok, v, None, join, position),
        Reply::Reaction(v) => answer(ok, v, None, join, position),
        Reply::Assigned(v) => answer(ok, v, None, join, position),
        Reply::BreakoutClosed(v) => answer(ok, v, None, join, position),
        Reply::Recording(v) => answer(ok, v, None, join, position),
        Reply::Configured(v) => answer(ok, v, None, join, position),
        Reply::PolicyApplied(v) => answer(ok, v, None, join, position),
        Reply::MediaRecorded(v) => answer(ok, v, None, join, position),
    };
    let headers = response.headers_mut();
    headers.insert("x-event-position", HeaderValue::from(done.position));
    if let Some(hash) = receipt
        .as_deref()
        .and_then(|h| HeaderValue::from_str(h).ok())
    {
        headers.insert("x-event-hash", hash);
    }
    if let Some(location) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        headers.insert(header::LOCATION, location);
    }
    if done.replayed {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}
