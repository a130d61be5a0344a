//! Wiring: one running Meetings node (API + relay) from a [`Config`].
//!
//! `meetings serve` and the end-to-end tests start the same [`App`].

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use command::CommandHandler;
use events::nats::JetStreamLog;
use events::postgres::PgStore;

use crate::auth::JwtKeys;
use crate::config::{Config, JwtConfig};
use crate::{db, http, relay};

/// A running node.
pub struct App {
    /// The address the API listens on (the real port when 0 was asked).
    pub addr: SocketAddr,
    pub public_url: String,
    pub store: PgStore,
    pub commands: Arc<CommandHandler>,
    stop: watch::Sender<bool>,
    server: JoinHandle<std::io::Result<()>>,
    relay: Option<JoinHandle<()>>,
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

/// Connects to NATS (retrying in the background if it is down) and returns
/// the deployment's events stream.
pub async fn open_bus(config: &Config) -> anyhow::Result<Option<JetStreamLog>> {
    let Some(url) = &config.nats_url else {
        return Ok(None);
    };
    let client = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .connect(url.as_str())
        .await
        .with_context(|| format!("connecting to NATS at {url}"))?;
    Ok(Some(JetStreamLog::new(client, &config.nats_prefix)))
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

        let (stop, stopped) = watch::channel(false);
        let relay = match open_bus(&config).await? {
            Some(log) => Some(tokio::spawn(relay::run(
                store.clone(),
                log,
                stopped.clone(),
            ))),
            None => {
                tracing::warn!("NATS_URL is not set: committed events are not published");
                None
            }
        };
        let router = http::router(http::AppState {
            commands: commands.clone(),
            keys: Arc::new(keys),
            public_url: public_url.clone().into(),
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
            stop,
            server,
            relay,
        })
    }

    /// Stops accepting connections, lets in-flight requests finish, and
    /// stops the relay.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        self.server.await??;
        if let Some(relay) = self.relay {
            relay.await?;
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
