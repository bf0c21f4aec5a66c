-- What administrators did, from the web UI or the command line: users added and disabled, API
-- tokens made and revoked, the agency directory replaced. Who (a user, or the command line and
-- the account it ran as), when, what, to whom, and from which address.
CREATE TABLE admin_log (
    id      BIGSERIAL PRIMARY KEY,
    at      TIMESTAMPTZ NOT NULL,
    user_id BIGINT REFERENCES users (id),
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail  TEXT,
    address TEXT
);
