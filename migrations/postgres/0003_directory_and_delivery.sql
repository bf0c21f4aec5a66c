-- The agency directory: who to contact at each escalation level of each agency, imported from
-- config/agencies.yaml. The partnership itself is an agency (its business unit).
CREATE TABLE agencies (
    id          TEXT        NOT NULL PRIMARY KEY,
    name        TEXT        NOT NULL,
    imported_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX agencies_name ON agencies (lower(name));

CREATE TABLE agency_contacts (
    agency TEXT NOT NULL REFERENCES agencies (id) ON DELETE CASCADE,
    level  TEXT NOT NULL
           CHECK (level IN ('practitioner', 'line_manager', 'senior_manager', 'business_unit')),
    name   TEXT NOT NULL,
    email  TEXT NOT NULL,
    PRIMARY KEY (agency, level, email)
);

-- Each outbox row is one message to one person. Its Message-ID is fixed when it is queued, so
-- a retried delivery is recognisably the same message; the server's reply is kept.
ALTER TABLE outbox ADD COLUMN message_id TEXT;
ALTER TABLE outbox ADD COLUMN reply TEXT;
CREATE INDEX outbox_case ON outbox (case_id);
