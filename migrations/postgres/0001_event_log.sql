-- The event log: the source of truth. Append-only, gapless, hash-chained.
-- See events/src/hash.rs for the canonical encoding the hash covers.
CREATE TABLE events (
    -- Global, 1-based, gapless, in commit order (assigned under event_log_head's lock).
    position        BIGINT      PRIMARY KEY CHECK (position > 0),
    -- UUIDv7; appending an existing event_id is a no-op; NATS de-duplication id.
    event_id        UUID        NOT NULL UNIQUE,
    -- meeting-<uuid>
    stream_id       TEXT        NOT NULL,
    -- 1-based per stream; optimistic concurrency checks against it.
    stream_version  BIGINT      NOT NULL CHECK (stream_version > 0),
    event_type      TEXT        NOT NULL,
    schema_version  SMALLINT    NOT NULL,
    data            JSONB       NOT NULL,
    -- actor {user_id, name, kind}, correlation_id, causation_id, request_id
    metadata        JSONB       NOT NULL,
    recorded_at     TIMESTAMPTZ NOT NULL,
    prev_hash       BYTEA       NOT NULL CHECK (length(prev_hash) = 32),
    hash            BYTEA       NOT NULL CHECK (length(hash) = 32),
    UNIQUE (stream_id, stream_version)
);

-- The head of the log: one row, locked by every append transaction. Holding it
-- serialises position assignment across processes, so a transaction can only
-- take positions after the previous one has committed: positions appear in
-- commit order and never with a gap that fills later.
CREATE TABLE event_log_head (
    singleton BOOLEAN  PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    position  BIGINT   NOT NULL,
    hash      BYTEA    NOT NULL CHECK (length(hash) = 32)
);
INSERT INTO event_log_head (singleton, position, hash)
VALUES (TRUE, 0, decode(repeat('00', 32), 'hex'));

-- The log is immutable: the database refuses to change or remove an event.
CREATE FUNCTION events_are_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the event log is append-only: % on events is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER events_no_update_or_delete
    BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_are_immutable();

CREATE TRIGGER events_no_truncate
    BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_are_immutable();

-- Unique secondary names of streams (room codes), claimed in the append
-- transaction that creates the stream.
CREATE TABLE stream_aliases (
    alias      TEXT PRIMARY KEY,
    stream_id  TEXT NOT NULL
);

-- Replies remembered under a client's Idempotency-Key, written in the same
-- transaction as the events the first request appended.
CREATE TABLE idempotency_keys (
    scope        TEXT        NOT NULL,
    key          TEXT        NOT NULL,
    fingerprint  TEXT        NOT NULL,
    reply        JSONB       NOT NULL,
    position     BIGINT      NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);

-- How far each relay (publisher to the bus) has published.
CREATE TABLE relay_checkpoints (
    name        TEXT        PRIMARY KEY,
    position    BIGINT      NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
