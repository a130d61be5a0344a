//! The activity read models: members (`rm_meeting_members`: invitations
//! and roles), bans (`rm_meeting_bans`), chat (`rm_chat_messages`),
//! recordings (`rm_recordings`), breakout rooms (`rm_breakout_sessions`,
//! `rm_breakout_rooms`, `rm_breakout_assignments`) and media connections
//! (`rm_media_sessions`).
//!
//! These events are rare next to joins and leaves (chat is rate-limited
//! per participant), so each is applied by its own small statement inside
//! the batch transaction, in log order; every statement is idempotent on
//! its key, like the set-based projections. Leaves are as common as joins
//! and take a seat out of its breakout room: a run of them is one
//! set-based statement, sent before the next statement of another event,
//! so the order of the log still holds.

use events::MeetingEvent;
use events::event::Role;
use serde::Serialize;
use sqlx::AnyConnection;

use crate::rows::{Column, Statement};
use crate::time::text;

type Query<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

const LEAVERS: &[Column] = &[Column::Text("meeting_id"), Column::Text("user_id")];

/// Whoever leaves leaves the breakout room they are in (of a session of
/// their meeting that is open).
static LEAVE: Statement = Statement::new(LEAVERS, |v| {
    format!(
        "DELETE FROM rm_breakout_assignments WHERE (session_id, user_id) IN \
             (SELECT s.session_id, v.user_id FROM {v} JOIN rm_breakout_sessions s \
              ON s.meeting_id = v.meeting_id AND s.closed_at IS NULL)"
    )
});

/// Users banned from a meeting (they may not read it any more).
static BAN: Statement = Statement::new(LEAVERS, |v| {
    format!(
        "INSERT INTO rm_meeting_bans (meeting_id, user_id) \
         SELECT meeting_id, user_id FROM {v} WHERE true \
         ON CONFLICT (meeting_id, user_id) DO NOTHING"
    )
});

#[derive(Serialize)]
struct Leaver<'a> {
    meeting_id: String,
    user_id: &'a str,
}

/// Folds a batch of events (in position order) into the read models.
pub async fn apply(
    conn: &mut AnyConnection,
    events: &[(i64, MeetingEvent)],
) -> Result<(), sqlx::Error> {
    let mut leavers = Vec::new();
    // Nothing else touches the bans: they are inserted once, at the end.
    let mut banned = Vec::new();
    for (position, event) in events {
        if let MeetingEvent::ParticipantLeft(e) = event {
            let leaver = || Leaver {
                meeting_id: e.meeting_id.to_string(),
                user_id: e.user_id.as_str(),
            };
            if e.banned {
                banned.push(leaver());
            }
            leavers.push(leaver());
            continue;
        }
        let queries = statements(*position, event);
        if !queries.is_empty() {
            LEAVE.run(conn, &leavers).await?;
            leavers.clear();
        }
        for query in queries {
            query.execute(&mut *conn).await?;
        }
    }
    LEAVE.run(conn, &leavers).await?;
    BAN.run(conn, &banned).await
}

/// The statements one event (other than a leave) needs, in order; none for
/// the events these read models do not follow.
fn statements(position: i64, event: &MeetingEvent) -> Vec<Query<'_>> {
    use MeetingEvent as E;
    match event {
        E::ParticipantInvited(e) => {
            vec![member(e.meeting_id.to_string(), e.user_id.as_str(), e.role)]
        }
        E::ParticipantRoleChanged(e) => {
            let meeting_id = e.meeting_id.to_string();
            vec![if e.role == Role::Host {
                // The host is rm_meetings.host_id, not a member row.
                sqlx::query("DELETE FROM rm_meeting_members WHERE meeting_id = $1 AND user_id = $2")
                    .bind(meeting_id)
                    .bind(e.user_id.as_str())
            } else {
                member(meeting_id, e.user_id.as_str(), e.role)
            }]
        }
        E::ChatMessageSent(e) => {
            let file = e.file.as_ref();
            vec![
                sqlx::query(
                    "INSERT INTO rm_chat_messages (position, message_id, meeting_id, sender_id, \
                     sender_name, recipient_id, content, sent_at, file_url, file_name, \
                     file_type, file_size) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                 ON CONFLICT (position) DO NOTHING",
                )
                .bind(position)
                .bind(e.message_id.to_string())
                .bind(e.meeting_id.to_string())
                .bind(e.sender_id.as_str())
                .bind(e.sender_name.as_str())
                .bind(e.recipient_id.as_ref().map(|r| r.as_str()))
                .bind(e.content.as_str())
                .bind(text(e.sent_at))
                .bind(file.map(|f| f.file_url.as_str()))
                .bind(file.map(|f| f.file_name.as_str()))
                .bind(file.and_then(|f| f.file_type.as_deref()))
                .bind(file.and_then(|f| f.file_size)),
            ]
        }
        E::RecordingStarted(e) => vec![
            sqlx::query(
                "INSERT INTO rm_recordings (recording_id, meeting_id, started_by, started_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (recording_id) DO NOTHING",
            )
            .bind(e.recording_id.to_string())
            .bind(e.meeting_id.to_string())
            .bind(e.started_by.as_str())
            .bind(text(e.started_at)),
        ],
        E::RecordingStopped(e) => vec![
            sqlx::query(
                "UPDATE rm_recordings SET stopped_at = $2, duration_seconds = $3 \
             WHERE recording_id = $1",
            )
            .bind(e.recording_id.to_string())
            .bind(text(e.stopped_at))
            .bind(e.duration_seconds),
        ],
        E::RecordingFileReported(e) => {
            vec![
                sqlx::query(
                    "UPDATE rm_recordings SET file_url = $2, size = $3 WHERE recording_id = $1",
                )
                .bind(e.recording_id.to_string())
                .bind(e.file_url.as_str())
                .bind(e.size),
            ]
        }
        E::BreakoutRoomsOpened(e) => {
            let session_id = e.session_id.to_string();
            let meeting_id = e.meeting_id.to_string();
            let mut queries = vec![
                sqlx::query(
                    "INSERT INTO rm_breakout_sessions (session_id, meeting_id, \
                     allow_participants_to_choose, allow_participants_to_return, opened_at, \
                     closes_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (session_id) DO NOTHING",
                )
                .bind(session_id.clone())
                .bind(meeting_id.clone())
                .bind(i64::from(e.allow_participants_to_choose))
                .bind(i64::from(e.allow_participants_to_return))
                .bind(text(e.opened_at))
                .bind(e.closes_at.map(text)),
            ];
            for (ordinal, room) in e.rooms.iter().enumerate() {
                queries.push(
                    sqlx::query(
                        "INSERT INTO rm_breakout_rooms (room_id, session_id, meeting_id, ordinal, \
                         name, description, capacity, allow_chat, allow_screen_share) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                     ON CONFLICT (room_id) DO NOTHING",
                    )
                    .bind(room.room_id.to_string())
                    .bind(session_id.clone())
                    .bind(meeting_id.clone())
                    .bind(ordinal as i64)
                    .bind(room.name.as_str())
                    .bind(room.description.as_str())
                    .bind(room.capacity.map(i64::from))
                    .bind(i64::from(room.settings.allow_chat))
                    .bind(i64::from(room.settings.allow_screen_share)),
                );
            }
            queries
        }
        E::ParticipantAssignedToBreakout(e) => vec![
            sqlx::query(
                "INSERT INTO rm_breakout_assignments (session_id, user_id, room_id) \
             VALUES ($1, $2, $3) \
             ON CONFLICT (session_id, user_id) DO UPDATE SET room_id = excluded.room_id",
            )
            .bind(e.session_id.to_string())
            .bind(e.user_id.as_str())
            .bind(e.room_id.to_string()),
        ],
        E::BreakoutRoomsClosed(e) => vec![
            sqlx::query(
                "UPDATE rm_breakout_sessions SET closed_at = $2, close_reason = $3 \
             WHERE session_id = $1",
            )
            .bind(e.session_id.to_string())
            .bind(text(e.closed_at))
            .bind(e.reason.as_str()),
        ],
        E::MediaConnected(e) => vec![
            sqlx::query(
                "INSERT INTO rm_media_sessions (meeting_id, participant_sid, user_id, \
                 connected_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (meeting_id, participant_sid) DO NOTHING",
            )
            .bind(e.meeting_id.to_string())
            .bind(e.participant_sid.as_str())
            .bind(e.user_id.as_str())
            .bind(text(e.connected_at)),
        ],
        E::MediaDisconnected(e) => vec![
            sqlx::query(
                "INSERT INTO rm_media_sessions (meeting_id, participant_sid, user_id, \
                 connected_at, disconnected_at, reason) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (meeting_id, participant_sid) DO UPDATE SET \
                 disconnected_at = excluded.disconnected_at, reason = excluded.reason, \
                 connected_at = COALESCE(rm_media_sessions.connected_at, excluded.connected_at)",
            )
            .bind(e.meeting_id.to_string())
            .bind(e.participant_sid.as_str())
            .bind(e.user_id.as_str())
            .bind(e.connected_at.map(text))
            .bind(text(e.disconnected_at))
            .bind(e.reason.as_str()),
        ],
        _ => Vec::new(),
    }
}

fn member(meeting_id: String, user_id: &str, role: Role) -> Query<'_> {
    sqlx::query(
        "INSERT INTO rm_meeting_members (meeting_id, user_id, role) VALUES ($1, $2, $3) \
         ON CONFLICT (meeting_id, user_id) DO UPDATE SET role = excluded.role",
    )
    .bind(meeting_id)
    .bind(user_id)
    .bind(role.as_str())
}

pub async fn reset(conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
    for table in [
        "rm_meeting_members",
        "rm_meeting_bans",
        "rm_chat_messages",
        "rm_recordings",
        "rm_breakout_sessions",
        "rm_breakout_rooms",
        "rm_breakout_assignments",
        "rm_media_sessions",
    ] {
        sqlx::query(&format!("DELETE FROM {table}"))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
