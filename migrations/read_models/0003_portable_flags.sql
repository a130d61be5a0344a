-- Flags become BIGINT 0/1: the embedded SQLite database is read through
-- `sqlx::Any`, which cannot decode SQLite's BOOLEAN columns, so every
-- read-model column now has a type both databases read the same way.
-- Read models are rebuilt from the log: the tables are recreated empty and
-- the checkpoints reset, and the runners rebuild them from position 0.

DROP TABLE rm_meetings;
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
    lock_room             BIGINT  NOT NULL,
    enable_transcription  BIGINT  NOT NULL,
    enable_chat           BIGINT  NOT NULL,
    enable_screen_share   BIGINT  NOT NULL,
    enable_recording      BIGINT  NOT NULL,
    waiting_room          BIGINT  NOT NULL,
    mute_on_entry         BIGINT  NOT NULL,
    created_at            TEXT    NOT NULL,
    started_at            TEXT,
    ended_at              TEXT,
    -- round((ended_at - started_at) / 60 s), as the end command answered
    duration_minutes      BIGINT,
    present_count         BIGINT  NOT NULL DEFAULT 0,
    -- distinct users who ever joined
    attendance_count      BIGINT  NOT NULL DEFAULT 0,
    is_recording          BIGINT  NOT NULL DEFAULT 0,
    last_position         BIGINT  NOT NULL
);
CREATE INDEX rm_meetings_host_history ON rm_meetings (host_id, status, ended_at);

DROP TABLE rm_participants;
CREATE TABLE rm_participants (
    participant_id     TEXT    PRIMARY KEY,
    meeting_id         TEXT    NOT NULL,
    user_id            TEXT    NOT NULL,
    user_name          TEXT    NOT NULL,
    role               TEXT    NOT NULL,
    device_type        TEXT,
    is_muted           BIGINT  NOT NULL,
    is_video_enabled   BIGINT  NOT NULL,
    is_screen_sharing  BIGINT  NOT NULL DEFAULT 0,
    is_hand_raised     BIGINT  NOT NULL DEFAULT 0,
    joined_at          TEXT    NOT NULL,
    left_at            TEXT,
    leave_reason       TEXT
);
CREATE INDEX rm_participants_meeting ON rm_participants (meeting_id, joined_at);

DELETE FROM rm_meeting_attendees;
DELETE FROM projection_checkpoints;
