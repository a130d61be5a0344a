//! Meeting commands over HTTP: create, update, delete, start, join, leave,
//! end, config, security policy.

use axum::extract::{FromRequestParts, OptionalFromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use command::Executed;
use command::meeting::{
    ApplyPolicy, Caller, Command, ConfigUpdate, Context, JoinMeeting, PasswordCheck, Reply,
    ScheduleMeeting, UpdateMeeting,
};
use events::event::{ConfigChange, Permission, SecurityPolicy};
use events::{MeetingId, ParticipantId, RoomCode, UserId};

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
    /// Stored only as an Argon2 hash.
    pub password: Option<String>,
}

/// Hashes and stores a new meeting password.
async fn new_password(
    state: &AppState,
    password: Option<String>,
) -> Result<Option<events::SecretId>, ApiError> {
    let Some(password) = password else {
        return Ok(None);
    };
    if !crate::secrets::acceptable(&password) {
        return Err(ApiError::invalid(
            "password",
            format!(
                "must be {} to {} characters",
                crate::secrets::PASSWORD_MIN_CHARS,
                crate::secrets::PASSWORD_MAX_CHARS
            ),
        ));
    }
    Ok(Some(crate::secrets::store(&state.reads, password).await?))
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
    pub password: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigBody {
    #[serde(flatten)]
    pub settings: SettingsBody,
    pub max_participants: Option<i64>,
}

pub fn context(caller: Caller, request: RequestId) -> Context {
    Context {
        caller,
        // The log keeps microseconds; so do the events' own timestamps.
        at: events::time::now(),
        request_id: Some(request.0),
    }
}

pub async fn create(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    request: RequestId,
    idempotency: Option<IdempotencyHeader>,
    JsonBody(mut body): JsonBody<CreateMeeting>,
) -> Result<Response, ApiError> {
    let title = body
        .title
        .clone()
        .ok_or_else(|| ApiError::invalid("title", "is required"))?;
    // Taken out first: the idempotency fingerprint must not cover it.
    let password = body.password.take();
    let key = idempotency.map(|k| k.for_request(&caller, "POST /meetings", &body));
    let password_id = new_password(&state, password).await?;
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
        password_id,
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
    pub state: AppState,
    pub caller: Caller,
    request: RequestId,
    meeting: String,
    pub idempotency: Option<IdempotencyHeader>,
}

impl FromRequestParts<AppState> for MeetingCall {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let AuthUser(caller) = AuthUser::from_request_parts(parts, state).await?;
        let request = RequestId::from_request_parts(parts, state)
            .await
            .unwrap_or_else(|e| match e {});
        let Path(mut params) = <Path<std::collections::HashMap<String, String>> as FromRequestParts<
            AppState,
        >>::from_request_parts(parts, state)
        .await
        .map_err(|_| ApiError::App(command::AppError::NotFound))?;
        let meeting = params
            .remove("meeting")
            .ok_or(ApiError::App(command::AppError::NotFound))?;
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
    pub async fn run(
        self,
        route: &str,
        command: Command,
        body: &impl Serialize,
    ) -> Result<Response, ApiError> {
        let meeting_id = self.meeting_id().await?;
        self.run_on(meeting_id, route, command, body).await
    }

    /// The meeting the path names.
    pub async fn meeting_id(&self) -> Result<MeetingId, ApiError> {
        Ok(self.state.commands.resolve(&self.meeting).await?)
    }

    /// Runs the command on the resolved meeting.
    pub async fn run_on(
        self,
        meeting_id: MeetingId,
        route: &str,
        command: Command,
        body: &impl Serialize,
    ) -> Result<Response, ApiError> {
        let commands = &self.state.commands;
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

/// A join with a password checks it against the hash the meeting names
/// before the command runs; the command then holds only the outcome. A
/// join without one reads nothing more than any other command.
pub async fn join(
    call: MeetingCall,
    JsonBody(mut body): JsonBody<JoinBody>,
) -> Result<Response, ApiError> {
    let meeting_id = call.meeting_id().await?;
    let password = match body.password.take() {
        None => PasswordCheck::Missing,
        Some(given) => {
            let hash = call
                .state
                .commands
                .inspect(meeting_id, |m| m.and_then(|m| m.password_id))
                .await?;
            match hash {
                None => PasswordCheck::Missing,
                Some(id) if crate::secrets::verify(&call.state.reads, id, given).await? => {
                    PasswordCheck::Matched(id)
                }
                Some(_) => PasswordCheck::Wrong,
            }
        }
    };
    let command = Command::Join(JoinMeeting {
        participant_id: ParticipantId::new(),
        device_type: body.device_type.clone(),
        join_muted: body.join_muted,
        join_without_video: body.join_without_video,
        password,
    });
    call.run_on(meeting_id, "join", command, &body).await
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateBody {
    #[serde(alias = "name")]
    pub title: Option<String>,
    pub description: Option<String>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub max_participants: Option<i64>,
    #[serde(default)]
    pub settings: SettingsBody,
}

/// `PUT /meetings/{meeting}`: setting values twice is naturally
/// idempotent, so no key is needed.
pub async fn update(
    mut call: MeetingCall,
    JsonBody(body): JsonBody<UpdateBody>,
) -> Result<Response, ApiError> {
    call.idempotency = None;
    let command = Command::Update(UpdateMeeting {
        title: body.title.clone(),
        description: body.description.clone(),
        starts_at: body.starts_at,
        ends_at: body.ends_at,
        max_participants: body.max_participants,
        settings: (&body.settings).into(),
    });
    call.run("update", command, &body).await
}

pub async fn delete(call: MeetingCall) -> Result<Response, ApiError> {
    call.run("delete", Command::Delete, &()).await
}

/// The spec's security policy body; absent fields take the defaults of a
/// meeting without a policy (a policy is applied whole).
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyBody {
    pub require_waiting_room: bool,
    pub require_password: bool,
    /// A new password (with `require_password`); stored only as a hash.
    pub password: Option<String>,
    pub allow_anonymous_join: bool,
    pub max_participants: Option<u32>,
    pub allowed_domains: Vec<String>,
    pub blocked_users: Vec<String>,
    pub recording_permissions: Permission,
    pub screen_share_permissions: Permission,
    pub chat_permissions: Permission,
    pub mute_on_entry: bool,
    pub disable_camera: bool,
    pub lock_meeting: bool,
}

impl Default for PolicyBody {
    fn default() -> Self {
        let d = SecurityPolicy::default();
        Self {
            require_waiting_room: d.require_waiting_room,
            require_password: d.require_password,
            password: None,
            allow_anonymous_join: d.allow_anonymous_join,
            max_participants: d.max_participants,
            allowed_domains: d.allowed_domains,
            blocked_users: Vec::new(),
            recording_permissions: d.recording_permissions,
            screen_share_permissions: d.screen_share_permissions,
            chat_permissions: d.chat_permissions,
            mute_on_entry: d.mute_on_entry,
            disable_camera: d.disable_camera,
            lock_meeting: d.lock_meeting,
        }
    }
}

/// `POST .../security/policy` (host only). The password is checked for
/// the caller's right to set it before it is hashed: only the host's
/// request stores one.
pub async fn apply_policy(
    call: MeetingCall,
    JsonBody(mut body): JsonBody<PolicyBody>,
) -> Result<Response, ApiError> {
    let meeting_id = call.meeting_id().await?;
    let caller = call.caller.user_id.clone();
    let is_host = call
        .state
        .commands
        .inspect(meeting_id, |m| m.map(|m| m.is_host(&caller)))
        .await?
        .ok_or(ApiError::App(command::AppError::NotFound))?;
    let password = body.password.take();
    let new_password_id = match (is_host && body.require_password, password) {
        (true, password) => new_password(&call.state, password).await?,
        (false, _) => None,
    };
    let policy = SecurityPolicy {
        require_waiting_room: body.require_waiting_room,
        require_password: body.require_password,
        allow_anonymous_join: body.allow_anonymous_join,
        max_participants: body.max_participants,
        allowed_domains: body.allowed_domains.clone(),
        blocked_users: body.blocked_users.iter().cloned().map(UserId).collect(),
        recording_permissions: body.recording_permissions,
        screen_share_permissions: body.screen_share_permissions,
        chat_permissions: body.chat_permissions,
        mute_on_entry: body.mute_on_entry,
        disable_camera: body.disable_camera,
        lock_meeting: body.lock_meeting,
    };
    let command = Command::ApplyPolicy(ApplyPolicy {
        policy,
        new_password_id,
    });
    call.run_on(meeting_id, "policy", command, &body).await
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
    // The reply's body, whatever its kind (`{"kind", "body"}` serialised).
    let mut json = to_json(&done.reply)["body"].take();
    let (status, location) = match &done.reply {
        Reply::Scheduled(v) => {
            json["meeting_link"] =
                Value::String(format!("{}/meeting/{}", state.public_url, v.room_code));
            (
                StatusCode::CREATED,
                Some(format!("/api/v1/meetings/{}", v.meeting_id)),
            )
        }
        Reply::Waiting(v) if v.status == "waiting" => {
            json["code"] = Value::from("WAITING_ROOM_REQUIRED");
            json["message"] = Value::from("waiting for the host to admit you");
            (StatusCode::ACCEPTED, None)
        }
        Reply::Chat(_) | Reply::Breakout(_) => (StatusCode::CREATED, None),
        _ => (StatusCode::OK, None),
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
