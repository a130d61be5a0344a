//! Wiring: one running Meetings node (API, relay, stream channels,
//! projection runners, timer) from a [`Config`].
//!
//! `meetings serve` and the end-to-end tests start the same [`App`].

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use command::CommandHandler;
use eventlog::postgres::{PgLeases, PgStore};
use eventlog::sqlite::SqliteStore;
use events::EventStore;
use events::lease::{Leases, LocalLeases};
use live::bus::{Bus, InProcessBus};
use live::channels::StreamChannels;
use live::feed::{Feed, Hub};
use live::nats::JetStreamLog;
use sqlx::AnyPool;
use std::time::Duration;

use crate::auth::JwtKeys;
use crate::config::{Config, JwtConfig};
use crate::forward::NatsRouter;
use crate::workers::{self, Progress};
use crate::{db, http};

/// A running node.
pub struct App {
    /// The address the API listens on (the real port when 0 was asked).
    pub addr: SocketAddr,
    pub public_url: String,
    pub store: Arc<dyn EventStore>,
    pub commands: Arc<CommandHandler>,
    pub reads: AnyPool,
    pub feed: Feed,
    pub progress: Progress,
    /// This node's id among those routing hot meetings (none: it routes
    /// nothing, see [`crate::forward`]).
    pub node: Option<String>,
    stop: watch::Sender<bool>,
    server: JoinHandle<std::io::Result<()>>,
    /// Relay and projection runners: they end when `stop` turns true.
    workers: Vec<JoinHandle<()>>,
    /// The hub's bus subscription: aborted at stop.
    hub: Option<JoinHandle<()>>,
}

pub use crate::auth::MIN_SECRET_BYTES;

/// A setting a node refuses to start with (said to the operator as is).
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error(
        "MEETINGS_DEV_LOGIN mints tokens for any name: it is for the embedded default \
         (SQLite) only, and refused with DATABASE_URL on PostgreSQL"
    )]
    DevLoginOnPostgres,
    #[error("JWT_SECRET is empty; Meetings never runs with an empty key")]
    EmptySecret,
    #[error("the token key must be at least {MIN_SECRET_BYTES} bytes (JWT_SECRET has {0})")]
    ShortSecret(usize),
}

/// Where the embedded default keeps the token key it creates.
pub const SECRET_FILE: &str = "data/jwt_secret";

/// The token key, never a built-in or empty one: `JWT_SECRET`, or the key
/// in [`SECRET_FILE`], of at least [`MIN_SECRET_BYTES`].
pub fn jwt_secret(config: &JwtConfig) -> anyhow::Result<String> {
    let secret = match config.secret.as_deref() {
        Some(secret) if !secret.is_empty() => secret.to_owned(),
        Some(_) => return Err(Refused::EmptySecret.into()),
        None => std::fs::read_to_string(SECRET_FILE)
            .ok()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .with_context(|| {
                format!("JWT_SECRET is not set and there is no key in {SECRET_FILE}")
            })?,
    };
    if secret.len() < MIN_SECRET_BYTES {
        return Err(Refused::ShortSecret(secret.len()).into());
    }
    Ok(secret)
}

/// The token keys: [`jwt_secret`], and the identity provider's public
/// keys when set.
pub fn jwt_keys(config: &JwtConfig) -> anyhow::Result<JwtKeys> {
    let secret = jwt_secret(config)?;
    let max_ttl = chrono::Duration::from_std(config.max_ttl).context("JWT_MAX_TTL is too long")?;
    let keys = JwtKeys::new(
        secret.as_bytes(),
        config.issuer.clone(),
        config.audience.clone(),
    )
    .with_max_ttl(max_ttl)
    .with_claim_names(crate::auth::ClaimNames {
        name: config.name_claim.clone(),
        roles: config.roles_claim.clone(),
    });
    if config.jwks_url.is_none() && config.public_key_file.is_none() {
        return Ok(keys);
    }
    let public = crate::auth::PublicKeys::new(
        &keys,
        config.jwks_url.clone(),
        config.public_key_file.as_deref(),
        config.jwks_min_refresh,
    )?;
    Ok(keys.with_public_keys(public))
}

/// On the embedded default without `JWT_SECRET`: creates a random key in
/// [`SECRET_FILE`] (once; readable by the owner only). Returns whether it
/// did. A PostgreSQL deployment must set `JWT_SECRET` (every node needs
/// the same key).
pub fn ensure_secret(config: &Config) -> anyhow::Result<bool> {
    if config.jwt.secret.is_some()
        || db::Backend::of(&config.database_url)? != db::Backend::Sqlite
        || std::path::Path::new(SECRET_FILE).exists()
    {
        return Ok(false);
    }
    use rand::RngCore;
    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    if let Some(folder) = std::path::Path::new(SECRET_FILE).parent() {
        std::fs::create_dir_all(folder)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(SECRET_FILE)
        .with_context(|| format!("creating {SECRET_FILE}"))?;
    std::io::Write::write_all(&mut file, hex::encode(key).as_bytes())?;
    Ok(true)
}

/// The event log and its leases on the configured database, migrated.
pub struct Log {
    pub store: Arc<dyn EventStore>,
    pub leases: Arc<dyn Leases>,
}

/// The configured database, connected and migrated.
pub enum Database {
    Postgres(sqlx::PgPool),
    Sqlite(sqlx::SqlitePool),
}

/// Connects to the configured database and applies pending migrations.
pub async fn open_database(config: &Config) -> anyhow::Result<Database> {
    let url = &config.database_url;
    Ok(match db::Backend::of(url)? {
        db::Backend::Postgres => {
            // Migrations may take longer than a statement may at run time.
            let migrating = db::connect(url, 1)
                .await
                .context("connecting to PostgreSQL")?;
            db::migrate(&migrating)
                .await
                .context("applying migrations")?;
            migrating.close().await;
            let pool = db::connect_with(url, config.database_max_connections, config.waits())
                .await
                .context("connecting to PostgreSQL")?;
            Database::Postgres(pool)
        }
        db::Backend::Sqlite => {
            let pool = eventlog::sqlite::connect(url, config.database_max_connections)
                .await
                .with_context(|| format!("opening the SQLite database {url}"))?;
            db::migrate_sqlite(&pool)
                .await
                .context("applying migrations")?;
            Database::Sqlite(pool)
        }
    })
}

/// Opens the event log: connects, applies migrations, starts the committer.
pub async fn open_store(config: &Config) -> anyhow::Result<Log> {
    Ok(match open_database(config).await? {
        Database::Postgres(pool) => Log {
            store: Arc::new(PgStore::start(pool.clone()).await?),
            leases: Arc::new(PgLeases(pool)),
        },
        Database::Sqlite(pool) => Log {
            store: Arc::new(SqliteStore::start(pool).await?),
            leases: Arc::new(LocalLeases::default()),
        },
    })
}

/// The bus: NATS JetStream when `NATS_URL` is set (connecting in the
/// background while it is down), else the in-process bus on `hub`.
pub async fn open_bus(config: &Config, hub: &Hub) -> anyhow::Result<Arc<dyn Bus>> {
    let Some(url) = &config.nats_url else {
        return Ok(Arc::new(InProcessBus::new(hub.clone())));
    };
    let seal = crate::nats::seal(&config.nats, || jwt_secret(&config.jwt))?;
    let client = crate::nats::connect(url, &config.nats).await?;
    Ok(Arc::new(JetStreamLog::new(
        client,
        &config.nats_prefix,
        seal,
    )))
}

/// The router of hot meetings when several nodes may share the log
/// (PostgreSQL with NATS); none otherwise (see [`crate::forward`]).
pub async fn open_router(config: &Config) -> anyhow::Result<Option<Arc<NatsRouter>>> {
    match &config.nats_url {
        Some(url) if db::Backend::of(&config.database_url)? == db::Backend::Postgres => {
            let seal = crate::nats::seal(&config.nats, || jwt_secret(&config.jwt))?;
            let client = crate::nats::connect(url, &config.nats).await?;
            Ok(Some(NatsRouter::new(client, &config.nats_prefix, seal)))
        }
        _ => Ok(None),
    }
}

/// The read-model pool on the configured database.
pub async fn open_reads(config: &Config) -> anyhow::Result<AnyPool> {
    db::connect_reads_with(
        &config.database_url,
        config.database_max_connections,
        config.waits(),
    )
    .await
    .context("connecting the read-model pool")
}

impl App {
    /// Applies migrations, binds the listener, and starts the API and the
    /// relay.
    pub async fn start(config: Config) -> anyhow::Result<Self> {
        if config.dev_login && db::Backend::of(&config.database_url)? != db::Backend::Sqlite {
            return Err(Refused::DevLoginOnPostgres.into());
        }
        let keys = jwt_keys(&config.jwt)?;
        if let Some(public) = keys.public_keys() {
            // Tokens of keys not fetched now fetch them when they come.
            public.refresh(&keys).await;
        }
        let origins = http::Origins::parse(config.edge.cors_allowed_origins.as_deref())
            .map_err(anyhow::Error::msg)?;
        let media = crate::media::Media::from_config(&config)?;
        let Log { store, leases } = open_store(&config).await?;
        let router = open_router(&config).await?;
        let commands = Arc::new(match &router {
            Some(router) => CommandHandler::new(store.clone()).with_router(router.clone()),
            None => CommandHandler::new(store.clone()),
        });
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
        let hub = Hub::new();
        let bus = open_bus(&config, &hub).await?;
        let (stop, stopped) = watch::channel(false);
        let mut workers = vec![tokio::spawn(live::relay::run(
            store.clone(),
            bus.clone(),
            leases.clone(),
            stopped.clone(),
        ))];
        let node = router.as_ref().map(|r| r.node().to_owned());
        if let Some(router) = router {
            workers.push(tokio::spawn(
                router.serve(commands.clone(), stopped.clone()),
            ));
        }
        let hub_task = bus.feed_hub(hub.clone());
        let feed = Feed::new(store.clone(), hub);
        let (channels, router) =
            StreamChannels::start(&feed, store.head_position().await?, stopped.clone());
        workers.push(router);
        let progress = if config.projections {
            let (progress, runners) = workers::start_projections(
                reads.clone(),
                feed.clone(),
                leases.clone(),
                stopped.clone(),
            );
            workers.extend(runners);
            progress
        } else {
            workers::Progress::elsewhere(reads.clone())
        };
        workers.push(tokio::spawn(crate::timer::run(
            commands.clone(),
            reads.clone(),
            stopped.clone(),
        )));

        let frontend_url = config
            .frontend_url
            .as_deref()
            .filter(|url| !url.trim().is_empty())
            .unwrap_or(&public_url)
            .trim_end_matches('/')
            .to_owned();
        let webhooks = Arc::new(crate::webhooks::Webhooks::new(
            reads.clone(),
            config.webhooks.clone(),
            feed.clone(),
        )?);
        let state = http::AppState::new(http::Shared {
            commands: commands.clone(),
            keys: Arc::new(keys),
            frontend_url: frontend_url.into(),
            media: Arc::new(media),
            reads: reads.clone(),
            progress: progress.clone(),
            min_position_wait: Duration::from_millis(config.min_position_wait_ms),
            channels,
            websocket: config.websocket.clone(),
            sockets: Default::default(),
            request_timeout: Duration::from_secs(config.http.request_timeout_seconds),
            limits: Arc::new(http::RateLimits::new(|c| c.budget(&config.edge))),
            metrics: config
                .edge
                .metrics_enabled
                .then(crate::metrics::recorder)
                .flatten(),
            origins: Arc::new(origins),
            webhooks: webhooks.clone(),
            hashing: crate::secrets::Hashing::new(config.edge.password_hash_queue),
            health: match db::Backend::of(&config.database_url)? {
                db::Backend::Postgres => {
                    crate::health::Health::probe(&config.database_url, stopped.clone())?
                }
                db::Backend::Sqlite => crate::health::Health::always(),
            },
            dev_login: config.dev_login,
        });
        workers.push(tokio::spawn(crate::webhooks::run(
            commands.clone(),
            webhooks,
            leases,
            stopped.clone(),
        )));
        let router = http::router(state);
        let server = tokio::spawn(crate::server::serve(
            listener,
            router,
            (&config.http).into(),
            stopped,
        ));
        Ok(Self {
            addr,
            public_url,
            store,
            commands,
            reads,
            feed,
            progress,
            node,
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
