//! Which database a `DATABASE_URL` names, its pools, and the schema
//! migrations.
//!
//! Migrations live in three folders: the event log's, one per backend
//! (`migrations/postgres`, `migrations/sqlite`), and the read models', one
//! for both (`migrations/read_models`, portable SQL). Versions are numbered
//! across the folders; each migrator ignores the others' versions.

use std::time::Duration;

use sqlx::PgPool;
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::SqlitePool;

/// The event log and read models on PostgreSQL or SQLite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    /// The backend of a `postgres://` or `sqlite://` URL.
    pub fn of(url: &str) -> Result<Self, UnknownDatabase> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else {
            Err(UnknownDatabase(url.to_owned()))
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("DATABASE_URL must be postgres://... or sqlite://... (got {0:?})")]
pub struct UnknownDatabase(String);

fn with_others_ignored(mut migrator: Migrator) -> Migrator {
    migrator.set_ignore_missing(true);
    migrator
}

/// Applies pending migrations of the log and read models on PostgreSQL.
pub async fn migrate(pool: &PgPool) -> Result<(), MigrateError> {
    with_others_ignored(sqlx::migrate!("./migrations/postgres"))
        .run(pool)
        .await?;
    with_others_ignored(sqlx::migrate!("./migrations/read_models"))
        .run(pool)
        .await
}

/// Applies pending migrations of the log and read models on SQLite.
pub async fn migrate_sqlite(pool: &SqlitePool) -> Result<(), MigrateError> {
    with_others_ignored(sqlx::migrate!("./migrations/sqlite"))
        .run(pool)
        .await?;
    with_others_ignored(sqlx::migrate!("./migrations/read_models"))
        .run(pool)
        .await
}

/// How a pool waits for the database: a request waits no longer than
/// this for a connection, and a statement runs no longer than this, so an
/// outage is answered (503) in seconds instead of hanging.
#[derive(Debug, Clone, Copy)]
pub struct Waits {
    pub acquire: Duration,
    /// PostgreSQL's `statement_timeout`; none for migrations.
    pub statement: Option<Duration>,
}

impl Default for Waits {
    fn default() -> Self {
        Self {
            acquire: Duration::from_secs(3),
            statement: None,
        }
    }
}

/// Opens a pool of at most `max_connections` to `url`.
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    connect_with(url, max_connections, Waits::default()).await
}

/// Opens a pool of at most `max_connections` to `url` with `waits`.
pub async fn connect_with(
    url: &str,
    max_connections: u32,
    waits: Waits,
) -> Result<PgPool, sqlx::Error> {
    use std::str::FromStr;
    let mut options = sqlx::postgres::PgConnectOptions::from_str(url)?;
    if let Some(statement) = waits.statement {
        options = options.options([("statement_timeout", format!("{}ms", statement.as_millis()))]);
    }
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(waits.acquire)
        .connect_with(options)
        .await
}

/// A pool for the read models, through `sqlx::Any`: the projection and
/// query code is written once for every read-model database.
///
/// Read-model commits do not wait for the disk (PostgreSQL:
/// `synchronous_commit = off`; SQLite in WAL mode: `synchronous = NORMAL`).
/// Safe for read models: a batch and its checkpoint commit together, so a
/// commit lost in a crash leaves the checkpoint behind its rows' absence,
/// and the runner applies those events again. The event log's own commits
/// always wait for the disk.
pub async fn connect_reads(url: &str, max_connections: u32) -> Result<sqlx::AnyPool, sqlx::Error> {
    connect_reads_with(url, max_connections, Waits::default()).await
}

/// [`connect_reads`] with `waits`.
pub async fn connect_reads_with(
    url: &str,
    max_connections: u32,
    waits: Waits,
) -> Result<sqlx::AnyPool, sqlx::Error> {
    sqlx::any::install_default_drivers();
    let backend = Backend::of(url).map_err(|e| sqlx::Error::Configuration(e.into()))?;
    let statement_timeout = waits.statement.map_or(0, |t| t.as_millis());
    sqlx::any::AnyPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(waits.acquire)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                use sqlx::Executor;
                match backend {
                    Backend::Postgres => {
                        let set = format!(
                            "SET synchronous_commit = off; SET statement_timeout = {statement_timeout}"
                        );
                        conn.execute(set.as_str()).await?
                    }
                    Backend::Sqlite => {
                        conn.execute("PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 10000")
                            .await?
                    }
                };
                Ok(())
            })
        })
        .connect(url)
        .await
}

/// Runs `query` on the read-model database so that its commit waits for the
/// disk, which that pool's commits otherwise do not ([`connect_reads`]):
/// for the rows there that are not derived from the log and could not be
/// applied again after a crash (the password hashes of `meeting_secrets`,
/// which an event in the log names once the command that follows commits).
pub async fn execute_durably<'q>(
    pool: &sqlx::AnyPool,
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
) -> Result<(), sqlx::Error> {
    use sqlx::{Connection, Executor};
    let mut conn = pool.acquire().await?;
    if conn.backend_name().eq_ignore_ascii_case("sqlite") {
        // Per connection, outside any transaction; set back for the pool.
        (&mut *conn).execute("PRAGMA synchronous = FULL").await?;
        let done = query.execute(&mut *conn).await;
        (&mut *conn).execute("PRAGMA synchronous = NORMAL").await?;
        done?;
    } else {
        let mut tx = conn.begin().await?;
        (&mut *tx)
            .execute("SET LOCAL synchronous_commit = on")
            .await?;
        query.execute(&mut *tx).await?;
        tx.commit().await?;
    }
    Ok(())
}
