//! One meeting: details with settings, the spec's status, present
//! participants. The details are the same [`MeetingView`] a create or an
//! update answers, with what only the read model counts.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use events::event::Role;
use events::settings::{MeetingSettings, RoomSettings};
use events::views::{MeetingStatus, MeetingView, ParticipantStatus, SeatView};
use events::{MeetingId, RoomCode, UserId};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

use crate::decode::{decode, flag, parsed, timestamp};
use crate::flag::Flag;
use crate::page::{Page, Paging};

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MeetingDetails {
    #[serde(flatten)]
    pub meeting: MeetingView,
    pub ended_at: Option<DateTime<Utc>>,
    pub duration_minutes: Option<i64>,
    pub participant_count: i64,
    pub attendance_count: i64,
    /// The log position this row reflects.
    pub position: i64,
}

/// One row of `rm_meetings`, as the queries below read it.
struct MeetingRow {
    details: MeetingDetails,
    is_recording: bool,
}

/// The columns [`meeting_row`] reads (the settings' from their
/// declaration).
static COLUMNS: LazyLock<String> = LazyLock::new(|| {
    let settings: Vec<String> = MeetingSettings::NAMES
        .iter()
        .map(|name| format!("m.{name}"))
        .collect();
    format!(
        "m.meeting_id, m.room_code, m.host_id, m.host_name, m.title, m.description, m.status, \
         m.starts_at, m.ends_at, m.max_participants, {}, m.created_at, m.started_at, \
         m.ended_at, m.duration_minutes, m.present_count, m.attendance_count, m.is_recording, \
         m.last_position",
        settings.join(", ")
    )
});

fn meeting_row(row: &AnyRow) -> Result<MeetingRow, sqlx::Error> {
    let max_participants: i64 = row.try_get("max_participants")?;
    let max_participants = decode(u32::try_from(max_participants), "max_participants")?;
    let settings = MeetingSettings::try_from_fn(|name| flag(row, name))?;
    let text = |column: &str| row.try_get::<String, _>(column);
    let meeting = MeetingView {
        meeting_id: parsed(row, "meeting_id")?,
        room_code: decode(
            RoomCode::parse(&text("room_code")?).ok_or("not a room code"),
            "room_code",
        )?,
        title: text("title")?,
        description: text("description")?,
        host_id: UserId(text("host_id")?),
        host_name: text("host_name")?,
        status: decode(
            MeetingStatus::parse(&text("status")?).ok_or("not a meeting status"),
            "status",
        )?,
        starts_at: timestamp(row, "starts_at")?,
        ends_at: timestamp(row, "ends_at")?,
        max_participants,
        settings: RoomSettings {
            settings,
            max_participants,
        },
        created_at: decode(timestamp(row, "created_at")?.ok_or("missing"), "created_at")?,
        started_at: timestamp(row, "started_at")?,
    };
    Ok(MeetingRow {
        details: MeetingDetails {
            meeting,
            ended_at: timestamp(row, "ended_at")?,
            duration_minutes: row.try_get("duration_minutes")?,
            participant_count: row.try_get("present_count")?,
            attendance_count: row.try_get("attendance_count")?,
            position: row.try_get("last_position")?,
        },
        is_recording: flag(row, "is_recording")?,
    })
}

pub async fn details(
    pool: &AnyPool,
    meeting_id: MeetingId,
) -> Result<Option<MeetingDetails>, sqlx::Error> {
    Ok(row(pool, meeting_id).await?.map(|r| r.details))
}

/// The meetings a user hosts, co-hosts, was invited to or joined, newest
/// first; `status` filters, `keyword` matches title or description
/// (case-insensitive, as a substring).
pub async fn list(
    pool: &AnyPool,
    user: &str,
    status: Option<MeetingStatus>,
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
    let columns = &*COLUMNS;
    let total: i64 = sqlx::query_scalar(&format!(
        "SELECT count(*) FROM rm_meetings m WHERE {filter}"
    ))
    .bind(user)
    .bind(status.map(MeetingStatus::as_str))
    .bind(pattern.as_deref())
    .fetch_one(pool)
    .await?;
    let rows: Vec<AnyRow> = sqlx::query(&format!(
        "SELECT {columns} FROM rm_meetings m WHERE {filter} \
         ORDER BY m.created_at DESC, m.meeting_id DESC LIMIT $4 OFFSET $5"
    ))
    .bind(user)
    .bind(status.map(MeetingStatus::as_str))
    .bind(pattern.as_deref())
    .bind(paging.page_size)
    .bind(paging.offset())
    .fetch_all(pool)
    .await?;
    Ok(Page {
        total,
        page: paging.page,
        page_size: paging.page_size,
        items: rows
            .iter()
            .map(|row| meeting_row(row).map(|r| r.details))
            .collect::<Result<_, _>>()?,
    })
}

/// What a join page may learn without a token: what anyone holding the
/// link is shown before they join (as the title on any meeting app's
/// join screen); never who is in it, the host or the settings.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MeetingInfo {
    pub meeting_id: MeetingId,
    pub exists: bool,
    pub num_participants: i64,
    pub created_at: DateTime<Utc>,
    pub max_participants: u32,
    pub title: String,
    pub room_code: RoomCode,
    pub status: MeetingStatus,
    pub starts_at: Option<DateTime<Utc>>,
}

pub async fn info(
    pool: &AnyPool,
    meeting_id: MeetingId,
) -> Result<Option<MeetingInfo>, sqlx::Error> {
    Ok(row(pool, meeting_id).await?.map(|r| MeetingInfo {
        meeting_id: r.details.meeting.meeting_id,
        exists: true,
        num_participants: r.details.participant_count,
        created_at: r.details.meeting.created_at,
        max_participants: r.details.meeting.max_participants,
        title: r.details.meeting.title,
        room_code: r.details.meeting.room_code,
        status: r.details.meeting.status,
        starts_at: r.details.meeting.starts_at,
    }))
}

/// The spec's meeting status.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatusReport {
    pub meeting_id: MeetingId,
    pub status: MeetingStatus,
    pub is_active: bool,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    /// Distinct users who joined.
    pub attendance_count: i64,
    pub is_recording: bool,
    /// Present now.
    pub active_participants: i64,
}

pub async fn status(
    pool: &AnyPool,
    meeting_id: MeetingId,
) -> Result<Option<StatusReport>, sqlx::Error> {
    Ok(row(pool, meeting_id).await?.map(|r| {
        let MeetingRow {
            details,
            is_recording,
        } = r;
        StatusReport {
            meeting_id: details.meeting.meeting_id,
            status: details.meeting.status,
            is_active: details.meeting.status == MeetingStatus::Active,
            started_at: details.meeting.started_at,
            ended_at: details.ended_at,
            attendance_count: details.attendance_count,
            is_recording,
            active_participants: details.participant_count,
        }
    }))
}

async fn row(pool: &AnyPool, meeting_id: MeetingId) -> Result<Option<MeetingRow>, sqlx::Error> {
    let found = sqlx::query(&format!(
        "SELECT {} FROM rm_meetings m WHERE m.meeting_id = $1",
        &*COLUMNS
    ))
    .bind(meeting_id.to_string())
    .fetch_optional(pool)
    .await?;
    found.as_ref().map(meeting_row).transpose()
}

/// A present participant: their seat, with what only the seat's later
/// changes tell.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Participant {
    #[serde(flatten)]
    pub seat: SeatView,
    pub is_screen_sharing: bool,
    pub is_hand_raised: bool,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Participants {
    pub meeting_id: MeetingId,
    pub participants: Vec<Participant>,
    pub count: usize,
}

type ParticipantRow = (
    String,
    String,
    String,
    String,
    Flag,
    Flag,
    Flag,
    Flag,
    String,
    Option<String>,
);

/// Present participants, in the order they joined.
pub async fn participants(
    pool: &AnyPool,
    meeting_id: MeetingId,
) -> Result<Participants, sqlx::Error> {
    let rows: Vec<ParticipantRow> = sqlx::query_as(
        "SELECT participant_id, user_id, user_name, role, is_muted, is_video_enabled, \
                is_screen_sharing, is_hand_raised, joined_at, device_type \
         FROM rm_participants WHERE meeting_id = $1 AND left_at IS NULL \
         ORDER BY joined_at, participant_id",
    )
    .bind(meeting_id.to_string())
    .fetch_all(pool)
    .await?;
    let participants = rows
        .into_iter()
        .map(
            |(id, user, name, role, muted, video, sharing, hand, joined_at, device)| {
                Ok(Participant {
                    seat: SeatView {
                        participant_id: decode(id.parse(), "participant_id")?,
                        meeting_id,
                        user_id: UserId(user),
                        user_name: name,
                        role: decode(Role::parse(&role).ok_or("not a role"), "role")?,
                        status: ParticipantStatus::Joined,
                        is_muted: muted.0,
                        is_video_enabled: video.0,
                        device_type: device,
                        joined_at: decode(
                            events::time::parse(&joined_at).ok_or("not a time"),
                            "joined_at",
                        )?,
                    },
                    is_screen_sharing: sharing.0,
                    is_hand_raised: hand.0,
                })
            },
        )
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok(Participants {
        meeting_id,
        count: participants.len(),
        participants,
    })
}
