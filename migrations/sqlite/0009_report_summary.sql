-- The monthly report's per-case summary (src/store/summary.rs): a derived cache of the event log
-- that the store writes in the same transaction as each entry, so the report reads one month's
-- cases instead of every event. Months are London month numbers (year * 12 + month - 1), days
-- London day numbers (days from 1 January of year 1). `moves` holds one `STATE MONTH DAY FLAG;`
-- per change of state (FLAG: the state left had its deadline met in time, 1 or 0; - for the
-- opening): a change of state appends to it, a column no index covers. Not hash-chained: it holds
-- nothing the log does not; `audit verify` checks it against the log and `escalate report
-- rebuild` rewrites it.
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
    outcome_detail TEXT,
    moves          TEXT    NOT NULL
);
-- The report finds a month's cases as those opened by its end and not closed before its start:
-- one range of this index (an open case's closed month counts as 2147483647, so that the range
-- takes it in; both databases use an index on an expression the query repeats word for word),
-- opened_month checked in the index.
CREATE INDEX case_summary_active
    ON case_summary (workflow, (COALESCE(closed_month, 2147483647)), opened_month);

-- A row here asks for the summary to be rebuilt from the log (the store does it when it next
-- migrates, in Rust: SQLite has no time zones to find London months with).
CREATE TABLE summary_rebuild (reason TEXT NOT NULL);
INSERT INTO summary_rebuild (reason) SELECT 'migration 0009' WHERE EXISTS (SELECT 1 FROM cases);
