-- Concurrency guards the database enforces, so no writer can get them wrong: a case's log head
-- advances one entry at a time, and a deadline that has ended (fired, met, cancelled) never
-- changes again. A writer that decided on a stale read is stopped here with
-- serialization_failure, and its whole statement or transaction rolls back; the store reports
-- it as a conflict and the engine decides again.
CREATE FUNCTION escalate_concurrent_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'escalate-conflict: % row % changed concurrently', TG_TABLE_NAME, OLD.id
        USING ERRCODE = 'serialization_failure';
END;
$$;

CREATE TRIGGER cases_seq_advances_by_one BEFORE UPDATE ON cases
    FOR EACH ROW WHEN (NEW.seq <> OLD.seq + 1) EXECUTE FUNCTION escalate_concurrent_change();

CREATE TRIGGER deadlines_end_once BEFORE UPDATE ON deadlines
    FOR EACH ROW WHEN (OLD.status <> 'pending') EXECUTE FUNCTION escalate_concurrent_change();
