//! The PostgreSQL side of group commit ([`crate::plan`], [`crate::committer`]).
//!
//! While this committer knows the head (it wrote the last batch, and no
//! other process has written since), a batch is one round trip: planned on
//! that head and on the versions its appends expect, and written by one
//! statement that is its own transaction and fails, writing nothing, if
//! the log is not as assumed ([`sql::write_unchecked`]). Otherwise (the
//! first batch, after another process wrote, after a refusal) it costs
//! four round trips on the committer's own connection: BEGIN
//! with the head row lock; one read of everything to check (stream
//! versions, existing event ids, aliases; idempotency keys when there are
//! any), which must follow the lock so its snapshot includes the previous
//! holder's commit; one statement that writes the events (`INSERT ...
//! UNNEST`), aliases, remembered replies and the new head and queues the
//! NOTIFY; and COMMIT. If the transaction fails, every append in it gets
//! the error, and none of them was written.

use sqlx::{PgConnection, PgPool};

use super::sql;
use crate::committer::Writer;
use crate::plan::{Known, Lookups, Plan};

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
            let mut connection = self.pool.acquire().await?.detach();
            // The batch statements are prepared once and run with arrays of
            // any length. PostgreSQL's default plans such a statement again
            // for every execution (a custom plan) until it trusts a generic
            // one, and planning the batch statement costs more than running
            // a small batch; its generic plan is index probes throughout.
            sqlx::Executor::execute(&mut connection, "SET plan_cache_mode = force_generic_plan")
                .await?;
            self.connection = Some(connection);
        }
        self.connection.as_mut().ok_or(sqlx::Error::PoolClosed)
    }
}

#[async_trait::async_trait]
impl Writer for PgWriter {
    type Error = sqlx::Error;

    fn unavailable(error: &sqlx::Error) -> bool {
        crate::unavailable(error)
    }

    async fn begin(&mut self) -> Result<(i64, Vec<u8>), sqlx::Error> {
        sql::begin_and_lock_head(self.conn().await?).await
    }

    async fn read_tail(
        &mut self,
        stream_id: &str,
        after_version: i64,
    ) -> Result<Vec<events::envelope::RecordedEvent>, sqlx::Error> {
        sql::read_stream(self.conn().await?, stream_id, after_version).await
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

    fn writes_unchecked(&self) -> bool {
        true
    }

    async fn write_unchecked(
        &mut self,
        plan: &Plan,
        head_position: i64,
        streams: &[(String, i64)],
    ) -> Result<bool, sqlx::Error> {
        sql::write_unchecked(self.conn().await?, plan, head_position, streams).await
    }

    async fn reset(&mut self) {
        if let Some(conn) = self.connection.as_mut()
            && sql::finish(conn, false).await.is_err()
        {
            self.connection = None;
        }
    }
}
