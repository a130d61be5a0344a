-- Past snapshots: a stream's state as it stood at a version, kept so that
-- "the meeting as of" a position or time folds from the nearest one before
-- it instead of from the meeting's first event. Written by as-of itself as
-- it folds (every 1,000 events); a cache beside the log like `snapshots`:
-- outside the hash chain, never changed once written, ignored when its
-- schema is not the one the code folds. `recorded_at` is fixed-width
-- RFC 3339 text, as in `events`.
CREATE TABLE past_snapshots (
    stream_id       TEXT        NOT NULL,
    version         BIGINT      NOT NULL,
    position        BIGINT      NOT NULL,
    recorded_at     TEXT        NOT NULL,
    schema_version  INTEGER     NOT NULL,
    state           TEXT        NOT NULL,
    PRIMARY KEY (stream_id, version)
);
