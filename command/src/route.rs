//! Where a meeting's command runs: the port through which several nodes
//! on one log agree that one of them executes a hot meeting's commands.
//!
//! Every node can execute every command: the log checks each append
//! against the stream's version, so correctness never depends on routing.
//! But when several nodes write one meeting (a webinar's join storm
//! behind a load balancer) they meet at the log's lock and decide again
//! on each other's events; one node deciding them all on its cached state
//! is several times faster. So once a node meets another's writes on a
//! meeting ([`Router::contended`]), its [`Router`] names the meeting's
//! holder, and the command is [`Forwarded`] there and [`Answered`] back.
//! When no node takes it (the holder is gone) it runs here; when the
//! holder took it but did not answer in time its outcome is unknown, and
//! the caller is told so (as for any write whose commit it did not see).

use async_trait::async_trait;
use events::{CommandId, MeetingId, StoreError};
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::meeting::{Command, Context, MeetingError, Reply};
use crate::outcome::{Executed, IdempotencyKey};

/// Where a meeting's next command runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// On this node.
    Here,
    /// On the node of this id (the meeting's holder).
    There(String),
}

/// Finds a meeting's holder and carries commands to it.
#[async_trait]
pub trait Router: Send + Sync + 'static {
    /// Where the meeting's next command runs; `Here` for any meeting no
    /// other node writes.
    async fn route(&self, meeting_id: MeetingId) -> Route;

    /// Sends the command to `node` and waits for its answer. `None` when
    /// it is to run here: no node took it, or the holder is gone (what it
    /// may have committed of it is named by the command's id, so the log
    /// takes it once).
    async fn forward(&self, node: &str, command: &Forwarded) -> Option<Result<Executed, AppError>>;

    /// This node met another node's writes on the meeting.
    fn contended(&self, meeting_id: MeetingId);
}

/// A command on its way to its meeting's holder.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Forwarded {
    /// Names the events the command decides, wherever it runs: a command
    /// run on the holder and again here is taken by the log once.
    pub command_id: CommandId,
    pub meeting_id: MeetingId,
    pub ctx: Context,
    pub command: Command,
    pub idempotency: Option<IdempotencyKey>,
}

/// The holder's answer: what executing the command ended in.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Answered {
    Done {
        reply: Reply,
        position: i64,
        replayed: bool,
    },
    Refused {
        error: MeetingError,
    },
    NotFound,
    Conflict,
    IdempotencyKeyReused,
    /// The holder's log was unreachable: worth trying again.
    Unavailable {
        error: String,
    },
    /// The holder failed otherwise (the outcome may be unknown).
    Failed {
        error: String,
    },
}

impl From<Result<Executed, AppError>> for Answered {
    fn from(result: Result<Executed, AppError>) -> Self {
        match result {
            Ok(done) => Self::Done {
                reply: done.reply,
                position: done.position,
                replayed: done.replayed,
            },
            Err(AppError::Domain(error)) => Self::Refused { error },
            Err(AppError::NotFound) => Self::NotFound,
            Err(AppError::Conflict) => Self::Conflict,
            Err(AppError::IdempotencyKeyReused) => Self::IdempotencyKeyReused,
            Err(AppError::Infra(e @ StoreError::Unavailable(_))) => Self::Unavailable {
                error: e.to_string(),
            },
            Err(AppError::Infra(e)) => Self::Failed {
                error: e.to_string(),
            },
        }
    }
}

impl From<Answered> for Result<Executed, AppError> {
    fn from(answered: Answered) -> Self {
        match answered {
            Answered::Done {
                reply,
                position,
                replayed,
            } => Ok(Executed {
                reply,
                position,
                replayed,
            }),
            Answered::Refused { error } => Err(AppError::Domain(error)),
            Answered::NotFound => Err(AppError::NotFound),
            Answered::Conflict => Err(AppError::Conflict),
            Answered::IdempotencyKeyReused => Err(AppError::IdempotencyKeyReused),
            Answered::Unavailable { error } => {
                Err(AppError::Infra(StoreError::Unavailable(error.into())))
            }
            Answered::Failed { error } => Err(AppError::Infra(StoreError::Backend(error.into()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meeting::presence::MediaRecorded;
    use crate::meeting::{Caller, admission::JoinMeeting};

    fn ctx() -> Context {
        Context {
            caller: Caller::person("bob", "Bob"),
            at: chrono::Utc::now(),
            request_id: Some("req-1".into()),
        }
    }

    fn round_trip(result: Result<Executed, AppError>) -> Result<Executed, AppError> {
        let answered = Answered::from(result);
        let json = serde_json::to_vec(&answered).unwrap();
        serde_json::from_slice::<Answered>(&json).unwrap().into()
    }

    #[test]
    fn every_outcome_survives_the_way_back_from_the_holder() {
        let reply = Reply::MediaRecorded(MediaRecorded {
            meeting_id: MeetingId::new(),
            recorded: 3,
        });
        let done = round_trip(Ok(Executed {
            reply: reply.clone(),
            position: 42,
            replayed: true,
        }))
        .unwrap();
        assert_eq!(
            (done.reply, done.position, done.replayed),
            (reply, 42, true)
        );
        let refused = MeetingError::invalid("title", "must not be empty");
        assert!(matches!(
            round_trip(Err(AppError::Domain(refused.clone()))),
            Err(AppError::Domain(e)) if e == refused
        ));
        assert!(matches!(
            round_trip(Err(AppError::NotFound)),
            Err(AppError::NotFound)
        ));
        assert!(matches!(
            round_trip(Err(AppError::Conflict)),
            Err(AppError::Conflict)
        ));
        assert!(matches!(
            round_trip(Err(AppError::IdempotencyKeyReused)),
            Err(AppError::IdempotencyKeyReused)
        ));
        assert!(matches!(
            round_trip(Err(AppError::Infra(StoreError::Unavailable("down".into())))),
            Err(AppError::Infra(StoreError::Unavailable(e))) if e.to_string().contains("down")
        ));
        assert!(matches!(
            round_trip(Err(AppError::Infra(StoreError::WriterGone))),
            Err(AppError::Infra(StoreError::Backend(e))) if e.to_string().contains("stopped")
        ));
    }

    #[test]
    fn a_forwarded_command_arrives_as_it_was_sent() {
        let ctx = ctx();
        let forwarded = Forwarded {
            command_id: CommandId::new(),
            meeting_id: MeetingId::new(),
            ctx: ctx.clone(),
            command: Command::Join(JoinMeeting {
                user_name: Some("Bob".into()),
                join_muted: Some(true),
                ..JoinMeeting::default()
            }),
            idempotency: Some(IdempotencyKey {
                scope: "bob".into(),
                key: "k".into(),
                fingerprint: "f".into(),
            }),
        };
        let json = serde_json::to_vec(&forwarded).unwrap();
        let got: Forwarded = serde_json::from_slice(&json).unwrap();
        assert_eq!(got.meeting_id, forwarded.meeting_id);
        assert_eq!(got.command_id, forwarded.command_id);
        assert_eq!(got.command, forwarded.command);
        assert_eq!(got.ctx.caller, ctx.caller);
        assert_eq!((got.ctx.at, got.ctx.request_id), (ctx.at, ctx.request_id));
        assert_eq!(got.idempotency.unwrap().key, "k");
    }
}
