//! The projection runners of a node and how far they have got.

use std::sync::Arc;
use std::time::Duration;

use events::lease::Leases;
use live::feed::Feed;
use projections::{Projection, checkpoint};
use sqlx::AnyPool;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The checkpoints of the projections this node runs, as they move.
#[derive(Clone)]
pub struct Progress {
    pool: AnyPool,
    local: Vec<watch::Receiver<i64>>,
}

/// The read models did not reach a position in time.
#[derive(Debug, thiserror::Error)]
pub enum Freshness {
    #[error("read models are at {applied}, not yet at {wanted}")]
    Lagging { applied: i64, wanted: i64 },
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl Progress {
    /// The checkpoints of runners that all run in other processes.
    pub fn elsewhere(pool: AnyPool) -> Self {
        Self {
            pool,
            local: Vec::new(),
        }
    }

    /// Watches of the checkpoints of the runners in this process.
    pub fn local(&self) -> Vec<watch::Receiver<i64>> {
        self.local.clone()
    }

    /// The position every read model has applied (the lowest checkpoint).
    pub async fn applied(&self) -> Result<i64, sqlx::Error> {
        let names: Vec<&str> = Projection::ALL.iter().map(|p| p.name()).collect();
        checkpoint::lowest(&mut *self.pool.acquire().await?, &names).await
    }

    /// Waits until every read model has applied `position`, at most `limit`.
    /// Local runners wake the wait at once; runners in other processes are
    /// seen through the checkpoint table.
    pub async fn wait_for(&self, position: i64, limit: Duration) -> Result<(), Freshness> {
        let deadline = tokio::time::Instant::now() + limit;
        let mut local = self.local.clone();
        loop {
            let applied = self.applied().await?;
            if applied >= position {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Freshness::Lagging {
                    applied,
                    wanted: position,
                });
            }
            // Woken by a local runner's progress, else by a short tick
            // (runners elsewhere); a closed channel never wakes.
            let wakes = local.iter_mut().map(|r| {
                Box::pin(async move {
                    if r.changed().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                })
            });
            let local_progress = async {
                let wakes: Vec<_> = wakes.collect();
                if wakes.is_empty() {
                    std::future::pending::<()>().await;
                } else {
                    futures::future::select_all(wakes).await;
                }
            };
            tokio::select! {
                _ = local_progress => {}
                _ = tokio::time::sleep(Duration::from_millis(25)) => {}
                _ = tokio::time::sleep_until(deadline) => {}
            }
        }
    }
}

/// Starts one runner per projection; returns their progress and handles.
pub fn start_projections(
    pool: AnyPool,
    feed: Feed,
    leases: Arc<dyn Leases>,
    stop: watch::Receiver<bool>,
) -> (Progress, Vec<JoinHandle<()>>) {
    let mut local = Vec::new();
    let mut handles = Vec::new();
    for projection in Projection::ALL {
        let (progress, watcher) = watch::channel(0);
        local.push(watcher);
        handles.push(tokio::spawn(projections::runner::run(
            pool.clone(),
            feed.clone(),
            projection,
            leases.clone(),
            progress,
            stop.clone(),
        )));
    }
    (Progress { pool, local }, handles)
}
