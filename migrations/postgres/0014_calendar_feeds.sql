-- Each person's iCalendar feed of their deadlines (/calendar/TOKEN.ics), which a calendar
-- program fetches without signing in: the token in its address is the only credential, so it is
-- kept as a hash like an API token, grants nothing else, and is revoked or replaced by its owner.
-- A person has at most one feed that is not revoked.
CREATE TABLE calendar_feeds (
    id           BIGSERIAL PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users (id),
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   TIMESTAMPTZ NOT NULL,
    revoked_at   TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ
);
CREATE UNIQUE INDEX calendar_feeds_live ON calendar_feeds (user_id) WHERE revoked_at IS NULL;
