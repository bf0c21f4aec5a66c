-- What makes a page of one person's cases cheap in deadline order, however many they have.
--
-- Each case_parties row carries its case's next_due (case_order's, the far future when it has no
-- pending deadline), kept by the triggers below, so that the cases naming an email or an agency,
-- nearest deadline first, are one range of an index: a page merges a few such ranges and stops
-- after it, where before it read and sorted every one of a person's cases (4,500 of 100,000 for
-- one agency's named nurse) on every page.
ALTER TABLE case_parties ADD COLUMN next_due TEXT NOT NULL DEFAULT '9999-12-31T23:59:59.999999Z';
UPDATE case_parties SET next_due = COALESCE(
    (SELECT o.next_due FROM case_order o WHERE o.case_id = case_parties.case_id),
    '9999-12-31T23:59:59.999999Z');

-- They begin with the columns of the index they replace (email) or stand beside (agency, role:
-- the directory contacts' sets), so the lists' counts still read indexes alone.
CREATE INDEX case_parties_email_due ON case_parties (email, next_due, case_id);
CREATE INDEX case_parties_agency_due ON case_parties (agency, next_due, case_id);
DROP INDEX case_parties_email_case;

-- A case's next deadline moved (case_order's triggers, migration 0012): so do its parties'.
CREATE TRIGGER case_parties_next_due AFTER UPDATE OF next_due ON case_order
    WHEN NEW.next_due IS NOT OLD.next_due
BEGIN
    UPDATE case_parties SET next_due = NEW.next_due WHERE case_id = NEW.case_id;
END;

-- A party written (with its case, or by the reindex of older cases) takes its case's.
CREATE TRIGGER case_parties_added AFTER INSERT ON case_parties
BEGIN
    UPDATE case_parties SET next_due = COALESCE(
        (SELECT o.next_due FROM case_order o WHERE o.case_id = NEW.case_id), NEW.next_due)
    WHERE case_id = NEW.case_id AND role = NEW.role;
END;
