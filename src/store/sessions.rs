//! The web UI's sessions in the database ([`SessionRows`], a part of every [`super::Store`]):
//! rows keyed by the SHA-256 of the session id, holding the session's JSON and its expiry.
//! `crate::web::session` puts tower-sessions' `SessionStore` on top. One SQL text for both
//! backends; only the binding and decoding of times differ, as in `access.rs`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::access::StoredTime;
use super::{PostgresStore, SqliteStore, StoreError};

/// A stored session: its data (JSON text) and when it expires.
#[derive(Clone, PartialEq)]
pub struct SessionRow {
    /// The session's data as JSON text.
    pub data: String,
    /// When it stops being loaded.
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for SessionRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the data: it holds the CSRF token.
        f.debug_struct("SessionRow")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// The sessions part of the store. Ids are given hashed (`id_hash`), never in the clear.
#[async_trait]
pub trait SessionRows: Send + Sync {
    /// Adds a session; false (nothing written) when one with this id exists.
    async fn create_session(&self, id_hash: &str, row: &SessionRow) -> Result<bool, StoreError>;

    /// Replaces what a session held; nothing when it no longer exists (signed out, expired and
    /// purged), so that a request still in flight cannot bring it back.
    async fn save_session(&self, id_hash: &str, row: &SessionRow) -> Result<(), StoreError>;

    /// The session with this id, unless it expired at or before `now`.
    async fn load_session(
        &self,
        id_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<SessionRow>, StoreError>;

    /// Deletes a session (nothing when there is none).
    async fn delete_session(&self, id_hash: &str) -> Result<(), StoreError>;

    /// Deletes every session expired at or before `now`; how many.
    async fn purge_sessions(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;
}

const CREATE: &str = "INSERT INTO sessions (id_hash, data, expires_at) VALUES ($1, $2, $3) \
     ON CONFLICT (id_hash) DO NOTHING";
/// Only a session that exists: one deleted meanwhile (signed out, purged) stays deleted, even
/// when a request that loaded it before finishes after.
const SAVE: &str = "UPDATE sessions SET data = $2, expires_at = $3 WHERE id_hash = $1";
const LOAD: &str = "SELECT data, expires_at FROM sessions WHERE id_hash = $1 AND expires_at > $2";
const DELETE: &str = "DELETE FROM sessions WHERE id_hash = $1";
const PURGE: &str = "DELETE FROM sessions WHERE expires_at <= $1";

macro_rules! session_rows {
    ($store:ty, $ts:ty) => {
        #[async_trait]
        impl SessionRows for $store {
            async fn create_session(
                &self,
                id_hash: &str,
                row: &SessionRow,
            ) -> Result<bool, StoreError> {
                let _turn = self.write_turn().await;
                let done = sqlx::query(CREATE)
                    .bind(id_hash)
                    .bind(&row.data)
                    .bind(<$ts>::stamp(row.expires_at))
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn save_session(
                &self,
                id_hash: &str,
                row: &SessionRow,
            ) -> Result<(), StoreError> {
                let _turn = self.write_turn().await;
                sqlx::query(SAVE)
                    .bind(id_hash)
                    .bind(&row.data)
                    .bind(<$ts>::stamp(row.expires_at))
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn load_session(
                &self,
                id_hash: &str,
                now: DateTime<Utc>,
            ) -> Result<Option<SessionRow>, StoreError> {
                let row: Option<(String, $ts)> = sqlx::query_as(LOAD)
                    .bind(id_hash)
                    .bind(<$ts>::stamp(now))
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|(data, expires)| {
                    Ok(SessionRow {
                        data,
                        expires_at: expires.utc()?,
                    })
                })
                .transpose()
            }

            async fn delete_session(&self, id_hash: &str) -> Result<(), StoreError> {
                let _turn = self.write_turn().await;
                sqlx::query(DELETE)
                    .bind(id_hash)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn purge_sessions(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
                let _turn = self.write_turn().await;
                let done = sqlx::query(PURGE)
                    .bind(<$ts>::stamp(now))
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected())
            }
        }
    };
}

session_rows!(SqliteStore, String);
session_rows!(PostgresStore, DateTime<Utc>);
