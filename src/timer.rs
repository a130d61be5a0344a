//! Scheduled commands: breakout rooms whose time limit has passed are
//! closed. The deadlines live in the read model (rebuilt from the log), so
//! a restart or another node picks them up; closing is a command that does
//! nothing unless the session is still open and due, so every node may run
//! the timer and ask as often as it likes.

use std::sync::Arc;
use std::time::Duration;

use command::CommandHandler;
use command::meeting::{Caller, Command, Context};
use events::{BreakoutSessionId, MeetingId};
use sqlx::AnyPool;
use tokio::sync::watch;

/// How often the timer looks for due deadlines.
pub const TICK: Duration = Duration::from_millis(500);

/// The actor of scheduled commands.
pub fn system() -> Caller {
    Caller::system("system", "Meetings")
}

/// Runs until `stop` turns true.
pub async fn run(commands: Arc<CommandHandler>, reads: AnyPool, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            return;
        }
        if let Err(e) = close_due(&commands, &reads).await {
            tracing::warn!(error = %e, "breakout timer");
        }
    }
}

/// Closes every open breakout session whose time limit has passed.
pub async fn close_due(commands: &CommandHandler, reads: &AnyPool) -> anyhow::Result<()> {
    let now = events::time::now();
    for (meeting, session) in
        query::activity::due_breakouts(reads, &events::time::text(now)).await?
    {
        let (Ok(meeting), Ok(session)) = (
            meeting.parse::<MeetingId>(),
            session.parse::<BreakoutSessionId>(),
        ) else {
            continue;
        };
        let ctx = Context {
            caller: system(),
            at: events::time::now(),
            request_id: None,
        };
        commands
            .execute(meeting, &ctx, Command::ExpireBreakout(session), None)
            .await?;
    }
    Ok(())
}
