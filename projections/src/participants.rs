//! The participants read model (`rm_participants`): every seat, one row per
//! join session; a seat is present while `left_at` is null.

use events::MeetingEvent;
use sqlx::AnyConnection;

use crate::time::text;

pub async fn apply(conn: &mut AnyConnection, event: &MeetingEvent) -> Result<(), sqlx::Error> {
    match event {
        MeetingEvent::ParticipantJoined(e) => {
            sqlx::query(
                "INSERT INTO rm_participants (participant_id, meeting_id, user_id, user_name, \
                     role, device_type, is_muted, is_video_enabled, joined_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (participant_id) DO NOTHING",
            )
            .bind(e.participant_id.to_string())
            .bind(e.meeting_id.to_string())
            .bind(e.user_id.to_string())
            .bind(&e.user_name)
            .bind(e.role.as_str())
            .bind(e.device_type.clone())
            .bind(i64::from(e.is_muted))
            .bind(i64::from(e.is_video_enabled))
            .bind(text(e.joined_at))
            .execute(conn)
            .await?;
        }
        MeetingEvent::ParticipantLeft(e) => {
            sqlx::query(
                "UPDATE rm_participants SET left_at = $1, leave_reason = $2 \
                 WHERE participant_id = $3",
            )
            .bind(text(e.left_at))
            .bind(e.reason.as_str())
            .bind(e.participant_id.to_string())
            .execute(conn)
            .await?;
        }
        _ => {}
    }
    Ok(())
}

pub async fn reset(conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM rm_participants")
        .execute(conn)
        .await?;
    Ok(())
}
