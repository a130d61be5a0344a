//! Meeting commands over HTTP: create, start, join, leave, end, config.

use axum::extract::{FromRequestParts, OptionalFromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use command::Executed;
use command::meeting::{
    Caller, Command, ConfigUpdate, Context, JoinMeeting, Reply, ScheduleMeeting,
};
use events::event::ConfigChange;
use events::{MeetingId, ParticipantId, RoomCode};

use super::extract::{AuthUser, IdempotencyHeader, JsonBody, RequestId};
use super::{ApiError, AppState};

/// The boolean room settings a request may set; absent = unchanged.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsBody {
    pub lock_room: Option<bool>,
    pub enable_transcription: Option<bool>,
    pub enable_chat: Option<bool>,
    pub enable_screen_share: Option<bool>,
    pub enable_recording: Option<bool>,
    pub waiting_room: Option<bool>,
    pub mute_on_entry: Option<bool>,
}

impl From<&SettingsBody> for ConfigChange {
    fn from(s: &SettingsBody) -> Self {
        ConfigChange {
            lock_room: s.lock_room,
            enable_transcription: s.enable_transcription,
            enable_chat: s.enable_chat,
            enable_screen_share: s.enable_screen_share,
            enable_recording: s.enable_recording,
            waiting_room: s.waiting_room,
            mute_on_entry: s.mute_on_entry,
            max_participants: None,
        }
    }
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CreateMeeting {
    #[serde(alias = "name")]
    pub title: Option<String>,
    pub description: Option<String>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub max_participants: Option<i64>,
    #[serde(default)]
    pub settings: SettingsBody,
    #[serde(default)]
    pub start_now: bool,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JoinBody {
    /// Accepted for compatibility with the spec; media connections are the
    /// media server's business.
    pub connection_id: Option<String>,
    pub device_type: Option<String>,
    pub join_muted: Option<bool>,
    pub join_without_video: Option<bool>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigBody {
    #[serde(flatten)]
    pub settings: SettingsBody,
    pub max_participants: Option<i64>,
}

fn context(caller: Caller, request: RequestId) -> Context {
    Context {
        caller,
        // The log keeps microseconds; so do the events' own timestamps.
        at: DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).unwrap_or_else(Utc::now),
        request_id: Some(request.0),
    }
}

pub async fn create(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    request: RequestId,
    idempotency: Option<IdempotencyHeader>,
    JsonBody(body): JsonBody<CreateMeeting>,
) -> Result<Response, ApiError> {
    let title = body
        .title
        .clone()
        .ok_or_else(|| ApiError::invalid("title", "is required"))?;
    let key = idempotency.map(|k| k.for_request(&caller, "POST /meetings", &body));
    let command = ScheduleMeeting {
        meeting_id: MeetingId::new(),
        room_code: RoomCode::random(&mut rand::thread_rng()),
        title,
        description: body.description,
        starts_at: body.starts_at,
        ends_at: body.ends_at,
        max_participants: body.max_participants,
        settings: (&body.settings).into(),
        start_now: body.start_now,
    };
    let done = state
        .commands
        .schedule(&context(caller, request), command, key)
        .await?;
    Ok(respond(&state, done))
}

/// A call on the meeting named in the path: who calls, which request,
/// which meeting, and the client's idempotency key.
pub struct MeetingCall {
    state: AppState,
    caller: Caller,
    request: RequestId,
    meeting: String,
    idempotency: Option<IdempotencyHeader>,
}

impl FromRequestParts<AppState> for MeetingCall {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let AuthUser(caller) = AuthUser::from_request_parts(parts, state).await?;
        let request = RequestId::from_request_parts(parts, state)
            .await
            .unwrap_or_else(|e| match e {});
        let Path(meeting) =
            <Path<String> as FromRequestParts<AppState>>::from_request_parts(parts, state)
                .await
                .map_err(|_| ApiError::App(command::AppError::NotFound))?;
        let idempotency =
            <IdempotencyHeader as OptionalFromRequestParts<AppState>>::from_request_parts(
                parts, state,
            )
            .await?;
        Ok(Self {
            state: state.clone(),
            caller,
            request,
            meeting,
            idempotency,
        })
    }
}

impl MeetingCall {
    /// Resolves the meeting, runs the command and shapes the response.
    /// `body` is what the idempotency fingerprint covers.
    async fn run(
        self,
        route: &str,
        command: Command,
        body: &impl Serialize,
    ) -> Result<Response, ApiError> {
        let commands = &self.state.commands;
        let meeting_id = commands.resolve(&self.meeting).await?;
        let key = self
            .idempotency
            .map(|k| k.for_request(&self.caller, &format!("{route} {meeting_id}"), body));
        let ctx = context(self.caller, self.request);
        let done = commands.execute(meeting_id, &ctx, command, key).await?;
        Ok(respond(&self.state, done))
    }
}

pub async fn start(call: MeetingCall) -> Result<Response, ApiError> {
    call.run("start", Command::Start, &()).await
}

pub async fn end(call: MeetingCall) -> Result<Response, ApiError> {
    call.run("end", Command::End, &()).await
}

pub async fn leave(call: MeetingCall) -> Result<Response, ApiError> {
    call.run("leave", Command::Leave, &()).await
}

pub async fn join(
    call: MeetingCall,
    JsonBody(body): JsonBody<JoinBody>,
) -> Result<Response, ApiError> {
    let command = Command::Join(JoinMeeting {
        participant_id: ParticipantId::new(),
        device_type: body.device_type.clone(),
        join_muted: body.join_muted,
        join_without_video: body.join_without_video,
    });
    call.run("join", command, &body).await
}

/// `PATCH .../config` takes no idempotency key: setting values twice is
/// naturally idempotent.
pub async fn configure(
    mut call: MeetingCall,
    JsonBody(body): JsonBody<ConfigBody>,
) -> Result<Response, ApiError> {
    call.idempotency = None;
    let command = Command::UpdateConfig(ConfigUpdate {
        settings: (&body.settings).into(),
        max_participants: body.max_participants,
    });
    call.run("config", command, &body).await
}

/// The response to a command: its reply with `position`, the
/// `X-Event-Position` header, and for a new meeting 201 with `Location`
/// and `meeting_link`.
fn respond(state: &AppState, done: Executed) -> Response {
    let (status, mut json, location) = match &done.reply {
        Reply::Scheduled(v) => {
            let mut json = to_json(v);
            json["meeting_link"] =
                Value::String(format!("{}/meeting/{}", state.public_url, v.room_code));
            (
                StatusCode::CREATED,
                json,
                Some(format!("/api/v1/meetings/{}", v.meeting_id)),
            )
        }
        Reply::Started(v) => (StatusCode::OK, to_json(v), None),
        Reply::Joined(v) => (StatusCode::OK, to_json(v), None),
        Reply::Left(v) => (StatusCode::OK, to_json(v), None),
        Reply::Configured(v) => (StatusCode::OK, to_json(v), None),
        Reply::Ended(v) => (StatusCode::OK, to_json(v), None),
    };
    json["position"] = Value::from(done.position);
    let mut response = (status, axum::Json(json)).into_response();
    let headers = response.headers_mut();
    headers.insert("x-event-position", HeaderValue::from(done.position));
    if let Some(location) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        headers.insert(header::LOCATION, location);
    }
    if done.replayed {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

fn to_json(view: &impl Serialize) -> Value {
    // Views are plain structs of strings, numbers and timestamps.
    serde_json::to_value(view).unwrap_or_default()
}
