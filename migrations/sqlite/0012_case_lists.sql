-- What `GET /api/v1/cases` and `GET /api/v1/deadlines` list by, so that a page of one person's
-- cases among many thousands is one range of an index, not a read of every case's data.
--
-- case_parties: the parties a case's opening data names (one row per party role of its
-- workflow), written with the case in the same transaction. Opening data never changes, so
-- neither do these rows. Emails and agencies are lower-case; the agency is as the data names it
-- (an id or a name), matched against the directory when a list is asked for.
CREATE TABLE case_parties (
    case_id INTEGER NOT NULL,
    role    TEXT    NOT NULL,
    email   TEXT,
    agency  TEXT,
    PRIMARY KEY (case_id, role)
);
CREATE INDEX case_parties_email ON case_parties (email);
CREATE INDEX case_parties_agency ON case_parties (agency, role);

-- case_order: each case's earliest pending deadline (the far future when it has none), kept by
-- the triggers below whatever writes the deadlines, so that "nearest deadline first" is an
-- index order. Derived; no foreign keys, like case_summary.
CREATE TABLE case_order (
    case_id  INTEGER PRIMARY KEY,
    next_due TEXT    NOT NULL
);
CREATE INDEX case_order_due ON case_order (next_due, case_id);

INSERT INTO case_order (case_id, next_due)
SELECT c.id, COALESCE((SELECT MIN(d.due_at) FROM deadlines d
                       WHERE d.case_id = c.id AND d.status = 'pending'),
                      '9999-12-31T23:59:59.999999Z')
FROM cases c;

CREATE TRIGGER case_order_opened AFTER INSERT ON cases
BEGIN
    INSERT INTO case_order (case_id, next_due) VALUES (NEW.id, '9999-12-31T23:59:59.999999Z');
END;

CREATE TRIGGER case_order_deadline_started AFTER INSERT ON deadlines
BEGIN
    UPDATE case_order SET next_due = COALESCE(
        (SELECT MIN(d.due_at) FROM deadlines d WHERE d.case_id = NEW.case_id AND d.status = 'pending'),
        '9999-12-31T23:59:59.999999Z')
    WHERE case_id = NEW.case_id;
END;

CREATE TRIGGER case_order_deadline_changed AFTER UPDATE OF status, due_at ON deadlines
BEGIN
    UPDATE case_order SET next_due = COALESCE(
        (SELECT MIN(d.due_at) FROM deadlines d WHERE d.case_id = NEW.case_id AND d.status = 'pending'),
        '9999-12-31T23:59:59.999999Z')
    WHERE case_id = NEW.case_id;
END;

-- A row here asks for case_parties to be filled from the cases opened before it existed (the
-- engine does it, in Rust, when it next starts: which paths name parties is in the workflows).
CREATE TABLE party_reindex (reason TEXT NOT NULL);
INSERT INTO party_reindex (reason) SELECT 'migration 0012' WHERE EXISTS (SELECT 1 FROM cases);
