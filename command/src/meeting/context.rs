//! Who asks, and when: the [`Caller`] (a person, a guest of one meeting,
//! or Meetings itself) and the [`Context`] every decision gets. The areas
//! import this, never the command enum.

use chrono::{DateTime, Utc};
use events::deployment::DeploymentRole;
use events::{Actor, ActorKind, CommandId, MeetingId, Metadata};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use events::UserId;

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caller {
    pub user_id: UserId,
    /// The name the caller goes by (the token's name, else its email,
    /// else the id; a guest's own).
    pub name: String,
    pub email: Option<String>,
    /// Deployment roles from the token (`admin`, `auditor`).
    pub roles: Vec<String>,
    pub kind: CallerKind,
}

/// What stands behind a caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CallerKind {
    /// A person with a token of the deployment's identity provider.
    Person,
    /// A guest who joined this one meeting by link with a name: their
    /// token is good for that meeting only.
    Guest(MeetingId),
    /// Meetings itself or an integration (a timer, the media server).
    System,
}

impl Caller {
    /// A person with no deployment role (tests, tools).
    pub fn person(user_id: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            user_id: UserId(user_id.into()),
            name: name.into(),
            email: None,
            roles: Vec::new(),
            kind: CallerKind::Person,
        }
    }

    /// Meetings itself, or an integration acting through it, named `id`.
    pub fn system(id: &str, name: &str) -> Self {
        Self {
            kind: CallerKind::System,
            ..Self::person(id, name)
        }
    }

    /// A deployment administrator: a moderator of every meeting (not a
    /// guest's token, whatever it claims).
    pub fn is_admin(&self) -> bool {
        self.kind == CallerKind::Person && DeploymentRole::Admin.held_by(&self.roles)
    }

    /// Whether the caller reads every meeting and the whole log: a
    /// deployment admin or auditor (not a guest's token).
    pub fn reads_all(&self) -> bool {
        self.kind == CallerKind::Person && events::deployment::reads_all(&self.roles)
    }

    /// The meeting a guest's token is good for.
    pub fn guest_of(&self) -> Option<MeetingId> {
        match self.kind {
            CallerKind::Guest(meeting) => Some(meeting),
            CallerKind::Person | CallerKind::System => None,
        }
    }

    /// How the log records this caller as an actor.
    pub fn actor_kind(&self) -> ActorKind {
        match self.kind {
            CallerKind::System => ActorKind::System,
            CallerKind::Guest(_) => ActorKind::Guest,
            CallerKind::Person if self.is_admin() => ActorKind::Admin,
            CallerKind::Person => ActorKind::User,
        }
    }
}

/// Who asks, when, and on behalf of which request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Context {
    pub caller: Caller,
    pub at: DateTime<Utc>,
    pub request_id: Option<String>,
}

impl Context {
    /// The audit metadata of the events command `command` decides in this
    /// context (the command's id is their causation).
    pub fn metadata(&self, command: CommandId) -> Metadata {
        Metadata {
            actor: Actor {
                user_id: self.caller.user_id.clone(),
                name: self.caller.name.clone(),
                kind: self.caller.actor_kind(),
            },
            correlation_id: self
                .request_id
                .as_deref()
                .and_then(|id| Uuid::parse_str(id).ok())
                .unwrap_or_else(Uuid::now_v7),
            causation_id: command.0,
            request_id: self.request_id.clone(),
        }
    }
}
