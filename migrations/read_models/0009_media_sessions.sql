-- Who was really in the call: the media server's connections (LiveKit's
-- participant sid), from `media_connected` and `media_disconnected`. Kept
-- by the activity projection; a connection reported closed first has its
-- opening from the closing event. The attendance's `media_minutes` come
-- from here. No event of these kinds predates this table: nothing to
-- rebuild.
CREATE TABLE rm_media_sessions (
    meeting_id       TEXT NOT NULL,
    participant_sid  TEXT NOT NULL,
    user_id          TEXT NOT NULL,
    connected_at     TEXT,
    disconnected_at  TEXT,
    reason           TEXT,
    PRIMARY KEY (meeting_id, participant_sid)
);
