//! A meeting's activity: attendance (every join/leave session per user),
//! chat (private messages only for their pair), recordings and the open
//! breakout rooms.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::AnyPool;

use events::event::{BreakoutRoomSettings, ChatFile};
use events::views::{BreakoutRoomView, BreakoutView, ChatView, MessageType};
use events::{MeetingId, UserId};

use crate::decode::decode;
use crate::flag::Flag;

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Session {
    pub participant_id: String,
    pub joined_at: String,
    pub left_at: Option<String>,
    pub leave_reason: Option<String>,
    /// Minutes present in this session (until now while still present).
    pub minutes: f64,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Attendee {
    pub user_id: String,
    pub user_name: String,
    pub sessions: Vec<Session>,
    /// Total minutes present over all sessions, rounded to 0.01.
    pub total_minutes: f64,
    /// Minutes connected to the media room, as the media server reported
    /// (an open connection counts until now, or until the meeting ended),
    /// rounded to 0.01: who was really in the call, not only who joined.
    pub media_minutes: f64,
    /// Each connection to the media room, in order (a timeline's second
    /// lane beside `sessions`).
    pub media_sessions: Vec<MediaSession>,
}

/// One connection to the media room, as the media server reported it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MediaSession {
    /// `None` when only the closing was reported (then it counts 0).
    pub connected_at: Option<String>,
    /// `None` while still connected (or until the meeting's end).
    pub disconnected_at: Option<String>,
    pub minutes: f64,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Attendance {
    pub meeting_id: MeetingId,
    pub attendees: Vec<Attendee>,
    pub count: usize,
}

type SessionRow = (
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
);

/// Per user, in order of first join: every session and the minutes present.
pub async fn attendance(
    pool: &AnyPool,
    meeting_id: MeetingId,
    now: DateTime<Utc>,
) -> Result<Attendance, sqlx::Error> {
    let rows: Vec<SessionRow> = sqlx::query_as(
        "SELECT user_id, user_name, participant_id, joined_at, left_at, leave_reason \
         FROM rm_participants WHERE meeting_id = $1 ORDER BY joined_at, participant_id",
    )
    .bind(meeting_id.to_string())
    .fetch_all(pool)
    .await?;
    use events::time::parse;
    let mut order: Vec<String> = Vec::new();
    let mut by_user: BTreeMap<String, Attendee> = BTreeMap::new();
    for (user_id, user_name, participant_id, joined_at, left_at, leave_reason) in rows {
        let until = left_at.as_deref().and_then(parse).unwrap_or(now);
        let minutes = minutes_between(parse(&joined_at), until);
        let attendee = entry(&mut by_user, &mut order, user_id, &user_name);
        attendee.user_name = user_name;
        attendee.total_minutes = add_minutes(attendee.total_minutes, minutes);
        attendee.sessions.push(Session {
            participant_id,
            joined_at,
            left_at,
            leave_reason,
            minutes,
        });
    }
    for (user_id, connected_at, disconnected_at, ended_at) in
        media_sessions(pool, meeting_id).await?
    {
        let until = disconnected_at
            .as_deref()
            .or(ended_at.as_deref())
            .and_then(parse)
            .unwrap_or(now);
        let minutes = minutes_between(connected_at.as_deref().and_then(parse), until);
        let name = user_id.clone();
        let attendee = entry(&mut by_user, &mut order, user_id, &name);
        attendee.media_minutes = add_minutes(attendee.media_minutes, minutes);
        attendee.media_sessions.push(MediaSession {
            connected_at,
            disconnected_at,
            minutes,
        });
    }
    let attendees: Vec<Attendee> = order
        .iter()
        .filter_map(|user| by_user.remove(user))
        .collect();
    Ok(Attendance {
        meeting_id,
        count: attendees.len(),
        attendees,
    })
}

/// The user's attendee, added in order of first appearance.
fn entry<'a>(
    by_user: &'a mut BTreeMap<String, Attendee>,
    order: &mut Vec<String>,
    user_id: String,
    user_name: &str,
) -> &'a mut Attendee {
    by_user.entry(user_id.clone()).or_insert_with(|| {
        order.push(user_id.clone());
        Attendee {
            user_id,
            user_name: user_name.to_owned(),
            sessions: Vec::new(),
            total_minutes: 0.0,
            media_minutes: 0.0,
            media_sessions: Vec::new(),
        }
    })
}

/// Minutes from `from` (none: 0) to `until`, rounded to 0.01.
fn minutes_between(from: Option<DateTime<Utc>>, until: DateTime<Utc>) -> f64 {
    let millis = from.map_or(0, |from| (until - from).num_milliseconds().max(0));
    (millis as f64 / 600.0).round() / 100.0
}

fn add_minutes(total: f64, minutes: f64) -> f64 {
    ((total + minutes) * 100.0).round() / 100.0
}

type MediaRow = (String, Option<String>, Option<String>, Option<String>);

/// The meeting's media connections: who, from, until, and when the
/// meeting ended.
async fn media_sessions(
    pool: &AnyPool,
    meeting_id: MeetingId,
) -> Result<Vec<MediaRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT s.user_id, s.connected_at, s.disconnected_at, m.ended_at \
         FROM rm_media_sessions s JOIN rm_meetings m ON m.meeting_id = s.meeting_id \
         WHERE s.meeting_id = $1 ORDER BY s.connected_at, s.participant_sid",
    )
    .bind(meeting_id.to_string())
    .fetch_all(pool)
    .await
}

/// A message as the chat lists it: as sending it answered, with its place
/// in the log.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChatMessage {
    #[serde(flatten)]
    pub message: ChatView,
    pub position: i64,
}

type MessageRow = (
    String,
    String,
    String,
    Option<String>,
    String,
    String,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
);

fn chat_message(meeting_id: MeetingId, row: MessageRow) -> Result<ChatMessage, sqlx::Error> {
    let (id, sender, name, recipient, content, sent_at, position, url, file, kind, size) = row;
    let file = match (url, file) {
        (Some(file_url), Some(file_name)) => Some(ChatFile {
            file_url,
            file_name,
            file_type: kind,
            file_size: size,
        }),
        _ => None,
    };
    Ok(ChatMessage {
        message: ChatView {
            message_id: decode(id.parse(), "message_id")?,
            meeting_id,
            sender_id: UserId(sender),
            sender_name: name,
            content,
            message_type: if file.is_some() {
                MessageType::File
            } else {
                MessageType::Text
            },
            is_private: recipient.is_some(),
            recipient_id: recipient.map(UserId),
            file,
            timestamp: decode(events::time::parse(&sent_at).ok_or("not a time"), "sent_at")?,
        },
        position,
    })
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Chat {
    pub meeting_id: MeetingId,
    pub messages: Vec<ChatMessage>,
    /// Messages visible to the caller in all.
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

pub const CHAT_DEFAULT_LIMIT: i64 = 50;
pub const CHAT_MAX_LIMIT: i64 = 200;

/// The messages `user` may see (public ones and private ones they sent or
/// received): `offset` skips the newest, `limit` are returned, oldest of
/// them first.
pub async fn chat(
    pool: &AnyPool,
    meeting_id: MeetingId,
    user: &str,
    limit: i64,
    offset: i64,
) -> Result<Chat, sqlx::Error> {
    const VISIBLE: &str = "meeting_id = $1 AND (recipient_id IS NULL OR sender_id = $2 \
                           OR recipient_id = $2)";
    let total: i64 = sqlx::query_scalar(&format!(
        "SELECT count(*) FROM rm_chat_messages WHERE {VISIBLE}"
    ))
    .bind(meeting_id.to_string())
    .bind(user)
    .fetch_one(pool)
    .await?;
    let rows: Vec<MessageRow> = sqlx::query_as(&format!(
        "SELECT message_id, sender_id, sender_name, recipient_id, content, sent_at, position, \
                file_url, file_name, file_type, file_size \
         FROM rm_chat_messages WHERE {VISIBLE} ORDER BY position DESC LIMIT $3 OFFSET $4"
    ))
    .bind(meeting_id.to_string())
    .bind(user)
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    let mut messages = rows
        .into_iter()
        .map(|row| chat_message(meeting_id, row))
        .collect::<Result<Vec<_>, _>>()?;
    messages.reverse();
    Ok(Chat {
        meeting_id,
        messages,
        total,
        limit,
        offset,
    })
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecordingItem {
    pub recording_id: String,
    pub started_by: String,
    pub started_at: String,
    pub stopped_at: Option<String>,
    /// Seconds, once stopped.
    pub duration: Option<i64>,
    pub file_url: Option<String>,
    pub size: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Recordings {
    pub meeting_id: MeetingId,
    pub recordings: Vec<RecordingItem>,
}

pub async fn recordings(pool: &AnyPool, meeting_id: MeetingId) -> Result<Recordings, sqlx::Error> {
    let recordings = sqlx::query_as(
        "SELECT recording_id, started_by, started_at, stopped_at, \
                duration_seconds AS duration, file_url, size \
         FROM rm_recordings WHERE meeting_id = $1 ORDER BY started_at, recording_id",
    )
    .bind(meeting_id.to_string())
    .fetch_all(pool)
    .await?;
    Ok(Recordings {
        meeting_id,
        recordings,
    })
}

type SessionInfo = (String, Flag, Flag, Option<String>);
type RoomRow = (String, String, String, Option<i64>, Flag, Flag);

/// The open breakout session with its rooms and who is in each.
pub async fn breakout_rooms(
    pool: &AnyPool,
    meeting_id: MeetingId,
) -> Result<BreakoutView, sqlx::Error> {
    let session: Option<SessionInfo> = sqlx::query_as(
        "SELECT session_id, allow_participants_to_choose, allow_participants_to_return, \
                closes_at \
         FROM rm_breakout_sessions WHERE meeting_id = $1 AND closed_at IS NULL \
         ORDER BY opened_at DESC LIMIT 1",
    )
    .bind(meeting_id.to_string())
    .fetch_optional(pool)
    .await?;
    let Some((session_id, choose, back, closes_at)) = session else {
        return Ok(BreakoutView::closed(meeting_id));
    };
    let rooms: Vec<RoomRow> = sqlx::query_as(
        "SELECT room_id, name, description, capacity, allow_chat, allow_screen_share \
         FROM rm_breakout_rooms WHERE session_id = $1 ORDER BY ordinal",
    )
    .bind(&session_id)
    .fetch_all(pool)
    .await?;
    let assignments: Vec<(String, String)> = sqlx::query_as(
        "SELECT room_id, user_id FROM rm_breakout_assignments WHERE session_id = $1 \
         ORDER BY user_id",
    )
    .bind(&session_id)
    .fetch_all(pool)
    .await?;
    let rooms = rooms
        .into_iter()
        .map(|(room_id, name, description, capacity, chat, share)| {
            let participants: Vec<UserId> = assignments
                .iter()
                .filter(|(room, _)| *room == room_id)
                .map(|(_, user)| UserId(user.clone()))
                .collect();
            Ok(BreakoutRoomView {
                room_id: decode(room_id.parse(), "room_id")?,
                name,
                description,
                capacity: capacity
                    .map(|c| decode(u32::try_from(c), "capacity"))
                    .transpose()?,
                settings: BreakoutRoomSettings {
                    allow_chat: chat.0,
                    allow_screen_share: share.0,
                },
                current_participants: participants.len(),
                participants,
                is_active: true,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
    Ok(BreakoutView {
        meeting_id,
        session_id: Some(decode(session_id.parse(), "session_id")?),
        is_open: true,
        allow_participants_to_choose: choose.0,
        allow_participants_to_return: back.0,
        closes_at: closes_at
            .map(|t| decode(events::time::parse(&t).ok_or("not a time"), "closes_at"))
            .transpose()?,
        rooms,
    })
}

/// Open breakout sessions whose time limit has passed: (meeting, session).
pub async fn due_breakouts(
    pool: &AnyPool,
    now: &str,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT meeting_id, session_id FROM rm_breakout_sessions \
         WHERE closed_at IS NULL AND closes_at IS NOT NULL AND closes_at <= $1",
    )
    .bind(now)
    .fetch_all(pool)
    .await
}
