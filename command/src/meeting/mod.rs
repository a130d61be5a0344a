//! The Meeting aggregate.
//!
//! A meeting is `scheduled`, then `active`, then `ended` (or `cancelled`).
//! Its rules live in one module per area, each with its commands' inputs,
//! its decisions, the replies they give, its limits and its given/when/then
//! tests: [`lifecycle`], [`admission`] (joins and the waiting room),
//! [`roles`] (roles and moderation), [`media`] (participant media and
//! hands), [`chat`] (chat and reactions), [`breakout`], [`recording`] and
//! [`policy`] (room settings and the security policy), [`presence`] (what
//! the media server reports). [`grants`] reads what a person may do in
//! the media room from the same rules. [`rules`] holds the
//! checks they share; [`state`] folds events into the state decisions
//! read ([`evolve`] never fails).
//!
//! [`decide`] is the one dispatcher: an exhaustive match from a command to
//! its area's decision, which yields both the events and the reply, so a
//! command cannot be accepted without an answer. Adding a command is a
//! variant of [`Command`] and of [`Reply`], its area's function, and the
//! arms the compiler then asks for (here and in the HTTP response).

pub mod admission;
pub mod breakout;
pub mod chat;
mod command;
mod context;
mod error;
pub mod grants;
pub mod lifecycle;
pub mod media;
pub mod policy;
pub mod presence;
pub mod recording;
mod reply;
pub mod roles;
mod rules;
mod state;

#[cfg(test)]
mod given;

pub use command::Command;
pub use context::{Caller, CallerKind, Context};
pub use error::MeetingError;
pub use reply::Reply;
pub use rules::MAX_PARTICIPANTS_LIMIT;
pub use state::{
    Breakout, MediaConnection, MediaPresence, Meeting, Recording, SNAPSHOT_SCHEMA, Seat, Throttled,
    Waiter, evolve, fold,
};

use events::MeetingEvent;

/// What a command decided: the events to append (none when it is already
/// satisfied, such as a join of someone present) and the caller's answer:
/// the area's own view, which [`decide`] names as a [`Reply`].
#[derive(Debug, Clone, PartialEq)]
pub struct Decision<R = Reply> {
    pub events: Vec<MeetingEvent>,
    pub reply: R,
}

impl<R> Decision<R> {
    pub(crate) fn new(events: Vec<MeetingEvent>, reply: R) -> Self {
        Self { events, reply }
    }

    /// The same events, the answer as `name` calls it.
    fn named<S>(self, name: impl FnOnce(R) -> S) -> Decision<S> {
        Decision {
            events: self.events,
            reply: name(self.reply),
        }
    }
}

impl From<admission::Admission> for Reply {
    fn from(admission: admission::Admission) -> Self {
        match admission {
            admission::Admission::Joined(seat) => Self::Joined(seat),
            admission::Admission::Waiting(wait) => Self::Waiting(wait),
        }
    }
}

/// Decides which events a command produces and what its caller is told, or
/// why it is refused. `state` is `None` while the meeting does not exist.
pub fn decide(
    state: Option<&Meeting>,
    ctx: &Context,
    command: &Command,
) -> Result<Decision, MeetingError> {
    let meeting = || state.ok_or(MeetingError::NotFound);
    use Reply as R;
    Ok(match command {
        Command::Schedule(cmd) => match state {
            None => lifecycle::schedule(ctx, cmd)?.named(R::Scheduled),
            Some(_) => return Err(MeetingError::AlreadyExists),
        },
        Command::Start => lifecycle::start(meeting()?, ctx)?.named(R::Started),
        Command::End => lifecycle::end(meeting()?, ctx)?.named(R::Ended),
        Command::Update(cmd) => lifecycle::update(meeting()?, ctx, cmd)?.named(R::Updated),
        Command::Delete => lifecycle::delete(meeting()?, ctx)?.named(R::Cancelled),
        Command::Join(cmd) => admission::join(meeting()?, ctx, cmd)?.named(R::from),
        Command::Leave => admission::leave(meeting()?, ctx)?.named(R::Left),
        Command::Admit(id) => admission::admit(meeting()?, ctx, *id)?.named(R::Joined),
        Command::Reject(id) => admission::reject(meeting()?, ctx, *id)?.named(R::Waiting),
        Command::Invite { user_id, role } => {
            roles::invite(meeting()?, ctx, user_id, *role)?.named(R::Member)
        }
        Command::Remove { user_id, ban } => {
            roles::remove(meeting()?, ctx, user_id, *ban)?.named(R::Removed)
        }
        Command::ChangeRole { user_id, role } => {
            roles::change_role(meeting()?, ctx, user_id, *role)?.named(R::Member)
        }
        Command::SetStatus(cmd) => media::set_status(meeting()?, ctx, cmd)?.named(R::Status),
        Command::Chat(cmd) => chat::send(meeting()?, ctx, cmd)?.named(R::Chat),
        Command::React { reaction_type } => {
            chat::react(meeting()?, ctx, reaction_type)?.named(R::Reaction)
        }
        Command::OpenBreakout(cmd) => breakout::open(meeting()?, ctx, cmd)?.named(R::Breakout),
        Command::AssignBreakout { user_id, room_id } => {
            breakout::assign(meeting()?, ctx, user_id, *room_id)?.named(R::Assigned)
        }
        Command::CloseBreakout => breakout::close(meeting()?, ctx)?.named(R::BreakoutClosed),
        Command::ExpireBreakout(session) => {
            breakout::expire(meeting()?, ctx, *session)?.named(R::BreakoutClosed)
        }
        Command::StartRecording(id) => recording::start(meeting()?, ctx, *id)?.named(R::Recording),
        Command::StopRecording => recording::stop(meeting()?, ctx)?.named(R::Recording),
        Command::ReportRecordingFile {
            recording_id,
            file_url,
            size,
        } => recording::report_file(meeting()?, ctx, *recording_id, file_url, *size)?
            .named(R::Recording),
        Command::UpdateConfig(cmd) => policy::configure(meeting()?, ctx, cmd)?.named(R::Configured),
        Command::ApplyPolicy(cmd) => policy::apply(meeting()?, ctx, cmd)?.named(R::PolicyApplied),
        Command::RecordMedia(report) => {
            presence::record(meeting()?, ctx, report)?.named(R::MediaRecorded)
        }
    })
}
