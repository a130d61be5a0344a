//! The projection runner: feed -> batch -> read model + checkpoint, in one
//! transaction per batch.
//!
//! Only the holder of the projection's lease applies it; a checkpoint moves
//! only from the value the batch started at (compare-and-set), so even two
//! appliers could never both apply one batch. Events at or below the
//! checkpoint are skipped, so redelivery changes nothing. A replay resets
//! the read model and its checkpoint in one transaction; a running runner
//! notices the checkpoint moved back and rebuilds from position 0.

use std::sync::Arc;
use std::time::Duration;

use events::lease::Leases;
use events::{EventStore, MeetingEvent, RecordedEvent};
use live::feed::{Feed, FeedItem};
use sqlx::AnyPool;
use tokio::sync::watch;

use crate::{Projection, checkpoint};

/// Events per batch (and per transaction).
pub const BATCH: usize = 500;
/// Events per batch of a replay.
pub const REPLAY_BATCH: usize = 10_000;
/// Batches a replay's projection may be behind the log's reader.
pub const REPLAY_AHEAD: usize = 2;
/// How often an idle runner checks that its lease and checkpoint are as it
/// believes.
const CHECK_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
    #[error(transparent)]
    Store(#[from] events::StoreError),
    #[error(transparent)]
    Decode(#[from] events::event::DecodeError),
    #[error("the checkpoint of {0} moved under the runner")]
    Moved(&'static str),
    #[error("a replay task stopped: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// A read-model transaction that writes, holding its turn at the SQLite
/// file's gate (see [`eventlog::gate`]) until it ends.
pub struct WriteTx {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    /// Dropped after `tx` (fields drop in order).
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl WriteTx {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }

    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        self.tx.rollback().await
    }
}

impl std::ops::Deref for WriteTx {
    type Target = sqlx::Transaction<'static, sqlx::Any>;
    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tx
    }
}

/// Opens a read-model transaction that writes. On SQLite it waits for its
/// turn at the file's gate and takes the write lock first (`BEGIN
/// IMMEDIATE`): a transaction that read before writing would otherwise
/// fail at once when another connection committed in between.
pub async fn begin_write(pool: &AnyPool) -> Result<WriteTx, sqlx::Error> {
    let url = &pool.connect_options().database_url;
    if url.scheme() != "sqlite" {
        return Ok(WriteTx {
            tx: pool.begin().await?,
            _turn: None,
        });
    }
    let options: sqlx::sqlite::SqliteConnectOptions = url.as_str().parse()?;
    let turn = eventlog::gate::for_file(options.get_filename())
        .lock_owned()
        .await;
    Ok(WriteTx {
        tx: pool.begin_with("BEGIN IMMEDIATE").await?,
        _turn: Some(turn),
    })
}

/// Applies one batch (contiguous, in position order) and moves the
/// checkpoint, in one transaction. Returns the checkpoint after it.
pub async fn apply_batch(
    pool: &AnyPool,
    projection: Projection,
    events: &[Arc<RecordedEvent>],
) -> Result<i64, RunnerError> {
    let decoded = events
        .iter()
        .map(|e| Ok((e.position, e.decode()?)))
        .collect::<Result<Vec<_>, RunnerError>>()?;
    apply_decoded(pool, projection, &decoded).await
}

/// [`apply_batch`] on events already decoded, as (position, event). Events
/// at or below the checkpoint are skipped.
async fn apply_decoded(
    pool: &AnyPool,
    projection: Projection,
    events: &[(i64, MeetingEvent)],
) -> Result<i64, RunnerError> {
    let name = projection.name();
    let mut tx = begin_write(pool).await?;
    let from = checkpoint::get(&mut tx, name).await?;
    let unseen = &events[events.partition_point(|(position, _)| *position <= from)..];
    let Some((to, _)) = unseen.last() else {
        tx.rollback().await?;
        return Ok(from);
    };
    projection.apply(&mut tx, unseen).await?;
    if !checkpoint::advance(&mut tx, name, from, *to).await? {
        tx.rollback().await?;
        return Err(RunnerError::Moved(name));
    }
    tx.commit().await?;
    Ok(*to)
}

/// Keeps one projection up to date until `stop` turns true, publishing its
/// checkpoint on `progress`.
pub async fn run(
    pool: AnyPool,
    feed: Feed,
    projection: Projection,
    leases: Arc<dyn Leases>,
    progress: watch::Sender<i64>,
    mut stop: watch::Receiver<bool>,
) {
    let lease_name = format!("projection:{}", projection.name());
    while !*stop.borrow() {
        let lease = match leases.try_acquire(&lease_name).await {
            Ok(Some(lease)) => lease,
            Ok(None) => {
                let _ = tokio::time::timeout(Duration::from_millis(500), stop.changed()).await;
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, projection = projection.name(), "cannot ask for the lease");
                let _ = tokio::time::timeout(Duration::from_secs(1), stop.changed()).await;
                continue;
            }
        };
        match follow(&pool, &feed, projection, lease, &progress, &mut stop).await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(error = %e, projection = projection.name(), "projection restarts");
                let _ = tokio::time::timeout(Duration::from_millis(200), stop.changed()).await;
            }
        }
    }
}

async fn follow(
    pool: &AnyPool,
    feed: &Feed,
    projection: Projection,
    mut lease: Box<dyn events::lease::HeldLease>,
    progress: &watch::Sender<i64>,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), RunnerError> {
    let name = projection.name();
    let mut applied = checkpoint::get(&mut *pool.acquire().await?, name).await?;
    progress.send_replace(applied);
    let mut subscription = feed.subscribe(applied);
    let mut check = tokio::time::interval(CHECK_EVERY);
    loop {
        tokio::select! {
            item = subscription.next(BATCH) => {
                if let FeedItem::Events(events) = item? {
                    applied = apply_batch(pool, projection, &events).await?;
                    progress.send_replace(applied);
                }
            }
            _ = check.tick() => {
                lease.confirm().await?;
                // A replay elsewhere moved the checkpoint back: rebuild.
                let stored = checkpoint::get(&mut *pool.acquire().await?, name).await?;
                if stored < applied {
                    return Err(RunnerError::Moved(name));
                }
            }
            _ = stop.changed() => return Ok(()),
        }
    }
}

/// Rebuilds projections from position 0: empties them and their
/// checkpoints in one transaction, then applies the whole log up to its
/// head at the time. The log is read and decoded once, on this task; each
/// projection applies the batches on a task of its own (each batch in its
/// own transaction with its own checkpoint), up to [`REPLAY_AHEAD`]
/// batches behind the reader, so the reader and every projection keep the
/// cores busy without waiting for the slowest at every batch. A live
/// runner of one of them notices its checkpoint moved back and rebuilds
/// too; the checkpoints' compare-and-set lets only one of the two apply
/// each batch. Returns the checkpoint reached (the lowest of them).
pub async fn replay(
    pool: &AnyPool,
    store: Arc<dyn EventStore>,
    projections: &[Projection],
) -> Result<i64, RunnerError> {
    replay_in_batches(pool, store, projections, REPLAY_BATCH).await
}

/// [`replay`] in batches of `batch_size` events.
pub async fn replay_in_batches(
    pool: &AnyPool,
    store: Arc<dyn EventStore>,
    projections: &[Projection],
    batch_size: usize,
) -> Result<i64, RunnerError> {
    let mut tx = begin_write(pool).await?;
    for projection in projections {
        projection.reset(&mut tx).await?;
        checkpoint::reset(&mut tx, projection.name()).await?;
    }
    tx.commit().await?;

    let head = store.head_position().await?;
    let (feeds, appliers): (Vec<_>, Vec<_>) = projections
        .iter()
        .map(|&projection| {
            let (feed, mut batches) =
                tokio::sync::mpsc::channel::<Arc<Vec<(i64, MeetingEvent)>>>(REPLAY_AHEAD);
            let pool = pool.clone();
            let applier = tokio::spawn(async move {
                let mut applied = 0;
                while let Some(batch) = batches.recv().await {
                    applied = apply_decoded(&pool, projection, &batch).await?;
                }
                Ok::<_, RunnerError>(applied)
            });
            (feed, applier)
        })
        .unzip();
    let read = async {
        let mut after = 0;
        while after < head {
            let batch = Arc::new(read_decoded(store.as_ref(), after, batch_size).await?);
            let Some((last, _)) = batch.last() else { break };
            after = *last;
            for feed in &feeds {
                // A closed feed is an applier that stopped on an error,
                // reported below: the replay ends.
                if feed.send(batch.clone()).await.is_err() {
                    return Ok(());
                }
            }
        }
        Ok::<_, RunnerError>(())
    };
    let read = read.await;
    drop(feeds);
    let mut reached = i64::MAX;
    for applier in appliers {
        reached = reached.min(applier.await??);
    }
    read?;
    Ok(if projections.is_empty() { 0 } else { reached })
}

/// A batch of the log decoded, as (position, event): only the columns a
/// read model needs are read ([`EventStore::read_payloads`]).
async fn read_decoded(
    store: &dyn EventStore,
    after: i64,
    limit: usize,
) -> Result<Vec<(i64, MeetingEvent)>, RunnerError> {
    store
        .read_payloads(after, limit)
        .await?
        .iter()
        .map(|payload| Ok((payload.position, payload.decode()?)))
        .collect()
}
