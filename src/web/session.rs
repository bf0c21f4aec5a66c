//! Web sessions: tower-sessions' [`SessionStore`] over escalate's own store (the `sessions`
//! table, either backend), and [`SignedIn`], the typed part of a session that says who is
//! signed in. A session id is 128 random bits held only in the cookie; the table keeps its
//! SHA-256.

use std::sync::Arc;

use async_trait::async_trait;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;
use tower_sessions::cookie::time::OffsetDateTime;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};

use super::Layout;
use crate::access::credentials::token_hash;
use crate::http::AppState;
use crate::store::{SessionRow, Store, StoreError, UserRecord};

/// The sessions in escalate's database.
#[derive(Clone)]
pub struct DbSessions {
    store: Arc<dyn Store>,
}

impl std::fmt::Debug for DbSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DbSessions")
    }
}

impl DbSessions {
    /// Sessions kept in `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        DbSessions { store }
    }
}

/// The key a session is stored under: its id's SHA-256, so that the table signs nobody in.
fn key(id: &Id) -> String {
    token_hash(&id.to_string())
}

fn backend(e: StoreError) -> session_store::Error {
    // The detail (which may name the database host) goes to the log, not the page.
    tracing::error!("session store: {e}");
    session_store::Error::Backend("the session store failed".into())
}

fn utc(t: OffsetDateTime) -> Result<DateTime<Utc>, session_store::Error> {
    DateTime::from_timestamp(t.unix_timestamp(), t.nanosecond())
        .ok_or_else(|| session_store::Error::Encode("expiry out of range".into()))
}

fn row(record: &Record) -> Result<SessionRow, session_store::Error> {
    Ok(SessionRow {
        data: serde_json::to_string(&record.data)
            .map_err(|e| session_store::Error::Encode(e.to_string()))?,
        expires_at: utc(record.expiry_date)?,
    })
}

#[async_trait]
impl SessionStore for DbSessions {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let stored = row(record)?;
        // A new id until one is free (a clash of 128 random bits is not expected).
        while !self
            .store
            .create_session(&key(&record.id), &stored)
            .await
            .map_err(backend)?
        {
            record.id = Id::default();
        }
        Ok(())
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.store
            .save_session(&key(&record.id), &row(record)?)
            .await
            .map_err(backend)
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let Some(stored) = self
            .store
            .load_session(&key(id), Utc::now())
            .await
            .map_err(backend)?
        else {
            return Ok(None);
        };
        let nanos = stored
            .expires_at
            .timestamp_nanos_opt()
            .ok_or_else(|| session_store::Error::Decode("expiry out of range".into()))?;
        Ok(Some(Record {
            id: *id,
            data: serde_json::from_str(&stored.data)
                .map_err(|e| session_store::Error::Decode(e.to_string()))?,
            expiry_date: OffsetDateTime::from_unix_timestamp_nanos(nanos.into())
                .map_err(|e| session_store::Error::Decode(e.to_string()))?,
        }))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.store.delete_session(&key(id)).await.map_err(backend)
    }
}

/// A session that could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum SessionFault {
    /// The session layer failed (its store, or data that does not decode).
    #[error("session: {0}")]
    Session(#[from] tower_sessions::session::Error),
    /// The user's record could not be read.
    #[error("session user: {0}")]
    Store(#[from] StoreError),
}

impl SessionFault {
    /// The 500 page for it; the detail goes to the log only.
    pub fn page(self, state: &AppState) -> Response {
        tracing::error!("{self}");
        state.web.error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &Layout::default(),
            "Sorry, there is a problem with the service",
            &["Try again later."],
        )
    }
}

/// Who is signed in, as the session holds it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignedIn {
    /// The user's row id.
    pub id: i64,
    /// Their address when they signed in.
    pub email: String,
    /// When they signed in (`None` in a session from before it was kept: such a session ends).
    #[serde(default)]
    pub at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The longest a sign-in lasts, however busy: a session kept alive by polling still ends.
pub const MAX_SIGN_IN: chrono::TimeDelta = chrono::TimeDelta::hours(12);

impl SignedIn {
    const KEY: &'static str = "signed_in";

    /// Whether this sign-in has lasted longer than [`MAX_SIGN_IN`] at `now`.
    fn over(&self, now: chrono::DateTime<chrono::Utc>) -> bool {
        self.at.is_none_or(|at| now - at > MAX_SIGN_IN)
    }

    /// Signs `user` in on `session`: a new session id (so that an id planted before sign-in
    /// is worth nothing), nothing kept from before (a draft of someone signed in before on
    /// this browser is not carried over), and a new CSRF token.
    pub async fn start(session: &Session, user: &UserRecord) -> Result<(), SessionFault> {
        session.clear().await;
        session.cycle_id().await?;
        session
            .insert(
                Self::KEY,
                SignedIn {
                    id: user.id,
                    email: user.email.clone(),
                    at: Some(chrono::Utc::now()),
                },
            )
            .await?;
        super::csrf::renew(session).await?;
        Ok(())
    }

    /// The signed-in user, read afresh: `None` signed out, and for a user disabled (or
    /// removed) since they signed in, or signed in more than [`MAX_SIGN_IN`] ago, whose
    /// session is then ended.
    pub async fn user(
        state: &AppState,
        session: &Session,
    ) -> Result<Option<UserRecord>, SessionFault> {
        let Some(who) = session.get::<SignedIn>(Self::KEY).await? else {
            return Ok(None);
        };
        if who.over(chrono::Utc::now()) {
            tracing::info!(
                user_id = who.id,
                "a sign-in reached its 12 hours: signed out"
            );
            session.flush().await?;
            return Ok(None);
        }
        let user = state.engine.store().user(&who.email).await?;
        match user {
            Some(u) if u.id == who.id && u.disabled_at.is_none() => Ok(Some(u)),
            _ => {
                tracing::info!(user_id = who.id, "a session's user is disabled: signed out");
                session.flush().await?;
                Ok(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sign_in_ends_after_twelve_hours_whatever_the_activity() {
        let at: chrono::DateTime<chrono::Utc> = "2026-11-26T09:00:00Z".parse().unwrap();
        let who = SignedIn {
            id: 1,
            email: "a@b.org".into(),
            at: Some(at),
        };
        assert!(!who.over(at + chrono::TimeDelta::hours(12)));
        assert!(who.over(at + chrono::TimeDelta::hours(12) + chrono::TimeDelta::seconds(1)));
        assert!(SignedIn { at: None, ..who }.over(at));
    }
}
