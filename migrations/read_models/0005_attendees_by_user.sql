-- Attendees keyed by (user_id, meeting_id): every question asked of the
-- table names the user (is this user an attendee of this meeting; which
-- meetings did this user attend), so the key serves them all and the
-- separate index on user_id goes. Each join wrote two index entries
-- here, now one. The rows are kept (no rebuild needed).

CREATE TABLE rm_meeting_attendees_by_user (
    user_id     TEXT NOT NULL,
    meeting_id  TEXT NOT NULL,
    PRIMARY KEY (user_id, meeting_id)
);
INSERT INTO rm_meeting_attendees_by_user (user_id, meeting_id)
SELECT user_id, meeting_id FROM rm_meeting_attendees;
DROP TABLE rm_meeting_attendees;
ALTER TABLE rm_meeting_attendees_by_user RENAME TO rm_meeting_attendees;
