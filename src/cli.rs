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
