//! Deciding a command again inside the log: when other processes write a
//! meeting too, an append carries a [`Redecide`], and the log, holding its
//! write lock, decides the command again on the meeting's events this
//! process had not seen ([`events::Rebase`]) instead of answering a
//! conflict. The same pure `decide`, on the state this process had with
//! those events folded in.

use std::sync::Mutex;

use events::{CommandId, Metadata, RecordedEvent};

use crate::meeting::{Command, Context, Decision, Meeting, MeetingError, decide, evolve};

/// A command the log may decide again, and what it decided last.
pub(super) struct Redecide {
    pub(super) id: CommandId,
    pub(super) state: Option<Meeting>,
    pub(super) ctx: Context,
    pub(super) command: Command,
    pub(super) metadata: Metadata,
    /// What the last call decided, for the handler once the log answers.
    pub(super) outcome: Mutex<Option<Redecided>>,
}

/// The command decided again on the log's newer events.
pub(super) struct Redecided {
    /// The meeting with the events the log had and this process had not.
    pub(super) state: Option<Meeting>,
    pub(super) version: i64,
    pub(super) position: i64,
    pub(super) decision: Result<Decision, MeetingError>,
}

impl Redecide {
    /// What the log decided, once it answered (taken: asked once).
    pub(super) fn taken(&self) -> Option<Redecided> {
        self.outcome
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }
}

impl events::Rebase for Redecide {
    fn rebase(
        &self,
        tail: &[RecordedEvent],
    ) -> Result<events::Rebased, Box<dyn std::error::Error + Send + Sync>> {
        let mut state = self.state.clone();
        for recorded in tail {
            state = evolve(state, &recorded.decode()?);
        }
        let decision = decide(state.as_ref(), &self.ctx, &self.command);
        let rebased = match &decision {
            Ok(decision) => Ok(events::Rebased {
                events: super::named(self.id, &decision.events, &self.metadata),
                reply: Some(serde_json::to_value(&decision.reply)?),
            }),
            Err(refusal) => {
                Err(Box::new(refusal.clone()) as Box<dyn std::error::Error + Send + Sync>)
            }
        };
        let last = tail.last();
        *self.outcome.lock().unwrap_or_else(|p| p.into_inner()) = Some(Redecided {
            state,
            version: last.map_or(0, |e| e.stream_version),
            position: last.map_or(0, |e| e.position),
            decision,
        });
        rebased
    }
}
