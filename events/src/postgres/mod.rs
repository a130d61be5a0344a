//! The PostgreSQL event log.
//!
//! Appends go through one group committer per process ([`committer`]): every
//! append waiting while a transaction commits joins the next transaction, so
//! one fsync carries many commands. Across processes, the `event_log_head` row
//! lock serialises position assignment. Commits are announced with
//! `NOTIFY meetings_events` so readers in other processes wake up.

mod committer;
pub mod lease;
mod sql;

use std::sync::Arc;

use async_trait::async_trait;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::{mpsc, watch};

use crate::batch::{self, QUEUE_DEPTH, Tasks, advance};
use crate::envelope::RecordedEvent;
use crate::ids::StreamId;
use crate::store::{Append, AppendError, Appended, EventStore, StoreError, StoredReply};

pub use lease::{Lease, PgLeases};

/// The NOTIFY channel that announces new commits (payload: the last position).
pub const NOTIFY_CHANNEL: &str = "meetings_events";

pub(crate) fn backend(e: sqlx::Error) -> StoreError {
    StoreError::Backend(Box::new(e))
}

/// The event log on PostgreSQL.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    requests: mpsc::Sender<batch::Request>,
    head: Arc<watch::Sender<i64>>,
    _tasks: Arc<Tasks>,
}

impl PgStore {
    /// Starts the committer and the commit listener on an existing pool
    /// (whose schema is migrated).
    pub async fn start(pool: PgPool) -> Result<Self, StoreError> {
        let current = sql::head_position(&pool).await.map_err(backend)?;
        let (head, _) = watch::channel(current);
        let head = Arc::new(head);
        let (requests, queue) = mpsc::channel(QUEUE_DEPTH);
        let writer = committer::PgWriter::new(pool.clone());
        let committer = tokio::spawn(batch::run(writer, queue, head.clone()));
        let listener = tokio::spawn(listen(pool.clone(), head.clone()));
        Ok(Self {
            pool,
            requests,
            head,
            _tasks: Arc::new(Tasks(vec![
                committer.abort_handle(),
                listener.abort_handle(),
            ])),
        })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// Follows other processes' commits through LISTEN/NOTIFY.
async fn listen(pool: PgPool, head: Arc<watch::Sender<i64>>) {
    loop {
        match PgListener::connect_with(&pool).await {
            Ok(mut listener) => {
                if let Err(e) = listener.listen(NOTIFY_CHANNEL).await {
                    tracing::warn!(error = %e, "cannot LISTEN for commits");
                } else {
                    // Commits made while we were not listening.
                    if let Ok(position) = sql::head_position(&pool).await {
                        advance(&head, position);
                    }
                    loop {
                        match listener.recv().await {
                            Ok(note) => {
                                if let Ok(position) = note.payload().parse() {
                                    advance(&head, position);
                                }
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "commit listener lost its connection");
                                break;
                            }
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot connect the commit listener"),
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

#[async_trait]
impl EventStore for PgStore {
    async fn append(&self, append: Append) -> Result<Appended, AppendError> {
        batch::submit(&self.requests, append).await
    }

    async fn read_stream(
        &self,
        stream_id: &StreamId,
        after_version: i64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        sql::read_stream(&self.pool, &stream_id.0, after_version)
            .await
            .map_err(backend)
    }

    async fn read_all(
        &self,
        after_position: i64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        sql::read_all(&self.pool, after_position, limit)
            .await
            .map_err(backend)
    }

    async fn resolve_alias(&self, alias: &str) -> Result<Option<StreamId>, StoreError> {
        Ok(sql::resolve_alias(&self.pool, alias)
            .await
            .map_err(backend)?
            .map(StreamId))
    }

    async fn idempotent_reply(
        &self,
        scope: &str,
        key: &str,
    ) -> Result<Option<StoredReply>, StoreError> {
        sql::idempotent_reply(&self.pool, scope, key)
            .await
            .map_err(backend)
    }

    async fn head_position(&self) -> Result<i64, StoreError> {
        let position = sql::head_position(&self.pool).await.map_err(backend)?;
        advance(&self.head, position);
        Ok(position)
    }

    fn watch_head(&self) -> watch::Receiver<i64> {
        self.head.subscribe()
    }
}
