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

pub use command::{
    ApplyPolicy, Caller, Command, ConfigUpdate, Context, JoinMeeting, OpenBreakout, PasswordCheck,
    RoomRequest, ScheduleMeeting, SendChat, StatusUpdate, UpdateMeeting,
};
pub use decide::{
    BREAKOUT_ROOMS_MAX, BREAKOUT_TIME_LIMIT_MAX_MINUTES, CHAT_MAX_CHARS, DESCRIPTION_MAX_CHARS,
    MAX_PARTICIPANTS_DEFAULT, MAX_PARTICIPANTS_LIMIT, TITLE_MAX_CHARS, breakout_room_id, decide,
};
pub use error::MeetingError;
pub use reply::{
    AssignedView, BreakoutClosedView, BreakoutRoomView, BreakoutView, CancelledView, ChatView,
    ConfigView, EndedView, LeftView, MeetingView, MemberView, PolicyView, ReactionView,
    RecordingView, RemovedView, Reply, RoomSettings, SeatView, StartedView, StatusView,
    WaitingView, reply,
};
pub use state::{Breakout, Meeting, Recording, Seat, Status, Throttled, Waiter, evolve, fold};

#[cfg(test)]
mod tests;
