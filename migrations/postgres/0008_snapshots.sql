-- Snapshots: a stream's state folded up to a version, so that loading a
-- long stream reads its snapshot and the events after it, not the whole
-- stream. A cache beside the log, not part of it: outside the hash chain,
-- written after the events it folds have committed, replaced only by a
-- later version, and ignored when its schema is not the one the code
-- folds (the log is read whole then).
CREATE TABLE snapshots (
    stream_id       TEXT    PRIMARY KEY,
    version         BIGINT  NOT NULL,
    position        BIGINT  NOT NULL,
    schema_version  INTEGER NOT NULL,
    state           TEXT    NOT NULL
);
