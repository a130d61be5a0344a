//! Read-model builders.
//!
//! Each projection ([`meetings`], [`participants`], [`activity`]) folds events into its
//! tables. The [`runner`] moves a feed of committed events into them in
//! batches, applying each batch and the projection's checkpoint in one
//! transaction; an event at or below the checkpoint is skipped, so a
//! redelivered batch changes nothing. [`replay`] rebuilds from position 0.
//!
//! The SQL is portable (runs through `sqlx::Any` on PostgreSQL and SQLite):
//! one copy of every statement for every read-model database.

pub mod activity;
pub mod checkpoint;
pub mod meetings;
pub mod participants;
mod rows;
pub mod runner;
pub use events::time;

use events::MeetingEvent;
use sqlx::AnyConnection;

/// The read models, by name (`meetings replay --projection <name>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Projection {
    /// `rm_meetings` and `rm_meeting_attendees`: details, status, settings,
    /// times, counts; history is a query over it.
    Meetings,
    /// `rm_participants`: present seats and every join/leave session.
    Participants,
    /// Members, chat, recordings and breakout rooms.
    Activity,
}

impl Projection {
    pub const ALL: [Projection; 3] = [
        Projection::Meetings,
        Projection::Participants,
        Projection::Activity,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Meetings => "meetings",
            Self::Participants => "participants",
            Self::Activity => "activity",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Folds a batch of (position, event), in position order, into the
    /// read model (inside the batch transaction).
    pub async fn apply(
        self,
        conn: &mut AnyConnection,
        events: &[(i64, MeetingEvent)],
    ) -> Result<(), sqlx::Error> {
        match self {
            Self::Meetings => meetings::apply(conn, events).await,
            Self::Participants => participants::apply(conn, events).await,
            Self::Activity => activity::apply(conn, events).await,
        }
    }

    /// Empties the read model (before a replay).
    pub async fn reset(self, conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
        match self {
            Self::Meetings => meetings::reset(conn).await,
            Self::Participants => participants::reset(conn).await,
            Self::Activity => activity::reset(conn).await,
        }
    }
}
