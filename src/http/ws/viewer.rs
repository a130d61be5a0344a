//! Who is connected: their caller, what they may see (a
//! [`crate::visibility::Reader`], the rule every reader of events shares),
//! and what the events that end a connection or a wait mean for them.

use command::meeting::Caller;
use events::RecordedEvent;

use super::super::AppState;
use crate::peer::PeerAddr;
use crate::visibility::{Reader, RoleCache};

/// Who is connected, to which meeting, and what they may see.
pub(super) struct Viewer {
    pub(super) caller: Caller,
    /// The meeting and whether they wait to be let in: what they may see.
    pub(super) reader: Reader,
    /// Where the viewer connects from (a guest's frames count against
    /// their address's budgets).
    pub(super) peer: Option<PeerAddr>,
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
    /// Whether this viewer may see the event ([`crate::visibility`]).
    pub(super) async fn sees(
        &self,
        state: &AppState,
        event: &RecordedEvent,
        role: &mut RoleCache,
    ) -> bool {
        self.reader.sees(&state.commands, event, role).await
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
                self.reader.waiting = false;
                After::Continue
            }
            _ => After::Continue,
        }
    }
}
