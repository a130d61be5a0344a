//! The SQLite event log: the embedded default, one file, no services.
//!
//! The same contract as PostgreSQL (`events::store`), with the same group
//! commit ([`crate::committer`]): one committer task owns the only writing
//! connection and turns every append waiting in its queue into one
//! `BEGIN IMMEDIATE` transaction, so positions are assigned by one writer in
//! commit order. The file runs in WAL mode (readers never block the writer)
//! with `synchronous = FULL` on the writer, so a commit that answered is on
//! disk: safe against kill -9 and power loss. Triggers make the log
//! immutable, as on PostgreSQL.
//!
//! Commits are announced through the head watch; SQLite has no NOTIFY, so
//! another process writing the same file is seen through a light poll of the
//! head (the embedded setup is one process; the poll keeps a second reader,
//! such as `meetings project`, moving).

mod sql;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection};
use tokio::sync::watch;

use crate::committer::{Writer, advance};
use crate::group_commit::GroupCommitLog;
use crate::plan::{Known, Lookups, Plan};
use events::store::StoreError;

/// How often the head is re-read for commits made by other processes.
const POLL_HEAD: Duration = Duration::from_millis(250);
/// How long a connection waits for the write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Connection options for a `sqlite://` URL: the file (and its folder) is
/// created when missing, WAL mode, a generous busy timeout.
pub fn options(url: &str) -> Result<SqliteConnectOptions, sqlx::Error> {
    let options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(BUSY_TIMEOUT);
    if let Some(folder) = options.get_filename().parent()
        && !folder.as_os_str().is_empty()
        && !folder.exists()
    {
        std::fs::create_dir_all(folder).map_err(sqlx::Error::Io)?;
    }
    Ok(options)
}

/// A pool on a `sqlite://` URL (see [`options`]).
pub async fn connect(url: &str, max_connections: u32) -> Result<SqlitePool, sqlx::Error> {
    SqlitePoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options(url)?)
        .await
}

/// The event log in a SQLite file.
pub type SqliteStore = GroupCommitLog<SqlitePool>;

impl GroupCommitLog<SqlitePool> {
    /// Starts the committer (on a connection of its own) on a pool whose
    /// schema is migrated.
    pub async fn start(pool: SqlitePool) -> Result<Self, StoreError> {
        let options = (*pool.connect_options()).clone();
        let writer = SqliteWriter {
            gate: crate::gate::for_file(options.get_filename()),
            options,
            connection: None,
            turn: None,
        };
        let poller = pool.clone();
        Self::launch(pool, writer, move |head| poll_head(poller, head)).await
    }
}

/// Follows commits of other processes on the same file.
async fn poll_head(pool: SqlitePool, head: Arc<watch::Sender<i64>>) {
    let mut tick = tokio::time::interval(POLL_HEAD);
    loop {
        tick.tick().await;
        if let Ok(position) = sql::head_position(&pool).await {
            advance(&head, position);
        }
    }
}

/// The SQLite side of group commit: `BEGIN IMMEDIATE` takes the file's
/// write lock, so the head read under it is the head this batch extends.
/// It waits for its turn at the file's [`crate::gate`] first.
struct SqliteWriter {
    options: SqliteConnectOptions,
    connection: Option<SqliteConnection>,
    gate: crate::gate::Gate,
    /// Held from BEGIN to COMMIT or ROLLBACK.
    turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl SqliteWriter {
    async fn conn(&mut self) -> Result<&mut SqliteConnection, sqlx::Error> {
        if self.connection.is_none() {
            self.connection = Some(self.options.connect().await?);
        }
        self.connection.as_mut().ok_or(sqlx::Error::PoolClosed)
    }
}

#[async_trait::async_trait]
impl Writer for SqliteWriter {
    type Error = sqlx::Error;

    fn unavailable(error: &sqlx::Error) -> bool {
        crate::unavailable(error)
    }

    async fn begin(&mut self) -> Result<(i64, Vec<u8>), sqlx::Error> {
        self.turn = Some(self.gate.clone().lock_owned().await);
        let conn = self.conn().await?;
        sql::begin_immediate(conn).await?;
        sql::head(conn).await
    }

    async fn known(&mut self, lookups: &Lookups) -> Result<Known, sqlx::Error> {
        sql::known(self.conn().await?, lookups).await
    }

    async fn read_tail(
        &mut self,
        stream_id: &str,
        after_version: i64,
    ) -> Result<Vec<events::envelope::RecordedEvent>, sqlx::Error> {
        sql::read_stream(self.conn().await?, stream_id, after_version).await
    }

    async fn write(&mut self, plan: &Plan) -> Result<(), sqlx::Error> {
        sql::write_batch(self.conn().await?, plan).await
    }

    async fn finish(&mut self, commit: bool) -> Result<(), sqlx::Error> {
        let finished = sql::finish(self.conn().await?, commit).await;
        if finished.is_ok() {
            self.turn = None;
        }
        finished
    }

    async fn reset(&mut self) {
        if let Some(conn) = self.connection.as_mut()
            && sql::finish(conn, false).await.is_err()
        {
            // A rollback that fails leaves nothing open worth keeping.
            if let Some(conn) = self.connection.take() {
                let _ = conn.close().await;
            }
        }
        self.turn = None;
    }
}

crate::group_commit::log_reads_from_sql_module!(SqlitePool);
