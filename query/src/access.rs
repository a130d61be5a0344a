//! Who may read a meeting: its host (and, once they exist, co-hosts),
//! anyone who joined it, and deployment admins and auditors.

use sqlx::AnyPool;

/// Deployment roles that may read every meeting.
pub const READ_ALL_ROLES: [&str; 2] = ["admin", "auditor"];

/// Whether the meeting exists and, if so, whether `user` may read it.
pub async fn may_read(
    pool: &AnyPool,
    meeting_id: &str,
    user: &str,
    roles: &[String],
) -> Result<Option<bool>, sqlx::Error> {
    let row: Option<(String, i64)> = sqlx::query_as(
        "SELECT m.host_id, \
                (SELECT count(*) FROM rm_meeting_attendees a \
                 WHERE a.meeting_id = m.meeting_id AND a.user_id = $2) \
         FROM rm_meetings m WHERE m.meeting_id = $1",
    )
    .bind(meeting_id)
    .bind(user)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(host, joined)| {
        host == user || joined > 0 || roles.iter().any(|r| READ_ALL_ROLES.contains(&r.as_str()))
    }))
}
