//! The PostgreSQL event log.
//!
//! Appends go through one group committer per process ([`crate::committer`]): every
//! append waiting while a transaction commits joins the next transaction, so
//! one fsync carries many commands. Across processes, the `event_log_head` row
//! lock serialises position assignment. Commits are announced with
//! `NOTIFY meetings_events` so readers in other processes wake up.

pub mod lease;
mod sql;
mod writer;

use std::sync::Arc;

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::watch;

use crate::committer::advance;
use crate::group_commit::GroupCommitLog;
use events::store::StoreError;

pub use lease::{Lease, PgLeases};

/// The NOTIFY channel that announces new commits (payload: the last position).
pub const NOTIFY_CHANNEL: &str = "meetings_events";

pub(crate) fn backend(e: sqlx::Error) -> StoreError {
    if crate::unavailable(&e) {
        StoreError::Unavailable(Box::new(e))
    } else {
        StoreError::Backend(Box::new(e))
    }
}

/// The event log on PostgreSQL.
pub type PgStore = GroupCommitLog<PgPool>;

impl GroupCommitLog<PgPool> {
    /// Starts the committer and the commit listener on an existing pool
    /// (whose schema is migrated).
    pub async fn start(pool: PgPool) -> Result<Self, StoreError> {
        let writer = writer::PgWriter::new(pool.clone());
        let listener = pool.clone();
        Self::launch(pool, writer, move |head| listen(listener, head)).await
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

crate::group_commit::log_reads_from_sql_module!(PgPool);
