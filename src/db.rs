//! The PostgreSQL connection pool and the schema migrations.

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

/// Every migration under `migrations/postgres`, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Opens a pool of at most `max_connections` to `url`.
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect(url)
        .await
}

/// A pool for the read models, through `sqlx::Any`: the projection and
/// query code is written once for every read-model database.
///
/// On PostgreSQL these connections commit without waiting for the WAL
/// flush. Safe for read models: a batch and its checkpoint commit together,
/// so a commit lost in a crash leaves the checkpoint behind its rows'
/// absence, and the runner applies those events again. The event log's own
/// commits are never asynchronous.
pub async fn connect_reads(url: &str, max_connections: u32) -> Result<sqlx::AnyPool, sqlx::Error> {
    sqlx::any::install_default_drivers();
    let postgres = url.starts_with("postgres://") || url.starts_with("postgresql://");
    sqlx::any::AnyPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if postgres {
                    use sqlx::Executor;
                    conn.execute("SET synchronous_commit = off").await?;
                }
                Ok(())
            })
        })
        .connect(url)
        .await
}

/// Applies pending migrations.
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(pool).await
}
