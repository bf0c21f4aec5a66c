-- What makes a page of `GET /api/v1/cases` cheap among a hundred thousand cases.
--
-- Covering indexes for the lists' sets of case ids: a person's cases by their email, and by
-- their agency (with the party's role, for directory contacts), read from the index alone
-- (an index-only scan), without a visit to each matching row. They replace the indexes of
-- migration 0012, whose columns they begin with.
CREATE INDEX case_parties_email_case ON case_parties (email, case_id);
CREATE INDEX case_parties_agency_case ON case_parties (agency, role, case_id);
DROP INDEX case_parties_email;
DROP INDEX case_parties_agency;

-- case_counts: how many cases each workflow has, kept by the triggers below whatever writes
-- the cases, so that the total of a list of every case (the partnership's), or of every case
-- of one workflow, is read from one row instead of counted on every page. Derived, like
-- case_order. Cases are never deleted nor change workflow; the triggers for those keep the
-- count true anyway. An opening's increment holds its workflow's row until it commits, as it
-- holds its reference counter's row (taken first, in the same order every time): openings of
-- one workflow took turns already.
CREATE TABLE case_counts (
    workflow TEXT   PRIMARY KEY,
    cases    BIGINT NOT NULL
);

INSERT INTO case_counts (workflow, cases) SELECT workflow, COUNT(*) FROM cases GROUP BY workflow;

CREATE FUNCTION escalate_case_counted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        UPDATE case_counts SET cases = cases - 1 WHERE workflow = OLD.workflow;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO case_counts (workflow, cases) VALUES (NEW.workflow, 1)
        ON CONFLICT (workflow) DO UPDATE SET cases = case_counts.cases + 1;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER case_counts_opened AFTER INSERT ON cases
    FOR EACH ROW EXECUTE FUNCTION escalate_case_counted();
CREATE TRIGGER case_counts_deleted AFTER DELETE ON cases
    FOR EACH ROW EXECUTE FUNCTION escalate_case_counted();
CREATE TRIGGER case_counts_moved AFTER UPDATE OF workflow ON cases
    FOR EACH ROW WHEN (NEW.workflow IS DISTINCT FROM OLD.workflow)
    EXECUTE FUNCTION escalate_case_counted();
