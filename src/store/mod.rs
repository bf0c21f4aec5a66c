//! The database: one [`Store`] trait, a SQLite and a PostgreSQL implementation, chosen from the URL.
//!
//! SQLite (`sqlite://FILE`) is the embedded default for one process; PostgreSQL (`postgres://…`)
//! is the production store that any number of replicas share. Both run the same migrations
//! (`migrations/sqlite`, `migrations/postgres`, identical versions).

mod access;
mod case_file;
pub mod chain;
mod gauges;
mod lists;
mod postgres;
mod records;
mod report_rows;
mod sessions;
mod sqlite;
pub mod summary;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::directory::{Agency, Contact, Directory};
use crate::workflow::Definition;

pub use access::{
    AccessEntry, AccessStore, AdminEntry, Disabling, EntryFor, FeedRecord, IssuedToken, NewUser,
    TokenRecord, UserRecord,
};
pub use case_file::CaseFile;
pub use gauges::{GaugeStore, Gauges};
pub use lists::{ListedCase, overdue};
pub use records::*;
pub use report_rows::{CaseFacts, EntryFact, LapseFact};
pub use sessions::{SessionRow, SessionRows};
pub use summary::{CaseSummary, MonthQuery, SummaryFacts};

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
    /// A request with this idempotency key was recorded already; nothing was written.
    #[error("idempotency key '{0}' was used already")]
    Duplicate(String),
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

/// Records a request's idempotency key with the case write it made (the same text on both
/// backends): `$1` user, `$2` key, `$3` fingerprint, `$4` reference, `$5` seq, `$6` now.
pub(crate) const REMEMBER_KEY: &str = "INSERT INTO idempotency_keys \
     (user_id, key, fingerprint, reference, seq, created_at) VALUES ($1, $2, $3, $4, $5, $6)";

/// The key's insert failing because the key is taken: [`StoreError::Duplicate`], so that the
/// whole write rolls back and the caller answers with what the first request did.
pub(crate) fn key_error(e: sqlx::Error, key: &str) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Duplicate(key.to_string())
        }
        _ => StoreError::Database(e),
    }
}

/// A kept workflow version and the cases that run on it (`escalate workflows versions`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct WorkflowVersion {
    /// The content hash, e.g. `sha256:c9f0d052578e81ab`.
    pub hash: String,
    /// The file's `version:` number when it was kept.
    pub label: i64,
    /// When this deployment first kept it (the real clock).
    pub first_seen: DateTime<Utc>,
    /// Cases opened on it.
    pub cases: i64,
    /// Of those, the ones still open.
    pub open_cases: i64,
    /// References of some of its open cases, oldest first.
    pub references: Vec<String>,
}

/// Which database a store uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

/// The database behind the engine (and, through [`AccessStore`], its users).
#[async_trait]
pub trait Store: AccessStore + GaugeStore + SessionRows + Send + Sync {
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

    /// Every kept version of `workflow`, newest first (by when it was first seen), each with
    /// how many cases run on it and the references of up to `references` of its open cases.
    async fn workflow_versions(
        &self,
        workflow: &str,
        references: i64,
    ) -> Result<Vec<WorkflowVersion>, StoreError>;

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

    /// The case with this reference with its history, deadlines, messages and links, as
    /// [`Store::events`], [`Store::deadlines`], [`Store::outbox`] and [`Store::links`] give
    /// them, read in one statement (one round trip, one snapshot).
    async fn case_file(&self, reference: &str) -> Result<Option<CaseFile>, StoreError>;

    /// The cases with these row ids (those that exist), in no particular order.
    async fn cases_by_id(&self, ids: &[i64]) -> Result<Vec<CaseRecord>, StoreError>;

    /// Cases matching the filter, newest first.
    async fn list_cases(&self, filter: &CaseFilter) -> Result<Vec<CaseRecord>, StoreError>;

    /// A case's event log, oldest first.
    async fn events(&self, case_id: i64) -> Result<Vec<EventRecord>, StoreError>;

    /// A case's deadlines, by due time.
    async fn deadlines(&self, case_id: i64) -> Result<Vec<DeadlineRecord>, StoreError>;

    /// The ids of cases with a pending deadline computed with holiday data other than
    /// `data_version`, in id order.
    async fn stale_deadline_cases(&self, data_version: &str) -> Result<Vec<i64>, StoreError>;

    /// Gives pending deadlines whose due time is unchanged (still `due_at`) a new explanation
    /// and data version; a deadline that ended or moved meanwhile is left as it is. Returns
    /// how many changed.
    async fn restamp_deadlines(&self, stamps: &[MovedDeadline]) -> Result<u64, StoreError>;

    /// A case's outbox rows, oldest first.
    async fn outbox(&self, case_id: i64) -> Result<Vec<OutboxRecord>, StoreError>;

    /// Outbox rows matching the filter, newest first.
    async fn list_outbox(&self, filter: &OutboxFilter) -> Result<Vec<OutboxRecord>, StoreError>;

    /// Claims up to `limit` queued messages due by `due_by` whose lease is free or expired at
    /// `clock`, leasing them to `owner` until `lease_until`, oldest first. Two dispatchers never
    /// get the same message while its lease runs.
    async fn claim_outbox(
        &self,
        due_by: DateTime<Utc>,
        owner: &str,
        clock: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<OutboxRecord>, StoreError>;

    /// Records how the delivery of a claimed message went, if `owner` still holds it; returns
    /// whether it did.
    async fn record_delivery(
        &self,
        id: i64,
        owner: &str,
        outcome: &DeliveryOutcome,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Queues a failed message again, due at `now`, with a fresh retry window; `None` if there is
    /// no failed message with this id that has someone to go to.
    async fn requeue_outbox(
        &self,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<Option<OutboxRecord>, StoreError>;

    /// Queues a failed message that had nobody to go to again, addressed to `recipient` (found
    /// since in the directory), due at `now`, with a fresh retry window; `None` if there is no
    /// such failed message.
    async fn readdress_outbox(
        &self,
        id: i64,
        recipient: &Recipient,
        now: DateTime<Utc>,
    ) -> Result<Option<OutboxRecord>, StoreError>;

    /// Queues messages about no one case (`case_id` NULL), each at most once per key
    /// (`ON CONFLICT DO NOTHING`), and with `job` the occurrence that queued them is finished
    /// in the same transaction: a job that dies before committing queued nothing, and one run
    /// again queues nothing twice. Returns what each key found, in the order given.
    async fn queue_standalone(
        &self,
        messages: &[StandaloneMessage],
        job: Option<JobEnd<'_>>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Queued>, StoreError>;

    /// Replaces the agency directory, in one transaction with the admin record's `entry` for
    /// it (none when seeding a database for tests and examples).
    async fn replace_directory(
        &self,
        directory: &Directory,
        now: DateTime<Utc>,
        entry: Option<&AdminEntry>,
    ) -> Result<(), StoreError>;

    /// The agency directory.
    async fn directory(&self) -> Result<Directory, StoreError>;

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

    /// The cases linked to a case, both ways, oldest link first.
    async fn links(&self, case_id: i64) -> Result<Vec<LinkRecord>, StoreError>;

    /// Every case's head, `(reference, seq, hash)`, in reference order.
    async fn heads(&self) -> Result<Vec<(String, i64, String)>, StoreError>;

    /// The reference counters, `(prefix, year, last number given)`.
    async fn reference_counters(&self) -> Result<Vec<(String, i64, i64)>, StoreError>;

    /// Records an audit checkpoint with its heads, in one transaction; a
    /// [`StoreError::Conflict`] if another checkpoint already follows `prev_root`.
    async fn save_checkpoint(
        &self,
        checkpoint: &Checkpoint,
        heads: &[(String, i64, String)],
    ) -> Result<i64, StoreError>;

    /// Every audit checkpoint, oldest first.
    async fn checkpoints(&self) -> Result<Vec<Checkpoint>, StoreError>;

    /// The heads a checkpoint recorded, in reference order.
    async fn checkpoint_heads(&self, id: i64) -> Result<Vec<(String, i64, String)>, StoreError>;

    /// How many pending deadlines due at or before `due_by` are leased at `clock` (held by a
    /// process that is firing them, or that died doing so), and when the last lease runs out.
    async fn leased_due(
        &self,
        due_by: DateTime<Utc>,
        clock: DateTime<Utc>,
    ) -> Result<(i64, Option<DateTime<Utc>>), StoreError>;

    /// Claims one occurrence of a scheduled job (`INSERT … ON CONFLICT`): true if this caller
    /// has it, false if another process has it. An occurrence claimed before `stale_before` and
    /// never finished (its process died) is claimed again.
    async fn claim_job_run(
        &self,
        job: &str,
        scheduled_for: DateTime<Utc>,
        started_at: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Records how a claimed occurrence ended.
    async fn finish_job_run(
        &self,
        job: &str,
        scheduled_for: DateTime<Utc>,
        finished_at: DateTime<Utc>,
        outcome: &str,
        message: &str,
    ) -> Result<(), StoreError>;

    /// The latest claimed occurrence of a job, if it was ever claimed.
    async fn last_job_run(&self, job: &str) -> Result<Option<JobRun>, StoreError>;

    /// Streams the report's facts of every case with an id in `ids` opened before `until` and
    /// not closed before `from` (event times), one case at a time in id order, to `sink`; memory
    /// stays flat.
    async fn report_facts(
        &self,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
        ids: std::ops::Range<i64>,
        sink: &mut (dyn FnMut(CaseFacts) + Send),
    ) -> Result<(), StoreError>;

    /// The report's figures for one month from the summary (grouped counts, and what its
    /// medians need, grouped by the days counted).
    async fn report_summary(&self, month: &MonthQuery) -> Result<SummaryFacts, StoreError>;

    /// Rewrites the report summary from the event log, in one transaction that holds off
    /// writers of the summary: always when `force`, else only if a migration asked for it.
    /// Returns how many cases it summarised, none if it did nothing.
    async fn rebuild_summary(&self, force: bool) -> Result<Option<u64>, StoreError>;

    /// The stored summary rows of the cases with ids in `ids`, by id.
    async fn stored_summaries(
        &self,
        ids: std::ops::Range<i64>,
    ) -> Result<Vec<CaseSummary>, StoreError>;

    /// One page of the cases `query` asks for (their ids, in list order) and how many there are.
    async fn case_page(&self, query: &CaseQuery) -> Result<Page<i64>, StoreError>;

    /// One page of the deadlines `query` asks for (their ids, soonest first) and how many.
    async fn deadline_page(&self, query: &DeadlineQuery) -> Result<Page<i64>, StoreError>;

    /// The deadlines with these ids, in no particular order.
    async fn deadlines_by_id(&self, ids: &[i64]) -> Result<Vec<DeadlineRecord>, StoreError>;

    /// The cases with these ids as a list shows them, in the order of `ids` (one not found is
    /// left out): each with its nearest pending deadline and whether one is overdue at `at`
    /// (as [`overdue`] decides), in one read, without the rest of its record; its opening data
    /// only `with_data` (the policy check needs it unless the reader's role alone decides).
    async fn listed_cases(
        &self,
        ids: &[i64],
        at: DateTime<Utc>,
        with_data: bool,
    ) -> Result<Vec<ListedCase>, StoreError>;

    /// Whether `case_parties` still lacks the cases opened before it existed (migration 0012).
    async fn parties_pending(&self) -> Result<bool, StoreError>;

    /// Keeps the parties of cases opened before `case_parties` existed (a case's kept already
    /// stay as they are); with `done`, the reindex is over.
    async fn add_parties(
        &self,
        parties: &[(i64, Vec<Party>)],
        done: bool,
    ) -> Result<(), StoreError>;

    /// The highest case id (0 with no cases).
    async fn max_case_id(&self) -> Result<i64, StoreError>;
}

/// The cases linked to case `$1`, both ways (the same text on both backends).
const LINKS_QUERY: &str = "SELECT 'opened' AS relation, c.reference, c.workflow, c.state, \
     c.closed_at IS NOT NULL AS closed, l.event, l.created_at AS at \
     FROM case_links l JOIN cases c ON c.id = l.target_id WHERE l.source_id = $1 \
     UNION ALL \
     SELECT 'opened_by', c.reference, c.workflow, c.state, c.closed_at IS NOT NULL, l.event, \
     l.created_at FROM case_links l JOIN cases c ON c.id = l.source_id WHERE l.target_id = $1 \
     ORDER BY at";

/// The outbox columns both backends select.
const OUTBOX_COLUMNS: &str = "id, case_id, idempotency_key, message_id, kind, template, recipients, \
     payload, status, attempts, next_attempt_at, last_error, reply, created_at, sent_at, queued_at";

/// Queues one message about no one case, unless its key is taken (the same text on both
/// backends): `$1` key, `$2` Message-ID, `$3` kind, `$4` template, `$5` recipient, `$6` payload,
/// `$7` status, `$8` last error, `$9` now, `$10` the real clock.
const QUEUE_STANDALONE: &str = "INSERT INTO outbox (case_id, idempotency_key, message_id, kind, \
     template, recipients, payload, status, last_error, next_attempt_at, created_at, queued_at) \
     VALUES (NULL, $1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10) \
     ON CONFLICT (idempotency_key) DO NOTHING RETURNING id";

/// The row already queued under key `$1`: id, status, when sent.
const QUEUED_BY_KEY: &str = "SELECT id, status, sent_at FROM outbox WHERE idempotency_key = $1";

/// Records how a claimed job occurrence ended: `$1` finished at, `$2` outcome, `$3` message,
/// `$4` job, `$5` occurrence.
const FINISH_JOB_RUN: &str = "UPDATE job_runs SET finished_at = $1, outcome = $2, message = $3 \
     WHERE job = $4 AND scheduled_for = $5";

/// The status and last error a new row starts with: failed, saying why, when there is nobody
/// to send it to.
fn initial_status(m: &NewMessage) -> (&'static str, Option<&str>) {
    match &m.recipient.missing {
        Some(why) => ("failed", Some(why.as_str())),
        None => ("queued", None),
    }
}

/// The directory, one row per contact (or per agency with none), partnership first.
const DIRECTORY_QUERY: &str = "SELECT a.id, a.name, c.level, c.name AS contact_name, c.email \
     FROM agencies a LEFT JOIN agency_contacts c ON c.agency = a.id \
     ORDER BY CASE WHEN a.id = 'partnership' THEN 0 ELSE 1 END, a.name, a.id, c.level, c.email";

/// A row of [`DIRECTORY_QUERY`].
#[derive(sqlx::FromRow)]
struct DirectoryRow {
    id: String,
    name: String,
    level: Option<String>,
    contact_name: Option<String>,
    email: Option<String>,
}

fn directory_from(rows: Vec<DirectoryRow>) -> Directory {
    let mut directory = Directory::default();
    for r in rows {
        if directory.agencies.last().is_none_or(|a| a.id != r.id) {
            directory.agencies.push(Agency {
                id: r.id.clone(),
                name: r.name.clone(),
                contacts: Vec::new(),
            });
        }
        if let (Some(level), Some(name), Some(email), Some(agency)) = (
            r.level,
            r.contact_name,
            r.email,
            directory.agencies.last_mut(),
        ) {
            agency.contacts.push(Contact { level, name, email });
        }
    }
    directory
}

/// The idempotency key and Message-ID of message `i` (from 0) of entry `seq` of a case. The
/// Message-ID is fixed when queued, and carries a random part: references repeat across
/// installations (staging, a restored backup), Message-IDs must not.
fn message_keys(reference: &str, seq: i64, i: usize) -> (String, String) {
    (
        format!("{reference}/{seq}/{}", i + 1),
        format!(
            "<{reference}.{seq}.{}.{:016x}@escalate>",
            i + 1,
            fastrand::u64(..)
        ),
    )
}

/// A fresh Message-ID for the message queued under `key` (any text): a readable part and a
/// random one, since keys repeat across installations and Message-IDs must not.
fn standalone_message_id(key: &str) -> String {
    let readable: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '.'
            }
        })
        .take(64)
        .collect();
    format!("<{readable}.{:016x}@escalate>", fastrand::u64(..))
}

/// The recipient a stored row names.
fn recipient_from(value: &serde_json::Value) -> Recipient {
    serde_json::from_value(value.clone()).unwrap_or_else(|_| Recipient {
        role: value.to_string(),
        title: String::new(),
        name: String::new(),
        email: String::new(),
        agency: None,
        missing: Some("the stored recipient is not readable".into()),
    })
}

/// `(status, last_error, reply, next_attempt_at)` after a delivery attempt.
fn delivery_columns(
    outcome: &DeliveryOutcome,
) -> (
    &'static str,
    Option<&str>,
    Option<&str>,
    Option<DateTime<Utc>>,
) {
    match outcome {
        DeliveryOutcome::Sent(reply) => ("sent", None, Some(reply), None),
        DeliveryOutcome::Retry(error, next) => ("queued", Some(error), None, Some(*next)),
        DeliveryOutcome::Failed(error) => ("failed", Some(error), None, None),
    }
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

/// The newest schema version this build knows: a database at an older one needs `migrate`.
pub fn latest_schema() -> i64 {
    sqlite::latest_version()
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
