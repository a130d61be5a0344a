//! Who was really in the call: what the media server reports (LiveKit's
//! webhooks) about the meeting's media room, recorded as facts.
//!
//! Reports come from elsewhere, late, twice or out of order (livekit#2399:
//! a `participant_joined` can arrive after its `participant_left`), so:
//! each notification is recorded once (a redelivery appends nothing), a
//! connection closed is never reopened by a late `connected`, and reports
//! are recorded whatever the meeting's state (a `left` after the meeting
//! ended is still a fact). Only Meetings itself reports them: the HTTP
//! route checks the media server's signature and acts as the system.

use chrono::{DateTime, Utc};
use events::event::{MediaConnected, MediaDisconnected, MediaProvider, MediaRoomFinished};
use events::{MeetingEvent, MeetingId, UserId};
use serde::{Deserialize, Serialize};

use super::Decision;
use super::context::{CallerKind, Context};
use super::error::MeetingError;
use super::rules::{line, user_id};
use super::state::{MediaConnection, Meeting};

/// Most characters of a media server's reason.
const REASON_MAX_CHARS: usize = 100;
/// The reason of the connections the room's end closed.
pub const ROOM_FINISHED: &str = "ROOM_FINISHED";

/// One notification of the media server about the meeting's room.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MediaReport {
    pub provider: MediaProvider,
    /// The media server's id of the notification.
    pub notification_id: String,
    /// When it happened, by the media server's clock.
    pub at: DateTime<Utc>,
    pub happened: MediaHappening,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum MediaHappening {
    Connected {
        user_id: UserId,
        participant_sid: String,
    },
    Disconnected {
        user_id: UserId,
        participant_sid: String,
        /// When the connection opened, as the media server says.
        connected_at: Option<DateTime<Utc>>,
        reason: String,
    },
    RoomFinished,
}

/// What a report recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MediaRecorded {
    pub meeting_id: MeetingId,
    /// How many events it appended (0: already known, or nothing new).
    pub recorded: usize,
}

pub(super) fn record(
    meeting: &Meeting,
    ctx: &Context,
    report: &MediaReport,
) -> Result<Decision<MediaRecorded>, MeetingError> {
    if ctx.caller.kind != CallerKind::System {
        return Err(MeetingError::NotPermitted);
    }
    line("id", &report.notification_id, events::text::MAX_ID_CHARS)?;
    let media = &meeting.media;
    let events = if media.notifications.contains(&report.notification_id) {
        Vec::new()
    } else {
        happened(meeting, report)?
    };
    let reply = MediaRecorded {
        meeting_id: meeting.id,
        recorded: events.len(),
    };
    Ok(Decision::new(events, reply))
}

/// A reported connection's identity and id, as text we keep.
fn connection(user: &UserId, participant_sid: &str) -> Result<(), MeetingError> {
    user_id("participant.identity", user)?;
    line(
        "participant.sid",
        participant_sid,
        events::text::MAX_ID_CHARS,
    )
}

fn happened(meeting: &Meeting, report: &MediaReport) -> Result<Vec<MeetingEvent>, MeetingError> {
    let connections = &meeting.media.connections;
    let notification_id = report.notification_id.clone();
    let provider = report.provider;
    Ok(match &report.happened {
        MediaHappening::Connected {
            user_id: user,
            participant_sid,
        } => {
            connection(user, participant_sid)?;
            if connections.contains_key(participant_sid) {
                return Ok(Vec::new());
            }
            vec![MeetingEvent::MediaConnected(MediaConnected {
                meeting_id: meeting.id,
                provider,
                user_id: user.clone(),
                participant_sid: participant_sid.clone(),
                connected_at: report.at,
                notification_id,
            })]
        }
        MediaHappening::Disconnected {
            user_id: user,
            participant_sid,
            connected_at,
            reason,
        } => {
            connection(user, participant_sid)?;
            line("reason", reason, REASON_MAX_CHARS)?;
            let since = match connections.get(participant_sid) {
                Some(MediaConnection::Closed) => return Ok(Vec::new()),
                Some(MediaConnection::Open { since, .. }) => Some(*since),
                None => None,
            };
            vec![MeetingEvent::MediaDisconnected(MediaDisconnected {
                meeting_id: meeting.id,
                provider,
                user_id: user.clone(),
                participant_sid: participant_sid.clone(),
                connected_at: since.or(*connected_at),
                disconnected_at: report.at,
                reason: reason.clone(),
                notification_id,
            })]
        }
        MediaHappening::RoomFinished => {
            let mut events: Vec<MeetingEvent> = connections
                .iter()
                .filter_map(|(sid, connection)| match connection {
                    MediaConnection::Open { user_id, since } => {
                        Some(MeetingEvent::MediaDisconnected(MediaDisconnected {
                            meeting_id: meeting.id,
                            provider,
                            user_id: user_id.clone(),
                            participant_sid: sid.clone(),
                            connected_at: Some(*since),
                            disconnected_at: report.at,
                            reason: ROOM_FINISHED.into(),
                            notification_id: notification_id.clone(),
                        }))
                    }
                    MediaConnection::Closed => None,
                })
                .collect();
            events.push(MeetingEvent::MediaRoomFinished(MediaRoomFinished {
                meeting_id: meeting.id,
                provider,
                finished_at: report.at,
                notification_id,
            }));
            events
        }
    })
}

#[cfg(test)]
mod tests {
    use super::super::given::*;
    use super::*;

    fn report(id: &str, happened: MediaHappening) -> Command {
        Command::RecordMedia(MediaReport {
            provider: MediaProvider::Livekit,
            notification_id: id.into(),
            at: chrono::Utc::now(),
            happened,
        })
    }

    fn connected(sid: &str, who: &str) -> MediaHappening {
        MediaHappening::Connected {
            user_id: user(who),
            participant_sid: sid.into(),
        }
    }

    fn disconnected(sid: &str, who: &str) -> MediaHappening {
        MediaHappening::Disconnected {
            user_id: user(who),
            participant_sid: sid.into(),
            connected_at: None,
            reason: "CLIENT_INITIATED".into(),
        }
    }

    #[test]
    fn only_meetings_itself_records_what_the_media_server_reports() {
        let given = Given::active("alice");
        assert_eq!(
            given.when("alice", report("EV_1", connected("PA_1", "bob"))),
            Err(MeetingError::NotPermitted)
        );
        assert!(
            given
                .when_system(report("EV_1", connected("PA_1", "bob")))
                .is_ok()
        );
    }

    #[test]
    fn a_redelivered_notification_records_nothing() {
        let mut given = Given::active("alice");
        let first = given
            .when_system(report("EV_1", connected("PA_1", "bob")))
            .unwrap();
        assert!(matches!(first.as_slice(), [E::MediaConnected(e)] if e.participant_sid == "PA_1"));
        given.state = fold(given.state.take(), &first);
        assert_eq!(
            given.when_system(report("EV_1", connected("PA_1", "bob"))),
            Ok(vec![])
        );
    }

    #[test]
    fn a_connected_arriving_after_its_disconnected_does_not_reopen_the_connection() {
        let mut given = Given::active("alice");
        let left = given
            .when_system(report("EV_2", disconnected("PA_1", "bob")))
            .unwrap();
        assert!(matches!(left.as_slice(), [E::MediaDisconnected(e)] if e.connected_at.is_none()));
        given.state = fold(given.state.take(), &left);
        assert_eq!(
            given.when_system(report("EV_1", connected("PA_1", "bob"))),
            Ok(vec![]),
            "the late joined is ignored"
        );
        assert_eq!(
            given.when_system(report("EV_3", disconnected("PA_1", "bob"))),
            Ok(vec![]),
            "a second close of the same connection"
        );
    }

    #[test]
    fn a_disconnection_carries_when_its_connection_opened() {
        let mut given = Given::active("alice");
        let joined = given
            .when_system(report("EV_1", connected("PA_1", "bob")))
            .unwrap();
        let [E::MediaConnected(opened)] = joined.as_slice() else {
            panic!("{joined:?}")
        };
        let since = opened.connected_at;
        given.state = fold(given.state.take(), &joined);
        let left = given
            .when_system(report("EV_2", disconnected("PA_1", "bob")))
            .unwrap();
        assert!(
            matches!(left.as_slice(), [E::MediaDisconnected(e)] if e.connected_at == Some(since))
        );
    }

    #[test]
    fn the_room_finishing_closes_every_open_connection_and_media_reports_survive_the_end() {
        let mut given = Given::active("alice");
        for (id, sid, who) in [("EV_1", "PA_1", "bob"), ("EV_2", "PA_2", "carol")] {
            let events = given.when_system(report(id, connected(sid, who))).unwrap();
            given.state = fold(given.state.take(), &events);
        }
        let left = given
            .when_system(report("EV_3", disconnected("PA_2", "carol")))
            .unwrap();
        given.state = fold(given.state.take(), &left);
        given.run("alice", Command::End);
        let finished = given
            .when_system(report("EV_4", MediaHappening::RoomFinished))
            .unwrap();
        assert!(matches!(
            finished.as_slice(),
            [E::MediaDisconnected(d), E::MediaRoomFinished(_)]
                if d.participant_sid == "PA_1" && d.reason == ROOM_FINISHED
        ));
    }

    #[test]
    fn an_identity_with_control_characters_is_refused() {
        let given = Given::active("alice");
        assert_eq!(
            validation_field(given.when_system(report("EV_1", connected("PA_1", "b\u{0}b")))),
            "participant.identity"
        );
    }
}
