//! The lease port: "only one process does this at a time" for singleton
//! workers (the relay, each projection). PostgreSQL implements it with
//! session advisory locks; [`LocalLeases`] grants each name once per
//! process, which is exactly right when the process is the deployment (the
//! embedded default) or the work is the process's own (the in-process bus).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

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

    /// The position the holder's worker last recorded, where the lease
    /// keeps one (None: it keeps none; the worker finds its place itself).
    async fn checkpoint(&mut self) -> Result<Option<i64>, StoreError> {
        Ok(None)
    }

    /// Records the worker's progress, where the lease keeps it.
    async fn save_checkpoint(&mut self, _position: i64) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Leases held in this process's memory.
#[derive(Clone, Default)]
pub struct LocalLeases {
    held: Arc<Mutex<HashSet<String>>>,
}

struct LocalLease {
    held: Arc<Mutex<HashSet<String>>>,
    name: String,
}

#[async_trait]
impl Leases for LocalLeases {
    async fn try_acquire(&self, name: &str) -> Result<Option<Box<dyn HeldLease>>, StoreError> {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if !held.insert(name.to_owned()) {
            return Ok(None);
        }
        Ok(Some(Box::new(LocalLease {
            held: self.held.clone(),
            name: name.to_owned(),
        })))
    }
}

#[async_trait]
impl HeldLease for LocalLease {
    async fn confirm(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
}

impl Drop for LocalLease {
    fn drop(&mut self) {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        held.remove(&self.name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_local_lease_is_granted_once_until_it_is_dropped() {
        let leases = LocalLeases::default();
        let first = leases.try_acquire("relay").await.unwrap();
        assert!(first.is_some());
        assert!(leases.try_acquire("relay").await.unwrap().is_none());
        assert!(leases.try_acquire("other").await.unwrap().is_some());
        drop(first);
        assert!(leases.try_acquire("relay").await.unwrap().is_some());
    }
}
