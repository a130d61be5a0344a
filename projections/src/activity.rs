//! The activity read models: members (`rm_meeting_members`: invitations
//! and roles), chat (`rm_chat_messages`), recordings (`rm_recordings`) and
//! breakout rooms (`rm_breakout_sessions`, `rm_breakout_rooms`,
//! `rm_breakout_assignments`).
//!
//! These events are rare next to joins and leaves (chat is rate-limited
//! per participant), so each is applied by its own small statement inside
//! the batch transaction, in log order; every statement is idempotent on
//! its key, like the set-based projections.

use events::event::Role;
use events::{MeetingEvent, RecordedEvent};
use sqlx::AnyConnection;

use crate::time::text;

/// Folds a batch of events (in position order) into the read models.
pub async fn apply(
    conn: &mut AnyConnection,
    events: &[(&RecordedEvent, &MeetingEvent)],
) -> Result<(), sqlx::Error> {
    for (recorded, event) in events {
        apply_one(conn, recorded.position, event).await?;
    }
    Ok(())
}

async fn apply_one(
    conn: &mut AnyConnection,
    position: i64,
    event: &MeetingEvent,
) -> Result<(), sqlx::Error> {
    use MeetingEvent as E;
    match event {
        E::ParticipantInvited(e) => {
            member(conn, &e.meeting_id.to_string(), e.user_id.as_str(), e.role).await
        }
        E::ParticipantRoleChanged(e) => {
            let meeting_id = e.meeting_id.to_string();
            if e.role == Role::Host {
                // The host is rm_meetings.host_id, not a member row.
                sqlx::query("DELETE FROM rm_meeting_members WHERE meeting_id = $1 AND user_id = $2")
                    .bind(meeting_id)
                    .bind(e.user_id.as_str())
                    .execute(conn)
                    .await
                    .map(drop)
            } else {
                member(conn, &meeting_id, e.user_id.as_str(), e.role).await
            }
        }
        E::ChatMessageSent(e) => sqlx::query(
            "INSERT INTO rm_chat_messages (position, message_id, meeting_id, sender_id, \
                 sender_name, recipient_id, content, sent_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (position) DO NOTHING",
        )
        .bind(position)
        .bind(e.message_id.to_string())
        .bind(e.meeting_id.to_string())
        .bind(e.sender_id.as_str())
        .bind(e.sender_name.as_str())
        .bind(e.recipient_id.as_ref().map(|r| r.as_str()))
        .bind(e.content.as_str())
        .bind(text(e.sent_at))
        .execute(conn)
        .await
        .map(drop),
        E::RecordingStarted(e) => sqlx::query(
            "INSERT INTO rm_recordings (recording_id, meeting_id, started_by, started_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (recording_id) DO NOTHING",
        )
        .bind(e.recording_id.to_string())
        .bind(e.meeting_id.to_string())
        .bind(e.started_by.as_str())
        .bind(text(e.started_at))
        .execute(conn)
        .await
        .map(drop),
        E::RecordingStopped(e) => sqlx::query(
            "UPDATE rm_recordings SET stopped_at = $2, duration_seconds = $3 \
             WHERE recording_id = $1",
        )
        .bind(e.recording_id.to_string())
        .bind(text(e.stopped_at))
        .bind(e.duration_seconds)
        .execute(conn)
        .await
        .map(drop),
        E::RecordingFileReported(e) => {
            sqlx::query("UPDATE rm_recordings SET file_url = $2, size = $3 WHERE recording_id = $1")
                .bind(e.recording_id.to_string())
                .bind(e.file_url.as_str())
                .bind(e.size)
                .execute(conn)
                .await
                .map(drop)
        }
        E::BreakoutRoomsOpened(e) => {
            let session_id = e.session_id.to_string();
            let meeting_id = e.meeting_id.to_string();
            sqlx::query(
                "INSERT INTO rm_breakout_sessions (session_id, meeting_id, \
                     allow_participants_to_choose, allow_participants_to_return, opened_at, \
                     closes_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (session_id) DO NOTHING",
            )
            .bind(&session_id)
            .bind(&meeting_id)
            .bind(i64::from(e.allow_participants_to_choose))
            .bind(i64::from(e.allow_participants_to_return))
            .bind(text(e.opened_at))
            .bind(e.closes_at.map(text))
            .execute(&mut *conn)
            .await?;
            for (ordinal, room) in e.rooms.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO rm_breakout_rooms (room_id, session_id, meeting_id, ordinal, \
                         name, description, capacity, allow_chat, allow_screen_share) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                     ON CONFLICT (room_id) DO NOTHING",
                )
                .bind(room.room_id.to_string())
                .bind(&session_id)
                .bind(&meeting_id)
                .bind(ordinal as i64)
                .bind(room.name.as_str())
                .bind(room.description.as_str())
                .bind(room.capacity.map(i64::from))
                .bind(i64::from(room.settings.allow_chat))
                .bind(i64::from(room.settings.allow_screen_share))
                .execute(&mut *conn)
                .await?;
            }
            Ok(())
        }
        E::ParticipantAssignedToBreakout(e) => sqlx::query(
            "INSERT INTO rm_breakout_assignments (session_id, user_id, room_id) \
             VALUES ($1, $2, $3) \
             ON CONFLICT (session_id, user_id) DO UPDATE SET room_id = excluded.room_id",
        )
        .bind(e.session_id.to_string())
        .bind(e.user_id.as_str())
        .bind(e.room_id.to_string())
        .execute(conn)
        .await
        .map(drop),
        E::BreakoutRoomsClosed(e) => sqlx::query(
            "UPDATE rm_breakout_sessions SET closed_at = $2, close_reason = $3 \
             WHERE session_id = $1",
        )
        .bind(e.session_id.to_string())
        .bind(text(e.closed_at))
        .bind(e.reason.as_str())
        .execute(conn)
        .await
        .map(drop),
        // Whoever leaves leaves their breakout room too.
        E::ParticipantLeft(e) => sqlx::query(
            "DELETE FROM rm_breakout_assignments WHERE user_id = $1 AND session_id IN \
                 (SELECT session_id FROM rm_breakout_sessions \
                  WHERE meeting_id = $2 AND closed_at IS NULL)",
        )
        .bind(e.user_id.as_str())
        .bind(e.meeting_id.to_string())
        .execute(conn)
        .await
        .map(drop),
        _ => Ok(()),
    }
}

async fn member(
    conn: &mut AnyConnection,
    meeting_id: &str,
    user_id: &str,
    role: Role,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO rm_meeting_members (meeting_id, user_id, role) VALUES ($1, $2, $3) \
         ON CONFLICT (meeting_id, user_id) DO UPDATE SET role = excluded.role",
    )
    .bind(meeting_id)
    .bind(user_id)
    .bind(role.as_str())
    .execute(conn)
    .await
    .map(drop)
}

pub async fn reset(conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
    for table in [
        "rm_meeting_members",
        "rm_chat_messages",
        "rm_recordings",
        "rm_breakout_sessions",
        "rm_breakout_rooms",
        "rm_breakout_assignments",
    ] {
        sqlx::query(&format!("DELETE FROM {table}"))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
