//! The meetings read model (`rm_meetings`, `rm_meeting_attendees`): one row
//! per meeting with its details, status, settings, times and counts.

use events::event::ConfigChange;
use events::{MeetingEvent, RecordedEvent};
use sqlx::AnyConnection;

use crate::time::text;

pub async fn apply(
    conn: &mut AnyConnection,
    recorded: &RecordedEvent,
    event: &MeetingEvent,
) -> Result<(), sqlx::Error> {
    use MeetingEvent as E;
    let position = recorded.position;
    match event {
        E::MeetingScheduled(e) => {
            let s = &e.settings;
            sqlx::query(
                "INSERT INTO rm_meetings (meeting_id, room_code, host_id, host_name, title, \
                     description, status, starts_at, ends_at, max_participants, lock_room, \
                     enable_transcription, enable_chat, enable_screen_share, enable_recording, \
                     waiting_room, mute_on_entry, created_at, last_position) \
                 VALUES ($1, $2, $3, $4, $5, $6, 'scheduled', $7, $8, $9, $10, $11, $12, $13, \
                     $14, $15, $16, $17, $18) \
                 ON CONFLICT (meeting_id) DO NOTHING",
            )
            .bind(e.meeting_id.to_string())
            .bind(e.room_code.to_string())
            .bind(e.host_id.to_string())
            .bind(&e.host_name)
            .bind(&e.title)
            .bind(&e.description)
            .bind(e.starts_at.map(text))
            .bind(e.ends_at.map(text))
            .bind(i64::from(e.max_participants))
            .bind(i64::from(s.lock_room))
            .bind(i64::from(s.enable_transcription))
            .bind(i64::from(s.enable_chat))
            .bind(i64::from(s.enable_screen_share))
            .bind(i64::from(s.enable_recording))
            .bind(i64::from(s.waiting_room))
            .bind(i64::from(s.mute_on_entry))
            .bind(text(e.scheduled_at))
            .bind(position)
            .execute(conn)
            .await?;
        }
        E::MeetingStarted(e) => {
            sqlx::query(
                "UPDATE rm_meetings SET status = 'active', started_at = $1, last_position = $2 \
                 WHERE meeting_id = $3",
            )
            .bind(text(e.started_at))
            .bind(position)
            .bind(e.meeting_id.to_string())
            .execute(conn)
            .await?;
        }
        E::MeetingEnded(e) => {
            sqlx::query(
                "UPDATE rm_meetings SET status = 'ended', ended_at = $1, duration_minutes = $2, \
                     last_position = $3 WHERE meeting_id = $4",
            )
            .bind(text(e.ended_at))
            .bind(e.duration_minutes)
            .bind(position)
            .bind(e.meeting_id.to_string())
            .execute(conn)
            .await?;
        }
        E::RoomConfigUpdated(e) => {
            configure(conn, &e.meeting_id.to_string(), &e.settings, position).await?
        }
        E::ParticipantJoined(e) => {
            let meeting = e.meeting_id.to_string();
            sqlx::query(
                "INSERT INTO rm_meeting_attendees (meeting_id, user_id) VALUES ($1, $2) \
                 ON CONFLICT (meeting_id, user_id) DO NOTHING",
            )
            .bind(&meeting)
            .bind(e.user_id.to_string())
            .execute(&mut *conn)
            .await?;
            sqlx::query(
                "UPDATE rm_meetings SET present_count = present_count + 1, \
                     attendance_count = (SELECT count(*) FROM rm_meeting_attendees \
                                         WHERE meeting_id = $1), \
                     last_position = $2 \
                 WHERE meeting_id = $1",
            )
            .bind(&meeting)
            .bind(position)
            .execute(conn)
            .await?;
        }
        E::ParticipantLeft(e) => {
            sqlx::query(
                "UPDATE rm_meetings SET present_count = present_count - 1, last_position = $1 \
                 WHERE meeting_id = $2",
            )
            .bind(position)
            .bind(e.meeting_id.to_string())
            .execute(conn)
            .await?;
        }
    }
    Ok(())
}

/// Sets the settings a `room_config_updated` names; the others keep their
/// values.
async fn configure(
    conn: &mut AnyConnection,
    meeting: &str,
    c: &ConfigChange,
    position: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE rm_meetings SET \
             lock_room = COALESCE($1, lock_room), \
             enable_transcription = COALESCE($2, enable_transcription), \
             enable_chat = COALESCE($3, enable_chat), \
             enable_screen_share = COALESCE($4, enable_screen_share), \
             enable_recording = COALESCE($5, enable_recording), \
             waiting_room = COALESCE($6, waiting_room), \
             mute_on_entry = COALESCE($7, mute_on_entry), \
             max_participants = COALESCE($8, max_participants), \
             last_position = $9 \
         WHERE meeting_id = $10",
    )
    .bind(c.lock_room.map(i64::from))
    .bind(c.enable_transcription.map(i64::from))
    .bind(c.enable_chat.map(i64::from))
    .bind(c.enable_screen_share.map(i64::from))
    .bind(c.enable_recording.map(i64::from))
    .bind(c.waiting_room.map(i64::from))
    .bind(c.mute_on_entry.map(i64::from))
    .bind(c.max_participants.map(i64::from))
    .bind(position)
    .bind(meeting)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn reset(conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM rm_meeting_attendees")
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM rm_meetings").execute(conn).await?;
    Ok(())
}
