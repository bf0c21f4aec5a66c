-- Scheduled jobs (src/schedule): a row is the claim on one occurrence, inserted with
-- ON CONFLICT DO NOTHING so one process across all replicas runs it. These columns say how
-- the run ended; NULL outcome = still running (or its process died: it is not run again).
ALTER TABLE job_runs ADD COLUMN finished_at TEXT;
ALTER TABLE job_runs ADD COLUMN outcome TEXT;
ALTER TABLE job_runs ADD COLUMN message TEXT;
