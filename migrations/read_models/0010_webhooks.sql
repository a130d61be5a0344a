-- Webhooks out (Standard Webhooks): the subscriptions, each one's progress
-- through the log, and every delivery attempt. Not read models (nothing
-- here is rebuilt from the log): a replay of the read models leaves them.

CREATE TABLE webhook_subscriptions (
    id               TEXT    PRIMARY KEY,
    url              TEXT    NOT NULL,
    -- JSON array of event types, or ["*"].
    event_types      TEXT    NOT NULL,
    meeting_id       TEXT,
    description      TEXT,
    -- Whose view of the meetings the subscription gets (as on the
    -- WebSocket), and their deployment roles then (JSON array).
    owner_id         TEXT    NOT NULL,
    owner_roles      TEXT    NOT NULL,
    enabled          BIGINT  NOT NULL,
    disabled_reason  TEXT,
    -- `whsec_...`; the one before a rotation still signs until
    -- `previous_until`.
    secret           TEXT    NOT NULL,
    previous_secret  TEXT,
    previous_until   TEXT,
    created_at       TEXT    NOT NULL,
    updated_at       TEXT    NOT NULL,
    -- Every event up to here is done with (delivered, or given up on).
    position         BIGINT  NOT NULL,
    -- Moved by a replay: progress recorded under an older epoch is refused.
    epoch            BIGINT  NOT NULL,
    -- Failed attempts at the next event, and when the next one is due.
    attempts         BIGINT  NOT NULL,
    next_attempt_at  TEXT
);

CREATE TABLE webhook_deliveries (
    subscription_id  TEXT    NOT NULL,
    -- 1, 2, ... per subscription: the `after` cursor of the delivery log.
    seq              BIGINT  NOT NULL,
    position         BIGINT  NOT NULL,
    event_id         TEXT    NOT NULL,
    event_type       TEXT    NOT NULL,
    attempt          BIGINT  NOT NULL,
    -- `delivered` or `failed`.
    status           TEXT    NOT NULL,
    -- 1 on the attempt after which the event was given up on.
    final            BIGINT  NOT NULL,
    response_status  BIGINT,
    latency_ms       BIGINT  NOT NULL,
    error            TEXT,
    -- At most 1 KiB of what the receiver answered.
    response_body    TEXT,
    attempted_at     TEXT    NOT NULL,
    PRIMARY KEY (subscription_id, seq)
);
