//! Recording: starting and stopping it (by the policy's
//! `recording_permissions`, with the room's recording setting on), and a
//! recorder reporting where the file is.

use chrono::{DateTime, Utc};
use events::event::{RecordingFileReported, RecordingStarted, RecordingStopped, Role};
use events::{MeetingEvent, MeetingId, RecordingId};
use serde::{Deserialize, Serialize};

use super::Decision;
use super::context::Context;
use super::error::MeetingError;
use super::rules::{hosts, require_active};
use super::state::{Meeting, Recording};

const FILE_URL_MAX_CHARS: usize = 2048;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecordingView {
    pub meeting_id: MeetingId,
    pub recording_id: RecordingId,
    pub started_at: Option<DateTime<Utc>>,
    pub stopped_at: Option<DateTime<Utc>>,
    pub duration: Option<i64>,
    pub file_url: Option<String>,
    pub size: Option<i64>,
}

impl RecordingView {
    fn of(meeting: &Meeting, recording_id: RecordingId) -> Self {
        Self {
            meeting_id: meeting.id,
            recording_id,
            started_at: None,
            stopped_at: None,
            duration: None,
            file_url: None,
            size: None,
        }
    }
}

/// Recording follows the policy's `recording_permissions` and needs the
/// room's recording setting on.
fn may_record(meeting: &Meeting, ctx: &Context) -> Result<(), MeetingError> {
    let user = &ctx.caller.user_id;
    let role = if ctx.caller.is_admin() {
        Some(Role::Host)
    } else {
        meeting.role_of(user).filter(|role| {
            // "all" means the people in the meeting, not anyone invited.
            matches!(role, Role::Host | Role::CoHost) || meeting.present.contains_key(user)
        })
    };
    if !role.is_some_and(|r| meeting.policy.recording_permissions.allows(r)) {
        return Err(MeetingError::NotPermitted);
    }
    require_active(meeting)?;
    if !meeting.settings.enable_recording {
        return Err(MeetingError::RecordingDisabled);
    }
    Ok(())
}

pub(super) fn start(
    meeting: &Meeting,
    ctx: &Context,
    id: RecordingId,
) -> Result<Decision<RecordingView>, MeetingError> {
    may_record(meeting, ctx)?;
    if meeting.recording.is_some() {
        return Err(MeetingError::RecordingInProgress);
    }
    let event = MeetingEvent::RecordingStarted(RecordingStarted {
        meeting_id: meeting.id,
        recording_id: id,
        started_by: ctx.caller.user_id.clone(),
        started_at: ctx.at,
    });
    let reply = RecordingView {
        started_at: Some(ctx.at),
        ..RecordingView::of(meeting, id)
    };
    Ok(Decision::new(vec![event], reply))
}

/// The event of the recording in progress stopping now.
pub(super) fn stopped_by(meeting: &Meeting, ctx: &Context, recording: &Recording) -> MeetingEvent {
    MeetingEvent::RecordingStopped(RecordingStopped {
        meeting_id: meeting.id,
        recording_id: recording.recording_id,
        stopped_by: ctx.caller.user_id.clone(),
        stopped_at: ctx.at,
        duration_seconds: duration_seconds(recording, ctx),
    })
}

fn duration_seconds(recording: &Recording, ctx: &Context) -> i64 {
    (ctx.at - recording.started_at).num_seconds().max(0)
}

pub(super) fn stop(
    meeting: &Meeting,
    ctx: &Context,
) -> Result<Decision<RecordingView>, MeetingError> {
    may_record(meeting, ctx)?;
    let recording = meeting
        .recording
        .as_ref()
        .ok_or(MeetingError::NotRecording)?;
    let reply = RecordingView {
        started_at: Some(recording.started_at),
        stopped_at: Some(ctx.at),
        duration: Some(duration_seconds(recording, ctx)),
        ..RecordingView::of(meeting, recording.recording_id)
    };
    Ok(Decision::new(
        vec![stopped_by(meeting, ctx, recording)],
        reply,
    ))
}

/// The host or a deployment admin (a recorder's service account) reports
/// where a recording's file is; also after the meeting ended.
pub(super) fn report_file(
    meeting: &Meeting,
    ctx: &Context,
    recording_id: RecordingId,
    file_url: &str,
    size: i64,
) -> Result<Decision<RecordingView>, MeetingError> {
    if !hosts(meeting, ctx) {
        return Err(MeetingError::NotHost);
    }
    if !meeting.recordings.contains(&recording_id) {
        return Err(MeetingError::RecordingNotFound);
    }
    let url_ok = (file_url.starts_with("https://") || file_url.starts_with("http://"))
        && events::text::line(file_url, FILE_URL_MAX_CHARS).is_ok()
        && !file_url.contains(char::is_whitespace);
    if !url_ok {
        return Err(MeetingError::invalid(
            "file_url",
            format!("must be an http(s) URL of at most {FILE_URL_MAX_CHARS} characters"),
        ));
    }
    if size < 0 {
        return Err(MeetingError::invalid("size", "must not be negative"));
    }
    let event = MeetingEvent::RecordingFileReported(RecordingFileReported {
        meeting_id: meeting.id,
        recording_id,
        file_url: file_url.to_owned(),
        size,
        reported_by: ctx.caller.user_id.clone(),
    });
    let reply = RecordingView {
        file_url: Some(file_url.to_owned()),
        size: Some(size),
        ..RecordingView::of(meeting, recording_id)
    };
    Ok(Decision::new(vec![event], reply))
}

#[cfg(test)]
mod tests {
    use super::super::given::*;

    #[test]
    fn recording_follows_the_setting_the_permission_and_one_at_a_time() {
        let mut given = Given::active("alice");
        given.joined("bob");
        let start = || Command::StartRecording(RecordingId::new());
        assert_eq!(
            given.when("alice", start()),
            Err(MeetingError::RecordingDisabled)
        );
        given.run(
            "alice",
            config(
                SettingsChange {
                    enable_recording: Some(true),
                    ..Default::default()
                },
                None,
            ),
        );
        assert_eq!(given.when("bob", start()), Err(MeetingError::NotPermitted));
        assert_eq!(
            given.when("alice", Command::StopRecording),
            Err(MeetingError::NotRecording)
        );
        given.run("alice", start());
        assert_eq!(
            given.when("alice", start()),
            Err(MeetingError::RecordingInProgress)
        );
        given.after(Duration::seconds(90));
        let events = given.when("alice", Command::StopRecording).unwrap();
        assert!(matches!(events.as_slice(), [E::RecordingStopped(s)] if s.duration_seconds == 90));
        given.run("alice", Command::StopRecording);
        given.run(
            "alice",
            policy(|p| p.recording_permissions = Permission::All),
        );
        assert!(given.when("bob", start()).is_ok());
        assert_eq!(
            given.when("zed", start()),
            Err(MeetingError::NotPermitted),
            "not present"
        );
    }

    #[test]
    fn ending_stops_the_recording_and_its_file_is_reported_by_the_host_or_an_admin() {
        let mut given = Given::active("alice");
        let id = RecordingId::new();
        given
            .run(
                "alice",
                config(
                    SettingsChange {
                        enable_recording: Some(true),
                        ..Default::default()
                    },
                    None,
                ),
            )
            .run("alice", Command::StartRecording(id))
            .joined("bob");
        let events = given.when("alice", Command::End).unwrap();
        assert!(matches!(events.first(), Some(E::RecordingStopped(s)) if s.recording_id == id));
        given.run("alice", Command::End);
        let report = |rid| Command::ReportRecordingFile {
            recording_id: rid,
            file_url: "https://files.example.com/r.mp4".into(),
            size: 1024,
        };
        assert!(given.when("alice", report(id)).is_ok(), "after the end too");
        assert_eq!(given.when("bob", report(id)), Err(MeetingError::NotHost));
        let mut admin = ctx("recorder", given.clock);
        admin.caller.roles = vec!["admin".into()];
        assert!(events_of(&given.state, &admin, &report(id)).is_ok());
        assert_eq!(
            given.when("alice", report(RecordingId::new())),
            Err(MeetingError::RecordingNotFound)
        );
        let bad = Command::ReportRecordingFile {
            recording_id: id,
            file_url: "ftp://x".into(),
            size: 1,
        };
        assert_eq!(validation_field(given.when("alice", bad)), "file_url");
    }
}
