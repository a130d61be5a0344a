//! The meetings read model (`rm_meetings`, `rm_meeting_attendees`): one row
//! per meeting with its details, status, settings, times and counts.
//!
//! A batch is folded in memory into one change per meeting it touches and
//! applied as four statements whatever its size: the meetings it
//! scheduled (INSERT), the users it brought in (two INSERTs into the
//! attendees, below), and every touched meeting's change (one UPDATE: the
//! last status, times and settings of the batch, the net change in present
//! seats, the attendees the batch added, the last position).
//!
//! Attendees of a meeting the batch scheduled cannot have rows yet (a
//! meeting's rows come only from its own events, and its first event is in
//! this batch): they are told apart in memory and inserted plainly. Those
//! of older meetings may have been there before: their INSERT skips the
//! conflicts and the added ones are counted from the rows it returns. The
//! plain INSERT spares the index probe a conflict check costs per row,
//! which was 9% of the machine in a rebuild, where nearly every meeting is
//! scheduled in the batch that holds its joins.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use events::event::Role;
use events::settings::{ConfigChange, MeetingSettings};
use events::views::MeetingStatus;
use events::{MeetingEvent, MeetingId};
use serde::Serialize;
use sqlx::AnyConnection;

use crate::rows::{Column, Statement};
use crate::time::text;

/// A flag column per declared room setting.
fn setting_columns() -> impl Iterator<Item = Column> {
    MeetingSettings::NAMES.iter().map(|name| Column::Flag(name))
}

/// The setting columns' names, comma-separated.
fn setting_names() -> String {
    MeetingSettings::NAMES.join(", ")
}

fn scheduled_columns() -> Vec<Column> {
    let mut columns = vec![
        Column::Text("meeting_id"),
        Column::Text("room_code"),
        Column::Text("host_id"),
        Column::Text("host_name"),
        Column::Text("title"),
        Column::Text("description"),
        Column::Text("starts_at"),
        Column::Text("ends_at"),
        Column::Int("max_participants"),
    ];
    columns.extend(setting_columns());
    columns.extend([Column::Text("created_at"), Column::Int("last_position")]);
    columns
}

const ATTENDEES: &[Column] = &[Column::Text("meeting_id"), Column::Text("user_id")];

fn change_columns() -> Vec<Column> {
    let mut columns = vec![
        Column::Text("meeting_id"),
        Column::Text("title"),
        Column::Text("description"),
        Column::Text("starts_at"),
        Column::Text("ends_at"),
        Column::Text("host_id"),
        Column::Flag("is_recording"),
        Column::Text("status"),
        Column::Text("started_at"),
        Column::Text("ended_at"),
        Column::Int("duration_minutes"),
    ];
    columns.extend(setting_columns());
    columns.extend([
        Column::Int("max_participants"),
        Column::Int("present_delta"),
        Column::Int("attendance_delta"),
        Column::Int("last_position"),
    ]);
    columns
}

static INSERT: Statement = Statement::derived(scheduled_columns, |v| {
    let settings = setting_names();
    format!(
        "INSERT INTO rm_meetings (meeting_id, room_code, host_id, host_name, title, description, \
             status, starts_at, ends_at, max_participants, {settings}, created_at, last_position) \
         SELECT meeting_id, room_code, host_id, host_name, title, description, 'scheduled', \
             starts_at, ends_at, max_participants, {settings}, created_at, last_position \
         FROM {v} WHERE true \
         ON CONFLICT (meeting_id) DO NOTHING"
    )
});

/// Attendees who may have been there before: the new ones are returned.
static ATTEND: Statement = Statement::new(ATTENDEES, |v| {
    format!(
        "{} ON CONFLICT (user_id, meeting_id) DO NOTHING RETURNING meeting_id",
        attend(v)
    )
});

/// Attendees of meetings the batch scheduled, each once.
static ATTEND_NEW: Statement = Statement::new(ATTENDEES, attend);

fn attend(v: &str) -> String {
    format!(
        "INSERT INTO rm_meeting_attendees (meeting_id, user_id) \
         SELECT meeting_id, user_id FROM {v} WHERE true"
    )
}

static UPDATE: Statement = Statement::derived(change_columns, |v| {
    let settings: Vec<String> = MeetingSettings::NAMES
        .iter()
        .map(|name| format!("{name} = COALESCE(v.{name}, rm_meetings.{name})"))
        .collect();
    let settings = settings.join(", ");
    format!(
        "UPDATE rm_meetings SET \
             title = COALESCE(v.title, rm_meetings.title), \
             description = COALESCE(v.description, rm_meetings.description), \
             starts_at = COALESCE(v.starts_at, rm_meetings.starts_at), \
             ends_at = COALESCE(v.ends_at, rm_meetings.ends_at), \
             host_id = COALESCE(v.host_id, rm_meetings.host_id), \
             is_recording = COALESCE(v.is_recording, rm_meetings.is_recording), \
             status = COALESCE(v.status, rm_meetings.status), \
             started_at = COALESCE(v.started_at, rm_meetings.started_at), \
             ended_at = COALESCE(v.ended_at, rm_meetings.ended_at), \
             duration_minutes = COALESCE(v.duration_minutes, rm_meetings.duration_minutes), \
             {settings}, \
             max_participants = COALESCE(v.max_participants, rm_meetings.max_participants), \
             present_count = rm_meetings.present_count + v.present_delta, \
             attendance_count = rm_meetings.attendance_count + v.attendance_delta, \
             last_position = v.last_position \
         FROM {v} WHERE rm_meetings.meeting_id = v.meeting_id"
    )
});

/// What one batch does to one meeting's row (a row of the UPDATE).
#[derive(Default, Serialize)]
struct Change<'a> {
    meeting_id: String,
    title: Option<&'a str>,
    description: Option<&'a str>,
    starts_at: Option<String>,
    ends_at: Option<String>,
    host_id: Option<&'a str>,
    is_recording: Option<bool>,
    status: Option<MeetingStatus>,
    started_at: Option<String>,
    ended_at: Option<String>,
    duration_minutes: Option<i64>,
    /// The settings the batch changed, merged in order.
    #[serde(flatten)]
    settings: ConfigChange,
    present_delta: i64,
    /// Users who attend the meeting for the first time.
    attendance_delta: i64,
    last_position: i64,
    /// The batch scheduled the meeting: it has no attendees before it.
    #[serde(skip)]
    scheduled_here: bool,
}

#[derive(Serialize)]
struct Scheduled<'a> {
    meeting_id: String,
    room_code: String,
    host_id: &'a str,
    host_name: &'a str,
    title: &'a str,
    description: &'a str,
    starts_at: Option<String>,
    ends_at: Option<String>,
    max_participants: u32,
    #[serde(flatten)]
    settings: &'a MeetingSettings,
    created_at: String,
    last_position: i64,
}

#[derive(Serialize)]
struct Attendee<'a> {
    meeting_id: String,
    user_id: &'a str,
}

/// Folds a batch of events (in position order) into the read model.
pub async fn apply(
    conn: &mut AnyConnection,
    events: &[(i64, MeetingEvent)],
) -> Result<(), sqlx::Error> {
    use MeetingEvent as E;
    let mut scheduled = Vec::new();
    // Attendees of older meetings; of meetings scheduled in the batch, by
    // (meeting, user), each once.
    let mut attendees = Vec::new();
    let mut new_attendees: HashMap<(MeetingId, &str), Attendee> = HashMap::new();
    // One change per meeting, in the order the batch first touched them.
    let mut changes: Vec<Change<'_>> = Vec::new();
    let mut index: HashMap<MeetingId, usize> = HashMap::new();
    for (position, event) in events {
        let id = event.meeting_id();
        let at = *index.entry(id).or_insert_with(|| {
            changes.push(Change {
                meeting_id: id.to_string(),
                ..Default::default()
            });
            changes.len() - 1
        });
        let change = &mut changes[at];
        change.last_position = *position;
        match event {
            E::MeetingScheduled(e) => {
                change.scheduled_here = true;
                scheduled.push(Scheduled {
                    meeting_id: change.meeting_id.clone(),
                    room_code: e.room_code.to_string(),
                    host_id: e.host_id.as_str(),
                    host_name: &e.host_name,
                    title: &e.title,
                    description: &e.description,
                    starts_at: e.starts_at.map(text),
                    ends_at: e.ends_at.map(text),
                    max_participants: e.max_participants,
                    settings: &e.settings,
                    created_at: text(e.scheduled_at),
                    last_position: *position,
                });
            }
            E::MeetingStarted(e) => {
                change.status = Some(MeetingStatus::Active);
                change.started_at = Some(text(e.started_at));
            }
            E::MeetingEnded(e) => {
                change.status = Some(MeetingStatus::Ended);
                change.ended_at = Some(text(e.ended_at));
                change.duration_minutes = Some(e.duration_minutes);
            }
            E::RoomConfigUpdated(e) => change.settings.merge(&e.settings),
            E::MeetingDetailsUpdated(e) => {
                change.title = e.title.as_deref().or(change.title);
                change.description = e.description.as_deref().or(change.description);
                change.starts_at = e.starts_at.map(text).or(change.starts_at.take());
                change.ends_at = e.ends_at.map(text).or(change.ends_at.take());
                change.settings.merge(&e.settings);
            }
            E::MeetingCancelled(_) => change.status = Some(MeetingStatus::Cancelled),
            E::SecurityPolicyApplied(e) => change.settings.merge(&e.policy.settings_change()),
            E::ParticipantRoleChanged(e) if e.role == Role::Host => {
                change.host_id = Some(e.user_id.as_str());
            }
            E::RecordingStarted(_) => change.is_recording = Some(true),
            E::RecordingStopped(_) => change.is_recording = Some(false),
            E::ParticipantJoined(e) => {
                change.present_delta += 1;
                let attendee = || Attendee {
                    meeting_id: change.meeting_id.clone(),
                    user_id: e.user_id.as_str(),
                };
                if !change.scheduled_here {
                    attendees.push(attendee());
                } else if let Entry::Vacant(slot) = new_attendees.entry((id, e.user_id.as_str())) {
                    slot.insert(attendee());
                    change.attendance_delta += 1;
                }
            }
            E::ParticipantLeft(_) => change.present_delta -= 1,
            _ => {}
        }
    }

    INSERT.run(conn, &scheduled).await?;
    let new_attendees: Vec<Attendee> = new_attendees.into_values().collect();
    ATTEND_NEW.run(conn, &new_attendees).await?;
    // The attendees new to their meeting (a user who was there before
    // conflicts and is not returned).
    for meeting_id in ATTEND.returning(conn, &attendees).await? {
        let at = meeting_id.parse().ok().and_then(|id| index.get(&id));
        if let Some(&at) = at {
            changes[at].attendance_delta += 1;
        }
    }
    UPDATE.run(conn, &changes).await
}

pub async fn reset(conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM rm_meeting_attendees")
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM rm_meetings").execute(conn).await?;
    Ok(())
}
