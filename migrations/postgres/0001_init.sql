-- escalate's schema on PostgreSQL.

CREATE TABLE workflow_versions (
    workflow   TEXT        NOT NULL,
    hash       TEXT        NOT NULL,
    label      INTEGER     NOT NULL,
    source     TEXT        NOT NULL,
    first_seen TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workflow, hash)
);

-- Next case number per reference prefix and year (DSP-2026-000042).
CREATE TABLE reference_counters (
    prefix TEXT    NOT NULL,
    year   INTEGER NOT NULL,
    last   BIGINT  NOT NULL,
    PRIMARY KEY (prefix, year)
);

CREATE TABLE cases (
    id            BIGSERIAL   PRIMARY KEY,
    reference     TEXT        NOT NULL UNIQUE,
    workflow      TEXT        NOT NULL,
    workflow_hash TEXT        NOT NULL,
    state         TEXT        NOT NULL,
    data          JSONB       NOT NULL,
    division      TEXT        NOT NULL,
    agency        TEXT,
    opened_at     TIMESTAMPTZ NOT NULL,
    entered_at    TIMESTAMPTZ NOT NULL,
    closed_at     TIMESTAMPTZ,
    outcome       TEXT,
    event_times   JSONB       NOT NULL,
    -- The latest event-log entry: its number, time and hash (the head of the chain).
    seq           BIGINT      NOT NULL,
    last_at       TIMESTAMPTZ NOT NULL,
    last_hash     TEXT        NOT NULL,
    FOREIGN KEY (workflow, workflow_hash) REFERENCES workflow_versions (workflow, hash)
);
CREATE INDEX cases_workflow_state ON cases (workflow, state);

-- Append-only: who did what, when and why, hash-chained per case.
CREATE TABLE events (
    id          BIGSERIAL   PRIMARY KEY,
    case_id     BIGINT      NOT NULL REFERENCES cases (id),
    seq         BIGINT      NOT NULL,
    at          TIMESTAMPTZ NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL,
    actor       TEXT        NOT NULL,
    event       TEXT        NOT NULL,
    from_state  TEXT        NOT NULL,
    to_state    TEXT        NOT NULL,
    fields      JSONB       NOT NULL,
    reason      TEXT,
    prev_hash   TEXT        NOT NULL,
    hash        TEXT        NOT NULL,
    UNIQUE (case_id, seq)
);
CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the event log is append-only';
END;
$$;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_append_only();

CREATE TABLE deadlines (
    id               BIGSERIAL   PRIMARY KEY,
    case_id          BIGINT      NOT NULL REFERENCES cases (id),
    slot_kind        TEXT        NOT NULL CHECK (slot_kind IN ('state', 'task')),
    slot             TEXT        NOT NULL,
    kind             TEXT        NOT NULL CHECK (kind IN ('warning', 'lapse')),
    due_at           TIMESTAMPTZ NOT NULL,
    status           TEXT        NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'fired', 'met', 'cancelled')),
    explanation      TEXT        NOT NULL,
    data_version     TEXT        NOT NULL,
    started_at       TIMESTAMPTZ NOT NULL,
    ended_at         TIMESTAMPTZ,
    late             BOOLEAN     NOT NULL DEFAULT FALSE,
    lease_owner      TEXT,
    lease_expires_at TIMESTAMPTZ,
    attempts         INTEGER     NOT NULL DEFAULT 0
);
CREATE INDEX deadlines_pending_due ON deadlines (due_at) WHERE status = 'pending';
CREATE INDEX deadlines_case ON deadlines (case_id, status);

CREATE TABLE outbox (
    id               BIGSERIAL   PRIMARY KEY,
    case_id          BIGINT      REFERENCES cases (id),
    idempotency_key  TEXT        NOT NULL UNIQUE,
    kind             TEXT        NOT NULL CHECK (kind IN ('email', 'form')),
    template         TEXT        NOT NULL,
    recipients       JSONB       NOT NULL,
    payload          JSONB       NOT NULL,
    status           TEXT        NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'sent', 'failed')),
    attempts         INTEGER     NOT NULL DEFAULT 0,
    next_attempt_at  TIMESTAMPTZ NOT NULL,
    last_error       TEXT,
    created_at       TIMESTAMPTZ NOT NULL,
    sent_at          TIMESTAMPTZ,
    lease_owner      TEXT,
    lease_expires_at TIMESTAMPTZ
);
CREATE INDEX outbox_queued ON outbox (next_attempt_at) WHERE status = 'queued';

-- A scheduled job runs once per period across replicas: the insert is the claim.
CREATE TABLE job_runs (
    job           TEXT        NOT NULL,
    scheduled_for TIMESTAMPTZ NOT NULL,
    started_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (job, scheduled_for)
);
