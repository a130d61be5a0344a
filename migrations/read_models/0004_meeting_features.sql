-- Read models of the full feature set (portable types, as in 0002/0003):
-- members (invitations and roles), chat, recordings, breakout rooms; and
-- the one table that is not a read model: meeting password hashes.

-- Who was invited to or given a role in each meeting (the host is
-- rm_meetings.host_id); for listing and read access.
CREATE TABLE rm_meeting_members (
    meeting_id  TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    role        TEXT NOT NULL,
    PRIMARY KEY (meeting_id, user_id)
);
CREATE INDEX rm_meeting_members_user ON rm_meeting_members (user_id);

-- Every chat message, in log order; a private one names its recipient.
CREATE TABLE rm_chat_messages (
    position      BIGINT PRIMARY KEY,
    message_id    TEXT   NOT NULL,
    meeting_id    TEXT   NOT NULL,
    sender_id     TEXT   NOT NULL,
    sender_name   TEXT   NOT NULL,
    recipient_id  TEXT,
    content       TEXT   NOT NULL,
    sent_at       TEXT   NOT NULL
);
CREATE INDEX rm_chat_messages_meeting ON rm_chat_messages (meeting_id, position);

CREATE TABLE rm_recordings (
    recording_id      TEXT   PRIMARY KEY,
    meeting_id        TEXT   NOT NULL,
    started_by        TEXT   NOT NULL,
    started_at        TEXT   NOT NULL,
    stopped_at        TEXT,
    duration_seconds  BIGINT,
    file_url          TEXT,
    size              BIGINT
);
CREATE INDEX rm_recordings_meeting ON rm_recordings (meeting_id, started_at);

-- One row per opening of breakout rooms; open while closed_at is null.
CREATE TABLE rm_breakout_sessions (
    session_id                    TEXT   PRIMARY KEY,
    meeting_id                    TEXT   NOT NULL,
    allow_participants_to_choose  BIGINT NOT NULL,
    allow_participants_to_return  BIGINT NOT NULL,
    opened_at                     TEXT   NOT NULL,
    closes_at                     TEXT,
    closed_at                     TEXT,
    close_reason                  TEXT
);
CREATE INDEX rm_breakout_sessions_meeting ON rm_breakout_sessions (meeting_id, opened_at);
-- The time-limit timer's question: open sessions by deadline.
CREATE INDEX rm_breakout_sessions_due ON rm_breakout_sessions (closed_at, closes_at);

CREATE TABLE rm_breakout_rooms (
    room_id             TEXT   PRIMARY KEY,
    session_id          TEXT   NOT NULL,
    meeting_id          TEXT   NOT NULL,
    ordinal             BIGINT NOT NULL,
    name                TEXT   NOT NULL,
    description         TEXT   NOT NULL,
    capacity            BIGINT,
    allow_chat          BIGINT NOT NULL,
    allow_screen_share  BIGINT NOT NULL
);
CREATE INDEX rm_breakout_rooms_session ON rm_breakout_rooms (session_id, ordinal);

CREATE TABLE rm_breakout_assignments (
    session_id  TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    room_id     TEXT NOT NULL,
    PRIMARY KEY (session_id, user_id)
);

-- Not a read model (never rebuilt from the log, never reset): Argon2
-- hashes of meeting passwords. Events name a hash by its secret_id and
-- never carry it; a changed password is a new row.
CREATE TABLE meeting_secrets (
    secret_id   TEXT PRIMARY KEY,
    hash        TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
