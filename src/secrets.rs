//! Meeting passwords: hashed with Argon2 (default parameters, a random
//! salt per hash, the PHC string stored) in `meeting_secrets`, beside the
//! log and never in it. An event names a hash by its [`SecretId`]; a
//! changed password is a new row, so an event always names the hash that
//! was current when it was written.

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use events::SecretId;
use sqlx::AnyPool;

pub const PASSWORD_MIN_CHARS: usize = 4;
pub const PASSWORD_MAX_CHARS: usize = 128;

/// Why a password could not be stored or checked.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("hashing failed: {0}")]
    Hash(String),
}

/// Whether a password has an acceptable length (in characters).
pub fn acceptable(password: &str) -> bool {
    (PASSWORD_MIN_CHARS..=PASSWORD_MAX_CHARS).contains(&password.chars().count())
}

/// Hashes the password (off the async threads: Argon2 is deliberately
/// slow) and stores the hash under a new id.
pub async fn store(pool: &AnyPool, password: String) -> Result<SecretId, SecretError> {
    let hash = tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| SecretError::Hash(e.to_string()))
    })
    .await
    .map_err(|e| SecretError::Hash(e.to_string()))??;
    let id = SecretId::new();
    // Durably: the meeting's event will name this hash, and unlike a read
    // model it cannot be rebuilt from the log.
    crate::db::execute_durably(
        pool,
        sqlx::query(
            "INSERT INTO meeting_secrets (secret_id, hash, created_at) VALUES ($1, $2, $3)",
        )
        .bind(id.to_string())
        .bind(hash)
        .bind(events::time::text(chrono::Utc::now())),
    )
    .await?;
    Ok(id)
}

/// Whether `password` matches the hash stored as `id` (false when there is
/// no such hash).
pub async fn verify(pool: &AnyPool, id: SecretId, password: String) -> Result<bool, SecretError> {
    let hash: Option<String> =
        sqlx::query_scalar("SELECT hash FROM meeting_secrets WHERE secret_id = $1")
            .bind(id.to_string())
            .fetch_optional(pool)
            .await?;
    let Some(hash) = hash else {
        return Ok(false);
    };
    tokio::task::spawn_blocking(move || {
        let parsed = PasswordHash::new(&hash).map_err(|e| SecretError::Hash(e.to_string()))?;
        Ok(Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok())
    })
    .await
    .map_err(|e| SecretError::Hash(e.to_string()))?
}
