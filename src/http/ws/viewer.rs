//! Who follows a meeting and what they may see of it: private events
//! reach only their audience, someone in the waiting room sees only their
//! own wait, and the events that end a connection or a wait. Webhooks ask
//! the same question ([`follower_sees`]).

use command::meeting::Caller;
use events::event::{Audience, PRIVATE_TYPES};
use events::{MeetingId, RecordedEvent};

use super::super::AppState;
use crate::peer::PeerAddr;

/// Who is connected, to which meeting, and what they may see.
pub(crate) struct Viewer {
    pub(super) caller: Caller,
    pub(super) meeting: MeetingId,
    /// Where the viewer connects from (a guest's frames count against
    /// their address's budgets).
    pub(super) peer: Option<PeerAddr>,
    /// In the waiting room: sees only what is about their own wait, until
    /// they are admitted.
    pub(super) waiting: bool,
}

/// What an event the viewer was sent means for the connection.
pub(super) enum After {
    /// Nothing: go on.
    Continue,
    /// The meeting is over: send what is left of it, then close.
    Over,
    /// The viewer may read no more (banned, turned away): close now.
    Refused(&'static str),
}

impl Viewer {
    /// A reader of `meeting` as the read check let them in.
    pub(crate) fn new(
        caller: Caller,
        meeting: MeetingId,
        entry: &super::super::access::Live,
    ) -> Self {
        Self {
            caller,
            meeting,
            peer: None,
            waiting: entry.waiting,
        }
    }

    /// Whether this viewer may see the event: everything but private
    /// events, and those when their audience includes the viewer. Only an
    /// audience of moderators needs the viewer's role (as the meeting
    /// stands now), looked up once per call of `role` and kept in it. A
    /// viewer in the waiting room sees only the events about their wait.
    pub(crate) async fn sees(
        &self,
        state: &AppState,
        event: &RecordedEvent,
        role: &mut Role,
    ) -> bool {
        let private = PRIVATE_TYPES.contains(&event.event_type.as_str());
        if !private {
            return !self.waiting;
        }
        let Ok(decoded) = event.decode() else {
            return false;
        };
        let audience = decoded.audience();
        let user = &self.caller.user_id;
        if audience.includes(user, None) {
            return !self.waiting || audience == Audience::ModeratorsAnd(user);
        }
        if self.waiting || !matches!(audience, Audience::ModeratorsAnd(_)) {
            return false;
        }
        if role.is_none() {
            let now = state
                .commands
                .inspect(self.meeting, |m| m.and_then(|m| m.role_of(user)))
                .await
                .unwrap_or(None);
            *role = Some(now);
        }
        audience.includes(user, role.flatten())
    }

    /// What an event of the meeting means for this connection (only the
    /// few kinds that end a connection or a wait are decoded).
    pub(super) fn after(&mut self, event: &RecordedEvent) -> After {
        use events::MeetingEvent as E;
        const ENDING: [&str; 5] = [
            "meeting_ended",
            "meeting_cancelled",
            "participant_left",
            "participant_admitted",
            "participant_rejected",
        ];
        if !ENDING.contains(&event.event_type.as_str()) {
            return After::Continue;
        }
        let me = &self.caller.user_id;
        match event.decode() {
            Ok(E::MeetingEnded(_) | E::MeetingCancelled(_)) => After::Over,
            Ok(E::ParticipantLeft(e)) if e.banned && e.user_id == *me => {
                After::Refused("banned from the meeting")
            }
            Ok(E::ParticipantRejected(e)) if e.user_id == *me => {
                After::Refused("turned away from the waiting room")
            }
            Ok(E::ParticipantAdmitted(e)) if e.user_id == *me => {
                self.waiting = false;
                After::Continue
            }
            _ => After::Continue,
        }
    }
}

/// Whether `caller`, following the event's meeting from outside (a
/// webhook's owner), may see it: exactly as a connected viewer of that
/// meeting who is not waiting. `role` caches the caller's role in that
/// meeting (one per meeting).
pub(crate) async fn follower_sees(
    state: &AppState,
    caller: &Caller,
    event: &RecordedEvent,
    role: &mut Role,
) -> bool {
    let Some(meeting) = MeetingId::from_stream_id(&event.stream_id) else {
        return false;
    };
    let viewer = Viewer {
        caller: caller.clone(),
        meeting,
        peer: None,
        waiting: false,
    };
    viewer.sees(state, event, role).await
}

/// The viewer's role in the meeting once looked up (`Some(None)`: none).
pub(crate) type Role = Option<Option<events::event::Role>>;
