//! The relay: publishes every committed event to the bus, exactly once and
//! in position order.
//!
//! On a shared bus (NATS JetStream) one relay is active per deployment: it
//! holds the `relay` lease (an advisory lock on PostgreSQL); others wait
//! for it. The leader resumes after the larger of its checkpoint and the
//! position in the stream's last message, reads the log in position order,
//! publishes a batch, waits for every ack, and moves its checkpoint on the
//! lease's connection. Events this process committed itself are taken
//! from memory (`EventStore::recent`), the rest from the log. A crash
//! between the acks and the checkpoint
//! re-publishes at most one batch, which JetStream drops by `Nats-Msg-Id`;
//! restarts later than the duplicate window still resume after the
//! stream's last message. If NATS is down the relay retries; commands are
//! not affected, and it catches up when NATS returns.
//!
//! On the in-process bus every node relays its own log reads into its own
//! hub, starting at the head (subscribers catch up from the log
//! themselves), woken by each commit.

use std::sync::Arc;
use std::time::Duration;

use events::EventStore;
use events::StoreError;
use events::lease::{HeldLease, Leases, LocalLeases};

use crate::bus::{Bus, BusError};
use tokio::sync::watch;

/// Name of the lease and of the checkpoint row.
pub const RELAY_NAME: &str = "relay";
/// Events per batch.
const BATCH: usize = 256;
/// How often a follower asks for the lease, and the fallback poll interval
/// of the leader when no commit notification arrives.
const IDLE: Duration = Duration::from_millis(500);

#[derive(Debug, thiserror::Error)]
enum RelayError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Bus(#[from] BusError),
}

/// Runs until `stop` turns true.
pub async fn run(
    store: Arc<dyn EventStore>,
    bus: Arc<dyn Bus>,
    leases: Arc<dyn Leases>,
    mut stop: watch::Receiver<bool>,
) {
    // A private bus needs no deployment-wide leader.
    let leases = if bus.shared() {
        leases
    } else {
        Arc::new(LocalLeases::default())
    };
    let mut backoff = Duration::from_millis(100);
    while !*stop.borrow() {
        let lease = match leases.try_acquire(RELAY_NAME).await {
            Ok(Some(lease)) => lease,
            Ok(None) => {
                wait(&mut stop, IDLE).await;
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "relay cannot ask for its lease");
                wait(&mut stop, backoff).await;
                continue;
            }
        };
        tracing::info!(shared = bus.shared(), "relay is the leader");
        match lead(store.as_ref(), bus.as_ref(), lease, &mut stop).await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "relay interrupted");
                wait(&mut stop, backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
}

async fn wait(stop: &mut watch::Receiver<bool>, period: Duration) {
    let _ = tokio::time::timeout(period, stop.changed()).await;
}

/// Where a new leader starts publishing.
async fn resume_after(
    store: &dyn EventStore,
    bus: &dyn Bus,
    lease: &mut Box<dyn HeldLease>,
) -> Result<i64, RelayError> {
    let log_head = store.head_position().await?;
    let Some(in_bus) = bus.last_position().await? else {
        return Ok(log_head);
    };
    let checkpoint = lease.checkpoint().await?.unwrap_or(0);
    if in_bus > log_head {
        tracing::warn!(
            in_bus,
            log_head,
            "the bus is ahead of the log; trusting the checkpoint"
        );
        return Ok(checkpoint);
    }
    Ok(checkpoint.max(in_bus))
}

/// Publishes while holding the lease; returns `Ok` only when stopped.
async fn lead(
    store: &dyn EventStore,
    bus: &dyn Bus,
    mut lease: Box<dyn HeldLease>,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), RelayError> {
    let mut head = store.watch_head();
    let mut published = resume_after(store, bus, &mut lease).await?;
    tracing::info!(published, "relay resumes");
    // Whether the next read must ask the log even when the head watch
    // knows of nothing newer (at the start, and after an idle period, in
    // case the watch missed another process's commit).
    let mut ask_log = true;

    loop {
        if *stop.borrow() {
            return Ok(());
        }
        // Marked seen before reading, so a commit during the read wakes us.
        let known_head = *head.borrow_and_update();
        // This process's own commits come from memory; the log is read
        // for the rest (another process's commits, a restart).
        let batch = match store.recent(published, BATCH) {
            Some(events) => events,
            None if published >= known_head && !ask_log => Vec::new(),
            None => store.read_all(published, BATCH).await?,
        };
        ask_log = false;
        let batch: Vec<_> = batch.into_iter().map(Arc::new).collect();
        let Some(last) = batch.last().map(|e| e.position) else {
            lease.confirm().await?;
            tokio::select! {
                _ = head.changed() => {}
                _ = stop.changed() => {}
                _ = tokio::time::sleep(IDLE) => ask_log = true,
            }
            continue;
        };
        bus.publish(&batch).await?;
        lease.save_checkpoint(last).await?;
        published = last;
        metrics::gauge!("meetings_relay_position").set(published as f64);
    }
}
