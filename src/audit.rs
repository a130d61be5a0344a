//! Checking the log's hash chain and exporting it, the same for the API
//! (`GET /api/v1/audit/verify`, `GET /api/v1/events`) and the command
//! line (`meetings audit verify`, `meetings export`). An export is the
//! NDJSON of [`RecordedEvent`]s, one per line, and `meetings audit verify
//! --file` checks one with no database: every hash is recomputed from the
//! line alone (`events::hash` documents the encoding).

use std::io::BufRead;

use serde::Serialize;

use events::hash::{ChainError, Verifier};
use events::{EventStore, RecordedEvent, StoreError};

/// Events read from the log at a time.
pub const PAGE: usize = 1000;

/// What a check of the chain found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Verification {
    pub verified: bool,
    /// The first position checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<i64>,
    /// The last position checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events_checked: Option<i64>,
    /// The log's head (the export's last event, for a file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head_position: Option<i64>,
    /// Its hash, hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head_hash: Option<String>,
    /// Where the chain breaks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_bad_position: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Verification {
    fn broken(position: i64, reason: impl Into<String>) -> Self {
        Self {
            verified: false,
            from: None,
            to: None,
            events_checked: None,
            head_position: None,
            head_hash: None,
            first_bad_position: Some(position),
            reason: Some(reason.into()),
        }
    }

    fn failed(error: &ChainError) -> Self {
        Self::broken(error.position(), error.to_string())
    }

    fn verified(from: i64, to: i64, checked: i64, head: i64, hash: &[u8]) -> Self {
        Self {
            verified: true,
            from: Some(from),
            to: Some(to),
            events_checked: Some(checked),
            head_position: Some(head),
            head_hash: Some(hex::encode(hash)),
            first_bad_position: None,
            reason: None,
        }
    }
}

/// A range the chain cannot be checked over (which bound, and why).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("{field}: {reason}")]
    Range { field: &'static str, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks the chain from `from` (default 1) to `to` (default the head;
/// one past the head is the head): each event's hash recomputed from its
/// columns and linked to the one before (the event at `from - 1` is taken
/// as given). `from` may be one past the head (nothing new to check,
/// which verifies); beyond that, or after `to`, the range is refused:
/// a check of nothing is neither a tamper alarm nor a clean bill.
pub async fn verify_log(
    store: &std::sync::Arc<dyn EventStore>,
    from: Option<i64>,
    to: Option<i64>,
) -> Result<Verification, VerifyError> {
    let head = store.head_position().await?;
    let from = from.unwrap_or(1).max(1);
    if from > head + 1 {
        return Err(VerifyError::Range {
            field: "from",
            reason: format!("is beyond the log's head ({head}) and the position after it"),
        });
    }
    if let Some(to) = to
        && to < from
    {
        return Err(VerifyError::Range {
            field: "to",
            reason: format!("must not be before from ({from})"),
        });
    }
    let to = to.unwrap_or(head).min(head);
    let mut verifier = if from == 1 {
        Verifier::default()
    } else {
        match store.read_all(from - 2, 1).await?.pop() {
            Some(before) if before.position == from - 1 => {
                Verifier::after(before.position, before.hash)
            }
            _ => {
                return Ok(Verification::broken(
                    from - 1,
                    "the event before `from` is missing",
                ));
            }
        }
    };
    let (mut after, mut checked) = (from - 1, 0);
    let mut last_hash = Vec::new();
    // The next page is read (on another task, so on the other core) while
    // this one is hashed: the check then runs at about the speed of the
    // read alone.
    let read = |after: i64| {
        let store = store.clone();
        let want = PAGE.min((to - after).max(0) as usize);
        tokio::spawn(async move { store.read_all(after, want).await })
    };
    let mut next = (after < to).then(|| read(after));
    while let Some(reading) = next.take() {
        let page = reading
            .await
            .map_err(|e| StoreError::Backend(e.to_string().into()))??;
        let Some(last) = page.last().map(|e| e.position) else {
            return Ok(Verification::broken(after + 1, "the event is missing"));
        };
        if last < to {
            next = Some(read(last));
        }
        for event in &page {
            if let Err(e) = verifier.check(event) {
                return Ok(Verification::failed(&e));
            }
            checked += 1;
            after = event.position;
            last_hash.clone_from(&event.hash);
        }
    }
    let head_hash = if to == head {
        last_hash
    } else {
        store
            .read_all(head - 1, 1)
            .await?
            .pop()
            .map(|e| e.hash)
            .unwrap_or_default()
    };
    Ok(Verification::verified(from, to, checked, head, &head_hash))
}

/// Checks an export (NDJSON lines of events in position order, as
/// `meetings export` or `GET /api/v1/events` write them) with no
/// database. Its first event's `prev_hash` is taken as given, so an
/// export that starts after position 0 verifies from there; a filtered
/// export (one meeting) has gaps, which are reported.
pub fn verify_lines(lines: impl BufRead) -> std::io::Result<Verification> {
    let mut verifier = None::<Verifier>;
    let (mut from, mut checked, mut last) = (None, 0, None::<RecordedEvent>);
    for (number, line) in lines.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let event: RecordedEvent = match serde_json::from_str(&line) {
            Ok(event) => event,
            Err(e) => {
                let at = last.as_ref().map_or(1, |l| l.position + 1);
                return Ok(Verification::broken(
                    at,
                    format!("line {}: {e}", number + 1),
                ));
            }
        };
        let verifier = verifier.get_or_insert_with(|| {
            from = Some(event.position);
            Verifier::after(event.position - 1, event.prev_hash.clone())
        });
        if let Err(e) = verifier.check(&event) {
            return Ok(Verification::failed(&e));
        }
        checked += 1;
        last = Some(event);
    }
    Ok(match last {
        None => Verification::broken(1, "the file holds no event"),
        Some(last) => Verification::verified(
            from.unwrap_or(1),
            last.position,
            checked,
            last.position,
            &last.hash,
        ),
    })
}

/// Writes the events after `after` (of one stream, if given) up to the
/// head as NDJSON lines, a page at a time; the number written.
pub async fn export(
    store: &dyn EventStore,
    after: i64,
    stream: Option<&events::StreamId>,
    out: &mut impl std::io::Write,
) -> anyhow::Result<u64> {
    let head = store.head_position().await?;
    let (mut after, mut written) = (after.max(0), 0);
    while after < head {
        let page = store.read_all(after, PAGE).await?;
        let Some(last) = page.last().map(|e| e.position) else {
            break;
        };
        for event in page.iter().filter(|e| e.position <= head) {
            if stream.is_none_or(|s| &event.stream_id == s) {
                serde_json::to_writer(&mut *out, event)?;
                out.write_all(b"\n")?;
                written += 1;
            }
        }
        after = last;
    }
    out.flush()?;
    Ok(written)
}

/// Whether a receipt still holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ReceiptCheck {
    /// The log still holds `hash` at `position`, and the chain from there
    /// to the head verifies.
    pub valid: bool,
    pub position: i64,
    /// The hash as given, hex.
    pub hash: String,
    /// The log's head (auditors and admins only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head_position: Option<i64>,
    /// Why not, when not valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl ReceiptCheck {
    /// What someone who may not read the whole log is told: whether the
    /// receipt holds, not the head nor where the log differs (which would
    /// tell how far the log reaches).
    pub fn for_a_reader(self) -> Self {
        Self {
            head_position: None,
            reason: (!self.valid).then(|| "the log does not hold this receipt".to_owned()),
            ..self
        }
    }
}

/// Checks a receipt (a command's `position` and `hash`): the event at the
/// position still has that hash, and every event after it still links
/// to it. A tail rewritten and re-hashed after the receipt was taken
/// changes the hash at its position, or breaks the links after it.
pub async fn check_receipt(
    store: &std::sync::Arc<dyn EventStore>,
    position: i64,
    hash: &str,
) -> Result<ReceiptCheck, StoreError> {
    let head = store.head_position().await?;
    let answer = |reason: Option<String>| ReceiptCheck {
        valid: reason.is_none(),
        position,
        hash: hash.to_owned(),
        head_position: Some(head),
        reason,
    };
    if position < 1 || position > head {
        return Ok(answer(Some("the log has no event at this position".into())));
    }
    let held = store.read_all(position - 1, 1).await?.pop();
    let Some(held) = held.filter(|e| e.position == position) else {
        return Ok(answer(Some("the log has no event at this position".into())));
    };
    if !hex::encode(&held.hash).eq_ignore_ascii_case(hash) {
        return Ok(answer(Some(
            "the log holds another hash at this position: history was rewritten".into(),
        )));
    }
    let after = match verify_log(store, Some(position + 1), None).await {
        Ok(after) => after,
        Err(VerifyError::Store(e)) => return Err(e),
        // From one past a position at or below the head: never refused.
        Err(e @ VerifyError::Range { .. }) => {
            return Err(StoreError::Backend(e.to_string().into()));
        }
    };
    Ok(answer((!after.verified).then(|| {
        format!(
            "the chain after the receipt breaks at {}: {}",
            after.first_bad_position.unwrap_or_default(),
            after.reason.unwrap_or_default()
        )
    })))
}

/// Up to where a meeting is folded.
pub use events::Until;

/// A meeting as it stood at a moment: folded from its own events with the
/// aggregate's `evolve` (not from the read models).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AsOf {
    pub meeting_id: events::MeetingId,
    /// The last of its events folded, and when it was recorded.
    pub position: i64,
    pub recorded_at: chrono::DateTime<chrono::Utc>,
    pub status: events::views::MeetingStatus,
    pub title: String,
    pub host_id: events::UserId,
    pub settings: events::settings::MeetingSettings,
    pub max_participants: u32,
    /// Who was present, with their role (the snapshot's seat).
    #[schema(value_type = Vec<Object>)]
    pub participants: Vec<command::meeting::Seat>,
    /// Who was in the waiting room.
    #[schema(value_type = Vec<Object>)]
    pub waiting: Vec<command::meeting::Waiter>,
    /// The recording running then, if any.
    #[schema(value_type = Option<Object>)]
    pub recording: Option<command::meeting::Recording>,
    /// The breakout rooms open then, if any.
    #[schema(value_type = Option<Object>)]
    pub breakout: Option<command::meeting::Breakout>,
}

/// Events of a meeting between the past snapshots as-of keeps: a later
/// as-of folds from the nearest one before its bound, so at most this many
/// events (and the read of them) once a meeting has been looked at.
pub const PAST_SNAPSHOT_EVERY: i64 = 1000;

/// Keeps the state folded so far as a past snapshot (best effort: the log
/// has everything).
async fn keep_past(
    store: &dyn EventStore,
    stream: &events::StreamId,
    version: i64,
    event: &events::Payload,
    meeting: &command::meeting::Meeting,
) {
    let Ok(state) = serde_json::to_string(meeting) else {
        return;
    };
    let past = events::PastSnapshot {
        snapshot: events::store::Snapshot {
            stream_id: stream.clone(),
            version,
            position: event.position,
            schema_version: command::meeting::SNAPSHOT_SCHEMA,
            state,
        },
        recorded_at: event.recorded_at,
    };
    if let Err(e) = store.write_past_snapshot(&past).await {
        tracing::debug!(error = %e, "past snapshot not kept");
    }
}

/// The meeting as it stood at `until`; `None` when it did not exist yet.
pub async fn as_of(
    store: &dyn EventStore,
    meeting: events::MeetingId,
    until: Until,
) -> anyhow::Result<Option<AsOf>> {
    use command::meeting::{Meeting, SNAPSHOT_SCHEMA};
    let stream = meeting.stream_id();
    let past = store
        .read_past_snapshot(&stream, SNAPSHOT_SCHEMA, until)
        .await?
        .and_then(|past| {
            let state = serde_json::from_str::<Meeting>(&past.snapshot.state).ok()?;
            Some((state, past))
        });
    let (mut state, mut version, mut last) = match past {
        Some((state, past)) => (
            Some(state),
            past.snapshot.version,
            Some((past.snapshot.position, past.recorded_at)),
        ),
        None => (None, 0, None),
    };
    let events = store.read_stream_until(&stream, version, until).await?;
    for event in &events {
        state = command::meeting::evolve(state, &event.decode()?);
        // A stream's versions follow one another from 1.
        version += 1;
        last = Some((event.position, event.recorded_at));
        if version % PAST_SNAPSHOT_EVERY == 0
            && let Some(meeting) = &state
        {
            keep_past(store, &stream, version, event, meeting).await;
        }
    }
    let (Some(m), Some((position, recorded_at))) = (state, last) else {
        return Ok(None);
    };
    Ok(Some(AsOf {
        meeting_id: m.id,
        position,
        recorded_at,
        status: m.status,
        title: m.title,
        host_id: m.host_id,
        settings: m.settings,
        max_participants: m.max_participants,
        participants: m.present.into_values().collect(),
        waiting: m.waiting.into_values().collect(),
        recording: m.recording,
        breakout: m.breakout,
    }))
}
