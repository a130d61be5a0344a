//! `GET /meetings/history`: ended meetings of the caller, most recently
//! ended first.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::AnyPool;

use crate::page::{Page, Paging};

/// Whose meetings: hosted (the spec's default), joined as a participant of
/// someone else's meeting, or either.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(rename_all = "snake_case"))]
pub enum HistoryRole {
    Host,
    Participant,
    Any,
}

impl HistoryRole {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "host" => Some(Self::Host),
            "participant" => Some(Self::Participant),
            "any" => Some(Self::Any),
            _ => None,
        }
    }

    fn condition(self) -> &'static str {
        macro_rules! joined {
            () => {
                "EXISTS (SELECT 1 FROM rm_meeting_attendees a \
                 WHERE a.meeting_id = m.meeting_id AND a.user_id = $1)"
            };
        }
        match self {
            Self::Host => "m.host_id = $1",
            Self::Participant => concat!("(m.host_id <> $1 AND ", joined!(), ")"),
            Self::Any => concat!("(m.host_id = $1 OR ", joined!(), ")"),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HistoryItem {
    pub meeting_id: String,
    pub room_code: String,
    pub name: String,
    pub created_at: String,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    /// round((ended_at - created_at) / 60 s), as the spec defines it.
    pub duration_minutes: i64,
    /// Distinct users who joined.
    pub participant_count: i64,
}

type Row = (
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    i64,
);

pub async fn history(
    pool: &AnyPool,
    user: &str,
    role: HistoryRole,
    paging: Paging,
) -> Result<Page<HistoryItem>, sqlx::Error> {
    let condition = role.condition();
    let total: i64 = sqlx::query_scalar(&format!(
        "SELECT count(*) FROM rm_meetings m WHERE m.status = 'ended' AND {condition}"
    ))
    .bind(user)
    .fetch_one(pool)
    .await?;
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT m.meeting_id, m.room_code, m.title, m.created_at, m.started_at, m.ended_at, \
                m.attendance_count \
         FROM rm_meetings m WHERE m.status = 'ended' AND {condition} \
         ORDER BY m.ended_at DESC, m.meeting_id DESC LIMIT $2 OFFSET $3"
    ))
    .bind(user)
    .bind(paging.page_size)
    .bind(paging.offset())
    .fetch_all(pool)
    .await?;
    let items = rows
        .into_iter()
        .map(
            |(meeting_id, room_code, name, created_at, started_at, ended_at, count)| HistoryItem {
                duration_minutes: minutes(&created_at, ended_at.as_deref()),
                meeting_id,
                room_code,
                name,
                created_at,
                started_at,
                ended_at,
                participant_count: count,
            },
        )
        .collect();
    Ok(Page {
        total,
        page: paging.page,
        page_size: paging.page_size,
        items,
    })
}

/// Whole minutes between two stored timestamps, rounded half up.
fn minutes(from: &str, to: Option<&str>) -> i64 {
    let parse = |t: &str| {
        DateTime::parse_from_rfc3339(t)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    };
    match (parse(from), to.and_then(parse)) {
        (Some(from), Some(to)) => ((to - from).num_milliseconds().max(0) + 30_000) / 60_000,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations_round_to_the_nearest_minute() {
        let at = |s: &str| format!("2026-03-14T10:{s}Z");
        assert_eq!(
            super::minutes(&at("00:00.000000"), Some(&at("29:29.999999"))),
            29
        );
        assert_eq!(
            super::minutes(&at("00:00.000000"), Some(&at("29:30.000000"))),
            30
        );
        assert_eq!(super::minutes(&at("00:00.000000"), None), 0);
    }
}
