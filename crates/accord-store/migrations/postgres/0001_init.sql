-- Accord store, PostgreSQL: the hash-chained event log, idempotency keys, signed
-- checkpoints, read models, consumer checkpoints and the work queue.
-- Payloads and timestamps that are hashed are TEXT so their bytes are kept exactly.

CREATE TABLE events (
    seq             BIGINT  PRIMARY KEY,
    stream          TEXT    NOT NULL,
    stream_version  BIGINT  NOT NULL,
    type            TEXT    NOT NULL,
    schema_version  INTEGER NOT NULL,
    payload         TEXT    NOT NULL,
    recorded_at     TEXT    NOT NULL,
    idempotency_key TEXT,
    prev_hash       BYTEA   NOT NULL,
    hash            BYTEA   NOT NULL,
    UNIQUE (stream, stream_version)
);

CREATE FUNCTION accord_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are append-only';
END $$;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION accord_events_append_only();

-- One row: the chain tip. Appenders lock it FOR UPDATE, which serialises chain appends
-- across processes and hands each appender the tip in the same statement.
CREATE TABLE chain_tip (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  BIGINT  NOT NULL,
    hash BYTEA   NOT NULL
);
INSERT INTO chain_tip (id, seq, hash) VALUES (1, 0, '\x0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE idempotency (
    key            TEXT   PRIMARY KEY,
    first_seq      BIGINT NOT NULL,
    last_seq       BIGINT NOT NULL,
    stream_version BIGINT NOT NULL
);

CREATE TABLE audit_checkpoints (
    seq        BIGINT PRIMARY KEY,
    hash       BYTEA  NOT NULL,
    public_key BYTEA  NOT NULL,
    signature  BYTEA  NOT NULL,
    signed_at  TEXT   NOT NULL
);

CREATE TABLE suppliers (
    id           TEXT PRIMARY KEY,
    external_ref TEXT NOT NULL UNIQUE,
    name         TEXT NOT NULL,
    region       TEXT NOT NULL,
    size         TEXT NOT NULL,
    status       TEXT NOT NULL,
    risk         TEXT NOT NULL,
    payment_days BIGINT,
    data         TEXT NOT NULL,
    last_seq     BIGINT NOT NULL
);

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
    last_seq     BIGINT NOT NULL
);
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
    amount_minor BIGINT NOT NULL,
    date         TEXT NOT NULL,
    last_seq     BIGINT NOT NULL
);
CREATE INDEX spend_supplier ON spend (supplier);

CREATE TABLE documents (
    kind     TEXT   NOT NULL,
    id       TEXT   NOT NULL,
    state    TEXT   NOT NULL,
    data     TEXT   NOT NULL,
    last_seq BIGINT NOT NULL,
    PRIMARY KEY (kind, id)
);

CREATE TABLE consumer_checkpoints (
    consumer   TEXT   PRIMARY KEY,
    seq        BIGINT NOT NULL,
    updated_at TEXT   NOT NULL
);

CREATE TABLE jobs (
    id          BIGSERIAL PRIMARY KEY,
    kind        TEXT    NOT NULL,
    payload     TEXT    NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('ready', 'running', 'done', 'dead')),
    run_at      BIGINT  NOT NULL, -- unix microseconds
    attempts    INTEGER NOT NULL DEFAULT 0,
    locked_by   TEXT,
    lease_until BIGINT,           -- unix microseconds
    last_error  TEXT,
    created_at  BIGINT  NOT NULL
);
CREATE INDEX jobs_ready ON jobs (status, run_at);
