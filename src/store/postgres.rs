//! The PostgreSQL store, shared by any number of replicas.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Postgres, QueryBuilder};

use std::collections::BTreeMap;

use sqlx::types::Json;

use super::case_file;
use super::case_file::DEADLINE_COLUMNS;
use super::chain::{self, Link};
use super::lists;
use super::records::{slot_from, slot_parts, timer_kind_from, timer_kind_str};
use super::summary::{self, SummaryWrite};
use super::{
    AdminEntry, Backend, CaseFilter, CaseQuery, CaseRecord, CaseWrite, Checkpoint, DeadlineQuery,
    DeadlineRecord, DeadlineStatus, EventRecord, LINKS_QUERY, LinkRecord, ListedCase, OutboxRecord,
    Page, Party, Store, StoreError, Target, redact, write_error,
};
use super::{
    DIRECTORY_QUERY, DeliveryOutcome, DirectoryRow, FINISH_JOB_RUN, JobEnd, OUTBOX_COLUMNS,
    OutboxFilter, QUEUE_STANDALONE, QUEUED_BY_KEY, Queued, StandaloneMessage, delivery_columns,
    directory_from, initial_status, message_keys, recipient_from, standalone_message_id,
};
use crate::directory::{Directory, Recipient};
use crate::workflow::Definition;

#[derive(sqlx::FromRow)]
struct CaseRow {
    id: i64,
    reference: String,
    workflow: String,
    workflow_hash: String,
    state: String,
    data: serde_json::Value,
    division: String,
    agency: Option<String>,
    opened_at: DateTime<Utc>,
    entered_at: DateTime<Utc>,
    closed_at: Option<DateTime<Utc>>,
    outcome: Option<String>,
    event_times: Json<BTreeMap<String, DateTime<Utc>>>,
    seq: i64,
    last_at: DateTime<Utc>,
    last_hash: String,
    next_due: Option<DateTime<Utc>>,
    data_salt: Option<String>,
}

impl CaseRow {
    fn record(self) -> Result<CaseRecord, StoreError> {
        Ok(CaseRecord {
            id: self.id,
            reference: self.reference,
            workflow: self.workflow,
            workflow_hash: self.workflow_hash,
            state: self.state,
            data: self.data,
            division: self.division,
            agency: self.agency,
            opened_at: self.opened_at,
            entered_at: self.entered_at,
            closed_at: self.closed_at,
            outcome: self.outcome,
            event_times: self.event_times.0,
            seq: self.seq,
            last_at: self.last_at,
            last_hash: self.last_hash,
            next_due: self.next_due,
            data_salt: self.data_salt,
        })
    }
}

const CASE_COLUMNS: &str = "id, reference, workflow, workflow_hash, state, data, division, agency, \
     opened_at, entered_at, closed_at, outcome, event_times, seq, last_at, last_hash, \
     (SELECT MIN(d.due_at) FROM deadlines d WHERE d.case_id = c.id AND d.status = 'pending') AS next_due, \
     data_salt";

/// A deadline row (also as [`case_file`] reads it, in JSON).
#[derive(sqlx::FromRow, serde::Deserialize)]
struct DeadlineRow {
    id: i64,
    case_id: i64,
    slot_kind: String,
    slot: String,
    kind: String,
    due_at: DateTime<Utc>,
    status: String,
    explanation: String,
    data_version: String,
    started_at: DateTime<Utc>,
    ended_at: Option<DateTime<Utc>>,
    late: bool,
}

impl DeadlineRow {
    fn record(self) -> Result<DeadlineRecord, StoreError> {
        Ok(DeadlineRecord {
            id: self.id,
            case_id: self.case_id,
            slot: slot_from(&self.slot_kind, self.slot)?,
            kind: timer_kind_from(&self.kind)?,
            due_at: self.due_at,
            status: DeadlineStatus::parse(&self.status)
                .ok_or_else(|| StoreError::Damaged(format!("deadline status '{}'", self.status)))?,
            explanation: self.explanation,
            data_version: self.data_version,
            started_at: self.started_at,
            ended_at: self.ended_at,
            late: self.late,
        })
    }
}

/// A claimed deadline and its case's reference.
#[derive(sqlx::FromRow)]
struct ClaimRow {
    #[sqlx(flatten)]
    deadline: DeadlineRow,
    reference: String,
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// An outbox row (also as [`case_file`] reads it, in JSON).
#[derive(sqlx::FromRow, serde::Deserialize)]
struct OutboxRow {
    id: i64,
    case_id: Option<i64>,
    idempotency_key: String,
    message_id: Option<String>,
    kind: String,
    template: String,
    recipients: serde_json::Value,
    payload: serde_json::Value,
    status: String,
    attempts: i32,
    next_attempt_at: DateTime<Utc>,
    last_error: Option<String>,
    reply: Option<String>,
    created_at: DateTime<Utc>,
    sent_at: Option<DateTime<Utc>>,
    queued_at: Option<DateTime<Utc>>,
}

impl OutboxRow {
    fn record(self) -> Result<OutboxRecord, StoreError> {
        Ok(OutboxRecord {
            id: self.id,
            case_id: self.case_id,
            idempotency_key: self.idempotency_key,
            message_id: self.message_id,
            kind: self.kind,
            template: self.template,
            recipient: recipient_from(&self.recipients),
            payload: self.payload,
            status: self.status,
            attempts: self.attempts.into(),
            next_attempt_at: self.next_attempt_at,
            last_error: self.last_error,
            reply: self.reply,
            created_at: self.created_at,
            sent_at: self.sent_at,
            queued_at: self.queued_at,
        })
    }
}

/// Everything one case write changes, as ONE statement: the case row first (`head`), then the
/// log entry, deadlines and messages as data-modifying CTEs that take the case id from it. One
/// round trip, atomic; the guard triggers (migration 0002) stop a stale write.
fn case_statement(w: &CaseWrite, link: &Link, now: DateTime<Utc>) -> QueryBuilder<Postgres> {
    let at = w.event.at;
    let mut q = QueryBuilder::new("WITH head AS (");
    match &w.target {
        Target::New {
            workflow,
            workflow_hash,
            data,
            division,
            agency,
            data_salt,
            ..
        } => {
            q.push(
                "INSERT INTO cases (reference, workflow, workflow_hash, state, data, division, \
                 agency, opened_at, entered_at, closed_at, outcome, event_times, seq, last_at, \
                 last_hash, data_salt) ",
            );
            q.push_values([()], |mut row, ()| {
                row.push_bind(&link.reference)
                    .push_bind(workflow)
                    .push_bind(workflow_hash)
                    .push_bind(&w.state)
                    .push_bind(Json(data))
                    .push_bind(division)
                    .push_bind(agency)
                    .push_bind(at)
                    .push_bind(w.entered_at)
                    .push_bind(w.closed_at)
                    .push_bind(&w.outcome)
                    .push_bind(Json(&w.event_times))
                    .push_bind(link.seq)
                    .push_bind(at)
                    .push_bind(&link.hash)
                    .push_bind(data_salt);
            });
        }
        Target::Existing { id, .. } => {
            q.push("UPDATE cases SET state = ")
                .push_bind(&w.state)
                .push(", entered_at = ")
                .push_bind(w.entered_at)
                .push(", closed_at = ")
                .push_bind(w.closed_at)
                .push(", outcome = ")
                .push_bind(&w.outcome)
                .push(", event_times = ")
                .push_bind(Json(&w.event_times))
                .push(", seq = ")
                .push_bind(link.seq)
                .push(", last_at = ")
                .push_bind(at)
                .push(", last_hash = ")
                .push_bind(&link.hash)
                .push(" WHERE id = ")
                .push_bind(*id);
        }
    }
    q.push(
        " RETURNING id), entry AS (INSERT INTO events (case_id, seq, at, recorded_at, actor, \
         event, from_state, to_state, fields, reason, prev_hash, hash, hash_version, data_digest) \
         SELECT id, ",
    );
    q.separated(", ")
        .push_bind(link.seq)
        .push_bind(at)
        .push_bind(w.event.recorded_at)
        .push_bind(&w.event.actor)
        .push_bind(&w.event.event)
        .push_bind(&w.event.from_state)
        .push_bind(&w.event.to_state)
        .push_bind(Json(&w.event.fields))
        .push_bind(&w.event.reason)
        .push_bind(&link.prev_hash)
        .push_bind(&link.hash)
        .push_bind(chain::HASH_VERSION)
        .push_bind(&link.data_digest);
    q.push(" FROM head)");
    // The report's summary. Every CTE sees the statement's snapshot: the state's lapse is
    // still pending for it, whatever `ended` below does.
    summary::push_write(
        &mut q,
        &SummaryWrite::of(w),
        (", summary AS (", ")"),
        |q| {
            q.push("(SELECT id FROM head)");
        },
        |t| t,
    );
    if let Target::New { parties, .. } = &w.target {
        lists::push_parties(&mut q, parties, (", parties AS (", ")"), |q| {
            q.push("(SELECT id FROM head)");
        });
    }
    if let Some((deadline, late)) = w.fired {
        q.push(", fired AS (UPDATE deadlines SET status = 'fired', ended_at = ")
            .push_bind(at)
            .push(", late = ")
            .push_bind(late)
            .push(", lease_owner = NULL, lease_expires_at = NULL WHERE id = ")
            .push_bind(deadline)
            .push(" AND case_id IN (SELECT id FROM head))");
    }
    let ended: Vec<(&str, &str, &str)> = w
        .meet
        .iter()
        .map(|s| (s, DeadlineStatus::Met))
        .chain(w.cancel.iter().map(|s| (s, DeadlineStatus::Cancelled)))
        .map(|(slot, status)| {
            let (kind, name) = slot_parts(slot);
            (kind, name, status.as_str())
        })
        .collect();
    if !ended.is_empty() {
        q.push(", ended AS (UPDATE deadlines d SET status = e.status, ended_at = ")
            .push_bind(at)
            .push(" FROM (");
        q.push_values(ended, |mut row, (kind, name, status)| {
            row.push_bind(kind).push_bind(name).push_bind(status);
        });
        q.push(
            ") AS e (slot_kind, slot, status) WHERE d.case_id IN (SELECT id FROM head) \
             AND d.slot_kind = e.slot_kind AND d.slot = e.slot AND d.status = 'pending'",
        );
        // Every CTE sees the same snapshot: the deadline firing now is still pending here.
        if let Some((deadline, _)) = w.fired {
            q.push(" AND d.id <> ").push_bind(deadline);
        }
        q.push(")");
    }
    // Deadlines recomputed with new holiday data: pending ones only; fired ones never move.
    if !w.moved.is_empty() {
        q.push(
            ", moved AS (UPDATE deadlines d SET due_at = m.due_at, explanation = m.explanation, \
             data_version = m.data_version, lease_owner = NULL, lease_expires_at = NULL FROM (",
        );
        q.push_values(&w.moved, |mut row, m| {
            row.push_bind(m.id)
                .push_bind(m.due_at)
                .push_bind(&m.explanation)
                .push_bind(&m.data_version);
        });
        q.push(
            ") AS m (id, due_at, explanation, data_version) WHERE d.id = m.id \
             AND d.case_id IN (SELECT id FROM head) AND d.status = 'pending')",
        );
    }
    if !w.start.is_empty() {
        q.push(
            ", started AS (INSERT INTO deadlines (case_id, slot_kind, slot, kind, due_at, \
             explanation, data_version, started_at) SELECT head.id, v.* FROM head, (",
        );
        q.push_values(&w.start, |mut row, d| {
            let (kind, name) = slot_parts(&d.slot);
            row.push_bind(kind)
                .push_bind(name)
                .push_bind(timer_kind_str(d.kind))
                .push_bind(d.due_at)
                .push_bind(&d.explanation)
                .push_bind(&d.data_version)
                .push_bind(at);
        });
        q.push(") AS v)");
    }
    if !w.outbox.is_empty() {
        q.push(
            ", queued AS (INSERT INTO outbox (case_id, idempotency_key, message_id, kind, template, \
             recipients, payload, status, last_error, next_attempt_at, created_at, queued_at) \
             SELECT head.id, v.* FROM head, (",
        );
        q.push_values(w.outbox.iter().enumerate(), |mut row, (i, m)| {
            let (key, message_id) = message_keys(&link.reference, link.seq, i);
            row.push_bind(key)
                .push_bind(message_id)
                .push_bind(&m.kind)
                .push_bind(&m.template)
                .push_bind(Json(&m.recipient))
                .push_bind(Json(&m.payload))
                .push_bind(if m.recipient.missing.is_some() {
                    "failed"
                } else {
                    "queued"
                })
                .push_bind(&m.recipient.missing)
                .push_bind(now)
                .push_bind(now)
                .push_bind(Utc::now());
        });
        q.push(") AS v)");
    }
    if let Some(entry) = &w.access {
        super::access::push_access(
            &mut q,
            entry,
            &link.reference,
            (", logged AS (", ")"),
            |t| t,
        );
    }
    q.push(" SELECT id FROM head");
    q
}

/// escalate's data in a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pub(super) pool: PgPool,
    /// The lists' totals kept between pages.
    totals: lists::Totals,
    /// Access-log entries waiting for a writer.
    pub(super) log_queue: super::access::LogQueue,
}

/// Connections a server keeps: four for each core it may use, from 4 to 16. More statements at
/// once than the cores run only wait in the scheduler, some holding locks, where waiting for a
/// connection costs nothing: on 2 cores, 8 connections instead of 16 took list p99 at 16
/// clients from 73–91 ms to 57–78 ms at the same rate (docs/performance.md).
fn pool_size() -> u32 {
    let cores = std::thread::available_parallelism().map_or(4, |n| n.get());
    u32::try_from(cores.saturating_mul(4)).map_or(16, |n| n.clamp(4, 16))
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
            .max_connections(pool_size())
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        Ok(PostgresStore {
            pool,
            totals: Default::default(),
            log_queue: Default::default(),
        })
    }
}

#[async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    async fn migrate(&self) -> Result<Vec<i64>, StoreError> {
        // Compared as sets: a migration merged after a later one was applied runs now too.
        let before: Vec<i64> = match self.schema_version().await {
            Ok(Some(_)) => {
                sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                    .fetch_all(&self.pool)
                    .await?
            }
            _ => Vec::new(),
        };
        MIGRATOR.run(&self.pool).await?;
        self.rebuild_summary(false).await?;
        Ok(MIGRATOR
            .iter()
            .map(|m| m.version)
            .filter(|v| !before.contains(v))
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

    async fn workflow_versions(
        &self,
        workflow: &str,
        references: i64,
    ) -> Result<Vec<super::WorkflowVersion>, StoreError> {
        let rows: Vec<(String, i32, DateTime<Utc>, i64, i64)> = sqlx::query_as(
            "SELECT v.hash, v.label, v.first_seen,
                    (SELECT COUNT(*) FROM cases c
                      WHERE c.workflow = v.workflow AND c.workflow_hash = v.hash),
                    (SELECT COUNT(*) FROM cases c
                      WHERE c.workflow = v.workflow AND c.workflow_hash = v.hash
                        AND c.closed_at IS NULL)
             FROM workflow_versions v WHERE v.workflow = $1
             ORDER BY v.first_seen DESC, v.hash",
        )
        .bind(workflow)
        .fetch_all(&self.pool)
        .await?;
        let mut versions = Vec::with_capacity(rows.len());
        for (hash, label, first_seen, cases, open_cases) in rows {
            let refs: Vec<(String,)> = sqlx::query_as(
                "SELECT reference FROM cases
                 WHERE workflow = $1 AND workflow_hash = $2 AND closed_at IS NULL
                 ORDER BY id LIMIT $3",
            )
            .bind(workflow)
            .bind(&hash)
            .bind(references)
            .fetch_all(&self.pool)
            .await?;
            versions.push(super::WorkflowVersion {
                hash,
                label: label.into(),
                first_seen,
                cases,
                open_cases,
                references: refs.into_iter().map(|r| r.0).collect(),
            });
        }
        Ok(versions)
    }

    async fn write(
        &self,
        writes: &[CaseWrite],
        now: DateTime<Utc>,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        // The usual write, one event on one case, is one statement: atomic on its own, so it
        // needs no BEGIN and COMMIT round trips.
        if let [w] = writes
            && w.idempotency.is_none()
            && let Target::Existing {
                reference,
                expected_seq,
                prev_hash,
                ..
            } = &w.target
        {
            let link = Link::after(reference, *expected_seq, prev_hash, &w.event);
            let id = case_statement(w, &link, now)
                .build_query_scalar::<i64>()
                .fetch_one(&self.pool)
                .await
                .map_err(|e| write_error(e, reference))?;
            return Ok(vec![(id, link.reference)]);
        }
        let mut tx = self.pool.begin().await?;
        let mut written = Vec::with_capacity(writes.len());
        for w in writes {
            let link = match &w.target {
                Target::New { prefix, year, .. } => {
                    let (n,): (i64,) = sqlx::query_as(
                        "INSERT INTO reference_counters (prefix, year, last) VALUES ($1, $2, 1)
                         ON CONFLICT (prefix, year) DO UPDATE SET last = reference_counters.last + 1 RETURNING last",
                    )
                    .bind(prefix)
                    .bind(year)
                    .fetch_one(&mut *tx)
                    .await?;
                    Link::opening(format!("{prefix}-{year}-{n:06}"), w)
                        .ok_or_else(|| StoreError::Damaged("a new case without its data".into()))?
                }
                Target::Existing {
                    reference,
                    expected_seq,
                    prev_hash,
                    ..
                } => Link::after(reference, *expected_seq, prev_hash, &w.event),
            };
            let id = case_statement(w, &link, now)
                .build_query_scalar::<i64>()
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| write_error(e, &link.reference))?;
            if let Some(k) = &w.idempotency {
                sqlx::query(super::REMEMBER_KEY)
                    .bind(k.user_id)
                    .bind(&k.key)
                    .bind(&k.fingerprint)
                    .bind(&link.reference)
                    .bind(link.seq)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| super::key_error(e, &k.key))?;
            }
            written.push((id, link.reference));
        }
        for (w, (target, _)) in writes.iter().zip(&written) {
            if let Some((source, _)) = w.opened_by.and_then(|k| written.get(k)) {
                sqlx::query(
                    "INSERT INTO case_links (source_id, target_id, event, created_at)
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(source)
                .bind(target)
                .bind(&writes[w.opened_by.unwrap_or_default()].event.event)
                .bind(w.event.at)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(written)
    }

    async fn case_by_reference(&self, reference: &str) -> Result<Option<CaseRecord>, StoreError> {
        let sql = format!("SELECT {CASE_COLUMNS} FROM cases c WHERE reference = $1");
        sqlx::query_as::<_, CaseRow>(sqlx::AssertSqlSafe(sql))
            .bind(reference)
            .fetch_optional(&self.pool)
            .await?
            .map(CaseRow::record)
            .transpose()
    }

    async fn case_file(&self, reference: &str) -> Result<Option<super::CaseFile>, StoreError> {
        let rows = (CaseRow::record, DeadlineRow::record, OutboxRow::record);
        case_file::read(&self.pool, Backend::Postgres, CASE_COLUMNS, reference, rows).await
    }

    async fn cases_by_id(&self, ids: &[i64]) -> Result<Vec<CaseRecord>, StoreError> {
        let sql = format!("SELECT {CASE_COLUMNS} FROM cases c WHERE id = ANY($1)");
        sqlx::query_as::<_, CaseRow>(sqlx::AssertSqlSafe(sql))
            .bind(ids)
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(CaseRow::record)
            .collect()
    }

    async fn list_cases(&self, filter: &CaseFilter) -> Result<Vec<CaseRecord>, StoreError> {
        let sql = format!(
            "SELECT {CASE_COLUMNS} FROM cases c
             WHERE ($1::text IS NULL OR workflow = $1) AND ($2::text IS NULL OR state = $2)
               AND ($3::timestamptz IS NULL OR (closed_at IS NULL AND EXISTS (
                    SELECT 1 FROM deadlines d WHERE d.case_id = c.id AND d.kind = 'lapse'
                      AND d.due_at <= $3 AND d.status IN ('pending', 'fired'))))
               AND (NOT $4 OR closed_at IS NULL)
             ORDER BY id DESC"
        );
        let rows = sqlx::query_as::<_, CaseRow>(sqlx::AssertSqlSafe(sql))
            .bind(&filter.workflow)
            .bind(&filter.state)
            .bind(filter.overdue_at)
            .bind(filter.open_only)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(CaseRow::record).collect()
    }

    async fn events(&self, case_id: i64) -> Result<Vec<EventRecord>, StoreError> {
        type Row = (
            i64,
            DateTime<Utc>,
            DateTime<Utc>,
            String,
            String,
            String,
            String,
            Json<BTreeMap<String, String>>,
            Option<String>,
            String,
            String,
            i64,
            Option<String>,
        );
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT seq, at, recorded_at, actor, event, from_state, to_state, fields, reason,
                 prev_hash, hash, hash_version, data_digest
             FROM events WHERE case_id = $1 ORDER BY seq",
        )
        .bind(case_id)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(EventRecord {
                    seq: r.0,
                    at: r.1,
                    recorded_at: r.2,
                    actor: r.3,
                    event: r.4,
                    from_state: r.5,
                    to_state: r.6,
                    fields: r.7.0,
                    reason: r.8,
                    prev_hash: r.9,
                    hash: r.10,
                    hash_version: r.11,
                    data_digest: r.12,
                })
            })
            .collect()
    }

    async fn deadlines(&self, case_id: i64) -> Result<Vec<DeadlineRecord>, StoreError> {
        let sql = format!(
            "SELECT {DEADLINE_COLUMNS} FROM deadlines WHERE case_id = $1 ORDER BY due_at, id"
        );
        sqlx::query_as::<_, DeadlineRow>(sqlx::AssertSqlSafe(sql))
            .bind(case_id)
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(DeadlineRow::record)
            .collect()
    }

    async fn stale_deadline_cases(&self, data_version: &str) -> Result<Vec<i64>, StoreError> {
        let rows: Vec<(i64,)> = sqlx::query_as(
            "SELECT DISTINCT case_id FROM deadlines WHERE status = 'pending' AND data_version <> $1 ORDER BY case_id",
        )
        .bind(data_version)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    async fn restamp_deadlines(&self, stamps: &[super::MovedDeadline]) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut changed = 0;
        for m in stamps {
            changed += sqlx::query(
                "UPDATE deadlines SET explanation = $1, data_version = $2
                 WHERE id = $3 AND due_at = $4 AND status = 'pending'",
            )
            .bind(&m.explanation)
            .bind(&m.data_version)
            .bind(m.id)
            .bind(m.due_at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        tx.commit().await?;
        Ok(changed)
    }

    async fn outbox(&self, case_id: i64) -> Result<Vec<OutboxRecord>, StoreError> {
        let sql = format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE case_id = $1 ORDER BY id");
        sqlx::query_as::<_, OutboxRow>(sqlx::AssertSqlSafe(sql))
            .bind(case_id)
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(OutboxRow::record)
            .collect()
    }

    async fn list_outbox(&self, filter: &OutboxFilter) -> Result<Vec<OutboxRecord>, StoreError> {
        let sql = format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox
             WHERE ($1::text IS NULL OR status = $1) AND ($2::bigint IS NULL OR case_id = $2)
               AND ($4::bigint IS NULL OR id = $4)
             ORDER BY id DESC LIMIT $3"
        );
        sqlx::query_as::<_, OutboxRow>(sqlx::AssertSqlSafe(sql))
            .bind(&filter.status)
            .bind(filter.case_id)
            .bind((filter.limit > 0).then_some(filter.limit))
            .bind(filter.id)
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(OutboxRow::record)
            .collect()
    }

    async fn claim_outbox(
        &self,
        due_by: DateTime<Utc>,
        owner: &str,
        clock: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<OutboxRecord>, StoreError> {
        let sql = format!(
            "UPDATE outbox SET lease_owner = $1, lease_expires_at = $2
             WHERE id IN (
                 SELECT id FROM outbox
                 WHERE status = 'queued' AND next_attempt_at <= $3
                   AND (lease_expires_at IS NULL OR lease_expires_at <= $4)
                 ORDER BY next_attempt_at, id LIMIT $5
                 FOR UPDATE SKIP LOCKED)
             RETURNING {OUTBOX_COLUMNS}"
        );
        let mut claimed = sqlx::query_as::<_, OutboxRow>(sqlx::AssertSqlSafe(sql))
            .bind(owner)
            .bind(lease_until)
            .bind(due_by)
            .bind(clock)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(OutboxRow::record)
            .collect::<Result<Vec<_>, _>>()?;
        claimed.sort_by_key(|m| m.id);
        Ok(claimed)
    }

    async fn record_delivery(
        &self,
        id: i64,
        owner: &str,
        outcome: &DeliveryOutcome,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let (status, error, reply, next) = delivery_columns(outcome);
        let done = sqlx::query(
            "UPDATE outbox SET status = $1, last_error = COALESCE($2, last_error), reply = $3,
                 attempts = attempts + 1, next_attempt_at = COALESCE($4, next_attempt_at),
                 sent_at = CASE WHEN $1 = 'sent' THEN $5 ELSE sent_at END,
                 lease_owner = NULL, lease_expires_at = NULL
             WHERE id = $6 AND lease_owner = $7 AND status = 'queued'",
        )
        .bind(status)
        .bind(error)
        .bind(reply)
        .bind(next)
        .bind(at)
        .bind(id)
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn requeue_outbox(
        &self,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<Option<OutboxRecord>, StoreError> {
        let sql = format!(
            "UPDATE outbox SET status = 'queued', next_attempt_at = $1, attempts = 0,
                 queued_at = $3, lease_owner = NULL, lease_expires_at = NULL
             WHERE id = $2 AND status = 'failed' AND recipients->>'missing' IS NULL
             RETURNING {OUTBOX_COLUMNS}"
        );
        sqlx::query_as::<_, OutboxRow>(sqlx::AssertSqlSafe(sql))
            .bind(now)
            .bind(id)
            .bind(Utc::now())
            .fetch_optional(&self.pool)
            .await?
            .map(OutboxRow::record)
            .transpose()
    }

    async fn readdress_outbox(
        &self,
        id: i64,
        recipient: &Recipient,
        now: DateTime<Utc>,
    ) -> Result<Option<OutboxRecord>, StoreError> {
        let sql = format!(
            "UPDATE outbox SET status = 'queued', recipients = $4, last_error = NULL,
                 next_attempt_at = $1, attempts = 0, queued_at = $3,
                 lease_owner = NULL, lease_expires_at = NULL
             WHERE id = $2 AND status = 'failed' AND recipients->>'missing' IS NOT NULL
             RETURNING {OUTBOX_COLUMNS}"
        );
        sqlx::query_as::<_, OutboxRow>(sqlx::AssertSqlSafe(sql))
            .bind(now)
            .bind(id)
            .bind(Utc::now())
            .bind(Json(recipient))
            .fetch_optional(&self.pool)
            .await?
            .map(OutboxRow::record)
            .transpose()
    }

    async fn queue_standalone(
        &self,
        messages: &[StandaloneMessage],
        job: Option<JobEnd<'_>>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Queued>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut found = Vec::with_capacity(messages.len());
        for m in messages {
            let (status, error) = initial_status(&m.message);
            // A key another transaction is inserting waits for it, then counts as taken.
            let inserted: Option<(i64,)> = sqlx::query_as(QUEUE_STANDALONE)
                .bind(&m.key)
                .bind(standalone_message_id(&m.key))
                .bind(&m.message.kind)
                .bind(&m.message.template)
                .bind(Json(&m.message.recipient))
                .bind(Json(&m.message.payload))
                .bind(status)
                .bind(error)
                .bind(now)
                .bind(Utc::now())
                .fetch_optional(&mut *tx)
                .await?;
            let (id, status, sent_at, new) = match inserted {
                Some((id,)) => (id, status.to_string(), None, true),
                None => {
                    let (id, status, sent_at): (i64, String, Option<DateTime<Utc>>) =
                        sqlx::query_as(QUEUED_BY_KEY)
                            .bind(&m.key)
                            .fetch_one(&mut *tx)
                            .await?;
                    (id, status, sent_at, false)
                }
            };
            found.push(Queued {
                id,
                key: m.key.clone(),
                email: m.message.recipient.email.clone(),
                new,
                status,
                sent_at,
            });
        }
        if let Some(job) = job {
            sqlx::query(FINISH_JOB_RUN)
                .bind(job.finished_at)
                .bind(job.outcome)
                .bind((job.describe)(&found))
                .bind(job.job)
                .bind(job.scheduled_for)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(found)
    }

    async fn replace_directory(
        &self,
        directory: &Directory,
        now: DateTime<Utc>,
        entry: Option<&AdminEntry>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM agency_contacts")
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM agencies")
            .execute(&mut *tx)
            .await?;
        for a in &directory.agencies {
            sqlx::query("INSERT INTO agencies (id, name, imported_at) VALUES ($1, $2, $3)")
                .bind(&a.id)
                .bind(&a.name)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            for c in &a.contacts {
                sqlx::query(
                    "INSERT INTO agency_contacts (agency, level, name, email)
                     VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                )
                .bind(&a.id)
                .bind(&c.level)
                .bind(&c.name)
                .bind(&c.email)
                .execute(&mut *tx)
                .await?;
            }
        }
        if let Some(entry) = entry {
            Self::record_admin(&mut tx, entry).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn directory(&self) -> Result<Directory, StoreError> {
        let rows: Vec<DirectoryRow> = sqlx::query_as(DIRECTORY_QUERY)
            .fetch_all(&self.pool)
            .await?;
        Ok(directory_from(rows))
    }

    async fn claim_due(
        &self,
        due_by: DateTime<Utc>,
        owner: &str,
        clock: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<(DeadlineRecord, String)>, StoreError> {
        let sql = format!(
            "UPDATE deadlines SET lease_owner = $1, lease_expires_at = $2, attempts = attempts + 1
             WHERE id IN (
                 SELECT id FROM deadlines
                 WHERE status = 'pending' AND due_at <= $3
                   AND (lease_expires_at IS NULL OR lease_expires_at <= $4)
                 ORDER BY due_at, id LIMIT $5
                 FOR UPDATE SKIP LOCKED)
             RETURNING {DEADLINE_COLUMNS},
                 (SELECT reference FROM cases WHERE cases.id = deadlines.case_id) AS reference"
        );
        let rows: Vec<ClaimRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(owner)
            .bind(lease_until)
            .bind(due_by)
            .bind(clock)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        let mut claimed = rows
            .into_iter()
            .map(|r| Ok((r.deadline.record()?, r.reference)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        // RETURNING gives no order.
        claimed.sort_by_key(|(d, _)| (d.due_at, d.id));
        Ok(claimed)
    }

    async fn links(&self, case_id: i64) -> Result<Vec<LinkRecord>, StoreError> {
        let rows: Vec<(String, String, String, String, bool, String, DateTime<Utc>)> =
            sqlx::query_as(LINKS_QUERY)
                .bind(case_id)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .into_iter()
            .map(|r| LinkRecord {
                relation: r.0,
                reference: r.1,
                workflow: r.2,
                state: r.3,
                closed: r.4,
                event: r.5,
                at: r.6,
            })
            .collect())
    }

    async fn heads(&self) -> Result<Vec<(String, i64, String)>, StoreError> {
        Ok(
            sqlx::query_as("SELECT reference, seq, last_hash FROM cases ORDER BY reference")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    async fn reference_counters(&self) -> Result<Vec<(String, i64, i64)>, StoreError> {
        let rows: Vec<(String, i32, i64)> = sqlx::query_as(
            "SELECT prefix, year, last::bigint FROM reference_counters ORDER BY prefix, year",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(p, y, l)| (p, i64::from(y), l))
            .collect())
    }

    async fn save_checkpoint(
        &self,
        checkpoint: &Checkpoint,
        heads: &[(String, i64, String)],
    ) -> Result<i64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO audit_checkpoints (created_at, cases, prev_root, root)
             VALUES ($1, $2, $3, $4) ON CONFLICT (prev_root) DO NOTHING RETURNING id",
        )
        .bind(checkpoint.created_at)
        .bind(checkpoint.cases)
        .bind(&checkpoint.prev_root)
        .bind(&checkpoint.root)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::Conflict("the audit checkpoint".into()))?;
        for chunk in heads.chunks(5_000) {
            let mut q = QueryBuilder::<Postgres>::new(
                "INSERT INTO audit_checkpoint_heads (checkpoint, reference, seq, hash) ",
            );
            q.push_values(chunk, |mut row, (reference, seq, hash)| {
                row.push_bind(id)
                    .push_bind(reference)
                    .push_bind(seq)
                    .push_bind(hash);
            });
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    async fn checkpoints(&self) -> Result<Vec<Checkpoint>, StoreError> {
        let rows: Vec<(i64, DateTime<Utc>, i64, String, String)> = sqlx::query_as(
            "SELECT id, created_at, cases, prev_root, root FROM audit_checkpoints ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| Checkpoint {
                id: r.0,
                created_at: r.1,
                cases: r.2,
                prev_root: r.3,
                root: r.4,
            })
            .collect())
    }

    async fn checkpoint_heads(&self, id: i64) -> Result<Vec<(String, i64, String)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT reference, seq, hash FROM audit_checkpoint_heads WHERE checkpoint = $1
             ORDER BY reference",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn leased_due(
        &self,
        due_by: DateTime<Utc>,
        clock: DateTime<Utc>,
    ) -> Result<(i64, Option<DateTime<Utc>>), StoreError> {
        Ok(sqlx::query_as(
            "SELECT COUNT(*), MAX(lease_expires_at) FROM deadlines
             WHERE status = 'pending' AND due_at <= $1 AND lease_expires_at > $2",
        )
        .bind(due_by)
        .bind(clock)
        .fetch_one(&self.pool)
        .await?)
    }

    async fn claim_job_run(
        &self,
        job: &str,
        scheduled_for: DateTime<Utc>,
        started_at: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO job_runs (job, scheduled_for, started_at) VALUES ($1, $2, $3)
             ON CONFLICT (job, scheduled_for) DO UPDATE SET started_at = excluded.started_at
             WHERE job_runs.finished_at IS NULL AND job_runs.started_at < $4",
        )
        .bind(job)
        .bind(scheduled_for)
        .bind(started_at)
        .bind(stale_before)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn finish_job_run(
        &self,
        job: &str,
        scheduled_for: DateTime<Utc>,
        finished_at: DateTime<Utc>,
        outcome: &str,
        message: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(FINISH_JOB_RUN)
            .bind(finished_at)
            .bind(outcome)
            .bind(message)
            .bind(job)
            .bind(scheduled_for)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn last_job_run(&self, job: &str) -> Result<Option<super::JobRun>, StoreError> {
        type Row = (
            String,
            DateTime<Utc>,
            DateTime<Utc>,
            Option<DateTime<Utc>>,
            Option<String>,
            Option<String>,
        );
        let row: Option<Row> = sqlx::query_as(
            "SELECT job, scheduled_for, started_at, finished_at, outcome, message FROM job_runs
             WHERE job = $1 ORDER BY scheduled_for DESC LIMIT 1",
        )
        .bind(job)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| super::JobRun {
            job: r.0,
            scheduled_for: r.1,
            started_at: r.2,
            finished_at: r.3,
            outcome: r.4,
            message: r.5,
        }))
    }

    async fn report_facts(
        &self,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
        ids: std::ops::Range<i64>,
        sink: &mut (dyn FnMut(super::CaseFacts) + Send),
    ) -> Result<(), StoreError> {
        use futures_util::TryStreamExt;
        type Row = (
            i64,
            i64,
            i64,
            DateTime<Utc>,
            Option<DateTime<Utc>>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
        );
        // One stream ordered by case: the case (kind 0), its entries (1), its lapse timers (2).
        let mut rows = sqlx::query_as::<_, Row>(
            "WITH c AS (SELECT * FROM cases WHERE opened_at < $2
                          AND (closed_at IS NULL OR closed_at >= $1) AND id >= $3 AND id < $4)
             SELECT c.id AS case_id, 0::bigint AS kind, 0::bigint AS n, c.opened_at AS at,
                    c.closed_at AS t2, c.workflow AS s1, c.division AS s2,
                    c.data->>'category' AS s3, c.data->'raised_by'->>'agency' AS s4,
                    c.data->'respondent'->>'agency' AS s5, c.outcome AS s6
             FROM c
             UNION ALL
             SELECT e.case_id, 1, e.seq, e.at, NULL, e.event, e.from_state, e.to_state,
                    e.fields->>'outcome', NULL, NULL
             FROM events e JOIN c ON c.id = e.case_id
             UNION ALL
             SELECT d.case_id, 2, d.id, d.due_at, d.ended_at, d.slot, d.status, NULL, NULL,
                    NULL, NULL
             FROM deadlines d JOIN c ON c.id = d.case_id
             WHERE d.slot_kind = 'state' AND d.kind = 'lapse'
             ORDER BY case_id, kind, n",
        )
        .bind(from)
        .bind(until)
        .bind(ids.start)
        .bind(ids.end)
        .fetch(&self.pool);
        let mut folder = super::report_rows::Folder::default();
        while let Some(r) = rows.try_next().await? {
            let row = super::report_rows::FactRow {
                case_id: r.0,
                kind: r.1,
                n: r.2,
                at: r.3,
                t2: r.4,
                s1: r.5,
                s2: r.6,
                s3: r.7,
                s4: r.8,
                s5: r.9,
                s6: r.10,
            };
            if let Some(done) = folder.push(row)? {
                sink(done);
            }
        }
        if let Some(done) = folder.finish() {
            sink(done);
        }
        Ok(())
    }

    async fn report_summary(
        &self,
        month: &super::MonthQuery,
    ) -> Result<super::SummaryFacts, StoreError> {
        summary::month_facts(&self.pool, month, |t| t).await
    }

    async fn rebuild_summary(&self, force: bool) -> Result<Option<u64>, StoreError> {
        if !force && !summary::pending(&self.pool).await? {
            return Ok(None);
        }
        let mut tx = self.pool.begin().await?;
        // Writers that touch the summary wait from here to the commit; the rest (notes,
        // reminders) change nothing in it. The marker's lock makes two rebuilds queue.
        sqlx::query("LOCK TABLE summary_rebuild, case_summary IN EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await?;
        // Fresh statistics for reading the log: on tables loaded since the last analyze (a
        // restore, an import) the planner would otherwise guess a few rows and loop over them.
        sqlx::query("ANALYZE cases, events, deadlines")
            .execute(&mut *tx)
            .await?;
        let cases =
            summary::rebuild::<Postgres>(self, &mut tx, force, "TRUNCATE case_summary").await?;
        if cases.is_some() {
            sqlx::query("ANALYZE case_summary")
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(cases)
    }

    async fn stored_summaries(
        &self,
        ids: std::ops::Range<i64>,
    ) -> Result<Vec<super::CaseSummary>, StoreError> {
        summary::stored(&self.pool, ids).await
    }

    async fn case_page(&self, query: &CaseQuery) -> Result<Page<i64>, StoreError> {
        lists::case_page(&self.pool, Backend::Postgres, &self.totals, query, |t| t).await
    }

    async fn deadline_page(&self, query: &DeadlineQuery) -> Result<Page<i64>, StoreError> {
        lists::deadline_page(&self.pool, query, |t| t).await
    }

    async fn deadlines_by_id(&self, ids: &[i64]) -> Result<Vec<DeadlineRecord>, StoreError> {
        let sql = format!("SELECT {DEADLINE_COLUMNS} FROM deadlines WHERE id = ANY($1)");
        sqlx::query_as::<_, DeadlineRow>(sqlx::AssertSqlSafe(sql))
            .bind(ids)
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(DeadlineRow::record)
            .collect()
    }

    async fn listed_cases(
        &self,
        ids: &[i64],
        at: DateTime<Utc>,
        with_data: bool,
    ) -> Result<Vec<ListedCase>, StoreError> {
        let backend = self.backend();
        lists::listed_cases(
            &self.pool,
            (backend, with_data),
            at,
            ids.to_vec(),
            ids,
            DeadlineRow::record,
        )
        .await
    }

    async fn parties_pending(&self) -> Result<bool, StoreError> {
        lists::parties_pending(&self.pool).await
    }

    async fn add_parties(
        &self,
        parties: &[(i64, Vec<Party>)],
        done: bool,
    ) -> Result<(), StoreError> {
        lists::add_parties(&self.pool, parties, done).await
    }

    async fn max_case_id(&self) -> Result<i64, StoreError> {
        summary::max_case_id(&self.pool).await
    }
}
