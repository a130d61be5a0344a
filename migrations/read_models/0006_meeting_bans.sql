-- Who was banned from each meeting (removed with `?ban=true`): they may no
-- longer read it. Kept by the activity projection, whose read models are
-- emptied here and its checkpoint reset, so its runner rebuilds them from
-- the log at start, bans already in the log included.

CREATE TABLE rm_meeting_bans (
    meeting_id  TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    PRIMARY KEY (meeting_id, user_id)
);

DELETE FROM rm_meeting_members;
DELETE FROM rm_chat_messages;
DELETE FROM rm_recordings;
DELETE FROM rm_breakout_sessions;
DELETE FROM rm_breakout_rooms;
DELETE FROM rm_breakout_assignments;
DELETE FROM projection_checkpoints WHERE name = 'activity';
