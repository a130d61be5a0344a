//! What a caller is told when a command succeeds: one variant per kind of
//! answer, each a view its area builds. A reply is stored with an
//! idempotency key (as this enum's JSON) so a retried request gets exactly
//! the first answer.

use events::views::{BreakoutView, ChatView, MeetingView, SeatView};
use serde::{Deserialize, Serialize};

use super::admission::{LeftView, WaitingView};
use super::breakout::{AssignedView, BreakoutClosedView};
use super::chat::ReactionView;
use super::lifecycle::{CancelledView, EndedView, StartedView};
use super::media::StatusView;
use super::policy::{ConfigView, PolicyView};
use super::presence::MediaRecorded;
use super::recording::RecordingView;
use super::roles::{MemberView, RemovedView};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "body", rename_all = "snake_case")]
pub enum Reply {
    Scheduled(MeetingView),
    Started(StartedView),
    Ended(EndedView),
    Updated(MeetingView),
    Cancelled(CancelledView),
    Joined(SeatView),
    Waiting(WaitingView),
    Left(LeftView),
    Member(MemberView),
    Removed(RemovedView),
    Status(StatusView),
    Chat(ChatView),
    Reaction(ReactionView),
    Breakout(BreakoutView),
    Assigned(AssignedView),
    BreakoutClosed(BreakoutClosedView),
    Recording(RecordingView),
    Configured(ConfigView),
    PolicyApplied(PolicyView),
    MediaRecorded(MediaRecorded),
}

#[cfg(test)]
mod tests {
    use super::super::given::*;
    use super::*;

    #[test]
    fn a_replayed_reply_survives_its_json_round_trip() {
        let mut given = Given::active("alice");
        given.joined("bob");
        for command in [Command::Leave, join()] {
            let answer = decide(given.state.as_ref(), &ctx("bob", t0()), &command)
                .unwrap()
                .reply;
            let json = serde_json::to_value(&answer).unwrap();
            assert_eq!(serde_json::from_value::<Reply>(json).unwrap(), answer);
        }
    }
}
