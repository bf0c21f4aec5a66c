-- People who sign in (the API, later the web UI), their API tokens, and the access log. Emails are stored in
-- lower case; a password or token is never stored, only its hash (argon2id for passwords,
-- SHA-256 for tokens, which are 256 random bits).
CREATE TABLE users (
    id            BIGSERIAL   PRIMARY KEY,
    email         TEXT        NOT NULL UNIQUE,
    name          TEXT        NOT NULL,
    agency        TEXT,
    role          TEXT        NOT NULL CHECK (role IN ('practitioner', 'manager', 'senior_manager',
                                                       'partnership', 'board', 'admin')),
    password_hash TEXT,
    created_at    TIMESTAMPTZ NOT NULL,
    disabled_at   TIMESTAMPTZ
);

CREATE TABLE api_tokens (
    id           BIGSERIAL   PRIMARY KEY,
    user_id      BIGINT      NOT NULL REFERENCES users (id),
    name         TEXT        NOT NULL,
    token_hash   TEXT        NOT NULL UNIQUE,
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    revoked_at   TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

-- Every read of a case and every action on one through the API or web UI: who, when, what,
-- from which address, and how it was answered (a refused or hidden attempt too).
CREATE TABLE access_log (
    id        BIGSERIAL   PRIMARY KEY,
    at        TIMESTAMPTZ NOT NULL,
    user_id   BIGINT      REFERENCES users (id),
    email     TEXT        NOT NULL,
    reference TEXT        NOT NULL,
    action    TEXT        NOT NULL,
    status    INTEGER     NOT NULL,
    address   TEXT,
    reason    TEXT
);
CREATE INDEX access_log_reference ON access_log (reference, id);

-- A POST's Idempotency-Key and what it recorded, written in the same transaction as the case
-- write: a retried or double-submitted request finds it and is answered, not recorded twice.
CREATE TABLE idempotency_keys (
    user_id     BIGINT  NOT NULL REFERENCES users (id),
    key         TEXT    NOT NULL,
    fingerprint TEXT    NOT NULL,
    reference   TEXT    NOT NULL,
    seq         BIGINT  NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, key)
);
