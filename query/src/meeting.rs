//! One meeting: details with settings, the spec's status, present
//! participants.

use events::event::MeetingSettings;
use serde::Serialize;
use sqlx::AnyPool;

use crate::flag::Flag;
use crate::page::{Page, Paging};

/// The room's settings, `max_participants` included (as the config
/// command answers them).
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    #[serde(flatten)]
    pub settings: MeetingSettings,
    pub max_participants: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct MeetingDetails {
    pub meeting_id: String,
    pub room_code: String,
    pub title: String,
    pub description: String,
    pub host_id: String,
    pub host_name: String,
    pub status: String,
    pub starts_at: Option<String>,
    pub ends_at: Option<String>,
    pub max_participants: i64,
    pub settings: Settings,
    pub created_at: String,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    pub duration_minutes: Option<i64>,
    pub participant_count: i64,
    pub attendance_count: i64,
    /// The log position this row reflects.
    pub position: i64,
}

#[derive(sqlx::FromRow)]
struct MeetingRow {
    meeting_id: String,
    room_code: String,
    host_id: String,
    host_name: String,
    title: String,
    description: String,
    status: String,
    starts_at: Option<String>,
    ends_at: Option<String>,
    max_participants: i64,
    lock_room: Flag,
    enable_transcription: Flag,
    enable_chat: Flag,
    enable_screen_share: Flag,
    enable_recording: Flag,
    waiting_room: Flag,
    mute_on_entry: Flag,
    created_at: String,
    started_at: Option<String>,
    ended_at: Option<String>,
    duration_minutes: Option<i64>,
    present_count: i64,
    attendance_count: i64,
    is_recording: Flag,
    last_position: i64,
}

pub async fn details(
    pool: &AnyPool,
    meeting_id: &str,
) -> Result<Option<MeetingDetails>, sqlx::Error> {
    Ok(row(pool, meeting_id).await?.map(MeetingDetails::from))
}

impl From<MeetingRow> for MeetingDetails {
    fn from(r: MeetingRow) -> Self {
        MeetingDetails {
            settings: Settings {
                settings: MeetingSettings {
                    lock_room: r.lock_room.0,
                    enable_transcription: r.enable_transcription.0,
                    enable_chat: r.enable_chat.0,
                    enable_screen_share: r.enable_screen_share.0,
                    enable_recording: r.enable_recording.0,
                    waiting_room: r.waiting_room.0,
                    mute_on_entry: r.mute_on_entry.0,
                },
                max_participants: r.max_participants,
            },
            meeting_id: r.meeting_id,
            room_code: r.room_code,
            title: r.title,
            description: r.description,
            host_id: r.host_id,
            host_name: r.host_name,
            status: r.status,
            starts_at: r.starts_at,
            ends_at: r.ends_at,
            max_participants: r.max_participants,
            created_at: r.created_at,
            started_at: r.started_at,
            ended_at: r.ended_at,
            duration_minutes: r.duration_minutes,
            participant_count: r.present_count,
            attendance_count: r.attendance_count,
            position: r.last_position,
        }
    }
}

/// The meetings a user hosts, co-hosts, was invited to or joined, newest
/// first; `status` filters, `keyword` matches title or description
/// (case-insensitive, as a substring).
pub async fn list(
    pool: &AnyPool,
    user: &str,
    status: Option<&str>,
    keyword: Option<&str>,
    paging: Paging,
) -> Result<Page<MeetingDetails>, sqlx::Error> {
    let pattern = keyword.map(|k| {
        let escaped = k
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        format!("%{escaped}%")
    });
    let filter = "(m.host_id = $1 \
          OR EXISTS (SELECT 1 FROM rm_meeting_attendees a \
                     WHERE a.meeting_id = m.meeting_id AND a.user_id = $1) \
          OR EXISTS (SELECT 1 FROM rm_meeting_members r \
                     WHERE r.meeting_id = m.meeting_id AND r.user_id = $1)) \
         AND (CAST($2 AS TEXT) IS NULL OR m.status = $2) \
         AND (CAST($3 AS TEXT) IS NULL OR LOWER(m.title) LIKE $3 ESCAPE '\\' \
              OR LOWER(m.description) LIKE $3 ESCAPE '\\')";
    let total: i64 = sqlx::query_scalar(&format!(
        "SELECT count(*) FROM rm_meetings m WHERE {filter}"
    ))
    .bind(user)
    .bind(status)
    .bind(pattern.as_deref())
    .fetch_one(pool)
    .await?;
    let rows: Vec<MeetingRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM rm_meetings m WHERE {filter} \
         ORDER BY m.created_at DESC, m.meeting_id DESC LIMIT $4 OFFSET $5"
    ))
    .bind(user)
    .bind(status)
    .bind(pattern.as_deref())
    .bind(paging.page_size)
    .bind(paging.offset())
    .fetch_all(pool)
    .await?;
    Ok(Page {
        total,
        page: paging.page,
        page_size: paging.page_size,
        items: rows.into_iter().map(MeetingDetails::from).collect(),
    })
}

/// What a join page may learn without a token.
#[derive(Debug, Clone, Serialize)]
pub struct MeetingInfo {
    pub meeting_id: String,
    pub exists: bool,
    pub num_participants: i64,
    pub created_at: String,
    pub max_participants: i64,
}

pub async fn info(pool: &AnyPool, meeting_id: &str) -> Result<Option<MeetingInfo>, sqlx::Error> {
    Ok(row(pool, meeting_id).await?.map(|r| MeetingInfo {
        meeting_id: r.meeting_id,
        exists: true,
        num_participants: r.present_count,
        created_at: r.created_at,
        max_participants: r.max_participants,
    }))
}

/// The spec's meeting status.
#[derive(Debug, Clone, Serialize)]
pub struct MeetingStatus {
    pub meeting_id: String,
    pub status: String,
    pub is_active: bool,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    /// Distinct users who joined.
    pub attendance_count: i64,
    pub is_recording: bool,
    /// Present now.
    pub active_participants: i64,
}

pub async fn status(
    pool: &AnyPool,
    meeting_id: &str,
) -> Result<Option<MeetingStatus>, sqlx::Error> {
    Ok(row(pool, meeting_id).await?.map(|r| MeetingStatus {
        is_active: r.status == "active",
        meeting_id: r.meeting_id,
        status: r.status,
        started_at: r.started_at,
        ended_at: r.ended_at,
        attendance_count: r.attendance_count,
        is_recording: r.is_recording.0,
        active_participants: r.present_count,
    }))
}

const COLUMNS: &str = "m.meeting_id, m.room_code, m.host_id, m.host_name, m.title, \
    m.description, m.status, m.starts_at, m.ends_at, m.max_participants, m.lock_room, \
    m.enable_transcription, m.enable_chat, m.enable_screen_share, m.enable_recording, \
    m.waiting_room, m.mute_on_entry, m.created_at, m.started_at, m.ended_at, \
    m.duration_minutes, m.present_count, m.attendance_count, m.is_recording, m.last_position";

async fn row(pool: &AnyPool, meeting_id: &str) -> Result<Option<MeetingRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM rm_meetings m WHERE m.meeting_id = $1"
    ))
    .bind(meeting_id)
    .fetch_optional(pool)
    .await
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Participant {
    pub participant_id: String,
    pub user_id: String,
    pub user_name: String,
    pub role: String,
    pub status: String,
    pub is_muted: Flag,
    pub is_video_enabled: Flag,
    pub is_screen_sharing: Flag,
    pub is_hand_raised: Flag,
    pub joined_at: String,
    pub device_type: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Participants {
    pub meeting_id: String,
    pub participants: Vec<Participant>,
    pub count: usize,
}

/// Present participants, in the order they joined.
pub async fn participants(pool: &AnyPool, meeting_id: &str) -> Result<Participants, sqlx::Error> {
    let participants: Vec<Participant> = sqlx::query_as(
        "SELECT participant_id, user_id, user_name, role, 'joined' AS status, is_muted, \
                is_video_enabled, is_screen_sharing, is_hand_raised, joined_at, device_type \
         FROM rm_participants WHERE meeting_id = $1 AND left_at IS NULL \
         ORDER BY joined_at, participant_id",
    )
    .bind(meeting_id)
    .fetch_all(pool)
    .await?;
    Ok(Participants {
        meeting_id: meeting_id.to_owned(),
        count: participants.len(),
        participants,
    })
}
