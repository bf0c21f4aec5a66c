//! What `/metrics` reports of the database: cases by workflow and state, deadlines pending and
//! overdue, the outbox by status, each job's last run. Counts only, no case data; the same SQL
//! for both backends.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::sqlite::text;
use super::{PostgresStore, SqliteStore, StoreError};

/// The database's gauges at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Gauges {
    /// Open and closed cases by workflow and state.
    pub cases: Vec<(String, String, i64)>,
    /// Pending deadlines (lapses and warnings) by kind.
    pub pending: Vec<(String, i64)>,
    /// Of those, due at or before now (the sweep has not reached them).
    pub overdue: Vec<(String, i64)>,
    /// Outbox rows by status.
    pub outbox: Vec<(String, i64)>,
    /// Each job's last claimed run: job, outcome (`running` while unfinished), how many runs.
    pub jobs: Vec<(String, String, i64)>,
}

/// The gauges part of the store.
#[async_trait]
pub trait GaugeStore: Send + Sync {
    /// The gauges as at `now`.
    async fn gauges(&self, now: DateTime<Utc>) -> Result<Gauges, StoreError>;
}

const CASES: &str =
    "SELECT workflow, state, COUNT(*) FROM cases GROUP BY workflow, state ORDER BY 1, 2";
const PENDING: &str =
    "SELECT kind, COUNT(*) FROM deadlines WHERE status = 'pending' GROUP BY kind ORDER BY 1";
const OVERDUE: &str = "SELECT kind, COUNT(*) FROM deadlines WHERE status = 'pending' AND due_at <= $1 \
     GROUP BY kind ORDER BY 1";
const OUTBOX: &str = "SELECT status, COUNT(*) FROM outbox GROUP BY status ORDER BY 1";
const JOBS: &str = "SELECT j.job, COALESCE(j.outcome, 'running'), \
     (SELECT COUNT(*) FROM job_runs r WHERE r.job = j.job) FROM job_runs j \
     WHERE j.scheduled_for = (SELECT MAX(scheduled_for) FROM job_runs m WHERE m.job = j.job) \
     ORDER BY 1";

macro_rules! gauge_store {
    ($store:ty, $stamp:expr) => {
        #[async_trait]
        impl GaugeStore for $store {
            async fn gauges(&self, now: DateTime<Utc>) -> Result<Gauges, StoreError> {
                Ok(Gauges {
                    cases: sqlx::query_as(CASES).fetch_all(&self.pool).await?,
                    pending: sqlx::query_as(PENDING).fetch_all(&self.pool).await?,
                    overdue: sqlx::query_as(OVERDUE)
                        .bind(($stamp)(now))
                        .fetch_all(&self.pool)
                        .await?,
                    outbox: sqlx::query_as(OUTBOX).fetch_all(&self.pool).await?,
                    jobs: sqlx::query_as(JOBS).fetch_all(&self.pool).await?,
                })
            }
        }
    };
}

gauge_store!(SqliteStore, text);
gauge_store!(PostgresStore, |t: DateTime<Utc>| t);
