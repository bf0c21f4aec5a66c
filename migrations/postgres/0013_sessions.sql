-- The web UI's sessions (tower-sessions over escalate's own store). The id is kept only as its
-- SHA-256, so a copy of this table signs nobody in; the data is the session's JSON (the user's
-- id and address, the CSRF token). Rows past expires_at are never loaded and are purged by
-- serve every few minutes.
CREATE TABLE sessions (
    id_hash    TEXT        PRIMARY KEY,
    data       TEXT        NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_expires ON sessions (expires_at);
