//! `meetings`: parses the command line and runs the chosen part.

use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser;
use projections::Projection;
use tokio::sync::watch;

use meetings::app::{self, App};
use meetings::cli::{Cli, Command, ReplayArgs, TokenArgs};
use meetings::config::Config;
use meetings::db;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();

    let cli = Cli::parse();
    match cli.command {
        Some(Command::Serve(config)) => serve(config).await,
        None => serve(cli.serve).await,
        Some(Command::Migrate(config)) => migrate(config).await,
        Some(Command::Relay(config)) => relay(config).await,
        Some(Command::Project(config)) => project(config).await,
        Some(Command::Replay(args)) => replay(args).await,
        Some(Command::Token(args)) => token(args),
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let app = App::start(config).await?;
    // The one line scripts and tests read to find the port.
    println!("meetings listening on http://{}", app.addr);
    tracing::info!(addr = %app.addr, public_url = %app.public_url, "serving");
    app::shutdown_signal().await;
    tracing::info!("shutting down: draining in-flight requests");
    app.stop().await
}

async fn migrate(config: Config) -> anyhow::Result<()> {
    let pool = db::connect(&config.database_url, 1)
        .await
        .context("connecting to PostgreSQL")?;
    db::migrate(&pool).await?;
    println!("migrations applied");
    Ok(())
}

async fn relay(config: Config) -> anyhow::Result<()> {
    let store = app::open_store(&config).await?;
    let client = app::open_nats(&config)
        .await?
        .context("the relay needs NATS_URL")?;
    let log = events::nats::JetStreamLog::new(client, &config.nats_prefix);
    let (stop, stopped) = watch::channel(false);
    let relay = tokio::spawn(meetings::relay::run(store, log, stopped));
    app::shutdown_signal().await;
    let _ = stop.send(true);
    relay.await?;
    Ok(())
}

async fn project(config: Config) -> anyhow::Result<()> {
    let store = app::open_store(&config).await?;
    let reads = app::open_reads(&config).await?;
    let (hub, hub_task) =
        meetings::workers::start_hub(app::open_nats(&config).await?, &config.nats_prefix);
    let feed = events::feed::Feed::new(Arc::new(store.clone()), hub);
    let leases = Arc::new(events::postgres::PgLeases(store.pool().clone()));
    let (stop, stopped) = watch::channel(false);
    let (_, runners) = meetings::workers::start_projections(reads, feed, leases, stopped);
    app::shutdown_signal().await;
    let _ = stop.send(true);
    for runner in runners {
        runner.await?;
    }
    if let Some(task) = hub_task {
        task.abort();
    }
    Ok(())
}

async fn replay(args: ReplayArgs) -> anyhow::Result<()> {
    let chosen: Vec<Projection> = match args.projection.as_str() {
        "all" => Projection::ALL.to_vec(),
        name => vec![Projection::from_name(name).with_context(|| {
            format!("unknown projection {name:?} (meetings, participants, all)")
        })?],
    };
    let store = app::open_store(&args.config).await?;
    let reads = app::open_reads(&args.config).await?;
    for projection in chosen {
        let position = projections::runner::replay(&reads, &store, projection).await?;
        println!("{} rebuilt to position {position}", projection.name());
    }
    Ok(())
}

fn token(args: TokenArgs) -> anyhow::Result<()> {
    let keys = app::jwt_keys(&args.jwt)?;
    let token = keys.issue(
        &args.sub,
        &args.name,
        args.email.as_deref(),
        &args.roles,
        chrono::Duration::hours(args.hours),
    )?;
    println!("{token}");
    Ok(())
}
