-- The monthly report's per-case summary (src/store/summary.rs): a derived cache of the event log
-- that the store writes in the same transaction as each entry, so the report reads a few indexed
-- groups instead of every event. Months are London month numbers (year * 12 + month - 1), days
-- London day numbers (days from 1 January of year 1). Not hash-chained: it holds nothing the log
-- does not; `audit verify` checks it against the log and `escalate report rebuild` rewrites it.
CREATE TABLE case_summary (
    case_id        INTEGER PRIMARY KEY,
    workflow       TEXT    NOT NULL,
    division       TEXT    NOT NULL,
    category       TEXT,
    raising        TEXT,
    receiving      TEXT,
    opened_month   INTEGER NOT NULL,
    opened_day     INTEGER NOT NULL,
    closed_month   INTEGER,
    closed_day     INTEGER,
    outcome        TEXT,
    outcome_detail TEXT
);
-- The report finds a month's cases as those opened by its end and not closed before its start:
-- one range of this index (an open case's closed month counts as 2147483647, so that the range
-- takes it in; both databases use an index on an expression the query repeats word for word),
-- opened_month checked in the index.
CREATE INDEX case_summary_active
    ON case_summary (workflow, (COALESCE(closed_month, 2147483647)), opened_month);

-- One row per stay of a case in a state that is not terminal, keyed by the entry that entered it;
-- the entry that leaves it fills in the left_* columns (left_in_time: it met the state's lapse
-- deadline before that fell due). The report reads a month's cases' stays by case, so the key is
-- the only index: a transition adds one index entry, and its update of the stay changes no
-- indexed column.
CREATE TABLE case_stays (
    case_id       INTEGER NOT NULL,
    seq           INTEGER NOT NULL,
    state         TEXT    NOT NULL,
    entered_month INTEGER NOT NULL,
    entered_day   INTEGER NOT NULL,
    left_month    INTEGER,
    left_day      INTEGER,
    left_to       TEXT,
    left_in_time  INTEGER,
    PRIMARY KEY (case_id, seq)
) WITHOUT ROWID;

-- A row here asks for the summary to be rebuilt from the log (the store does it when it next
-- migrates, in Rust: SQLite has no time zones to find London months with).
CREATE TABLE summary_rebuild (reason TEXT NOT NULL);
INSERT INTO summary_rebuild (reason) SELECT 'migration 0009' WHERE EXISTS (SELECT 1 FROM cases);
