//! The participants read model (`rm_participants`): every seat, one row per
//! join session; a seat is present while `left_at` is null.
//!
//! A batch is applied as five statements whatever its size: the seats it
//! opened (INSERTs, with the leave already in the row when the seat also
//! closed in the batch, and the last role it had in the batch), the roles
//! of seats open before the batch (applied first, before the batch can
//! close them), the older seats it closed, and the seats whose media or
//! hand changed (one UPDATE each).
//!
//! Seats of a meeting the batch scheduled cannot have rows yet (a
//! meeting's rows come only from its own events): they are inserted
//! plainly, without the conflict check, whose index probe per row was a
//! large part of a rebuild (see [`crate::meetings`]). Other new seats keep
//! the check, so a seat applied twice could never fail the batch.

use std::collections::{HashMap, HashSet};

use events::{MeetingEvent, MeetingId};
use serde::Serialize;
use sqlx::AnyConnection;

use crate::rows::{Column, Statement};
use crate::time::text;

const SEATS: &[Column] = &[
    Column::Text("participant_id"),
    Column::Text("meeting_id"),
    Column::Text("user_id"),
    Column::Text("user_name"),
    Column::Text("role"),
    Column::Text("device_type"),
    Column::Flag("is_muted"),
    Column::Flag("is_video_enabled"),
    Column::Text("joined_at"),
    Column::Text("left_at"),
    Column::Text("leave_reason"),
];

const CLOSED: &[Column] = &[
    Column::Text("participant_id"),
    Column::Text("left_at"),
    Column::Text("leave_reason"),
];

const STATES: &[Column] = &[
    Column::Text("participant_id"),
    Column::Flag("is_muted"),
    Column::Flag("is_video_enabled"),
    Column::Flag("is_screen_sharing"),
    Column::Flag("is_hand_raised"),
];

const ROLES: &[Column] = &[
    Column::Text("meeting_id"),
    Column::Text("user_id"),
    Column::Text("role"),
];

static STATE: Statement = Statement::new(STATES, |v| {
    format!(
        "UPDATE rm_participants SET \
             is_muted = COALESCE(v.is_muted, rm_participants.is_muted), \
             is_video_enabled = COALESCE(v.is_video_enabled, rm_participants.is_video_enabled), \
             is_screen_sharing = COALESCE(v.is_screen_sharing, rm_participants.is_screen_sharing), \
             is_hand_raised = COALESCE(v.is_hand_raised, rm_participants.is_hand_raised) \
         FROM {v} WHERE rm_participants.participant_id = v.participant_id"
    )
});

/// A role applies to the user's open seat.
static ROLE: Statement = Statement::new(ROLES, |v| {
    format!(
        "UPDATE rm_participants SET role = v.role \
         FROM {v} WHERE rm_participants.meeting_id = v.meeting_id \
             AND rm_participants.user_id = v.user_id AND rm_participants.left_at IS NULL"
    )
});

static OPEN: Statement = Statement::new(SEATS, |v| {
    format!(
        "{} ON CONFLICT (participant_id) DO UPDATE SET \
             left_at = COALESCE(excluded.left_at, rm_participants.left_at), \
             leave_reason = COALESCE(excluded.leave_reason, rm_participants.leave_reason)",
        open(v)
    )
});

/// Seats of meetings the batch scheduled.
static OPEN_NEW: Statement = Statement::new(SEATS, open);

fn open(v: &str) -> String {
    format!(
        "INSERT INTO rm_participants (participant_id, meeting_id, user_id, user_name, role, \
             device_type, is_muted, is_video_enabled, joined_at, left_at, leave_reason) \
         SELECT participant_id, meeting_id, user_id, user_name, role, device_type, is_muted, \
             is_video_enabled, joined_at, left_at, leave_reason FROM {v} WHERE true"
    )
}

static CLOSE: Statement = Statement::new(CLOSED, |v| {
    format!(
        "UPDATE rm_participants SET left_at = v.left_at, leave_reason = v.leave_reason \
         FROM {v} WHERE rm_participants.participant_id = v.participant_id"
    )
});

#[derive(Serialize)]
struct Seat<'a> {
    participant_id: String,
    meeting_id: String,
    user_id: &'a str,
    user_name: &'a str,
    role: &'static str,
    device_type: Option<&'a str>,
    is_muted: bool,
    is_video_enabled: bool,
    joined_at: String,
    left_at: Option<String>,
    leave_reason: Option<&'static str>,
    /// Its meeting was scheduled in the batch.
    #[serde(skip)]
    new_meeting: bool,
}

/// A seat's media and hand after the batch (absent: unchanged).
#[derive(Default, Serialize)]
struct State {
    participant_id: String,
    is_muted: Option<bool>,
    is_video_enabled: Option<bool>,
    is_screen_sharing: Option<bool>,
    is_hand_raised: Option<bool>,
}

#[derive(Serialize)]
struct RoleRow<'a> {
    meeting_id: String,
    user_id: &'a str,
    role: &'static str,
}

#[derive(Serialize)]
struct Closed {
    participant_id: String,
    left_at: String,
    leave_reason: &'static str,
}

/// Folds a batch of events (in position order) into the read model.
pub async fn apply(
    conn: &mut AnyConnection,
    events: &[(i64, MeetingEvent)],
) -> Result<(), sqlx::Error> {
    let mut opened: Vec<Seat> = Vec::new();
    // Seats opened in this batch, by id: their index in `opened`.
    let mut new_seats: HashMap<String, usize> = HashMap::new();
    // Older seats, by id: the last leave of the batch.
    let mut closed: HashMap<String, Closed> = HashMap::new();
    // Seats whose media or hand changed, by id: the state after the batch.
    let mut states: HashMap<String, State> = HashMap::new();
    // Seats opened in this batch and still open at this point of it, by
    // (meeting, user): their index in `opened`.
    let mut open_now: HashMap<(String, &str), usize> = HashMap::new();
    // Users whose seat from before the batch changed role, by (meeting,
    // user): the last role.
    let mut roles: HashMap<(String, &str), RoleRow> = HashMap::new();
    // Meetings scheduled in this batch.
    let mut new_meetings: HashSet<MeetingId> = HashSet::new();
    for (_, event) in events {
        match event {
            MeetingEvent::MeetingScheduled(e) => {
                new_meetings.insert(e.meeting_id);
            }
            MeetingEvent::ParticipantMediaChanged(e) => {
                let state = state(&mut states, &e.participant_id);
                state.is_muted = e.is_muted.or(state.is_muted);
                state.is_video_enabled = e.is_video_enabled.or(state.is_video_enabled);
                state.is_screen_sharing = e.is_screen_sharing.or(state.is_screen_sharing);
            }
            MeetingEvent::HandRaised(e) => {
                state(&mut states, &e.participant_id).is_hand_raised = Some(true)
            }
            MeetingEvent::HandLowered(e) => {
                state(&mut states, &e.participant_id).is_hand_raised = Some(false)
            }
            MeetingEvent::ParticipantRoleChanged(e) => {
                let meeting_id = e.meeting_id.to_string();
                if let Some(&row) = open_now.get(&(meeting_id.clone(), e.user_id.as_str())) {
                    opened[row].role = e.role.as_str();
                    continue;
                }
                roles.insert(
                    (meeting_id.clone(), e.user_id.as_str()),
                    RoleRow {
                        meeting_id,
                        user_id: e.user_id.as_str(),
                        role: e.role.as_str(),
                    },
                );
            }
            MeetingEvent::ParticipantJoined(e) => {
                let participant_id = e.participant_id.to_string();
                new_seats.insert(participant_id.clone(), opened.len());
                open_now.insert((e.meeting_id.to_string(), e.user_id.as_str()), opened.len());
                opened.push(Seat {
                    participant_id,
                    meeting_id: e.meeting_id.to_string(),
                    user_id: e.user_id.as_str(),
                    user_name: &e.user_name,
                    role: e.role.as_str(),
                    device_type: e.device_type.as_deref(),
                    is_muted: e.is_muted,
                    is_video_enabled: e.is_video_enabled,
                    joined_at: text(e.joined_at),
                    left_at: None,
                    leave_reason: None,
                    new_meeting: new_meetings.contains(&e.meeting_id),
                });
            }
            MeetingEvent::ParticipantLeft(e) => {
                let participant_id = e.participant_id.to_string();
                let (left_at, reason) = (text(e.left_at), e.reason.as_str());
                open_now.remove(&(e.meeting_id.to_string(), e.user_id.as_str()));
                match new_seats.get(&participant_id) {
                    Some(&row) => {
                        opened[row].left_at = Some(left_at);
                        opened[row].leave_reason = Some(reason);
                    }
                    None => {
                        let row = Closed {
                            participant_id: participant_id.clone(),
                            left_at,
                            leave_reason: reason,
                        };
                        closed.insert(participant_id, row);
                    }
                }
            }
            _ => {}
        }
    }
    // Roles first: they are for seats open before the batch, and must
    // reach them before the batch closes them (seats it opened have theirs).
    let roles: Vec<RoleRow> = roles.into_values().collect();
    ROLE.run(conn, &roles).await?;
    let (new, other): (Vec<&Seat>, Vec<&Seat>) = opened.iter().partition(|s| s.new_meeting);
    OPEN_NEW.run(conn, &new).await?;
    OPEN.run(conn, &other).await?;
    let closed: Vec<Closed> = closed.into_values().collect();
    CLOSE.run(conn, &closed).await?;
    let states: Vec<State> = states.into_values().collect();
    STATE.run(conn, &states).await
}

fn state<'s>(states: &'s mut HashMap<String, State>, id: &events::ParticipantId) -> &'s mut State {
    let id = id.to_string();
    states.entry(id.clone()).or_insert_with(|| State {
        participant_id: id,
        ..State::default()
    })
}

pub async fn reset(conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM rm_participants")
        .execute(conn)
        .await?;
    Ok(())
}
