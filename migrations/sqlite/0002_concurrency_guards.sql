-- Concurrency guards the database enforces, so no writer can get them wrong: a case's log head
-- advances one entry at a time, and a deadline that has ended (fired, met, cancelled) never
-- changes again. A writer that decided on a stale read is stopped here, and its whole
-- transaction rolls back; the store reports it as a conflict and the engine decides again.
CREATE TRIGGER cases_seq_advances_by_one BEFORE UPDATE ON cases
    WHEN NEW.seq <> OLD.seq + 1
BEGIN
    SELECT RAISE(ABORT, 'escalate-conflict: the case changed concurrently');
END;

CREATE TRIGGER deadlines_end_once BEFORE UPDATE ON deadlines
    WHEN OLD.status <> 'pending'
BEGIN
    SELECT RAISE(ABORT, 'escalate-conflict: the deadline has already ended');
END;
