//! The SQL text of as-of's reads and writes, the same on both backends
//! (only how a time is bound differs: a `timestamptz` on PostgreSQL,
//! fixed-width RFC 3339 text on SQLite).

use events::store::Until;

/// What a fold needs of an event.
pub const PAYLOAD_COLUMNS: &str = "position, event_type, schema_version, data, recorded_at";

/// A stream after a version (`$3`) up to a bound (`$2`). `position + 0`:
/// the stream is read by its index and the bound filters it; left bare,
/// PostgreSQL ANDs in every position below the bound from the primary key
/// (the whole log before it: 70 ms of a 1M-event log for a 10k-event
/// meeting).
pub fn stream_until(until: Until) -> String {
    let column = match until {
        Until::Position(_) => "position + 0",
        Until::Time(_) => "recorded_at",
    };
    format!(
        "SELECT {PAYLOAD_COLUMNS} FROM events WHERE stream_id = $1 AND stream_version > $3 \
         AND {column} <= $2 ORDER BY stream_version"
    )
}

/// The newest past snapshot of a schema (`$2`) at or before a bound (`$3`).
pub fn past_snapshot(until: Until) -> String {
    let column = match until {
        Until::Position(_) => "position",
        Until::Time(_) => "recorded_at",
    };
    format!(
        "SELECT version, position, recorded_at, state FROM past_snapshots \
         WHERE stream_id = $1 AND schema_version = $2 AND {column} <= $3 \
         ORDER BY version DESC LIMIT 1"
    )
}

/// Keeps a past snapshot; one of a version kept already stays as it was.
pub const KEEP_PAST_SNAPSHOT: &str = "INSERT INTO past_snapshots \
     (stream_id, version, position, recorded_at, schema_version, state) \
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (stream_id, version) DO NOTHING";
