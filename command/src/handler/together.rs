//! A hot meeting's holder writes what queued for the meeting while its
//! last append was being written as one append: decided one after another
//! on one state, one commit for all.

use std::sync::atomic::Ordering;

use events::{Append, AppendError, Appended, MeetingId, StoreError};

use super::CommandHandler;
use crate::error::AppError;
use crate::meeting::{Command, Reply, decide, evolve};
use crate::outcome::Executed;
use crate::route::Forwarded;

impl CommandHandler {
    /// Runs commands on one meeting as one append when they can be (the
    /// holder's way with the commands forwarded to it: one commit for all
    /// that queued while the last one was written). Each answer is `None`
    /// for a command that must run on its own ([`Self::execute_here`]): one
    /// with an idempotency key, a schedule, one refused or changing nothing
    /// on the cached state (only the log can confirm those), and every one
    /// when another node wrote the meeting between the read and the append,
    /// or the log refused the whole. Those run after the others, as if
    /// they had come later.
    pub async fn execute_together(
        &self,
        meeting_id: MeetingId,
        commands: &[Forwarded],
    ) -> Vec<Option<Result<Executed, AppError>>> {
        let mut answers: Vec<Option<Result<Executed, AppError>>> =
            commands.iter().map(|_| None).collect();
        let started = std::time::Instant::now();
        let slot = self.slots.of(meeting_id);
        let mut slot = slot.lock().await;
        let stream_id = meeting_id.stream_id();
        // Another node wrote the meeting lately: decide on the log's tail
        // (the append still checks the version it read).
        if (slot.contended() || !slot.loaded())
            && slot.refresh(&self.store, &stream_id).await.is_err()
        {
            return answers;
        }
        // (index, reply, events after it in the append)
        let mut taken: Vec<(usize, Reply, usize)> = Vec::new();
        let mut events = Vec::new();
        let mut state = slot.state.clone();
        for (i, queued) in commands.iter().enumerate() {
            // A schedule claims its room code in the same append: alone.
            if queued.idempotency.is_some() || matches!(queued.command, Command::Schedule(_)) {
                continue;
            }
            let Ok(decision) = decide(state.as_ref(), &queued.ctx, &queued.command) else {
                continue;
            };
            if decision.events.is_empty() {
                continue;
            }
            let metadata = queued.ctx.metadata(queued.command_id);
            for event in &decision.events {
                state = evolve(state, event);
            }
            events.extend(super::named(queued.command_id, &decision.events, &metadata));
            taken.push((i, decision.reply, events.len()));
        }
        if taken.is_empty() {
            return answers;
        }
        let total = events.len();
        let append = Append::new(stream_id.clone(), slot.version, events);
        match self.store.append(append).await {
            Ok(Appended::Committed {
                last_position,
                stream_version,
                ..
            }) => {
                slot.committed(
                    state,
                    stream_version,
                    last_position,
                    &self.store,
                    &stream_id,
                );
                for (i, reply, through) in taken {
                    let position = last_position - (total - through) as i64;
                    let result = Ok(Executed::at(reply, position));
                    super::observe(commands[i].command.name(), started, &result);
                    answers[i] = Some(result);
                }
            }
            Err(AppendError::Conflict { .. }) => {
                self.conflicts.fetch_add(1, Ordering::Relaxed);
                self.contended(meeting_id, &mut slot);
                slot.refresh(&self.store, &stream_id).await.ok();
            }
            Err(AppendError::Store(e)) => {
                // The outcome is unknown: forget the cached state, and
                // tell each caller so (running them again could run them
                // twice).
                slot.forget();
                let message = e.to_string();
                let unavailable = matches!(e, StoreError::Unavailable(_));
                for (i, ..) in taken {
                    let error = if unavailable {
                        StoreError::Unavailable(message.clone().into())
                    } else {
                        StoreError::Backend(message.clone().into())
                    };
                    let result = Err(AppError::Infra(error));
                    super::observe(commands[i].command.name(), started, &result);
                    answers[i] = Some(result);
                }
            }
            // Refused as a whole (a payload the log does not take) or any
            // answer a plain append does not give: each runs on its own.
            Ok(_) | Err(_) => slot.forget(),
        }
        answers
    }
}
