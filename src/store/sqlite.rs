//! The SQLite store: one file in WAL mode with a busy timeout, for a single process.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::{Backend, Store, StoreError, redact};
use crate::workflow::Definition;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// A UTC time in the one text format stored, whose text order is time order.
pub(crate) fn text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// escalate's data in a SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) the file a `sqlite://FILE` URL names.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let unreachable = |e: sqlx::Error| StoreError::Unreachable {
            url: redact(url),
            message: e.to_string(),
        };
        let options = SqliteConnectOptions::from_str(url)
            .map_err(unreachable)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // A committed transition must survive a power cut, not only a crash.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(unreachable)?;
        Ok(SqliteStore { pool })
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn migrate(&self) -> Result<Vec<i64>, StoreError> {
        let before = self.schema_version().await.unwrap_or(None);
        MIGRATOR.run(&self.pool).await?;
        Ok(MIGRATOR
            .iter()
            .map(|m| m.version)
            .filter(|v| before.is_none_or(|b| *v > b))
            .collect())
    }

    async fn schema_version(&self) -> Result<Option<i64>, StoreError> {
        let exists: Option<(String,)> = sqlx::query_as(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        )
        .fetch_optional(&self.pool)
        .await?;
        if exists.is_none() {
            return Ok(None);
        }
        let row: (Option<i64>,) =
            sqlx::query_as("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(&self.pool)
                .await?;
        Ok(row.0)
    }

    async fn save_workflow_version(
        &self,
        definition: &Definition,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO workflow_versions (workflow, hash, label, source, first_seen)
             VALUES (?, ?, ?, ?, ?) ON CONFLICT (workflow, hash) DO NOTHING",
        )
        .bind(&definition.id)
        .bind(&definition.hash)
        .bind(i64::from(definition.label))
        .bind(&definition.source)
        .bind(text(now))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn workflow_source(
        &self,
        workflow: &str,
        hash: &str,
    ) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT source FROM workflow_versions WHERE workflow = ? AND hash = ?")
                .bind(workflow)
                .bind(hash)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|r| r.0))
    }
}
