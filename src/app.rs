//! Wiring: one running Meetings node (API + relay) from a [`Config`].
//!
//! `meetings serve` and the end-to-end tests start the same [`App`].

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use command::CommandHandler;
use events::feed::Feed;
use events::nats::JetStreamLog;
use events::postgres::{PgLeases, PgStore};
use sqlx::AnyPool;
use std::time::Duration;

use crate::auth::JwtKeys;
use crate::config::{Config, JwtConfig};
use crate::workers::{self, Progress};
use crate::{db, http, relay};

/// A running node.
pub struct App {
    /// The address the API listens on (the real port when 0 was asked).
    pub addr: SocketAddr,
    pub public_url: String,
    pub store: PgStore,
    pub commands: Arc<CommandHandler>,
    pub reads: AnyPool,
    pub feed: Feed,
    pub progress: Progress,
    stop: watch::Sender<bool>,
    server: JoinHandle<std::io::Result<()>>,
    /// Relay and projection runners: they end when `stop` turns true.
    workers: Vec<JoinHandle<()>>,
    /// The hub's bus subscription: aborted at stop.
    hub: Option<JoinHandle<()>>,
}

/// The token keys, refusing to run without a secret.
pub fn jwt_keys(config: &JwtConfig) -> anyhow::Result<JwtKeys> {
    match config.secret.as_deref() {
        Some(secret) if !secret.is_empty() => Ok(JwtKeys::new(
            secret.as_bytes(),
            config.issuer.clone(),
            config.audience.clone(),
        )),
        _ => bail!("JWT_SECRET is required (an HS256 key); Meetings never runs without one"),
    }
}

/// Opens the event log: connects, applies migrations, starts the committer.
pub async fn open_store(config: &Config) -> anyhow::Result<PgStore> {
    if !config.database_url.starts_with("postgres://")
        && !config.database_url.starts_with("postgresql://")
    {
        bail!(
            "DATABASE_URL must be a postgres:// URL (got {:?}); the embedded SQLite default is not built yet",
            config.database_url
        );
    }
    let pool = db::connect(&config.database_url, config.database_max_connections)
        .await
        .context("connecting to PostgreSQL")?;
    db::migrate(&pool).await.context("applying migrations")?;
    Ok(PgStore::start(pool).await?)
}

/// Connects to NATS when configured (retrying in the background while it is
/// down).
pub async fn open_nats(config: &Config) -> anyhow::Result<Option<async_nats::Client>> {
    let Some(url) = &config.nats_url else {
        return Ok(None);
    };
    let client = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .connect(url.as_str())
        .await
        .with_context(|| format!("connecting to NATS at {url}"))?;
    Ok(Some(client))
}

/// The read-model pool on the configured database.
pub async fn open_reads(config: &Config) -> anyhow::Result<AnyPool> {
    db::connect_reads(&config.database_url, config.database_max_connections)
        .await
        .context("connecting the read-model pool")
}

impl App {
    /// Applies migrations, binds the listener, and starts the API and the
    /// relay.
    pub async fn start(config: Config) -> anyhow::Result<Self> {
        let keys = jwt_keys(&config.jwt)?;
        let store = open_store(&config).await?;
        let commands = Arc::new(CommandHandler::new(Arc::new(store.clone())));
        let listener = tokio::net::TcpListener::bind(config.addr)
            .await
            .with_context(|| format!("binding {}", config.addr))?;
        let addr = listener.local_addr()?;
        let public_url = config
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}"))
            .trim_end_matches('/')
            .to_owned();

        let reads = open_reads(&config).await?;
        let nats = open_nats(&config).await?;
        let (stop, stopped) = watch::channel(false);
        let mut workers = Vec::new();
        match &nats {
            Some(client) => {
                let log = JetStreamLog::new(client.clone(), &config.nats_prefix);
                workers.push(tokio::spawn(relay::run(
                    store.clone(),
                    log,
                    stopped.clone(),
                )));
            }
            None => tracing::warn!("NATS_URL is not set: committed events are not published"),
        }
        let (hub, hub_task) = workers::start_hub(nats, &config.nats_prefix);
        let feed = Feed::new(Arc::new(store.clone()), hub);
        let leases = Arc::new(PgLeases(store.pool().clone()));
        let (progress, runners) =
            workers::start_projections(reads.clone(), feed.clone(), leases, stopped.clone());
        workers.extend(runners);

        let router = http::router(http::AppState {
            commands: commands.clone(),
            keys: Arc::new(keys),
            public_url: public_url.clone().into(),
            reads: reads.clone(),
            progress: progress.clone(),
            min_position_wait: Duration::from_millis(config.min_position_wait_ms),
            feed: feed.clone(),
        });
        let mut shutdown = stopped;
        let server = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = shutdown.wait_for(|stop| *stop).await;
                })
                .await
        });
        Ok(Self {
            addr,
            public_url,
            store,
            commands,
            reads,
            feed,
            progress,
            stop,
            server,
            workers,
            hub: hub_task,
        })
    }

    /// Stops accepting connections, lets in-flight requests finish, and
    /// stops the relay and the projection runners.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        self.server.await??;
        for worker in self.workers {
            worker.await?;
        }
        if let Some(hub) = self.hub {
            hub.abort();
        }
        Ok(())
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
