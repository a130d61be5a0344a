//! The SQL text of a page of one stream after a log position, the same on
//! both backends.
//!
//! Within a stream, positions grow with versions, and versions run 1, 2,
//! 3... without a gap: so the last version at or before a position is
//! found by a binary search over the stream's own index (stream_id,
//! stream_version), one lookup per halving (17 for 100,000 events), in
//! the one statement; the page is then read from that index. No index of
//! its own: one on (stream_id, position) cost every append ~15% at 64
//! concurrent commands (BENCHMARKS.md), for reads far rarer than appends.

/// At most `$3` events of stream `$1` with a position above `$2`, in
/// order, as `columns`.
pub fn stream_after(columns: &str) -> String {
    // lo: the last version known at or before the position (0: none);
    // hi: the last it can be.
    let probe = "(SELECT position FROM events WHERE stream_id = $1 \
                 AND stream_version = (lo + hi + 1) / 2)";
    format!(
        "WITH RECURSIVE search(lo, hi) AS ( \
             SELECT CAST(0 AS BIGINT), CAST(COALESCE((SELECT MAX(stream_version) FROM events \
                    WHERE stream_id = $1), 0) AS BIGINT) \
             UNION ALL \
             SELECT CASE WHEN {probe} <= $2 THEN (lo + hi + 1) / 2 ELSE lo END, \
                    CASE WHEN {probe} <= $2 THEN hi ELSE (lo + hi + 1) / 2 - 1 END \
             FROM search WHERE lo < hi \
         ) \
         SELECT {columns} FROM events WHERE stream_id = $1 \
         AND stream_version > (SELECT MAX(lo) FROM search) \
         ORDER BY stream_version LIMIT $3"
    )
}
