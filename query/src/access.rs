//! Who may read a meeting: its host, its members (invited or given a
//! role), anyone who joined it, and deployment admins and auditors, but
//! nobody banned from it; and who moderates it (host and co-hosts).

use events::MeetingId;
use sqlx::AnyPool;

/// How a user stands in a meeting, by the read models.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    /// Host, member or attendee.
    pub involved: bool,
    /// Host or co-host.
    pub moderator: bool,
    /// Removed with a ban: reads nothing of the meeting any more.
    pub banned: bool,
}

/// The user's standing in the meeting, or None when it does not exist.
pub async fn standing(
    pool: &AnyPool,
    meeting_id: MeetingId,
    user: &str,
) -> Result<Option<Standing>, sqlx::Error> {
    let row: Option<(String, i64, Option<String>, i64)> = sqlx::query_as(
        "SELECT m.host_id, \
                (SELECT count(*) FROM rm_meeting_attendees a \
                 WHERE a.meeting_id = m.meeting_id AND a.user_id = $2), \
                (SELECT r.role FROM rm_meeting_members r \
                 WHERE r.meeting_id = m.meeting_id AND r.user_id = $2), \
                (SELECT count(*) FROM rm_meeting_bans b \
                 WHERE b.meeting_id = m.meeting_id AND b.user_id = $2) \
         FROM rm_meetings m WHERE m.meeting_id = $1",
    )
    .bind(meeting_id.to_string())
    .bind(user)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(host, joined, role, banned)| {
        let is_host = host == user;
        Standing {
            involved: is_host || joined > 0 || role.is_some(),
            moderator: is_host || role.as_deref() == Some("co_host"),
            banned: banned > 0,
        }
    }))
}

/// What a caller wants of a meeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Its details, participants, chat, recordings, breakout rooms, live
    /// events: the host, members, anyone who joined.
    Read,
    /// Its attendance: moderators.
    Audit,
}

/// Whether the meeting exists and, if so, whether `user` has `access` to
/// it (admins and auditors always do).
pub async fn may(
    pool: &AnyPool,
    meeting_id: MeetingId,
    user: &str,
    roles: &[String],
    access: Access,
) -> Result<Option<bool>, sqlx::Error> {
    let reads_all = events::deployment::reads_all(roles);
    Ok(standing(pool, meeting_id, user).await?.map(|s| {
        reads_all
            || (!s.banned
                && match access {
                    Access::Read => s.involved,
                    Access::Audit => s.moderator,
                })
    }))
}
