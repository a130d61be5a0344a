//! The relay: publishes every committed event to NATS JetStream, exactly
//! once and in position order.
//!
//! One relay is active per deployment: it holds the `relay` lease (an
//! advisory lock); others wait for it. The leader resumes after the larger
//! of its checkpoint and the position in the stream's last message, reads
//! the log in position order, publishes a batch, waits for every ack, and
//! moves its checkpoint on the lease's connection. A crash between the acks
//! and the checkpoint re-publishes at most one batch, which JetStream drops
//! by `Nats-Msg-Id`; restarts later than the duplicate window still resume
//! after the stream's last message. If NATS is down the relay retries;
//! commands are not affected, and it catches up when NATS returns.

use std::time::Duration;

use events::EventStore;
use events::StoreError;
use events::nats::{BusError, JetStreamLog};
use events::postgres::{Lease, PgStore};
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
pub async fn run(store: PgStore, log: JetStreamLog, mut stop: watch::Receiver<bool>) {
    let mut backoff = Duration::from_millis(100);
    while !*stop.borrow() {
        let lease = match Lease::try_acquire(store.pool(), RELAY_NAME).await {
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
        tracing::info!("relay is the leader");
        match lead(&store, &log, lease, &mut stop).await {
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

/// Publishes while holding the lease; returns `Ok` only when stopped.
async fn lead(
    store: &PgStore,
    log: &JetStreamLog,
    mut lease: Lease,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), RelayError> {
    let mut head = store.watch_head();
    log.ensure_stream().await?;
    let checkpoint = lease.checkpoint().await?;
    let in_stream = log.last_position().await?;
    let log_head = store.head_position().await?;
    let mut published = if in_stream > log_head {
        tracing::warn!(
            in_stream,
            log_head,
            "the stream is ahead of the log; trusting the checkpoint"
        );
        checkpoint
    } else {
        checkpoint.max(in_stream)
    };
    tracing::info!(published, "relay resumes");

    loop {
        if *stop.borrow() {
            return Ok(());
        }
        let batch = store.read_all(published, BATCH).await?;
        let Some(last) = batch.last().map(|e| e.position) else {
            lease.confirm().await?;
            tokio::select! {
                _ = head.changed() => {}
                _ = stop.changed() => {}
                _ = tokio::time::sleep(IDLE) => {}
            }
            continue;
        };
        let mut acks = Vec::with_capacity(batch.len());
        for event in &batch {
            acks.push(log.publish(event).await?);
        }
        for ack in acks {
            ack.await.map_err(BusError::from_error)?;
        }
        lease.save_checkpoint(last).await?;
        published = last;
    }
}
