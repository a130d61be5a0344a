//! The Meeting aggregate.
//!
//! A meeting is `scheduled`, then `active`, then `ended` (or `cancelled`).
//! Every rule lives in [`decide`]; [`evolve`] only folds events and never
//! fails; [`reply`] derives what the caller is told from the state and the
//! events, so a replayed idempotent request gets the same answer.

mod command;
mod decide;
mod error;
mod reply;
mod state;

pub use command::{Caller, Command, ConfigUpdate, Context, JoinMeeting, ScheduleMeeting};
pub use decide::{
    DESCRIPTION_MAX_CHARS, MAX_PARTICIPANTS_DEFAULT, MAX_PARTICIPANTS_LIMIT, TITLE_MAX_CHARS,
    decide,
};
pub use error::MeetingError;
pub use reply::{
    ConfigView, EndedView, LeftView, MeetingView, Reply, RoomSettings, SeatView, StartedView, reply,
};
pub use state::{Meeting, Seat, Status, evolve, fold};

#[cfg(test)]
mod tests;
