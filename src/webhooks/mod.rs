//! Webhooks out, as the Standard Webhooks specification defines them:
//! subscriptions (`store`), signing (`sign`), where a request may go
//! (`target`), whom a subscription's events are for (`owner`),
//! delivering one subscription in log order (`deliver`), and
//! the dispatcher here, which runs one delivery task per enabled
//! subscription on the node that holds the `webhooks` lease (on
//! PostgreSQL an advisory lock: one node of a deployment delivers at a
//! time, and another takes over the moment it dies).

pub mod deliver;
pub mod owner;
pub mod sign;
pub mod store;
pub mod target;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use command::CommandHandler;
use events::lease::Leases;
use live::feed::Feed;
use sqlx::AnyPool;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::WebhookConfig;

/// The lease of the node that delivers.
const LEASE: &str = "webhooks";
/// How often the dispatcher looks for subscriptions made or turned on
/// elsewhere, and confirms its lease.
const LOOK_EVERY: Duration = Duration::from_secs(1);
/// How often the delivering node removes attempts older than the delivery
/// log keeps (`WEBHOOK_DELIVERY_LOG_DAYS`); also when it takes the lease.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// What delivering needs: the subscriptions' database, the settings, the
/// HTTP client, the log's feed, and a wake-up for the dispatcher.
pub struct Webhooks {
    pub pool: AnyPool,
    pub config: WebhookConfig,
    client: reqwest::Client,
    feed: Feed,
    /// Moves when a subscription is made, changed, rotated or replayed on
    /// this node: the dispatcher and the workers look again at once (at
    /// changes made on other nodes, within a second).
    changes: watch::Sender<u64>,
}

impl Webhooks {
    pub fn new(pool: AnyPool, config: WebhookConfig, feed: Feed) -> anyhow::Result<Self> {
        let timeout = Duration::from_secs(config.timeout_seconds.max(1));
        let mut client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("meetings-webhooks/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(timeout)
            .timeout(timeout);
        if !config.allow_private_networks {
            client = client.dns_resolver(Arc::new(target::PublicOnly));
        }
        Ok(Self {
            pool,
            config,
            client: client.build()?,
            feed,
            changes: watch::channel(0).0,
        })
    }

    /// Removes the attempts older than the delivery log keeps.
    async fn prune(&self) {
        let days = self.config.delivery_log_days;
        if days == 0 {
            return;
        }
        let before = chrono::Utc::now() - chrono::Duration::days(i64::from(days));
        match store::prune(&self.pool, before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, days, "webhook delivery log pruned"),
            Err(e) => tracing::warn!(error = %e, "cannot prune the webhook delivery log"),
        }
    }

    /// Tells the dispatcher to look at the subscriptions now.
    pub fn changed(&self) {
        self.changes.send_modify(|n| *n += 1);
    }
}

/// Delivers every enabled subscription while this node holds the lease,
/// until `stop`.
pub async fn run(
    commands: Arc<CommandHandler>,
    hooks: Arc<Webhooks>,
    leases: Arc<dyn Leases>,
    mut stop: watch::Receiver<bool>,
) {
    while !*stop.borrow() {
        let mut lease = match leases.try_acquire(LEASE).await {
            Ok(Some(lease)) => lease,
            Ok(None) => {
                let _ = tokio::time::timeout(LOOK_EVERY, stop.changed()).await;
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot ask for the webhooks lease");
                let _ = tokio::time::timeout(LOOK_EVERY, stop.changed()).await;
                continue;
            }
        };
        let mut running: HashMap<String, JoinHandle<()>> = HashMap::new();
        let mut changes = hooks.changes.subscribe();
        let mut pruned: Option<std::time::Instant> = None;
        loop {
            if let Err(e) = lease.confirm().await {
                tracing::warn!(error = %e, "the webhooks lease is lost");
                break;
            }
            if pruned.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
                pruned = Some(std::time::Instant::now());
                hooks.prune().await;
            }
            running.retain(|_, task| !task.is_finished());
            match store::enabled(&hooks.pool).await {
                Ok(ids) => {
                    for id in ids {
                        running.entry(id.clone()).or_insert_with(|| {
                            tokio::spawn(deliver::subscription(
                                commands.clone(),
                                hooks.clone(),
                                id,
                                stop.clone(),
                            ))
                        });
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot list webhook subscriptions"),
            }
            tokio::select! {
                _ = changes.changed() => {}
                _ = tokio::time::sleep(LOOK_EVERY) => {}
                _ = stop.changed() => break,
            }
        }
        // Lease lost or stopping: the tasks stop (they see `stop` too).
        for (_, task) in running {
            if *stop.borrow() {
                let _ = task.await;
            } else {
                task.abort();
            }
        }
    }
}
