//! The PostgreSQL store, shared by any number of replicas.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::ConnectOptions;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use super::{Backend, Store, StoreError, redact};
use crate::workflow::Definition;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// escalate's data in a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to the database a `postgres://…` URL names.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let unreachable = |message: String| StoreError::Unreachable {
            url: redact(url),
            message,
        };
        let options = PgConnectOptions::from_str(url).map_err(|e| unreachable(e.to_string()))?;
        // One direct connection first: a pool would only say it timed out, not why.
        let first = tokio::time::timeout(CONNECT_TIMEOUT, options.connect()).await;
        match first {
            Err(_) => return Err(unreachable(format!("no answer within {CONNECT_TIMEOUT:?}"))),
            Ok(Err(e)) => return Err(unreachable(e.to_string())),
            Ok(Ok(conn)) => drop(conn),
        }
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        Ok(PostgresStore { pool })
    }
}

#[async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
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
        let exists: (Option<String>,) =
            sqlx::query_as("SELECT to_regclass('_sqlx_migrations')::text")
                .fetch_one(&self.pool)
                .await?;
        if exists.0.is_none() {
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
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (workflow, hash) DO NOTHING",
        )
        .bind(&definition.id)
        .bind(&definition.hash)
        .bind(i32::try_from(definition.label).unwrap_or(i32::MAX))
        .bind(&definition.source)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn workflow_source(
        &self,
        workflow: &str,
        hash: &str,
    ) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT source FROM workflow_versions WHERE workflow = $1 AND hash = $2",
        )
        .bind(workflow)
        .bind(hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.0))
    }
}
