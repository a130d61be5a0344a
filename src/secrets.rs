//! Meeting passwords: hashed with Argon2 (default parameters, a random
//! salt per hash, the PHC string stored) in `meeting_secrets`, beside the
//! log and never in it. An event names a hash by its [`SecretId`]; a
//! changed password is a new row, so an event always names the hash that
//! was current when it was written.
//!
//! Argon2 is slow and takes 19 MiB a hash by design, so the node bounds it
//! ([`Hashing`]): at most one hash per core at a time, at most
//! `PASSWORD_HASH_QUEUE` more waiting, and past that a request is refused
//! at once ([`SecretError::Busy`], 503 SERVER_BUSY) rather than queued.

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use events::SecretId;
use sqlx::AnyPool;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::Semaphore;

pub const PASSWORD_MIN_CHARS: usize = 4;
pub const PASSWORD_MAX_CHARS: usize = 128;

/// Why a password could not be stored or checked.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("hashing failed: {0}")]
    Hash(String),
    /// As many hashes run and wait as the node takes.
    #[error("too many passwords are being checked; try again shortly")]
    Busy,
}

/// The node's bound on password hashing.
pub struct Hashing {
    /// One permit per hash running at once (the node's cores).
    running: Arc<Semaphore>,
    /// Hashes waiting for a permit.
    waiting: AtomicUsize,
    /// The most that may wait.
    queue: usize,
}

impl Hashing {
    /// As many at once as the node has cores; `queue` more may wait.
    pub fn new(queue: usize) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self::with(cores, queue)
    }

    /// `at_once` hashes at a time, `queue` more waiting.
    pub fn with(at_once: usize, queue: usize) -> Self {
        Self {
            running: Arc::new(Semaphore::new(at_once.max(1))),
            waiting: AtomicUsize::new(0),
            queue,
        }
    }

    /// Runs `work` (a hash) on a blocking thread once it may, or refuses
    /// it at once when as many wait as may.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, SecretError> + Send + 'static,
    ) -> Result<T, SecretError> {
        let permit = match self.running.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.queue {
                    self.waiting.fetch_sub(1, Ordering::AcqRel);
                    return Err(SecretError::Busy);
                }
                let permit = self.running.clone().acquire_owned().await;
                self.waiting.fetch_sub(1, Ordering::AcqRel);
                permit.map_err(|e| SecretError::Hash(e.to_string()))?
            }
        };
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
        .map_err(|e| SecretError::Hash(e.to_string()))?
    }
}

/// Whether a password has an acceptable length (in characters).
pub fn acceptable(password: &str) -> bool {
    (PASSWORD_MIN_CHARS..=PASSWORD_MAX_CHARS).contains(&password.chars().count())
}

/// Hashes the password (off the async threads, within the node's bound:
/// Argon2 is deliberately slow) and stores the hash under a new id.
pub async fn store(
    pool: &AnyPool,
    hashing: &Hashing,
    password: String,
) -> Result<SecretId, SecretError> {
    let hash = hashing
        .run(move || {
            let salt = SaltString::generate(&mut OsRng);
            Argon2::default()
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| SecretError::Hash(e.to_string()))
        })
        .await?;
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
/// no such hash), checked within the node's bound.
pub async fn verify(
    pool: &AnyPool,
    hashing: &Hashing,
    id: SecretId,
    password: String,
) -> Result<bool, SecretError> {
    let hash: Option<String> =
        sqlx::query_scalar("SELECT hash FROM meeting_secrets WHERE secret_id = $1")
            .bind(id.to_string())
            .fetch_optional(pool)
            .await?;
    let Some(hash) = hash else {
        return Ok(false);
    };
    hashing
        .run(move || {
            let parsed = PasswordHash::new(&hash).map_err(|e| SecretError::Hash(e.to_string()))?;
            Ok(Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok())
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashing_runs_at_most_its_bound_at_once_and_refuses_past_its_queue() {
        let hashing = Arc::new(Hashing::with(2, 3));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let (release, released) = std::sync::mpsc::channel::<()>();
        let released = Arc::new(std::sync::Mutex::new(released));
        let tasks: Vec<_> = (0..5)
            .map(|_| {
                let (hashing, running, most, released) = (
                    hashing.clone(),
                    running.clone(),
                    most.clone(),
                    released.clone(),
                );
                tokio::spawn(async move {
                    hashing
                        .run(move || {
                            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                            most.fetch_max(now, Ordering::SeqCst);
                            let _ = released.lock().unwrap().recv();
                            running.fetch_sub(1, Ordering::SeqCst);
                            Ok(())
                        })
                        .await
                })
            })
            .collect();
        // Two run and three wait: a sixth is refused at once.
        while hashing.waiting.load(Ordering::SeqCst) < 3 || running.load(Ordering::SeqCst) < 2 {
            tokio::task::yield_now().await;
        }
        let refused = hashing.run(|| Ok(())).await;
        assert!(matches!(refused, Err(SecretError::Busy)), "{refused:?}");
        for _ in 0..5 {
            release.send(()).unwrap();
        }
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 2);
        assert!(hashing.run(|| Ok(())).await.is_ok(), "free again");
    }
}
