-- Accord store, SQLite: the hash-chained event log, idempotency keys, signed checkpoints,
-- read models, consumer checkpoints and the work queue.

CREATE TABLE events (
    seq             INTEGER PRIMARY KEY,
    stream          TEXT    NOT NULL,
    stream_version  INTEGER NOT NULL,
    type            TEXT    NOT NULL,
    schema_version  INTEGER NOT NULL,
    payload         TEXT    NOT NULL,
    recorded_at     TEXT    NOT NULL,
    idempotency_key TEXT,
    prev_hash       BLOB    NOT NULL,
    hash            BLOB    NOT NULL
);
CREATE UNIQUE INDEX events_stream_version ON events (stream, stream_version);

-- The log is append-only: the store never updates or deletes an event.
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;

CREATE TABLE idempotency (
    key            TEXT    PRIMARY KEY,
    first_seq      INTEGER NOT NULL,
    last_seq       INTEGER NOT NULL,
    stream_version INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE audit_checkpoints (
    seq        INTEGER PRIMARY KEY,
    hash       BLOB NOT NULL,
    public_key BLOB NOT NULL,
    signature  BLOB NOT NULL,
    signed_at  TEXT NOT NULL
);

CREATE TABLE suppliers (
    id           TEXT PRIMARY KEY,
    external_ref TEXT NOT NULL UNIQUE,
    name         TEXT NOT NULL,
    region       TEXT NOT NULL,
    size         TEXT NOT NULL,
    status       TEXT NOT NULL,
    risk         TEXT NOT NULL,
    payment_days INTEGER,
    data         TEXT NOT NULL,
    last_seq     INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE contracts (
    id           TEXT PRIMARY KEY,
    external_ref TEXT NOT NULL UNIQUE,
    supplier     TEXT NOT NULL,
    category     TEXT NOT NULL,
    currency     TEXT NOT NULL,
    state        TEXT NOT NULL,
    valid_from   TEXT NOT NULL,
    valid_to     TEXT NOT NULL,
    data         TEXT NOT NULL,
    last_seq     INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX contracts_supplier ON contracts (supplier);

CREATE TABLE spend (
    id           TEXT PRIMARY KEY,
    external_ref TEXT NOT NULL UNIQUE,
    supplier     TEXT NOT NULL,
    category     TEXT NOT NULL,
    sku          TEXT,
    description  TEXT NOT NULL,
    quantity     TEXT NOT NULL,
    currency     TEXT NOT NULL,
    amount_minor INTEGER NOT NULL,
    date         TEXT NOT NULL,
    last_seq     INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX spend_supplier ON spend (supplier);

CREATE TABLE documents (
    kind     TEXT NOT NULL,
    id       TEXT NOT NULL,
    state    TEXT NOT NULL,
    data     TEXT NOT NULL,
    last_seq INTEGER NOT NULL,
    PRIMARY KEY (kind, id)
) WITHOUT ROWID;

CREATE TABLE consumer_checkpoints (
    consumer   TEXT PRIMARY KEY,
    seq        INTEGER NOT NULL,
    updated_at TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE jobs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    kind         TEXT    NOT NULL,
    payload      TEXT    NOT NULL,
    status       TEXT    NOT NULL CHECK (status IN ('ready', 'running', 'done', 'dead')),
    run_at       INTEGER NOT NULL, -- unix microseconds
    attempts     INTEGER NOT NULL DEFAULT 0,
    locked_by    TEXT,
    lease_until  INTEGER,          -- unix microseconds
    last_error   TEXT,
    created_at   INTEGER NOT NULL
);
CREATE INDEX jobs_ready ON jobs (status, run_at);
