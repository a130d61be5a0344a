//! Getting in over HTTP: join (with a password, or as a guest by link),
//! leave, and the waiting room's admit and reject.

use axum::extract::{Path, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};

use command::meeting::admission::{JoinMeeting, PasswordCheck};
use command::meeting::{Caller, CallerKind, Command, MeetingError, Reply};
use events::{MeetingId, ParticipantId};

use super::call::{Call, JoinAdditions, respond_with};
use super::extract::{AuthUser, IdempotencyHeader, JsonBody};
use super::{ApiError, AppState, RequestId, grants, password};
use crate::auth::AuthError;

#[derive(Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"user_name": "Ann Guest", "device_type": "web", "join_muted": true}))]
pub struct JoinBody {
    /// Accepted for compatibility with the spec; media connections are the
    /// media server's business.
    pub connection_id: Option<String>,
    pub device_type: Option<String>,
    pub join_muted: Option<bool>,
    pub join_without_video: Option<bool>,
    pub password: Option<String>,
    /// A guest's name (joining without a token), or a signed-in caller's
    /// display name in this meeting: 1 to 100 characters after trimming.
    pub user_name: Option<String>,
}

/// How long a guest's token lives at most (it also ends with its
/// meeting).
pub const GUEST_TOKEN_TTL: chrono::Duration = chrono::Duration::hours(12);

/// `POST .../join`. A password is checked against the hash the meeting
/// names before the command runs; the command then holds only the outcome.
///
/// Without a token, a `user_name` makes a guest (spec 004): a new id like
/// `guest-john-doe-1a2b3c4d`, the role `guest` where the meeting lets
/// anonymous callers in (401 where it does not), and a `guest_token` in
/// the answer, good for this meeting only. Once in (200), the answer
/// carries `media`: the LiveKit access of the one who joined.
#[utoipa::path(
    post,
    path = "/meetings/{meeting}/join",
    tag = "participants",
    security((), ("bearer" = [])),
    params(super::openapi::MeetingPath, super::openapi::Keyed),
    request_body = JoinBody,
    responses(
        (status = 200, description = "In the meeting (media access and a guest token where they apply)", body = events::views::SeatView),
        (status = 202, description = "In the waiting room (code WAITING_ROOM_REQUIRED)", body = command::meeting::admission::WaitingView),
        (status = 400, description = "ROOM_NOT_ACTIVE", body = super::openapi::ErrorBody),
        (status = 403, description = "INSUFFICIENT_PERMISSION or a rule of the meeting", body = super::openapi::ErrorBody),
        (status = 404, description = "MEETING_NOT_FOUND or PARTICIPANT_NOT_FOUND", body = super::openapi::ErrorBody),
        (status = 410, description = "MEETING_ENDED", body = super::openapi::ErrorBody),
        (status = 429, description = "RATE_LIMIT_EXCEEDED", body = super::openapi::ErrorBody)
    )
)]
pub async fn join(
    auth: Option<AuthUser>,
    State(state): State<AppState>,
    request: RequestId,
    Path(meeting): Path<String>,
    idempotency: Option<IdempotencyHeader>,
    body: Result<JsonBody<JoinBody>, ApiError>,
) -> Result<Response, ApiError> {
    // Without a token, only a guest's join (a body with a name) gets
    // further than 401.
    let guest_name = match (&auth, &body) {
        (Some(_), _) => None,
        (None, Ok(JsonBody(body))) => Some(
            body.user_name
                .as_deref()
                .map(events::text::join_name)
                .ok_or(AuthError::Missing)?
                .map_err(|e| ApiError::invalid("user_name", e.to_string()))?,
        ),
        (None, Err(_)) => return Err(AuthError::Missing.into()),
    };
    let JsonBody(mut body) = body?;
    let meeting_id = state.commands.resolve(&meeting).await?;
    let (caller, guest) = match (auth, guest_name) {
        (Some(AuthUser(caller)), _) => (caller, false),
        (None, Some(name)) => (guest_caller(&name, meeting_id), true),
        (None, None) => return Err(AuthError::Missing.into()),
    };
    // A guest's retry is another guest: a key scoped to a fresh id would
    // never match, so a guest's join takes none.
    let idempotency = idempotency.filter(|_| !guest);
    let call: Call = Call::new(
        state.clone(),
        caller.clone(),
        request,
        Some(meeting),
        idempotency,
    );
    let mut join = JoinMeeting {
        participant_id: ParticipantId::new(),
        device_type: body.device_type.clone(),
        join_muted: body.join_muted,
        join_without_video: body.join_without_video,
        user_name: body.user_name.clone(),
        password: PasswordCheck::Missing,
    };
    join.password = password::check_join(
        &state,
        meeting_id,
        &call.context(),
        &join,
        body.password.take(),
    )
    .await?;
    let command = Command::Join(join);
    let done = call.execute_on(meeting_id, "join", command, &body).await?;
    let mut additions = JoinAdditions::default();
    if matches!(done.reply, Reply::Joined(_)) {
        additions.media = grants::media_after_join(&state, meeting_id, &caller).await?;
    }
    if guest {
        let (token, expires_at) = state
            .keys
            .issue_guest(&caller, meeting_id, GUEST_TOKEN_TTL)
            .map_err(ApiError::media)?;
        additions.guest_token = Some(token);
        additions.guest_token_expires_at = Some(expires_at);
    }
    Ok(respond_with(&state, done, &additions).await)
}

/// A guest of `meeting` named `name`, with a fresh id:
/// `guest-<name in lower-case letters, digits and dashes>-<8 hex>`.
fn guest_caller(name: &str, meeting: MeetingId) -> Caller {
    let slug = slug(name, GUEST_SLUG_MAX);
    let suffix: u32 = rand::random();
    let user_id = if slug.is_empty() {
        format!("guest-{suffix:08x}")
    } else {
        format!("guest-{slug}-{suffix:08x}")
    };
    Caller {
        kind: CallerKind::Guest(meeting),
        ..Caller::person(user_id, name)
    }
}

/// `Hana Host` -> `hana-host`: the ASCII letters and digits of a name in
/// lower case, each run of anything else one dash, at most `max` bytes.
pub(super) fn slug(name: &str, max: usize) -> String {
    let mut slug = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
        if slug.len() >= max {
            break;
        }
    }
    slug.trim_end_matches('-').to_owned()
}

/// Most characters of a guest id's name part.
const GUEST_SLUG_MAX: usize = 32;

#[utoipa::path(
    post,
    path = "/meetings/{meeting}/leave",
    tag = "participants",
    params(super::openapi::MeetingPath, super::openapi::Keyed),
    responses(
        (status = 200, description = "Left", body = command::meeting::admission::LeftView),
        (status = 403, description = "INSUFFICIENT_PERMISSION or a rule of the meeting", body = super::openapi::ErrorBody),
        (status = 404, description = "MEETING_NOT_FOUND or PARTICIPANT_NOT_FOUND", body = super::openapi::ErrorBody),
        (status = 429, description = "RATE_LIMIT_EXCEEDED", body = super::openapi::ErrorBody)
    )
)]
pub async fn leave(call: Call) -> Result<Response, ApiError> {
    call.run("leave", Command::Leave, &()).await
}

/// A waiting participant's id from the path; anything else names nobody
/// waiting.
fn waiting_participant(id: &str) -> Result<ParticipantId, ApiError> {
    id.parse()
        .map_err(|_| ApiError::App(MeetingError::NotWaiting.into()))
}

/// `POST .../waiting-room/{participant_id}/admit` (host, co-host).
#[utoipa::path(
    post,
    path = "/meetings/{meeting}/waiting-room/{participant_id}/admit",
    tag = "participants",
    params(super::openapi::MeetingPath, ("participant_id" = uuid::Uuid, Path), super::openapi::Keyed),
    responses(
        (status = 200, description = "The new seat", body = events::views::SeatView),
        (status = 403, description = "INSUFFICIENT_PERMISSION or a rule of the meeting", body = super::openapi::ErrorBody),
        (status = 404, description = "MEETING_NOT_FOUND or PARTICIPANT_NOT_FOUND", body = super::openapi::ErrorBody),
        (status = 410, description = "MEETING_ENDED", body = super::openapi::ErrorBody),
        (status = 429, description = "RATE_LIMIT_EXCEEDED", body = super::openapi::ErrorBody)
    )
)]
pub async fn admit(
    call: Call,
    Path((_, participant)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = waiting_participant(&participant)?;
    call.run("admit", Command::Admit(id), &id).await
}

/// `POST .../waiting-room/{participant_id}/reject` (host, co-host).
#[utoipa::path(
    post,
    path = "/meetings/{meeting}/waiting-room/{participant_id}/reject",
    tag = "participants",
    params(super::openapi::MeetingPath, ("participant_id" = uuid::Uuid, Path), super::openapi::Keyed),
    responses(
        (status = 200, description = "Rejected", body = command::meeting::admission::WaitingView),
        (status = 403, description = "INSUFFICIENT_PERMISSION or a rule of the meeting", body = super::openapi::ErrorBody),
        (status = 404, description = "MEETING_NOT_FOUND or PARTICIPANT_NOT_FOUND", body = super::openapi::ErrorBody),
        (status = 410, description = "MEETING_ENDED", body = super::openapi::ErrorBody),
        (status = 429, description = "RATE_LIMIT_EXCEEDED", body = super::openapi::ErrorBody)
    )
)]
pub async fn reject(
    call: Call,
    Path((_, participant)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = waiting_participant(&participant)?;
    call.run("reject", Command::Reject(id), &id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guest_id_is_made_of_their_name_and_eight_hex_digits() {
        let meeting = MeetingId::new();
        let id = guest_caller("John Doe", meeting).user_id;
        let (prefix, hex) = id.as_str().rsplit_once('-').unwrap();
        assert_eq!(prefix, "guest-john-doe");
        assert!(hex.len() == 8 && hex.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(
            guest_caller("John Doe", meeting).user_id,
            id,
            "fresh each time"
        );
        let odd = guest_caller("  Zoë & Co!! ", meeting);
        assert!(
            odd.user_id.as_str().starts_with("guest-zo-co-"),
            "{}",
            odd.user_id.as_str()
        );
        assert_eq!(odd.name, "  Zoë & Co!! ");
        assert_eq!(odd.kind, CallerKind::Guest(meeting));
        let cjk = guest_caller("李雷", meeting).user_id;
        assert_eq!(cjk.as_str().len(), "guest-".len() + 8);
        let long = guest_caller(&"a".repeat(100), meeting).user_id;
        assert_eq!(long.as_str().len(), "guest-".len() + GUEST_SLUG_MAX + 1 + 8);
    }
}
