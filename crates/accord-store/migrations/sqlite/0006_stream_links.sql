-- Reads by stream follow links instead of an index. Each event stores the `seq` of the
-- previous event of its stream (`prev_in_stream`, 0 for a stream's first event), and
-- `streams` holds each stream's current version and last event. Appending then costs one
-- row at the end of `events` plus one small `streams` row per stream a transaction
-- touches, instead of an entry at a random place of a per-stream index for every event:
-- with many streams written in turn, that index dirtied a page per stream per commit and
-- was about a third of the bytes written. Reading a stream walks its links back from the
-- nearest mark past the last event wanted, or from the stream's last event (`read_stream`):
-- one primary-key lookup per event read, plus at most 63.
ALTER TABLE events ADD COLUMN prev_in_stream INTEGER;

CREATE TABLE streams (
    key      INTEGER NOT NULL, -- `sqlite::stream_key(name)`, as in `events.stream_key`
    name     TEXT    NOT NULL,
    version  INTEGER NOT NULL,
    last_seq INTEGER NOT NULL,
    PRIMARY KEY (key, name)
) WITHOUT ROWID;

-- Every 64th event of a stream (versions 64, 128, …) is marked, so that a read starts its
-- walk at most 63 events past the last one it wants, however long the stream.
CREATE TABLE stream_marks (
    key     INTEGER NOT NULL,
    name    TEXT    NOT NULL,
    version INTEGER NOT NULL,
    seq     INTEGER NOT NULL,
    PRIMARY KEY (key, name, version)
) WITHOUT ROWID;

DROP INDEX events_stream_key;

-- Events written before this migration get their links (and, from before 0005, their
-- stream keys) when the store opens, in seq order, a few thousand per transaction:
-- `next` is the first event still to link, `upto` the last one.
CREATE TABLE stream_link_fill (
    next INTEGER NOT NULL,
    upto INTEGER NOT NULL
);
INSERT INTO stream_link_fill (next, upto) SELECT MIN(seq), MAX(seq) FROM events HAVING COUNT(*) > 0;

-- The only changes the log ever accepts to a stored event: filling in a NULL
-- `stream_key` or a NULL `prev_in_stream` of an event written before they existed.
DROP TRIGGER events_no_update;
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
WHEN NOT (NEW.seq IS OLD.seq AND NEW.stream IS OLD.stream
      AND NEW.stream_version IS OLD.stream_version AND NEW.type IS OLD.type
      AND NEW.schema_version IS OLD.schema_version AND NEW.payload IS OLD.payload
      AND NEW.recorded_at IS OLD.recorded_at AND NEW.idempotency_key IS OLD.idempotency_key
      AND NEW.prev_hash IS OLD.prev_hash AND NEW.hash IS OLD.hash
      AND (NEW.stream_key IS OLD.stream_key
           OR (OLD.stream_key IS NULL AND NEW.stream_key IS NOT NULL))
      AND (NEW.prev_in_stream IS OLD.prev_in_stream
           OR (OLD.prev_in_stream IS NULL AND NEW.prev_in_stream IS NOT NULL)))
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
