-- When a message was last put in the queue, on the real clock: when it was written, or when
-- `outbox retry` queued it again. How long a failing message is retried counts from here, so a
-- back-dated event's message, or one retried after days, still gets its full retry window.
ALTER TABLE outbox ADD COLUMN queued_at TEXT;
