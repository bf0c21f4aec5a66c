-- escalate's schema on SQLite. Times are TEXT in one fixed UTC format
-- (YYYY-MM-DDTHH:MM:SS.ffffffZ) so that text order is time order.

CREATE TABLE workflow_versions (
    workflow   TEXT    NOT NULL,
    hash       TEXT    NOT NULL,
    label      INTEGER NOT NULL,
    source     TEXT    NOT NULL,
    first_seen TEXT    NOT NULL,
    PRIMARY KEY (workflow, hash)
);

-- Next case number per reference prefix and year (DSP-2026-000042).
CREATE TABLE reference_counters (
    prefix TEXT    NOT NULL,
    year   INTEGER NOT NULL,
    last   INTEGER NOT NULL,
    PRIMARY KEY (prefix, year)
);

CREATE TABLE cases (
    id            INTEGER PRIMARY KEY,
    reference     TEXT    NOT NULL UNIQUE,
    workflow      TEXT    NOT NULL,
    workflow_hash TEXT    NOT NULL,
    state         TEXT    NOT NULL,
    data          TEXT    NOT NULL,
    division      TEXT    NOT NULL,
    agency        TEXT,
    opened_at     TEXT    NOT NULL,
    entered_at    TEXT    NOT NULL,
    closed_at     TEXT,
    outcome       TEXT,
    event_times   TEXT    NOT NULL,
    -- The latest event-log entry: its number, time and hash (the head of the chain).
    seq           INTEGER NOT NULL,
    last_at       TEXT    NOT NULL,
    last_hash     TEXT    NOT NULL,
    FOREIGN KEY (workflow, workflow_hash) REFERENCES workflow_versions (workflow, hash)
);
CREATE INDEX cases_workflow_state ON cases (workflow, state);

-- Append-only: who did what, when and why, hash-chained per case.
CREATE TABLE events (
    id          INTEGER PRIMARY KEY,
    case_id     INTEGER NOT NULL REFERENCES cases (id),
    seq         INTEGER NOT NULL,
    at          TEXT    NOT NULL,
    recorded_at TEXT    NOT NULL,
    actor       TEXT    NOT NULL,
    event       TEXT    NOT NULL,
    from_state  TEXT    NOT NULL,
    to_state    TEXT    NOT NULL,
    fields      TEXT    NOT NULL,
    reason      TEXT,
    prev_hash   TEXT    NOT NULL,
    hash        TEXT    NOT NULL,
    UNIQUE (case_id, seq)
);
CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'the event log is append-only');
END;
CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'the event log is append-only');
END;

CREATE TABLE deadlines (
    id               INTEGER PRIMARY KEY,
    case_id          INTEGER NOT NULL REFERENCES cases (id),
    slot_kind        TEXT    NOT NULL CHECK (slot_kind IN ('state', 'task')),
    slot             TEXT    NOT NULL,
    kind             TEXT    NOT NULL CHECK (kind IN ('warning', 'lapse')),
    due_at           TEXT    NOT NULL,
    status           TEXT    NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'fired', 'met', 'cancelled')),
    explanation      TEXT    NOT NULL,
    data_version     TEXT    NOT NULL,
    started_at       TEXT    NOT NULL,
    ended_at         TEXT,
    late             INTEGER NOT NULL DEFAULT 0,
    lease_owner      TEXT,
    lease_expires_at TEXT,
    attempts         INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX deadlines_pending_due ON deadlines (due_at) WHERE status = 'pending';
CREATE INDEX deadlines_case ON deadlines (case_id, status);

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    case_id         INTEGER REFERENCES cases (id),
    idempotency_key TEXT    NOT NULL UNIQUE,
    kind            TEXT    NOT NULL CHECK (kind IN ('email', 'form')),
    template        TEXT    NOT NULL,
    recipients      TEXT    NOT NULL,
    payload         TEXT    NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'queued'
                    CHECK (status IN ('queued', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT    NOT NULL,
    last_error      TEXT,
    created_at      TEXT    NOT NULL,
    sent_at         TEXT,
    lease_owner      TEXT,
    lease_expires_at TEXT
);
CREATE INDEX outbox_queued ON outbox (next_attempt_at) WHERE status = 'queued';

-- A scheduled job runs once per period across replicas: the insert is the claim.
CREATE TABLE job_runs (
    job           TEXT NOT NULL,
    scheduled_for TEXT NOT NULL,
    started_at    TEXT NOT NULL,
    PRIMARY KEY (job, scheduled_for)
);
