//! [`GroupCommitLog`]: the [`EventStore`] of every SQL backend. Appends go
//! through the process's group committer ([`crate::committer`]); reads go
//! to the backend's pool through [`LogReads`].

use std::sync::Arc;

use tokio::sync::{mpsc, watch};

use events::envelope::{Payload, RecordedEvent};
use events::ids::StreamId;
use events::store::{
    Append, AppendError, Appended, EventStore, PastSnapshot, Snapshot, StoreError, StoredReply,
    Until,
};

use crate::committer::{QUEUE_DEPTH, Request, Tasks, Writer, advance, run, submit};
use crate::recent::Recent;

/// The reads a group-committed log's backend answers (its pool).
#[async_trait::async_trait]
pub trait LogReads: Send + Sync + 'static {
    type Error: std::error::Error + Send + Sync + 'static;

    /// Whether an error says the database cannot be reached now.
    fn unavailable(_error: &Self::Error) -> bool {
        false
    }

    async fn read_stream(
        &self,
        stream_id: &str,
        after_version: i64,
    ) -> Result<Vec<RecordedEvent>, Self::Error>;
    async fn read_stream_after(
        &self,
        stream_id: &str,
        after_position: i64,
        limit: i64,
    ) -> Result<Vec<RecordedEvent>, Self::Error>;
    async fn read_stream_until(
        &self,
        stream_id: &str,
        after_version: i64,
        until: Until,
    ) -> Result<Vec<Payload>, Self::Error>;
    async fn read_past_snapshot(
        &self,
        stream_id: &str,
        schema_version: i32,
        until: Until,
    ) -> Result<Option<PastSnapshot>, Self::Error>;
    async fn write_past_snapshot(&self, snapshot: &PastSnapshot) -> Result<(), Self::Error>;
    async fn read_all(
        &self,
        after_position: i64,
        limit: i64,
    ) -> Result<Vec<RecordedEvent>, Self::Error>;
    async fn read_payloads(
        &self,
        after_position: i64,
        limit: i64,
    ) -> Result<Vec<Payload>, Self::Error>;
    async fn resolve_alias(&self, alias: &str) -> Result<Option<String>, Self::Error>;
    async fn read_snapshot(&self, stream_id: &str) -> Result<Option<Snapshot>, Self::Error>;
    /// Snapshots are written beside the log, not through the committer.
    async fn write_snapshot(&self, snapshot: &Snapshot) -> Result<(), Self::Error>;
    async fn idempotent_reply(
        &self,
        scope: &str,
        key: &str,
    ) -> Result<Option<StoredReply>, Self::Error>;
    async fn head_position(&self) -> Result<i64, Self::Error>;
}

/// Implements [`LogReads`] for a pool type by calling the functions of the
/// invoking module's `sql` module (one per statement, as every backend
/// has them).
#[cfg(any(feature = "postgres", feature = "sqlite"))]
macro_rules! log_reads_from_sql_module {
    ($pool:ty) => {
        #[async_trait::async_trait]
        impl $crate::group_commit::LogReads for $pool {
            type Error = sqlx::Error;

            fn unavailable(error: &sqlx::Error) -> bool {
                $crate::unavailable(error)
            }

            async fn read_stream(
                &self,
                stream_id: &str,
                after_version: i64,
            ) -> Result<Vec<events::envelope::RecordedEvent>, sqlx::Error> {
                sql::read_stream(self, stream_id, after_version).await
            }

            async fn read_stream_after(
                &self,
                stream_id: &str,
                after_position: i64,
                limit: i64,
            ) -> Result<Vec<events::envelope::RecordedEvent>, sqlx::Error> {
                sql::read_stream_after(self, stream_id, after_position, limit).await
            }

            async fn read_stream_until(
                &self,
                stream_id: &str,
                after_version: i64,
                until: events::store::Until,
            ) -> Result<Vec<events::envelope::Payload>, sqlx::Error> {
                sql::read_stream_until(self, stream_id, after_version, until).await
            }

            async fn read_past_snapshot(
                &self,
                stream_id: &str,
                schema_version: i32,
                until: events::store::Until,
            ) -> Result<Option<events::store::PastSnapshot>, sqlx::Error> {
                sql::read_past_snapshot(self, stream_id, schema_version, until).await
            }

            async fn write_past_snapshot(
                &self,
                snapshot: &events::store::PastSnapshot,
            ) -> Result<(), sqlx::Error> {
                sql::write_past_snapshot(self, snapshot).await
            }

            async fn read_all(
                &self,
                after: i64,
                limit: i64,
            ) -> Result<Vec<events::envelope::RecordedEvent>, sqlx::Error> {
                sql::read_all(self, after, limit).await
            }

            async fn read_payloads(
                &self,
                after: i64,
                limit: i64,
            ) -> Result<Vec<events::envelope::Payload>, sqlx::Error> {
                sql::read_payloads(self, after, limit).await
            }

            async fn resolve_alias(&self, alias: &str) -> Result<Option<String>, sqlx::Error> {
                sql::resolve_alias(self, alias).await
            }

            async fn read_snapshot(
                &self,
                stream_id: &str,
            ) -> Result<Option<events::store::Snapshot>, sqlx::Error> {
                sql::read_snapshot(self, stream_id).await
            }

            async fn write_snapshot(
                &self,
                snapshot: &events::store::Snapshot,
            ) -> Result<(), sqlx::Error> {
                sql::write_snapshot(self, snapshot).await
            }

            async fn idempotent_reply(
                &self,
                scope: &str,
                key: &str,
            ) -> Result<Option<events::store::StoredReply>, sqlx::Error> {
                sql::idempotent_reply(self, scope, key).await
            }

            async fn head_position(&self) -> Result<i64, sqlx::Error> {
                sql::head_position(self).await
            }
        }
    };
}
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub(crate) use log_reads_from_sql_module;

fn backend<P: LogReads>(e: P::Error) -> StoreError {
    if P::unavailable(&e) {
        StoreError::Unavailable(Box::new(e))
    } else {
        StoreError::Backend(Box::new(e))
    }
}

/// An event log whose appends go through one group committer per process
/// and whose reads go to `pool`: the [`EventStore`] of every SQL backend.
pub struct GroupCommitLog<P> {
    pool: P,
    requests: mpsc::Sender<Request>,
    head: Arc<watch::Sender<i64>>,
    recent: Arc<Recent>,
    _tasks: Arc<Tasks>,
}

impl<P: Clone> Clone for GroupCommitLog<P> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            requests: self.requests.clone(),
            head: self.head.clone(),
            recent: self.recent.clone(),
            _tasks: self._tasks.clone(),
        }
    }
}

impl<P: LogReads> GroupCommitLog<P> {
    /// Starts the committer on `writer`, and `follow` (which moves the head
    /// watch it is given as other processes commit), on a migrated log.
    pub async fn launch<W, F>(
        pool: P,
        writer: W,
        follow: impl FnOnce(Arc<watch::Sender<i64>>) -> F,
    ) -> Result<Self, StoreError>
    where
        W: Writer,
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let current = pool.head_position().await.map_err(backend::<P>)?;
        let head = Arc::new(watch::channel(current).0);
        let (requests, queue) = mpsc::channel(QUEUE_DEPTH);
        let recent = Arc::new(Recent::default());
        let committer = tokio::spawn(run(writer, queue, head.clone(), recent.clone()));
        let follower = tokio::spawn(follow(head.clone()));
        Ok(Self {
            pool,
            requests,
            head,
            recent,
            _tasks: Arc::new(Tasks(vec![
                committer.abort_handle(),
                follower.abort_handle(),
            ])),
        })
    }
}

#[async_trait::async_trait]
impl<P: LogReads> EventStore for GroupCommitLog<P> {
    async fn append(&self, append: Append) -> Result<Appended, AppendError> {
        submit(&self.requests, append).await
    }

    async fn read_stream(
        &self,
        stream_id: &StreamId,
        after_version: i64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.pool
            .read_stream(&stream_id.0, after_version)
            .await
            .map_err(backend::<P>)
    }

    async fn read_stream_after(
        &self,
        stream_id: &StreamId,
        after_position: i64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.pool
            .read_stream_after(&stream_id.0, after_position, limit)
            .await
            .map_err(backend::<P>)
    }

    async fn read_stream_until(
        &self,
        stream_id: &StreamId,
        after_version: i64,
        until: Until,
    ) -> Result<Vec<Payload>, StoreError> {
        self.pool
            .read_stream_until(&stream_id.0, after_version, until)
            .await
            .map_err(backend::<P>)
    }

    async fn read_past_snapshot(
        &self,
        stream_id: &StreamId,
        schema_version: i32,
        until: Until,
    ) -> Result<Option<PastSnapshot>, StoreError> {
        self.pool
            .read_past_snapshot(&stream_id.0, schema_version, until)
            .await
            .map_err(backend::<P>)
    }

    async fn write_past_snapshot(&self, snapshot: &PastSnapshot) -> Result<(), StoreError> {
        self.pool
            .write_past_snapshot(snapshot)
            .await
            .map_err(backend::<P>)
    }

    async fn read_all(
        &self,
        after_position: i64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.pool
            .read_all(after_position, limit)
            .await
            .map_err(backend::<P>)
    }

    async fn read_payloads(
        &self,
        after_position: i64,
        limit: usize,
    ) -> Result<Vec<Payload>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.pool
            .read_payloads(after_position, limit)
            .await
            .map_err(backend::<P>)
    }

    fn recent(&self, after_position: i64, limit: usize) -> Option<Vec<RecordedEvent>> {
        self.recent.after(after_position, limit)
    }

    async fn read_snapshot(&self, stream_id: &StreamId) -> Result<Option<Snapshot>, StoreError> {
        self.pool
            .read_snapshot(&stream_id.0)
            .await
            .map_err(backend::<P>)
    }

    async fn write_snapshot(&self, snapshot: &Snapshot) -> Result<(), StoreError> {
        self.pool
            .write_snapshot(snapshot)
            .await
            .map_err(backend::<P>)
    }

    async fn resolve_alias(&self, alias: &str) -> Result<Option<StreamId>, StoreError> {
        Ok(self
            .pool
            .resolve_alias(alias)
            .await
            .map_err(backend::<P>)?
            .map(StreamId))
    }

    async fn idempotent_reply(
        &self,
        scope: &str,
        key: &str,
    ) -> Result<Option<StoredReply>, StoreError> {
        self.pool
            .idempotent_reply(scope, key)
            .await
            .map_err(backend::<P>)
    }

    async fn head_position(&self) -> Result<i64, StoreError> {
        let position = self.pool.head_position().await.map_err(backend::<P>)?;
        advance(&self.head, position);
        Ok(position)
    }

    fn watch_head(&self) -> watch::Receiver<i64> {
        self.head.subscribe()
    }
}
