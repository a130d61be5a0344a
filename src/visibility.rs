//! Who may see which event of a meeting, asked the same way by everything
//! that hands events out: the WebSocket gateway, webhooks and the audit
//! API's meeting log.
//!
//! Private events (the catalogue says which, `MeetingEvent::audience`,
//! with no default) reach only their audience; someone in the waiting
//! room sees only what is about their own wait. An audience of moderators
//! needs the reader's role in the meeting as it stands now, looked up once
//! per [`RoleCache`] from the command handler's state. An event that may
//! be private but does not decode is shown to nobody, logged and counted
//! (`meetings_undecodable_events_total`).

use command::CommandHandler;
use events::event::{Audience, Role};
use events::{MeetingEvent, MeetingId, RecordedEvent, UserId};

/// A reader's role in a meeting once looked up (`Some(None)`: none).
pub type RoleCache = Option<Option<Role>>;

/// Someone reading one meeting's events.
#[derive(Debug, Clone)]
pub struct Reader {
    pub user: UserId,
    pub meeting: MeetingId,
    /// In the waiting room: sees only what is about their own wait.
    pub waiting: bool,
}

impl Reader {
    /// Someone following the event's meeting from outside (a webhook's
    /// owner): as a reader of that meeting who is not waiting.
    pub fn outside(user: &UserId, event: &RecordedEvent) -> Option<Self> {
        Some(Self {
            user: user.clone(),
            meeting: MeetingId::from_stream_id(&event.stream_id)?,
            waiting: false,
        })
    }

    /// Whether this reader may see the event: every public event unless
    /// waiting; a private one when its audience includes the reader.
    pub async fn sees(
        &self,
        commands: &CommandHandler,
        event: &RecordedEvent,
        role: &mut RoleCache,
    ) -> bool {
        if !MeetingEvent::may_be_private(&event.event_type) {
            return !self.waiting;
        }
        let decoded = match event.decode() {
            Ok(decoded) => decoded,
            Err(e) => {
                undecodable(event, &e);
                return false;
            }
        };
        let audience = decoded.audience();
        let user = &self.user;
        if audience.includes(user, None) {
            return !self.waiting || audience == Audience::ModeratorsAnd(user);
        }
        if self.waiting || !matches!(audience, Audience::ModeratorsAnd(_)) {
            return false;
        }
        if role.is_none() {
            let now = commands
                .inspect(self.meeting, |m| m.and_then(|m| m.role_of(user)))
                .await
                // Not known now: not a moderator.
                .unwrap_or(None);
            *role = Some(now);
        }
        audience.includes(user, role.flatten())
    }
}

/// An event of the log that does not decode: logged and counted, never
/// passed on as something else.
pub fn undecodable(event: &RecordedEvent, error: &dyn std::fmt::Display) {
    metrics::counter!("meetings_undecodable_events_total").increment(1);
    tracing::error!(position = event.position, %error, "an event of the log does not decode");
}
