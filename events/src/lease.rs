//! The lease port: "only one process does this at a time" for singleton
//! workers (the relay, each projection). PostgreSQL implements it with
//! session advisory locks; a single-process backend can grant it always.

use async_trait::async_trait;

use crate::store::StoreError;

#[async_trait]
pub trait Leases: Send + Sync + 'static {
    /// Takes the named lease if nobody holds it.
    async fn try_acquire(&self, name: &str) -> Result<Option<Box<dyn HeldLease>>, StoreError>;
}

/// A lease being held; dropping it releases it.
#[async_trait]
pub trait HeldLease: Send {
    /// Confirms the lease is still held.
    async fn confirm(&mut self) -> Result<(), StoreError>;
}
