//! The PostgreSQL side of group commit ([`crate::batch`]).
//!
//! A batch costs four round trips on the committer's own connection: BEGIN
//! with the head row lock; one read of everything to check (stream
//! versions, existing event ids, aliases; idempotency keys when there are
//! any), which must follow the lock so its snapshot includes the previous
//! holder's commit; one statement that writes the events (`INSERT ...
//! UNNEST`), aliases, remembered replies and the new head and queues the
//! NOTIFY; and COMMIT. If the transaction fails, every append in it gets
//! the error, and none of them was written.

use sqlx::{PgConnection, PgPool};

use super::sql;
use crate::batch::{Known, Lookups, Plan, Writer};

pub struct PgWriter {
    pool: PgPool,
    /// The committer's own connection: no pool hand-off per batch.
    connection: Option<PgConnection>,
}

impl PgWriter {
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            connection: None,
        }
    }

    async fn conn(&mut self) -> Result<&mut PgConnection, sqlx::Error> {
        if self.connection.is_none() {
            self.connection = Some(self.pool.acquire().await?.detach());
        }
        self.connection.as_mut().ok_or(sqlx::Error::PoolClosed)
    }
}

#[async_trait::async_trait]
impl Writer for PgWriter {
    type Error = sqlx::Error;

    async fn begin(&mut self) -> Result<(i64, Vec<u8>), sqlx::Error> {
        sql::begin_and_lock_head(self.conn().await?).await
    }

    async fn known(&mut self, lookups: &Lookups) -> Result<Known, sqlx::Error> {
        let conn = self.conn().await?;
        let checks = sql::read_checks(
            conn,
            &lookups.stream_ids,
            &lookups.event_ids,
            &lookups.aliases,
        )
        .await?;
        let replies = if lookups.idempotency.is_empty() {
            Default::default()
        } else {
            let (scopes, keys): (Vec<String>, Vec<String>) =
                lookups.idempotency.iter().cloned().unzip();
            sql::idempotent_replies(conn, &scopes, &keys).await?
        };
        Ok(Known {
            versions: checks.versions,
            existing: checks.existing,
            aliases: checks.taken_aliases.into_iter().collect(),
            replies,
        })
    }

    async fn write(&mut self, plan: &Plan) -> Result<(), sqlx::Error> {
        sql::write_batch(self.conn().await?, plan).await
    }

    async fn finish(&mut self, commit: bool) -> Result<(), sqlx::Error> {
        sql::finish(self.conn().await?, commit).await
    }

    async fn reset(&mut self) {
        if let Some(conn) = self.connection.as_mut()
            && sql::finish(conn, false).await.is_err()
        {
            self.connection = None;
        }
    }
}
