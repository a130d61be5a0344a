//! Whether the database answers, known within a second.
//!
//! A probe on a connection of its own (never one a request waits for)
//! asks PostgreSQL every [`PROBE_EVERY`] and gives it [`PROBE_WITHIN`] to
//! answer. While it does not, the node answers every request that needs
//! the database with 503 DATABASE_UNAVAILABLE at once, and the requests in
//! flight when it stopped answering are answered so then, instead of each
//! waiting out a pool's timeout (which, one statement after another and
//! under load, took seconds). `/readyz` and `meetings_database_up` say
//! the same. The embedded default (a file in the process) is always up.

use std::time::Duration;

use sqlx::Connection;
use tokio::sync::watch;

/// How often the probe asks.
pub const PROBE_EVERY: Duration = Duration::from_millis(250);
/// How long the database has to answer (or to let the probe connect).
pub const PROBE_WITHIN: Duration = Duration::from_millis(500);

/// The node's view of its database.
#[derive(Clone)]
pub struct Health {
    up: watch::Receiver<bool>,
}

impl Health {
    /// A database that is always there (SQLite, a file of this process).
    pub fn always() -> Self {
        let (keep, up) = watch::channel(true);
        // Nobody ever changes it: the receiver keeps its last value.
        drop(keep);
        Self { up }
    }

    /// Probes PostgreSQL at `url` until `stop`; up until the first probe
    /// says otherwise (the node has just connected).
    pub fn probe(url: &str, stop: watch::Receiver<bool>) -> anyhow::Result<Self> {
        use std::str::FromStr;
        let options = sqlx::postgres::PgConnectOptions::from_str(url)?;
        let (set, up) = watch::channel(true);
        tokio::spawn(run(options, set, stop));
        Ok(Self { up })
    }

    /// Whether the database answered the last probe.
    pub fn is_up(&self) -> bool {
        *self.up.borrow()
    }

    /// Resolves once the database does not answer (at once if it does not
    /// now); never for one that is always up.
    pub async fn down(&self) {
        let mut up = self.up.clone();
        if up.wait_for(|up| !*up).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

async fn run(
    options: sqlx::postgres::PgConnectOptions,
    up: watch::Sender<bool>,
    mut stop: watch::Receiver<bool>,
) {
    let mut connection: Option<sqlx::PgConnection> = None;
    loop {
        let answered = tokio::time::timeout(PROBE_WITHIN, async {
            if connection.is_none() {
                connection = Some(sqlx::PgConnection::connect_with(&options).await?);
            }
            match &mut connection {
                Some(c) => c.ping().await,
                None => Ok(()),
            }
        })
        .await;
        let ok = matches!(answered, Ok(Ok(())));
        if !ok {
            // Whatever state it is in, start over with a new one.
            connection = None;
        }
        up.send_if_modified(|was| {
            let changed = *was != ok;
            if changed {
                if ok {
                    tracing::info!("the database answers again");
                } else {
                    tracing::warn!("the database does not answer: requests are answered 503");
                }
            }
            *was = ok;
            changed
        });
        metrics::gauge!("meetings_database_up").set(if ok { 1.0 } else { 0.0 });
        tokio::select! {
            _ = tokio::time::sleep(PROBE_EVERY) => {}
            _ = stop.wait_for(|stop| *stop) => return,
        }
    }
}
