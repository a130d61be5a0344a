-- Read models, built by the projection runner from the event log and
-- rebuilt from position 0 by `meetings replay`. Portable column types only
-- (TEXT, BIGINT, BOOLEAN): the same projection and query code runs on the
-- embedded SQLite database. Ids are text; timestamps are RFC 3339 UTC text
-- with microseconds (fixed width, so they sort as text).

-- How far each projection has applied the log; moved in the same
-- transaction as the read-model rows.
CREATE TABLE projection_checkpoints (
    name      TEXT   PRIMARY KEY,
    position  BIGINT NOT NULL
);

-- One row per meeting: details, status, settings, times, counts.
CREATE TABLE rm_meetings (
    meeting_id            TEXT    PRIMARY KEY,
    room_code             TEXT    NOT NULL UNIQUE,
    host_id               TEXT    NOT NULL,
    host_name             TEXT    NOT NULL,
    title                 TEXT    NOT NULL,
    description           TEXT    NOT NULL,
    status                TEXT    NOT NULL,
    starts_at             TEXT,
    ends_at               TEXT,
    max_participants      BIGINT  NOT NULL,
    lock_room             BOOLEAN NOT NULL,
    enable_transcription  BOOLEAN NOT NULL,
    enable_chat           BOOLEAN NOT NULL,
    enable_screen_share   BOOLEAN NOT NULL,
    enable_recording      BOOLEAN NOT NULL,
    waiting_room          BOOLEAN NOT NULL,
    mute_on_entry         BOOLEAN NOT NULL,
    created_at            TEXT    NOT NULL,
    started_at            TEXT,
    ended_at              TEXT,
    -- round((ended_at - started_at) / 60 s), as the end command answered
    duration_minutes      BIGINT,
    present_count         BIGINT  NOT NULL DEFAULT 0,
    -- distinct users who ever joined
    attendance_count      BIGINT  NOT NULL DEFAULT 0,
    is_recording          BOOLEAN NOT NULL DEFAULT FALSE,
    last_position         BIGINT  NOT NULL
);
CREATE INDEX rm_meetings_host_history ON rm_meetings (host_id, status, ended_at);

-- Who ever joined each meeting (for attendance counts and read access).
CREATE TABLE rm_meeting_attendees (
    meeting_id  TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    PRIMARY KEY (meeting_id, user_id)
);
CREATE INDEX rm_meeting_attendees_user ON rm_meeting_attendees (user_id);

-- Every seat: one row per join session; present while left_at is null.
CREATE TABLE rm_participants (
    participant_id     TEXT    PRIMARY KEY,
    meeting_id         TEXT    NOT NULL,
    user_id            TEXT    NOT NULL,
    user_name          TEXT    NOT NULL,
    role               TEXT    NOT NULL,
    device_type        TEXT,
    is_muted           BOOLEAN NOT NULL,
    is_video_enabled   BOOLEAN NOT NULL,
    is_screen_sharing  BOOLEAN NOT NULL DEFAULT FALSE,
    is_hand_raised     BOOLEAN NOT NULL DEFAULT FALSE,
    joined_at          TEXT    NOT NULL,
    left_at            TEXT,
    leave_reason       TEXT
);
CREATE INDEX rm_participants_meeting ON rm_participants (meeting_id, joined_at);
