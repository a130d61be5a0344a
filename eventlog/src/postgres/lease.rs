//! Leadership and checkpoints for singleton workers (the relay).
//!
//! A [`Lease`] is a session-level advisory lock held on a connection of its
//! own: exactly one process of a deployment holds it, and it is released the
//! moment that process or its connection dies. Work that must only be done
//! by the leader (moving a checkpoint) runs on the lease's connection, so a
//! leader that lost its lock cannot move the checkpoint by mistake.

use sha2::{Digest, Sha256};
use sqlx::{Connection, PgConnection, PgPool};

use super::backend;
use events::store::StoreError;

pub struct Lease {
    conn: PgConnection,
    name: String,
}

/// The advisory lock key of a lease name (first 8 bytes of its SHA-256).
fn lock_key(name: &str) -> i64 {
    let digest = Sha256::digest(name.as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(bytes)
}

impl Lease {
    /// Takes the lease if nobody holds it.
    pub async fn try_acquire(pool: &PgPool, name: &str) -> Result<Option<Self>, StoreError> {
        let mut conn = pool.acquire().await.map_err(backend)?.detach();
        let acquired: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(lock_key(name))
            .fetch_one(&mut conn)
            .await
            .map_err(backend)?;
        Ok(acquired.then(|| Self {
            conn,
            name: name.to_owned(),
        }))
    }

    /// The position this lease's worker last finished.
    pub async fn checkpoint(&mut self) -> Result<i64, StoreError> {
        let position: Option<i64> =
            sqlx::query_scalar("SELECT position FROM relay_checkpoints WHERE name = $1")
                .bind(&self.name)
                .fetch_optional(&mut self.conn)
                .await
                .map_err(backend)?;
        Ok(position.unwrap_or(0))
    }

    /// Records progress; fails if the lease's connection is gone.
    pub async fn save_checkpoint(&mut self, position: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO relay_checkpoints (name, position) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET position = excluded.position, updated_at = now()",
        )
        .bind(&self.name)
        .bind(position)
        .execute(&mut self.conn)
        .await
        .map_err(backend)?;
        Ok(())
    }

    /// Confirms the lease is still held (its connection is alive).
    pub async fn confirm(&mut self) -> Result<(), StoreError> {
        self.conn.ping().await.map_err(backend)
    }
}

#[async_trait::async_trait]
impl events::lease::HeldLease for Lease {
    async fn confirm(&mut self) -> Result<(), StoreError> {
        Lease::confirm(self).await
    }

    async fn checkpoint(&mut self) -> Result<Option<i64>, StoreError> {
        Lease::checkpoint(self).await.map(Some)
    }

    async fn save_checkpoint(&mut self, position: i64) -> Result<(), StoreError> {
        Lease::save_checkpoint(self, position).await
    }
}

/// Leases as advisory locks of one database.
pub struct PgLeases(pub PgPool);

#[async_trait::async_trait]
impl events::lease::Leases for PgLeases {
    async fn try_acquire(
        &self,
        name: &str,
    ) -> Result<Option<Box<dyn events::lease::HeldLease>>, StoreError> {
        Ok(Lease::try_acquire(&self.0, name)
            .await?
            .map(|lease| Box::new(lease) as Box<dyn events::lease::HeldLease>))
    }
}
