-- One meeting's log by position: a page of a stream after a position
-- (`GET /meetings/{m}/events?after=`, a WebSocket resuming with `after=`)
-- is read from here without reading the stream's earlier events. Within a
-- stream, positions grow with versions, so this orders a stream as
-- (stream_id, stream_version) does.
CREATE INDEX IF NOT EXISTS events_stream_position ON events (stream_id, position);
