-- The event log on SQLite (the embedded default): the same table shapes as
-- migrations/postgres/0001_event_log.sql, in SQLite's types. Ids and JSON are
-- text (JSON in canonical form, see events/src/hash.rs), timestamps RFC 3339
-- UTC text with microseconds, hashes 32-byte blobs.
CREATE TABLE events (
    -- Global, 1-based, gapless, in commit order (one writer, BEGIN IMMEDIATE).
    position        INTEGER PRIMARY KEY CHECK (position > 0),
    event_id        TEXT    NOT NULL UNIQUE,
    stream_id       TEXT    NOT NULL,
    stream_version  INTEGER NOT NULL CHECK (stream_version > 0),
    event_type      TEXT    NOT NULL,
    schema_version  INTEGER NOT NULL,
    data            TEXT    NOT NULL CHECK (json_valid(data)),
    metadata        TEXT    NOT NULL CHECK (json_valid(metadata)),
    recorded_at     TEXT    NOT NULL,
    prev_hash       BLOB    NOT NULL CHECK (length(prev_hash) = 32),
    hash            BLOB    NOT NULL CHECK (length(hash) = 32),
    UNIQUE (stream_id, stream_version)
);

-- The head of the log: one row, updated by every append transaction.
CREATE TABLE event_log_head (
    singleton INTEGER PRIMARY KEY DEFAULT 1 CHECK (singleton = 1),
    position  INTEGER NOT NULL,
    hash      BLOB    NOT NULL CHECK (length(hash) = 32)
);
INSERT INTO event_log_head (singleton, position, hash) VALUES (1, 0, zeroblob(32));

-- The log is immutable: the database refuses to change or remove an event.
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'the event log is append-only: UPDATE on events is not allowed');
END;

CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'the event log is append-only: DELETE on events is not allowed');
END;

-- Unique secondary names of streams (room codes).
CREATE TABLE stream_aliases (
    alias      TEXT PRIMARY KEY,
    stream_id  TEXT NOT NULL
);

-- Replies remembered under a client's Idempotency-Key.
CREATE TABLE idempotency_keys (
    scope        TEXT    NOT NULL,
    key          TEXT    NOT NULL,
    fingerprint  TEXT    NOT NULL,
    reply        TEXT    NOT NULL,
    position     INTEGER NOT NULL,
    created_at   TEXT    NOT NULL,
    PRIMARY KEY (scope, key)
);

-- How far each relay (publisher to the bus) has published.
CREATE TABLE relay_checkpoints (
    name        TEXT    PRIMARY KEY,
    position    INTEGER NOT NULL,
    updated_at  TEXT    NOT NULL
);
