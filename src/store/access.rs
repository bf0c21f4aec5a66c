//! Users, their API tokens and the access log in the database ([`AccessStore`], a part of
//! every [`Store`]).
//! The SQL is one text for both backends (`$N` placeholders); only the binding and decoding of
//! times differ (SQLite keeps them as text, PostgreSQL as `timestamptz`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::oneshot;

use super::sqlite::{text, time};
use super::{PostgresStore, Recalled, SqliteStore, StoreError, key_error};
use crate::access::Role;
use crate::ids::UserEmail;

/// A person who may sign in.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserRecord {
    /// Row id.
    pub id: i64,
    /// Their address, lower case.
    pub email: String,
    /// Their name as shown.
    pub name: String,
    /// Their agency (the directory's name), if any.
    pub agency: Option<String>,
    /// What they are.
    pub role: Role,
    /// When they were added.
    pub created_at: DateTime<Utc>,
    /// When they were disabled, if so: they can no longer sign in or use a token.
    pub disabled_at: Option<DateTime<Utc>>,
    /// Whether they have a password (the hash itself is never shown).
    pub has_password: bool,
    /// The password's argon2id hash.
    #[serde(skip)]
    pub password_hash: Option<String>,
}

/// A person's live calendar feed, without its token (only its hash is kept).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeedRecord {
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When a calendar program last fetched it (noted at most once a minute), if ever.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A user to add.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Their address.
    pub email: UserEmail,
    /// Their name.
    pub name: String,
    /// Their agency, as the directory names it.
    pub agency: Option<String>,
    /// What they are.
    pub role: Role,
    /// The argon2id hash of their password, if they have one.
    pub password_hash: Option<String>,
}

/// An API token, without its secret.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenRecord {
    /// Row id: what `tokens revoke` takes.
    pub id: i64,
    /// Whose it is.
    pub email: String,
    /// What it is for, e.g. `case system`.
    pub name: String,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// When it was revoked, if so.
    pub revoked_at: Option<DateTime<Utc>>,
    /// When it was last used.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A token just made: its id, its secret (shown once, never stored) and when it expires.
#[derive(Clone)]
pub struct IssuedToken {
    /// Row id: what `tokens revoke` takes.
    pub id: i64,
    /// The token itself.
    pub secret: String,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret: a token in a log is a token anyone reading the log can use.
        f.debug_struct("IssuedToken")
            .field("id", &self.id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// One read of, or action on, a case through the API or web UI.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccessEntry {
    /// When (the real clock).
    pub at: DateTime<Utc>,
    /// Who, by user id (not shown: the address says who).
    #[serde(skip)]
    pub user_id: Option<i64>,
    /// Who, by address.
    pub email: String,
    /// The case reference asked for (it may not exist).
    pub reference: String,
    /// What: `read`, `act:EVENT`, `read_with_reason`.
    pub action: String,
    /// The HTTP status it was answered with.
    pub status: u16,
    /// The client's address.
    pub address: Option<String>,
    /// The reason given (an administrator reading a case).
    pub reason: Option<String>,
}

/// One administrative action (a user added or disabled, a token made or revoked, the agency
/// directory replaced), from the web UI or the command line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AdminEntry {
    /// When (the real clock).
    pub at: DateTime<Utc>,
    /// The administrator, by user id; none from the command line.
    #[serde(skip)]
    pub user_id: Option<i64>,
    /// Who: the administrator's address, or `command line (as USER)`.
    pub actor: String,
    /// What: `add_user`, `disable_user`, `create_token`, `revoke_token`, `import_agencies`.
    pub action: String,
    /// To whom or what: a user's address, `token 7 of a@b.org`, `agency directory`.
    pub subject: String,
    /// More about it: the role and agency given, a token's name and expiry, what was imported.
    pub detail: Option<String>,
    /// The client's address (web UI); none from the command line.
    pub address: Option<String>,
    /// The key of the web form that asked for it, if one did: one form makes one change, so a
    /// form sent again (a reload) finds its entry instead of changing anything twice.
    #[serde(skip)]
    pub form_key: Option<String>,
}

/// The admin record's entry for a change given the row id the change made (a token's, known
/// only once it is written).
pub type EntryFor<'a> = &'a (dyn Fn(i64) -> AdminEntry + Send + Sync);

/// What disabling a user came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disabling {
    /// Disabled, and recorded.
    Done,
    /// No user has the address, or they were disabled already: nothing written.
    NotEnabled,
    /// They are the last enabled administrator: refused (nobody could administer, and `serve`
    /// adds no administrator while a disabled one exists), nothing written.
    LastAdmin,
}

/// The users, tokens and access-log part of the store. Every administrative change is written
/// in one transaction with its entry in the admin record: both, or neither.
#[async_trait]
pub trait AccessStore: Send + Sync {
    /// Adds a user, recorded as `entry`; `None` (nothing written) when one with that address
    /// exists already.
    async fn add_user(
        &self,
        user: &NewUser,
        now: DateTime<Utc>,
        entry: &AdminEntry,
    ) -> Result<Option<UserRecord>, StoreError>;

    /// Adds `user`, recorded as `entry`, unless an administrator exists; `None` (nothing
    /// written) when one does, or when a user with that address exists already. Of processes
    /// doing this at once on one database, one adds the user and the others see it.
    async fn add_first_admin(
        &self,
        user: &NewUser,
        now: DateTime<Utc>,
        entry: &AdminEntry,
    ) -> Result<Option<UserRecord>, StoreError>;

    /// Every user, by address.
    async fn users(&self) -> Result<Vec<UserRecord>, StoreError>;

    /// The user with this (lower-case) address.
    async fn user(&self, email: &str) -> Result<Option<UserRecord>, StoreError>;

    /// Disables a user, recorded as `entry`, unless they are the last enabled administrator
    /// (decided in the same transaction, so two administrators disabling each other at once
    /// leave one).
    async fn disable_user(
        &self,
        email: &str,
        now: DateTime<Utc>,
        entry: &AdminEntry,
    ) -> Result<Disabling, StoreError>;

    /// Stores a new token's hash for a user, with the admin record's entry `entry` makes of its
    /// id if given (none for a user signing in); returns its id. A
    /// [`StoreError::Duplicate`] (nothing written) if the entry's form key was used already.
    async fn add_token(
        &self,
        user_id: i64,
        name: &str,
        hash: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        entry: Option<EntryFor<'_>>,
    ) -> Result<i64, StoreError>;

    /// Makes a token for a user, lasting `days` from `now`, and stores its hash (with the
    /// admin record's entry, as [`AccessStore::add_token`]).
    async fn issue_token(
        &self,
        user_id: i64,
        name: &str,
        days: u32,
        now: DateTime<Utc>,
        entry: Option<EntryFor<'_>>,
    ) -> Result<IssuedToken, StoreError> {
        // Callers check the range people may ask for; this keeps the sum in range whatever.
        let days = days.min(crate::access::credentials::MAX_TOKEN_DAYS);
        let expires_at = now + chrono::TimeDelta::days(days.into());
        let token = crate::access::credentials::new_token();
        let id = self
            .add_token(user_id, name, &token.hash, now, expires_at, entry)
            .await?;
        Ok(IssuedToken {
            id,
            secret: token.secret,
            expires_at,
        })
    }

    /// Every token, newest first.
    async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError>;

    /// Revokes a token, recorded as `entry`; false (nothing written) when there is none with
    /// that id or it was revoked.
    async fn revoke_token(
        &self,
        id: i64,
        now: DateTime<Utc>,
        entry: &AdminEntry,
    ) -> Result<bool, StoreError>;

    /// The user a token (by hash) signs in, if it is unrevoked, unexpired at `now` and its user
    /// is enabled; notes the use (at most once a minute per token).
    async fn token_user(
        &self,
        hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<UserRecord>, StoreError>;

    /// What the request with idempotency key `key` of user `user_id` recorded, if one did.
    async fn recall(&self, user_id: i64, key: &str) -> Result<Option<Recalled>, StoreError>;

    /// Appends entries to the access log, all or none.
    async fn log_access(&self, entries: &[AccessEntry]) -> Result<(), StoreError>;

    /// The access log of one case, oldest first.
    async fn access_log(&self, reference: &str) -> Result<Vec<AccessEntry>, StoreError>;

    /// The admin record's newest `limit` entries, newest first.
    async fn admin_log(&self, limit: i64) -> Result<Vec<AdminEntry>, StoreError>;

    /// The admin record's entry that user `user_id`'s form with key `form_key` made, if any.
    async fn admin_entry(
        &self,
        user_id: i64,
        form_key: &str,
    ) -> Result<Option<AdminEntry>, StoreError>;

    /// Gives a user a new calendar feed with this token hash, revoking the one they had.
    async fn replace_feed(
        &self,
        user_id: i64,
        hash: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Revokes a user's calendar feed; false when they had none.
    async fn revoke_feed(&self, user_id: i64, now: DateTime<Utc>) -> Result<bool, StoreError>;

    /// The user's live (unrevoked) calendar feed, if they have one: never its token.
    async fn feed_of(&self, user_id: i64) -> Result<Option<FeedRecord>, StoreError>;

    /// The enabled user whose unrevoked calendar feed has this token hash; notes the use.
    async fn feed_user(
        &self,
        hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<UserRecord>, StoreError>;
}

const USER_COLUMNS: &str = "id, email, name, agency, role, created_at, disabled_at, password_hash";

const INSERT_USER: &str = "INSERT INTO users (email, name, agency, role, password_hash, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (email) DO NOTHING RETURNING id";

/// [`INSERT_USER`] only while no administrator (enabled or not) exists.
const INSERT_FIRST_ADMIN: &str = "INSERT INTO users (email, name, agency, role, password_hash, created_at) \
     SELECT $1, $2, $3, $4, $5, $6 WHERE NOT EXISTS \
       (SELECT 1 FROM users WHERE role = 'admin') \
     ON CONFLICT (email) DO NOTHING RETURNING id";

/// Disables `$1` at `$2`, unless that would leave no enabled administrator.
const DISABLE_USER: &str = "UPDATE users SET disabled_at = $2 \
     WHERE email = $1 AND disabled_at IS NULL AND (role <> 'admin' OR EXISTS \
       (SELECT 1 FROM users other WHERE other.role = 'admin' AND other.disabled_at IS NULL \
          AND other.email <> $1))";

/// Whether `$1` is an enabled user: after [`DISABLE_USER`] changed nothing, the last
/// enabled administrator.
const ENABLED_USER: &str = "SELECT 1 FROM users WHERE email = $1 AND disabled_at IS NULL";

const INSERT_TOKEN: &str = "INSERT INTO api_tokens (user_id, name, token_hash, created_at, expires_at) \
     VALUES ($1, $2, $3, $4, $5) RETURNING id";

const TOKENS: &str = "SELECT t.id, u.email, t.name, t.created_at, t.expires_at, t.revoked_at, \
     t.last_used_at FROM api_tokens t JOIN users u ON u.id = t.user_id ORDER BY t.id DESC";

const REVOKE_TOKEN: &str =
    "UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL";

/// The enabled user a valid token signs in, and the token's id and last use: `$1` hash, `$2`
/// now. One read, with the user, so a user disabled meanwhile is never let in.
const TOKEN_USER: &str = "SELECT t.id, t.last_used_at, u.id, u.email, u.name, u.agency, u.role, \
     u.created_at, u.disabled_at, u.password_hash FROM api_tokens t JOIN users u ON u.id = t.user_id \
     WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND t.expires_at > $2 \
       AND u.disabled_at IS NULL";

/// Revokes a user's calendar feed: `$1` user, `$2` now.
const REVOKE_FEED: &str =
    "UPDATE calendar_feeds SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL";

/// Notes a token's use: `$1` id, `$2` now.
const MARK_USED: &str = "UPDATE api_tokens SET last_used_at = $2 WHERE id = $1";

/// A token's last use is written at most this often: every request writing it would queue
/// every reader behind SQLite's one writer.
const USE_NOTED_EVERY: chrono::TimeDelta = chrono::TimeDelta::minutes(1);

const LOG_ACCESS: &str = "INSERT INTO access_log \
     (at, user_id, email, reference, action, status, address, reason) ";

/// Pushes the insert of `entry`, logged under `reference`, onto a case write, as one statement
/// that `step` wraps (a statement of a script on SQLite, a data-modifying CTE on PostgreSQL);
/// `ts` binds a time as the backend stores it.
pub(super) fn push_access<DB, T>(
    q: &mut sqlx::QueryBuilder<DB>,
    entry: &AccessEntry,
    reference: &str,
    step: (&str, &str),
    ts: impl Fn(DateTime<Utc>) -> T,
) where
    DB: sqlx::Database,
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<String>: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<i64>: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i32: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    T: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB> + 'static + Send,
{
    q.push(step.0).push(LOG_ACCESS).push("VALUES (");
    q.separated(", ")
        .push_bind(ts(entry.at))
        .push_bind(entry.user_id)
        .push_bind(entry.email.clone())
        .push_bind(reference.to_string())
        .push_bind(entry.action.clone())
        .push_bind(i32::from(entry.status))
        .push_bind(entry.address.clone())
        .push_bind(entry.reason.clone());
    q.push(")").push(step.1);
}

const ACCESS_LOG: &str = "SELECT at, email, reference, action, status, address, reason \
     FROM access_log WHERE reference = $1 ORDER BY id";

const LOG_ADMIN: &str = "INSERT INTO admin_log \
     (at, user_id, actor, action, subject, detail, address, form_key) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

const ADMIN_COLUMNS: &str = "at, actor, action, subject, detail, address";

type AdminRow<T> = (T, String, String, String, Option<String>, Option<String>);

fn admin_from<T: StoredTime>(r: AdminRow<T>) -> Result<AdminEntry, StoreError> {
    Ok(AdminEntry {
        at: r.0.utc()?,
        user_id: None,
        actor: r.1,
        action: r.2,
        subject: r.3,
        detail: r.4,
        address: r.5,
        form_key: None,
    })
}

type AccessRow<T> = (
    T,
    String,
    String,
    String,
    i32,
    Option<String>,
    Option<String>,
);

fn access_from<T: StoredTime>(r: AccessRow<T>) -> Result<AccessEntry, StoreError> {
    Ok(AccessEntry {
        at: r.0.utc()?,
        user_id: None,
        email: r.1,
        reference: r.2,
        action: r.3,
        status: u16::try_from(r.4)
            .map_err(|_| StoreError::Damaged(format!("access status {}", r.4)))?,
        address: r.5,
        reason: r.6,
    })
}

fn role(word: &str) -> Result<Role, StoreError> {
    word.parse()
        .map_err(|_| StoreError::Damaged(format!("user role '{word}'")))
}

/// A time as a backend stores it: text on SQLite, `timestamptz` on PostgreSQL.
pub(super) trait StoredTime: Sized {
    fn stamp(t: DateTime<Utc>) -> Self;
    fn utc(self) -> Result<DateTime<Utc>, StoreError>;
}

impl StoredTime for String {
    fn stamp(t: DateTime<Utc>) -> Self {
        text(t)
    }
    fn utc(self) -> Result<DateTime<Utc>, StoreError> {
        time(&self)
    }
}

impl StoredTime for DateTime<Utc> {
    fn stamp(t: DateTime<Utc>) -> Self {
        t
    }
    fn utc(self) -> Result<DateTime<Utc>, StoreError> {
        Ok(self)
    }
}

fn opt<T: StoredTime>(t: Option<T>) -> Result<Option<DateTime<Utc>>, StoreError> {
    t.map(StoredTime::utc).transpose()
}

type UserRow<T> = (
    i64,
    String,
    String,
    Option<String>,
    String,
    T,
    Option<T>,
    Option<String>,
);

fn user_from<T: StoredTime>(r: UserRow<T>) -> Result<UserRecord, StoreError> {
    Ok(UserRecord {
        id: r.0,
        email: r.1,
        name: r.2,
        agency: r.3,
        role: role(&r.4)?,
        created_at: r.5.utc()?,
        disabled_at: opt(r.6)?,
        has_password: r.7.is_some(),
        password_hash: r.7,
    })
}

type TokenRow<T> = (i64, String, String, T, T, Option<T>, Option<T>);

fn token_from<T: StoredTime>(r: TokenRow<T>) -> Result<TokenRecord, StoreError> {
    Ok(TokenRecord {
        id: r.0,
        email: r.1,
        name: r.2,
        created_at: r.3.utc()?,
        expires_at: r.4.utc()?,
        revoked_at: opt(r.5)?,
        last_used_at: opt(r.6)?,
    })
}

/// Access-log entries waiting for a writer, each caller's with where to send how its write
/// went (shared by a store's clones).
#[derive(Debug, Clone, Default)]
#[allow(clippy::type_complexity)]
pub(crate) struct LogQueue(
    std::sync::Arc<std::sync::Mutex<Vec<(Vec<AccessEntry>, oneshot::Sender<Result<(), String>>)>>>,
);

impl LogQueue {
    /// Queues `entries`; the receiver hears how their write went.
    fn push(&self, entries: Vec<AccessEntry>) -> oneshot::Receiver<Result<(), String>> {
        let (tx, rx) = oneshot::channel();
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((entries, tx));
        rx
    }

    /// Every caller's entries waiting, each with whom to tell.
    #[allow(clippy::type_complexity)]
    fn take(&self) -> Vec<(Vec<AccessEntry>, oneshot::Sender<Result<(), String>>)> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// A caller's outcome: its entries written, or why not (a writer that stopped without
    /// saying is a failure too: nothing is shown unless its showing is recorded).
    fn outcome(
        heard: Result<Result<(), String>, oneshot::error::RecvError>,
    ) -> Result<(), StoreError> {
        let message = match heard {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(message)) => message,
            Err(_) => "the access log's writer stopped".to_string(),
        };
        Err(StoreError::Database(sqlx::Error::Protocol(format!(
            "the access log was not written: {message}"
        ))))
    }
}

impl SqliteStore {
    /// SQLite's one writer at a time (see `SqliteStore::writer`).
    pub(super) async fn write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        Some(self.writer.lock().await)
    }

    /// [`Self::write_turn`], to hand to a task.
    async fn owned_write_turn(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        Some(self.writer.clone().lock_owned().await)
    }

    /// A transaction that holds the database's write lock from its start, so that what it
    /// reads is still so when it writes (another process's writer waits for it).
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
        self.pool.begin_with("BEGIN IMMEDIATE").await
    }
}

impl PostgresStore {
    /// PostgreSQL takes writers side by side.
    pub(super) async fn write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        None
    }

    /// [`Self::write_turn`], to hand to a task.
    async fn owned_write_turn(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        None
    }

    /// A transaction; what must not change under it is locked by the statements that need it.
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
        self.pool.begin().await
    }
}

/// The one implementation, for each backend with `$db` its database, `$ts` its stored time
/// type and `$lock_users` what makes a change that depends on who the administrators are (the
/// first one added, one disabled) wait for another process doing the same.
macro_rules! access_store {
    ($store:ty, $db:ty, $ts:ty, $lock_users:expr) => {
        impl $store {
            /// Writes access-log entries, all or none.
            async fn insert_access(&self, entries: &[AccessEntry]) -> Result<(), StoreError> {
                // Within both backends' limits on the values of one statement.
                let chunks: Vec<&[AccessEntry]> = entries.chunks(1000).collect();
                let statement = |chunk: &[AccessEntry]| {
                    let mut q = sqlx::QueryBuilder::<$db>::new(LOG_ACCESS);
                    q.push_values(chunk.iter(), |mut row, entry| {
                        row.push_bind(<$ts>::stamp(entry.at))
                            .push_bind(entry.user_id)
                            .push_bind(entry.email.clone())
                            .push_bind(entry.reference.clone())
                            .push_bind(entry.action.clone())
                            .push_bind(i32::from(entry.status))
                            .push_bind(entry.address.clone())
                            .push_bind(entry.reason.clone());
                    });
                    q
                };
                if let [chunk] = chunks.as_slice() {
                    statement(chunk).build().execute(&self.pool).await?;
                    return Ok(());
                }
                let mut tx = self.pool.begin().await?;
                for chunk in chunks {
                    statement(chunk).build().execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            /// Writes `entry` to the admin record in the transaction `conn` is in; a form key
            /// used already is a [`StoreError::Duplicate`].
            pub(super) async fn record_admin(
                conn: &mut <$db as sqlx::Database>::Connection,
                entry: &AdminEntry,
            ) -> Result<(), StoreError> {
                sqlx::query(LOG_ADMIN)
                    .bind(<$ts>::stamp(entry.at))
                    .bind(entry.user_id)
                    .bind(&entry.actor)
                    .bind(&entry.action)
                    .bind(&entry.subject)
                    .bind(&entry.detail)
                    .bind(&entry.address)
                    .bind(&entry.form_key)
                    .execute(&mut *conn)
                    .await
                    .map_err(|e| match &entry.form_key {
                        Some(key) => key_error(e, key),
                        None => e.into(),
                    })?;
                Ok(())
            }

            /// Runs `sql` ([`INSERT_USER`] or [`INSERT_FIRST_ADMIN`]) for `user` in one
            /// transaction with `entry`, after the statement `lock` if any: the user, if it
            /// added them.
            async fn insert_user(
                &self,
                sql: &'static str,
                lock: Option<&'static str>,
                user: &NewUser,
                now: DateTime<Utc>,
                entry: &AdminEntry,
            ) -> Result<Option<UserRecord>, StoreError> {
                let turn = self.write_turn().await;
                let mut tx = self.begin_write().await?;
                if let Some(lock) = lock {
                    sqlx::query(lock).execute(&mut *tx).await?;
                }
                let id: Option<(i64,)> = sqlx::query_as(sql)
                    .bind(user.email.as_str())
                    .bind(&user.name)
                    .bind(&user.agency)
                    .bind(user.role.as_str())
                    .bind(&user.password_hash)
                    .bind(<$ts>::stamp(now))
                    .fetch_optional(&mut *tx)
                    .await?;
                if id.is_none() {
                    return Ok(None);
                }
                Self::record_admin(&mut tx, entry).await?;
                tx.commit().await?;
                drop(turn);
                self.user(user.email.as_str()).await
            }
        }

        #[async_trait]
        impl AccessStore for $store {
            async fn add_user(
                &self,
                user: &NewUser,
                now: DateTime<Utc>,
                entry: &AdminEntry,
            ) -> Result<Option<UserRecord>, StoreError> {
                self.insert_user(INSERT_USER, None, user, now, entry).await
            }

            async fn add_first_admin(
                &self,
                user: &NewUser,
                now: DateTime<Utc>,
                entry: &AdminEntry,
            ) -> Result<Option<UserRecord>, StoreError> {
                self.insert_user(INSERT_FIRST_ADMIN, $lock_users, user, now, entry)
                    .await
            }

            async fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
                let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY email");
                let rows: Vec<UserRow<$ts>> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .fetch_all(&self.pool)
                    .await?;
                rows.into_iter().map(user_from).collect()
            }

            async fn user(&self, email: &str) -> Result<Option<UserRecord>, StoreError> {
                let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1");
                let row: Option<UserRow<$ts>> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(email)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(user_from).transpose()
            }

            async fn disable_user(
                &self,
                email: &str,
                now: DateTime<Utc>,
                entry: &AdminEntry,
            ) -> Result<Disabling, StoreError> {
                let _turn = self.write_turn().await;
                let mut tx = self.begin_write().await?;
                // Two administrators disabling each other at once: the second waits here for
                // the first to commit, and then sees it.
                if let Some(lock) = $lock_users {
                    sqlx::query(lock).execute(&mut *tx).await?;
                }
                let done = sqlx::query(DISABLE_USER)
                    .bind(email)
                    .bind(<$ts>::stamp(now))
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() == 0 {
                    let enabled = sqlx::query(ENABLED_USER)
                        .bind(email)
                        .fetch_optional(&mut *tx)
                        .await?;
                    return Ok(match enabled {
                        Some(_) => Disabling::LastAdmin,
                        None => Disabling::NotEnabled,
                    });
                }
                Self::record_admin(&mut tx, entry).await?;
                tx.commit().await?;
                Ok(Disabling::Done)
            }

            async fn add_token(
                &self,
                user_id: i64,
                name: &str,
                hash: &str,
                now: DateTime<Utc>,
                expires_at: DateTime<Utc>,
                entry: Option<EntryFor<'_>>,
            ) -> Result<i64, StoreError> {
                let _turn = self.write_turn().await;
                let mut tx = self.begin_write().await?;
                let (id,): (i64,) = sqlx::query_as(INSERT_TOKEN)
                    .bind(user_id)
                    .bind(name)
                    .bind(hash)
                    .bind(<$ts>::stamp(now))
                    .bind(<$ts>::stamp(expires_at))
                    .fetch_one(&mut *tx)
                    .await?;
                if let Some(entry) = entry {
                    Self::record_admin(&mut tx, &entry(id)).await?;
                }
                tx.commit().await?;
                Ok(id)
            }

            async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
                let rows: Vec<TokenRow<$ts>> = sqlx::query_as(TOKENS).fetch_all(&self.pool).await?;
                rows.into_iter().map(token_from).collect()
            }

            async fn revoke_token(
                &self,
                id: i64,
                now: DateTime<Utc>,
                entry: &AdminEntry,
            ) -> Result<bool, StoreError> {
                let _turn = self.write_turn().await;
                let mut tx = self.begin_write().await?;
                let done = sqlx::query(REVOKE_TOKEN)
                    .bind(id)
                    .bind(<$ts>::stamp(now))
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                Self::record_admin(&mut tx, entry).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn token_user(
                &self,
                hash: &str,
                now: DateTime<Utc>,
            ) -> Result<Option<UserRecord>, StoreError> {
                type Row<T> = (
                    i64,
                    Option<T>,
                    i64,
                    String,
                    String,
                    Option<String>,
                    String,
                    T,
                    Option<T>,
                    Option<String>,
                );
                let row: Option<Row<$ts>> = sqlx::query_as(TOKEN_USER)
                    .bind(hash)
                    .bind(<$ts>::stamp(now))
                    .fetch_optional(&self.pool)
                    .await?;
                let Some((
                    token,
                    last_used,
                    id,
                    email,
                    name,
                    agency,
                    role,
                    created,
                    disabled,
                    password,
                )) = row
                else {
                    return Ok(None);
                };
                if opt(last_used)?.is_none_or(|t| now - t >= USE_NOTED_EVERY) {
                    let _turn = self.write_turn().await;
                    sqlx::query(MARK_USED)
                        .bind(token)
                        .bind(<$ts>::stamp(now))
                        .execute(&self.pool)
                        .await?;
                }
                user_from((id, email, name, agency, role, created, disabled, password)).map(Some)
            }

            async fn recall(
                &self,
                user_id: i64,
                key: &str,
            ) -> Result<Option<Recalled>, StoreError> {
                let row: Option<(String, String, i64)> = sqlx::query_as(
                    "SELECT fingerprint, reference, seq FROM idempotency_keys \
                     WHERE user_id = $1 AND key = $2",
                )
                .bind(user_id)
                .bind(key)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(|(fingerprint, reference, seq)| Recalled {
                    fingerprint,
                    reference,
                    seq,
                }))
            }

            async fn log_access(&self, entries: &[AccessEntry]) -> Result<(), StoreError> {
                if entries.is_empty() {
                    return Ok(());
                }
                // Group commit: whoever next takes the writer's turn writes every entry then
                // waiting, in one transaction, so that lists read side by side share a commit;
                // each caller still returns only once its own entries are committed.
                let mut written = self.log_queue.push(entries.to_vec());
                let turn = tokio::select! {
                    biased;
                    done = &mut written => return LogQueue::outcome(done),
                    turn = self.owned_write_turn() => turn,
                };
                let queued = self.log_queue.take();
                if !queued.is_empty() {
                    // In a task of its own, so that a caller that goes away (its client hung
                    // up) leaves the others' entries written and answered, not dropped. (A
                    // caller gone before its turn leaves its entries queued: the next writer
                    // records them, a read recorded that was not answered, never the reverse.)
                    let store = self.clone();
                    tokio::spawn(async move {
                        let _turn = turn;
                        let batch: Vec<AccessEntry> =
                            queued.iter().flat_map(|(e, _)| e.iter().cloned()).collect();
                        let shared = store.insert_access(&batch).await;
                        for (entries, waiter) in queued {
                            // One caller's bad entry must not fail the others: after a failed
                            // batch, each caller's entries are tried on their own.
                            let result = match &shared {
                                Ok(()) => Ok(()),
                                Err(_) => store.insert_access(&entries).await,
                            };
                            let _ = waiter.send(result.map_err(|e| e.to_string()));
                        }
                    });
                }
                LogQueue::outcome(written.await)
            }

            async fn access_log(&self, reference: &str) -> Result<Vec<AccessEntry>, StoreError> {
                let rows: Vec<AccessRow<$ts>> = sqlx::query_as(ACCESS_LOG)
                    .bind(reference)
                    .fetch_all(&self.pool)
                    .await?;
                rows.into_iter().map(access_from).collect()
            }

            async fn admin_log(&self, limit: i64) -> Result<Vec<AdminEntry>, StoreError> {
                let sql =
                    format!("SELECT {ADMIN_COLUMNS} FROM admin_log ORDER BY id DESC LIMIT $1");
                let rows: Vec<AdminRow<$ts>> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                rows.into_iter().map(admin_from).collect()
            }

            async fn admin_entry(
                &self,
                user_id: i64,
                form_key: &str,
            ) -> Result<Option<AdminEntry>, StoreError> {
                let sql = format!(
                    "SELECT {ADMIN_COLUMNS} FROM admin_log WHERE user_id = $1 AND form_key = $2"
                );
                let row: Option<AdminRow<$ts>> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(user_id)
                    .bind(form_key)
                    .fetch_optional(&self.pool)
                    .await?;
                let Some(row) = row else {
                    return Ok(None);
                };
                let entry = admin_from(row)?;
                Ok(Some(AdminEntry {
                    user_id: Some(user_id),
                    form_key: Some(form_key.to_string()),
                    ..entry
                }))
            }

            async fn replace_feed(
                &self,
                user_id: i64,
                hash: &str,
                now: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                let _turn = self.write_turn().await;
                let mut tx = self.pool.begin().await?;
                // Holds the user's row, so that two replacements at once take turns (the
                // second then revokes the first's feed) instead of both inserting a live one.
                sqlx::query("UPDATE users SET id = id WHERE id = $1")
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(REVOKE_FEED)
                    .bind(user_id)
                    .bind(<$ts>::stamp(now))
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO calendar_feeds (user_id, token_hash, created_at) VALUES ($1, $2, $3)",
                )
                .bind(user_id)
                .bind(hash)
                .bind(<$ts>::stamp(now))
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn revoke_feed(
                &self,
                user_id: i64,
                now: DateTime<Utc>,
            ) -> Result<bool, StoreError> {
                let _turn = self.write_turn().await;
                let done = sqlx::query(REVOKE_FEED)
                    .bind(user_id)
                    .bind(<$ts>::stamp(now))
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn feed_of(&self, user_id: i64) -> Result<Option<FeedRecord>, StoreError> {
                let row: Option<($ts, Option<$ts>)> = sqlx::query_as(
                    "SELECT created_at, last_used_at FROM calendar_feeds \
                     WHERE user_id = $1 AND revoked_at IS NULL",
                )
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?;
                row.map(|(created, used)| {
                    Ok(FeedRecord {
                        created_at: created.utc()?,
                        last_used_at: opt(used)?,
                    })
                })
                .transpose()
            }

            async fn feed_user(
                &self,
                hash: &str,
                now: DateTime<Utc>,
            ) -> Result<Option<UserRecord>, StoreError> {
                let row: Option<(i64, Option<$ts>)> = sqlx::query_as(
                    "SELECT f.id, f.last_used_at FROM calendar_feeds f \
                     JOIN users u ON u.id = f.user_id \
                     WHERE f.token_hash = $1 AND f.revoked_at IS NULL AND u.disabled_at IS NULL",
                )
                .bind(hash)
                .fetch_optional(&self.pool)
                .await?;
                let Some((feed, last_used)) = row else {
                    return Ok(None);
                };
                if opt(last_used)?.is_none_or(|t| now - t >= USE_NOTED_EVERY) {
                    let _turn = self.write_turn().await;
                    sqlx::query("UPDATE calendar_feeds SET last_used_at = $2 WHERE id = $1")
                        .bind(feed)
                        .bind(<$ts>::stamp(now))
                        .execute(&self.pool)
                        .await?;
                }
                let sql = format!(
                    "SELECT {USER_COLUMNS} FROM users WHERE id = \
                     (SELECT user_id FROM calendar_feeds WHERE id = $1) AND disabled_at IS NULL"
                );
                let user: Option<UserRow<$ts>> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(feed)
                    .fetch_optional(&self.pool)
                    .await?;
                user.map(user_from).transpose()
            }
        }
    };
}

// On SQLite a write transaction holds the database's write lock from its start (`BEGIN
// IMMEDIATE`), so its checks and its writes see the same users.
access_store!(SqliteStore, sqlx::Sqlite, String, None::<&'static str>);
// On PostgreSQL two transactions could both see no administrator, or each see the other
// administrator still enabled; this lock (which conflicts with itself and with every insert
// and update of users) makes the second wait, then see the first one's.
access_store!(
    PostgresStore,
    sqlx::Postgres,
    DateTime<Utc>,
    Some("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE")
);
