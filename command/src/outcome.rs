//! What running a command ends in, wherever it ran (here, or on a hot
//! meeting's holder): [`Executed`], and the client's [`IdempotencyKey`]
//! whose first answer a retry gets.

use events::StoredReply;

use crate::error::AppError;
use crate::meeting::Reply;

/// A client's idempotency key for one request.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct IdempotencyKey {
    pub scope: String,
    pub key: String,
    pub fingerprint: String,
}

/// A command that succeeded.
#[derive(Debug, Clone)]
pub struct Executed {
    pub reply: Reply,
    /// The position a reader must reach to see the command's effect.
    pub position: i64,
    /// True when the reply was remembered from an earlier request with the
    /// same idempotency key and nothing was appended now.
    pub replayed: bool,
}

impl Executed {
    /// What a command decided and the log took at `position`.
    pub fn at(reply: Reply, position: i64) -> Self {
        Self {
            reply,
            position,
            replayed: false,
        }
    }

    /// The first answer under `key`, if the request is the same one.
    pub fn replayed(key: &IdempotencyKey, stored: StoredReply) -> Result<Self, AppError> {
        if stored.fingerprint != key.fingerprint {
            return Err(AppError::IdempotencyKeyReused);
        }
        let reply: Reply = serde_json::from_value(stored.reply)
            .map_err(|e| AppError::Infra(events::StoreError::Backend(Box::new(e))))?;
        Ok(Self {
            reply,
            position: stored.position,
            replayed: true,
        })
    }
}
