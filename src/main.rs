//! `meetings`: parses the command line and runs the chosen part.

use anyhow::Context as _;
use clap::Parser;
use projections::Projection;
use tokio::sync::watch;

use meetings::app::{self, App};
use meetings::cli::{AuditCommand, Cli, Command, ExportArgs, ReplayArgs, TokenArgs, VerifyArgs};
use meetings::config::Config;

/// mimalloc instead of the system allocator: the profiles of `http` and
/// `rebuild` showed glibc's malloc/free (with its chunk consolidation) as
/// the largest single cost of the process (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Logs to standard error, filtered by `RUST_LOG` (default `info`), as
/// text or, with `LOG_FORMAT=json`, one JSON object per line (a request's
/// lines carry its `request_id` in their span).
fn logging() -> anyhow::Result<()> {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match std::env::var("LOG_FORMAT").as_deref() {
        Ok("json") => logs.json().init(),
        Ok("text") | Err(std::env::VarError::NotPresent) => logs.init(),
        Ok(other) => anyhow::bail!("LOG_FORMAT is `json` or `text`, not `{other}`"),
        Err(e) => anyhow::bail!("LOG_FORMAT: {e}"),
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    logging()?;

    let cli = Cli::parse();
    match cli.command {
        Some(Command::Serve(config)) => serve(config).await,
        None => serve(cli.serve).await,
        Some(Command::Migrate(config)) => migrate(config).await,
        Some(Command::Relay(config)) => relay(config).await,
        Some(Command::Project(config)) => project(config).await,
        Some(Command::Replay(args)) => replay(args).await,
        Some(Command::Audit(args)) => match args.command {
            AuditCommand::Verify(args) => verify(args).await,
        },
        Some(Command::Export(args)) => export(args).await,
        Some(Command::Token(args)) => token(args),
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let created_secret = app::ensure_secret(&config)?;
    let key_from_file = config.jwt.secret.is_none();
    let config_dev_login = config.dev_login;
    let app = App::start(config).await?;
    // The first line is the one scripts and tests read to find the port.
    // Written at once, ignoring a closed stdout: a reader that stopped
    // listening must not stop the server.
    let mut banner = format!("meetings listening on http://{}\n", app.addr);
    banner += &format!(
        "console: {0}/console (sign in with a token{1}); meetings' links open {0}/meeting/<room code>\n",
        app.public_url,
        if config_dev_login {
            ", or by name: MEETINGS_DEV_LOGIN is on"
        } else {
            ""
        },
    );
    if created_secret {
        banner += &format!("created a token key in {}\n", app::SECRET_FILE);
    }
    if key_from_file {
        // As this process was started: `cargo run` runs the built binary.
        let program = std::env::args()
            .next()
            .unwrap_or_else(|| "meetings".to_owned());
        banner += &format!(
            "get a token: {program} token --sub alice --name Alice \
             (signed with the key in {})\n",
            app::SECRET_FILE
        );
    }
    {
        use std::io::Write;
        let mut stdout = std::io::stdout().lock();
        let _ = stdout
            .write_all(banner.as_bytes())
            .and_then(|()| stdout.flush());
    }
    tracing::info!(addr = %app.addr, public_url = %app.public_url, "serving");
    app::shutdown_signal().await;
    tracing::info!("shutting down: draining in-flight requests");
    app.stop().await
}

async fn migrate(config: Config) -> anyhow::Result<()> {
    app::open_database(&config).await?;
    println!("migrations applied");
    Ok(())
}

async fn relay(config: Config) -> anyhow::Result<()> {
    anyhow::ensure!(
        config.nats_url.is_some(),
        "the relay needs NATS_URL (the in-process bus runs inside `serve`)"
    );
    let log = app::open_store(&config).await?;
    let bus = app::open_bus(&config, &live::feed::Hub::new()).await?;
    let (stop, stopped) = watch::channel(false);
    let relay = tokio::spawn(live::relay::run(log.store, bus, log.leases, stopped));
    app::shutdown_signal().await;
    let _ = stop.send(true);
    relay.await?;
    Ok(())
}

async fn project(config: Config) -> anyhow::Result<()> {
    let log = app::open_store(&config).await?;
    let reads = app::open_reads(&config).await?;
    let hub = live::feed::Hub::new();
    let bus = app::open_bus(&config, &hub).await?;
    let hub_task = bus.feed_hub(hub.clone());
    let feed = live::feed::Feed::new(log.store, hub);
    let (stop, stopped) = watch::channel(false);
    let (_, runners) = meetings::workers::start_projections(reads, feed, log.leases, stopped);
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
    let log = app::open_store(&args.config).await?;
    let reads = app::open_reads(&args.config).await?;
    let position = projections::runner::replay(&reads, log.store.clone(), &chosen).await?;
    for projection in chosen {
        println!("{} rebuilt to position {position}", projection.name());
    }
    Ok(())
}

/// `meetings audit verify`: prints the verification as JSON; exits 1 when
/// the chain breaks.
async fn verify(args: VerifyArgs) -> anyhow::Result<()> {
    let verification = match &args.file {
        Some(path) if path.as_os_str() == "-" => {
            meetings::audit::verify_lines(std::io::stdin().lock())?
        }
        Some(path) => {
            let file =
                std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
            meetings::audit::verify_lines(std::io::BufReader::new(file))?
        }
        None => {
            let log = app::open_store(&args.config).await?;
            meetings::audit::verify_log(&log.store, args.from, args.to).await?
        }
    };
    println!("{}", serde_json::to_string(&verification)?);
    if !verification.verified {
        std::process::exit(1);
    }
    Ok(())
}

/// `meetings export`: NDJSON on standard output.
async fn export(args: ExportArgs) -> anyhow::Result<()> {
    let log = app::open_store(&args.config).await?;
    let stream = match &args.meeting {
        Some(reference) => {
            let commands = command::CommandHandler::new(log.store.clone());
            Some(commands.resolve(reference).await?.stream_id())
        }
        None => None,
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let written =
        meetings::audit::export(log.store.as_ref(), args.after, stream.as_ref(), &mut out).await?;
    eprintln!("{written} events written");
    Ok(())
}

fn token(args: TokenArgs) -> anyhow::Result<()> {
    let keys = app::jwt_keys(&args.jwt)?;
    anyhow::ensure!(
        args.hours > 0 && args.hours as u64 * 3600 <= args.jwt.max_ttl.as_secs(),
        "--hours must be between 1 and JWT_MAX_TTL ({} h): a longer token would be refused",
        args.jwt.max_ttl.as_secs() / 3600
    );
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
