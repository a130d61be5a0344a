//! The command line: `meetings serve | migrate | relay | token`.

use clap::{Parser, Subcommand};

use crate::config::{Config, JwtConfig};

#[derive(Debug, Parser)]
#[command(
    name = "meetings",
    version,
    about = "Event-sourced meeting backend",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Settings for `serve`, the command that runs when none is given.
    #[command(flatten)]
    pub serve: Config,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply migrations, serve the API and run the relay (the default).
    Serve(Config),
    /// Apply pending migrations and exit.
    Migrate(Config),
    /// Run only the relay that publishes the log to NATS.
    Relay(Config),
    /// Run only the projection runners that keep the read models current.
    Project(Config),
    /// Rebuild read models from position 0.
    Replay(ReplayArgs),
    /// Print a bearer token for local use (signed with JWT_SECRET).
    Token(TokenArgs),
    /// Check the log's hash chain.
    Audit(AuditArgs),
    /// Write the log (or one meeting's events) as NDJSON to standard
    /// output, one event per line as stored.
    Export(ExportArgs),
}

#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: AuditCommand,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute every hash of the log (exit 0) or say where the chain
    /// breaks (exit 1); with `--file`, of an export, with no database.
    Verify(VerifyArgs),
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The first position (default 1).
    #[arg(long)]
    pub from: Option<i64>,
    /// The last position (default the head).
    #[arg(long)]
    pub to: Option<i64>,
    /// An export to check instead of the database (`-` for standard input).
    #[arg(long)]
    pub file: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub config: Config,
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Events after this position.
    #[arg(long, default_value_t = 0)]
    pub after: i64,
    /// Only this meeting's events (its id or room code).
    #[arg(long)]
    pub meeting: Option<String>,
    #[command(flatten)]
    pub config: Config,
}

#[derive(Debug, clap::Args)]
pub struct TokenArgs {
    /// The user id (`sub` claim).
    #[arg(long)]
    pub sub: String,
    /// Display name.
    #[arg(long)]
    pub name: String,
    #[arg(long)]
    pub email: Option<String>,
    /// Deployment roles, comma-separated (`admin`, `auditor`).
    #[arg(long, value_delimiter = ',')]
    pub roles: Vec<String>,
    /// Lifetime of the token in hours.
    #[arg(long, default_value_t = 24)]
    pub hours: i64,
    #[command(flatten)]
    pub jwt: JwtConfig,
}

#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// A projection name (`meetings`, `participants`) or `all`.
    #[arg(long)]
    pub projection: String,
    #[command(flatten)]
    pub config: Config,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
