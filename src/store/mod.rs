//! The database: one [`Store`] trait, a SQLite and a PostgreSQL implementation, chosen from the URL.
//!
//! SQLite (`sqlite://FILE`) is the embedded default for one process; PostgreSQL (`postgres://…`)
//! is the production store that any number of replicas share. Both run the same migrations
//! (`migrations/sqlite`, `migrations/postgres`, identical versions).

pub mod chain;
mod postgres;
mod records;
mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::workflow::Definition;

pub use records::*;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// What can go wrong talking to the database, each one line.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL names no backend we have.
    #[error("database URL '{0}' must start with sqlite:// or postgres://")]
    BadUrl(String),
    /// The database cannot be reached or opened.
    #[error("cannot reach the database at {url}: {message}")]
    Unreachable {
        /// The URL without its password.
        url: String,
        /// Why.
        message: String,
    },
    /// Creating or upgrading the schema failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A query failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Someone else changed the case since it was read; nothing was written.
    #[error("case {0} changed while this was being recorded; try again")]
    Conflict(String),
    /// A stored value that does not parse (a damaged database).
    #[error("stored data is damaged: {0}")]
    Damaged(String),
}

/// The marker the concurrency-guard triggers (migration 0002) put in their message.
const CONFLICT_MARK: &str = "escalate-conflict";

/// A failed write as the store reports it: the guard triggers' refusal (a writer decided on
/// a stale read) is a [`StoreError::Conflict`] on `reference`, anything else a database error.
pub(crate) fn write_error(e: sqlx::Error, reference: &str) -> StoreError {
    if let sqlx::Error::Database(db) = &e
        && (db.code().as_deref() == Some("40001") || db.message().contains(CONFLICT_MARK))
    {
        return StoreError::Conflict(reference.to_string());
    }
    StoreError::Database(e)
}

/// Which database a store uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

/// The database behind the engine.
#[async_trait]
pub trait Store: Send + Sync {
    /// Which database this is.
    fn backend(&self) -> Backend;

    /// Creates or upgrades the schema; returns the versions applied now (empty when up to date).
    async fn migrate(&self) -> Result<Vec<i64>, StoreError>;

    /// The newest migration applied, if any.
    async fn schema_version(&self) -> Result<Option<i64>, StoreError>;

    /// Keeps a workflow version (id, content hash, label, source) so cases opened on it can be
    /// replayed after the file changes; recording the same version again changes nothing.
    async fn save_workflow_version(
        &self,
        definition: &Definition,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// The source text of a workflow version, if kept.
    async fn workflow_source(
        &self,
        workflow: &str,
        hash: &str,
    ) -> Result<Option<String>, StoreError>;

    /// Writes case changes in ONE transaction: each new or updated case with its event-log
    /// entry, deadlines started, met or cancelled, outbox rows, and the deadline that fired.
    /// An updated case must still be at its `expected_seq`, or nothing is written
    /// ([`StoreError::Conflict`]). Returns each case's id and reference.
    async fn write(
        &self,
        writes: &[CaseWrite],
        now: DateTime<Utc>,
    ) -> Result<Vec<(i64, String)>, StoreError>;

    /// The case with this reference.
    async fn case_by_reference(&self, reference: &str) -> Result<Option<CaseRecord>, StoreError>;

    /// The cases with these row ids (those that exist), in no particular order.
    async fn cases_by_id(&self, ids: &[i64]) -> Result<Vec<CaseRecord>, StoreError>;

    /// Cases matching the filter, newest first.
    async fn list_cases(&self, filter: &CaseFilter) -> Result<Vec<CaseRecord>, StoreError>;

    /// A case's event log, oldest first.
    async fn events(&self, case_id: i64) -> Result<Vec<EventRecord>, StoreError>;

    /// A case's deadlines, by due time.
    async fn deadlines(&self, case_id: i64) -> Result<Vec<DeadlineRecord>, StoreError>;

    /// A case's outbox rows, oldest first.
    async fn outbox(&self, case_id: i64) -> Result<Vec<OutboxRecord>, StoreError>;

    /// Ends a pending deadline that no longer applies, as cancelled.
    async fn cancel_deadline(&self, id: i64, at: DateTime<Utc>) -> Result<(), StoreError>;

    /// Claims up to `limit` pending deadlines due at or before `due_by` whose lease is free or
    /// expired at `clock`, leasing them to `owner` until `lease_until`; returns them with their
    /// case references, by due time. Two claimers never get the same deadline while its lease runs.
    async fn claim_due(
        &self,
        due_by: DateTime<Utc>,
        owner: &str,
        clock: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<(DeadlineRecord, String)>, StoreError>;
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Opens the store the URL names: `sqlite://FILE` (created if missing) or `postgres://…`.
pub async fn connect(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(url).await?))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Arc::new(PostgresStore::connect(url).await?))
    } else {
        Err(StoreError::BadUrl(redact(url)))
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact("postgres://esc:hunter2@db.internal:5432/escalate"),
            "postgres://esc:***@db.internal:5432/escalate"
        );
        assert_eq!(
            redact("postgres://esc@db/escalate"),
            "postgres://esc@db/escalate"
        );
        assert_eq!(redact("sqlite://escalate.db"), "sqlite://escalate.db");
    }
}
