//! The lists of cases and deadlines someone may see (`GET /api/v1/cases`, `/api/v1/deadlines`):
//! the same SQL on both backends, built here. Who may see a case is decided in
//! [`crate::access::policy`]; it arrives as a [`CaseScope`], which becomes a condition on
//! `case_parties` (written with each case), and the order comes from `case_order` (kept by
//! triggers), so that a page among many thousands of cases is a few index ranges.

use std::collections::HashMap;
use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;

use super::access::StoredTime;
use super::case_file::DEADLINE_COLUMNS;
use super::{
    Backend, CaseQuery, CaseScope, DeadlineQuery, DeadlineRecord, DeadlineStatus, Page, Party,
    StoreError,
};
use crate::workflow::{Slot, TimerKind};

/// Pushes the insert of a new case's parties onto its write, as one statement that `step`
/// wraps (a statement of a script on SQLite, a data-modifying CTE on PostgreSQL), `case_id`
/// pushing the case's id. Nothing when the data names no party.
pub(crate) fn push_parties<DB>(
    q: &mut QueryBuilder<DB>,
    parties: &[Party],
    step: (&str, &str),
    case_id: impl Fn(&mut QueryBuilder<DB>),
) where
    DB: sqlx::Database,
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<String>: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    if parties.is_empty() {
        return;
    }
    q.push(step.0);
    q.push("INSERT INTO case_parties (case_id, role, email, agency) ");
    for (i, p) in parties.iter().enumerate() {
        q.push(if i == 0 {
            "SELECT "
        } else {
            " UNION ALL SELECT "
        });
        case_id(q);
        q.push(", ")
            .push_bind(p.role.clone())
            .push(", ")
            .push_bind(p.email.clone())
            .push(", ")
            .push_bind(p.agency.clone());
    }
    q.push(step.1);
}

/// `text` as a LIKE pattern that finds it anywhere, its wildcards taken literally.
fn contains_pattern(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for ch in text.to_lowercase().chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push('%');
    out
}

/// Pushes `(v1, v2, …)`; never called with none.
fn push_list<DB>(q: &mut QueryBuilder<DB>, values: &[String])
where
    DB: sqlx::Database,
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    q.push("(");
    let mut list = q.separated(", ");
    for v in values {
        list.push_bind(v.clone());
    }
    q.push(")");
}

/// Pushes ` AND id IN (the cases of `scope`)`, `id` naming the case id of the row.
fn push_scope<DB>(q: &mut QueryBuilder<DB>, id: &str, scope: &CaseScope)
where
    DB: sqlx::Database,
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    if let CaseScope::Related { .. } = scope {
        q.push(" AND ").push(id).push(" IN (");
        push_scope_set(q, scope);
        q.push(")");
    }
}

/// Pushes a query of the ids (`case_id`) of the cases of a [`CaseScope::Related`], once each
/// or more; nothing for [`CaseScope::All`].
fn push_scope_set<DB>(q: &mut QueryBuilder<DB>, scope: &CaseScope)
where
    DB: sqlx::Database,
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let CaseScope::Related {
        email,
        agencies,
        contacts,
    } = scope
    else {
        return;
    };
    // A union of sets of case ids, each found by an index, so that a person who sees few
    // cases costs few rows, whatever the whole list holds: PostgreSQL makes one IN of it a
    // semi-join driven by the set, where an OR of INs was a filter on every case. Each set is
    // read from its index alone (migration 0017), which an OR of the two would not be: both
    // backends then fetch every matching row to merge them.
    q.push("SELECT case_id FROM case_parties WHERE email = ")
        .push_bind(email.clone());
    if !agencies.is_empty() {
        q.push(" UNION ALL SELECT case_id FROM case_parties WHERE agency IN ");
        push_list(q, agencies);
    }
    for contact in contacts {
        match &contact.role {
            None => {
                q.push(" UNION ALL SELECT id FROM cases WHERE workflow = ")
                    .push_bind(contact.workflow.clone());
            }
            Some(_) if contact.agencies.is_empty() => {}
            Some(role) => {
                // CROSS JOIN: SQLite keeps this order (the parties by their index, then each
                // case by its id); without statistics it would walk every case of the
                // workflow instead. PostgreSQL plans it as any join.
                q.push(
                    " UNION ALL SELECT p.case_id FROM case_parties p CROSS JOIN cases w \
                     WHERE w.id = p.case_id AND w.workflow = ",
                )
                .push_bind(contact.workflow.clone())
                .push(" AND p.role = ")
                .push_bind(role.clone())
                .push(" AND p.agency IN ");
                push_list(q, &contact.agencies);
            }
        }
    }
}

/// Pushes one page of the cases of a [`CaseScope::Related`] in list order (`case_id, next_due`
/// rows, nearest deadline first, then by id), each case once. Each way of relating someone to
/// cases is one range of an index in that order (migration 0018): SQLite merges them (a compound
/// `UNION` with `ORDER BY` is a merge of its parts when each comes ordered) and stops at the
/// page's end; PostgreSQL (15) merges them only for a `DISTINCT ON` in the list's order (a
/// `UNION` or plain `DISTINCT` it hashes whole), and each part is first cut to the rows the
/// page could need (a case is at most as far down its part as down the whole list). Each
/// part is DISTINCT itself: a case naming one agency for two parties is one row of it.
fn push_related_page<DB>(q: &mut QueryBuilder<DB>, query: &CaseQuery, backend: Backend)
where
    DB: sqlx::Database,
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let CaseScope::Related {
        email,
        agencies,
        contacts,
    } = &query.scope
    else {
        return;
    };
    let reach = query.offset.saturating_add(query.limit);
    let mut parts = 0;
    let mut part =
        |q: &mut QueryBuilder<DB>, select: &str, push_where: &dyn Fn(&mut QueryBuilder<DB>)| {
            match backend {
                Backend::Sqlite => {
                    q.push(if parts == 0 { "" } else { " UNION " }).push(select);
                    push_where(q);
                }
                Backend::Postgres => {
                    q.push(if parts == 0 { "" } else { " UNION ALL " })
                        .push("SELECT * FROM (")
                        .push(select);
                    push_where(q);
                    q.push(" ORDER BY 2, 1 LIMIT ")
                        .push_bind(reach)
                        .push(format!(") p{parts}"));
                }
            }
            parts += 1;
        };
    if backend == Backend::Postgres {
        // DISTINCT ON, which PostgreSQL can only do over rows in order: it then merges the
        // parts, each in order from its index, and stops at the page's end. A plain DISTINCT
        // was hashed whole, every part's rows, then sorted (page 40 of a nurse's list: 4,000
        // rows hashed and sorted instead of 2,000 merged; 1.2–1.8 ms instead of 6.6–7.7 ms
        // with planning).
        q.push("SELECT DISTINCT ON (next_due, case_id) case_id, next_due FROM (");
    }
    part(
        q,
        "SELECT DISTINCT case_id, next_due FROM case_parties WHERE email = ",
        &|q| {
            q.push_bind(email.clone());
        },
    );
    for agency in agencies {
        part(
            q,
            "SELECT DISTINCT case_id, next_due FROM case_parties WHERE agency = ",
            &|q| {
                q.push_bind(agency.clone());
            },
        );
    }
    for contact in contacts {
        match &contact.role {
            None => part(
                q,
                "SELECT DISTINCT o.case_id, o.next_due FROM cases w JOIN case_order o ON o.case_id = w.id \
                 WHERE w.workflow = ",
                &|q| {
                    q.push_bind(contact.workflow.clone());
                },
            ),
            Some(_) if contact.agencies.is_empty() => {}
            Some(role) => part(
                q,
                "SELECT DISTINCT p.case_id, p.next_due FROM case_parties p CROSS JOIN cases w \
                 WHERE w.id = p.case_id AND w.workflow = ",
                &|q| {
                    q.push_bind(contact.workflow.clone())
                        .push(" AND p.role = ")
                        .push_bind(role.clone())
                        .push(" AND p.agency IN ");
                    push_list(q, &contact.agencies);
                },
            ),
        }
    }
    if backend == Backend::Postgres {
        q.push(") s");
    }
    q.push(" ORDER BY 2, 1 LIMIT ")
        .push_bind(query.limit)
        .push(" OFFSET ")
        .push_bind(query.offset);
}

/// Whether `deadline` of a case now in `state` (`None` when closed) is overdue at `at`: a
/// lapse past due and not met, still pending (the sweep has not reached it) or fired on the
/// state the case is still in. [`push_overdue`] asks the same in SQL.
pub fn overdue(deadline: &DeadlineRecord, state: Option<&str>, at: DateTime<Utc>) -> bool {
    let Some(state) = state else { return false };
    deadline.kind == TimerKind::Lapse
        && match deadline.status {
            DeadlineStatus::Pending => deadline.due_at <= at,
            DeadlineStatus::Fired => deadline.slot == Slot::State(state.to_string()),
            DeadlineStatus::Met | DeadlineStatus::Cancelled => false,
        }
}

/// ` AND (deadline `d` of case `c` is overdue at <the time>)`, around where the time goes, as
/// [`overdue`] decides it (the caller checks the case is open). The `IN` lets a case's two
/// statuses be read as one range of the `(case_id, status)` index, where PostgreSQL otherwise
/// ORs two bitmap reads for every case.
const OVERDUE_AT: (&str, &str) = (
    " AND d.kind = 'lapse' AND d.status IN ('pending', 'fired') \
     AND ((d.status = 'pending' AND d.due_at <= ",
    ") OR (d.status = 'fired' AND d.slot_kind = 'state' AND d.slot = c.state))",
);

/// Pushes [`OVERDUE_AT`] with `at`.
fn push_overdue<DB, T>(q: &mut QueryBuilder<DB>, at: T)
where
    DB: sqlx::Database,
    T: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB> + 'static + Send,
{
    q.push(OVERDUE_AT.0).push_bind(at).push(OVERDUE_AT.1);
}

/// A case as a list shows it, with what decides who may see it (its workflow and opening
/// data), its nearest pending deadline and whether one is overdue; not its log's bookkeeping.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedCase {
    /// Row id.
    pub id: i64,
    /// E.g. `DSP-2026-000042`.
    pub reference: String,
    /// Workflow id.
    pub workflow: String,
    /// The workflow version (content hash) the case opened on.
    pub workflow_hash: String,
    /// Current state.
    pub state: String,
    /// Opening data, as the stored JSON text, when asked for: only when who may see the case
    /// depends on its parties is it read and parsed (a partnership's list of 50 cases read and
    /// parsed 50 objects it never looked at).
    pub data: Option<String>,
    /// The raising party's agency.
    pub agency: Option<String>,
    /// Opened.
    pub opened_at: DateTime<Utc>,
    /// Closed (a terminal state), if so.
    pub closed_at: Option<DateTime<Utc>>,
    /// The terminal state's outcome category.
    pub outcome: Option<String>,
    /// Its nearest pending deadline (the earliest due, then the first made), if any.
    pub next: Option<DeadlineRecord>,
    /// Whether a deadline of it is overdue, as [`overdue`] decides.
    pub overdue: bool,
}

/// The case columns of a [`listed_query`] row, times as `T`; the row's other columns are its
/// nearest pending deadline's (all null when it has none), named as the backend's deadline row
/// decodes them, so the case's own id is `listed_id`.
#[derive(sqlx::FromRow)]
pub(crate) struct ListedColumns<T> {
    listed_id: i64,
    reference: String,
    workflow: String,
    workflow_hash: String,
    state: String,
    data: Option<String>,
    agency: Option<String>,
    opened_at: T,
    closed_at: Option<T>,
    outcome: Option<String>,
    overdue: bool,
}

/// The statement of [`listed_cases`] for `backend`, with the opening data or without:
/// `$1` the time overdue is decided at, `$2` the ids (an array on PostgreSQL, a JSON array on
/// SQLite); built once for each.
fn listed_query(backend: Backend, with_data: bool) -> &'static str {
    static CELLS: [[OnceLock<String>; 2]; 2] = [
        [OnceLock::new(), OnceLock::new()],
        [OnceLock::new(), OnceLock::new()],
    ];
    // The opening data as text, which both backends decode the same way; without it, null
    // (half of the bytes of a page's rows).
    let (row, data, ids) = match backend {
        Backend::Sqlite => (0, "c.data", "IN (SELECT value FROM json_each($2))"),
        Backend::Postgres => (1, "c.data::text", "= ANY($2)"),
    };
    let data = if with_data {
        data
    } else {
        "CAST(NULL AS TEXT)"
    };
    let cell = &CELLS[row][usize::from(with_data)];
    cell.get_or_init(|| {
        let next: Vec<String> = DEADLINE_COLUMNS
            .split(',')
            .map(|name| format!("n.{}", name.trim()))
            .collect();
        // The nearest deadline joined by its id, as columns: building it as a JSON object in
        // the statement and parsing that was a fifth of a page's time on PostgreSQL.
        format!(
            "SELECT c.id AS listed_id, c.reference, c.workflow, c.workflow_hash, c.state, \
                    {data} AS data, c.agency, c.opened_at, c.closed_at, c.outcome, \
                    (c.closed_at IS NULL AND EXISTS (SELECT 1 FROM deadlines d \
                        WHERE d.case_id = c.id{}$1{})) AS overdue, {} \
             FROM cases c LEFT JOIN deadlines n ON n.id = (SELECT d.id FROM deadlines d \
                 WHERE d.case_id = c.id AND d.status = 'pending' ORDER BY d.due_at, d.id LIMIT 1) \
             WHERE c.id {ids}",
            OVERDUE_AT.0,
            OVERDUE_AT.1,
            next.join(", "),
        )
    })
}

/// The cases `order` (bound as `ids`, as [`listed_query`] takes them) as a list shows them,
/// in that order (one no longer there is left out), overdue decided at `at`, in one statement
/// on `pool` of `backend`, with their opening data or without; `deadline` makes a record of
/// the backend's deadline row.
pub(crate) async fn listed_cases<DB, T, I, D>(
    pool: &sqlx::Pool<DB>,
    (backend, with_data): (Backend, bool),
    at: T,
    ids: I,
    order: &[i64],
    deadline: impl Fn(D) -> Result<DeadlineRecord, StoreError>,
) -> Result<Vec<ListedCase>, StoreError>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    DB::Arguments: sqlx::IntoArguments<DB>,
    ListedColumns<T>: for<'r> sqlx::FromRow<'r, DB::Row>,
    D: for<'r> sqlx::FromRow<'r, DB::Row>,
    Option<i64>: for<'r> sqlx::Decode<'r, DB> + sqlx::Type<DB>,
    for<'a> &'a str: sqlx::ColumnIndex<DB::Row>,
    T: StoredTime + for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB> + Send + Unpin + 'static,
    I: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB> + Send + 'static,
{
    use sqlx::{FromRow, Row};
    if order.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<DB::Row> = sqlx::query(sqlx::AssertSqlSafe(listed_query(backend, with_data)))
        .bind(at)
        .bind(ids)
        .fetch_all(pool)
        .await?;
    let mut by_id = HashMap::with_capacity(rows.len());
    for row in rows {
        let columns = ListedColumns::<T>::from_row(&row)?;
        // The deadline's own columns: null together when the case has none pending.
        let next = match row.try_get::<Option<i64>, _>("id")? {
            Some(_) => Some(deadline(D::from_row(&row)?)?),
            None => None,
        };
        let id = columns.listed_id;
        let case = ListedCase {
            data: columns.data,
            opened_at: columns.opened_at.utc()?,
            closed_at: columns.closed_at.map(StoredTime::utc).transpose()?,
            outcome: columns.outcome,
            overdue: columns.overdue,
            next,
            id,
            reference: columns.reference,
            workflow: columns.workflow,
            workflow_hash: columns.workflow_hash,
            state: columns.state,
            agency: columns.agency,
        };
        by_id.insert(id, case);
    }
    Ok(order.iter().filter_map(|id| by_id.remove(id)).collect())
}

/// Whether a case list's WHERE clause reads the case row (`cases c`), not only its id.
fn reads_case(query: &CaseQuery) -> bool {
    query.workflow.is_some()
        || query.state.is_some()
        || query.overdue_at.is_some()
        || query.text.is_some()
}

/// The WHERE clause of a case list, on `case_order o`, joined to `cases c` when
/// [`reads_case`].
fn push_case_filter<DB, T>(
    q: &mut QueryBuilder<DB>,
    query: &CaseQuery,
    ts: &impl Fn(DateTime<Utc>) -> T,
) where
    DB: sqlx::Database,
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    T: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB> + 'static + Send,
{
    q.push(" WHERE 1 = 1");
    if let Some(workflow) = &query.workflow {
        q.push(" AND c.workflow = ").push_bind(workflow.clone());
    }
    if let Some(state) = &query.state {
        q.push(" AND c.state = ").push_bind(state.clone());
    }
    if let Some(at) = query.overdue_at {
        q.push(
            " AND c.closed_at IS NULL AND EXISTS (SELECT 1 FROM deadlines d WHERE d.case_id = c.id",
        );
        push_overdue(q, ts(at));
        q.push(")");
    }
    if let Some(text) = &query.text {
        let pattern = contains_pattern(text);
        q.push(" AND (lower(c.reference) LIKE ")
            .push_bind(pattern.clone())
            .push(" ESCAPE '\\' OR c.id IN (SELECT case_id FROM case_parties WHERE email LIKE ")
            .push_bind(pattern.clone())
            .push(" ESCAPE '\\' OR agency LIKE ")
            .push_bind(pattern)
            .push(" ESCAPE '\\'))");
    }
    push_scope(q, "o.case_id", &query.scope);
}

/// The WHERE clause of a deadline list (on `deadlines d JOIN cases c`).
fn push_deadline_filter<DB, T>(
    q: &mut QueryBuilder<DB>,
    query: &DeadlineQuery,
    ts: &impl Fn(DateTime<Utc>) -> T,
) where
    DB: sqlx::Database,
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    T: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB> + 'static + Send,
{
    q.push(" WHERE c.closed_at IS NULL");
    match query.overdue_at {
        Some(at) => push_overdue(q, ts(at)),
        None => {
            q.push(" AND d.status = 'pending'");
        }
    }
    if let Some(before) = query.due_before {
        q.push(" AND d.due_at < ").push_bind(ts(before));
    }
    push_scope(q, "c.id", &query.scope);
}

/// Runs the page query and (unless the total is `known`) the count query `build` makes (it is
/// called with `true` for the count), and returns the ids and the total.
async fn page<DB>(
    pool: &sqlx::Pool<DB>,
    known: Option<i64>,
    build: impl Fn(bool) -> QueryBuilder<DB>,
) -> Result<Page<i64>, StoreError>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    DB::Arguments: sqlx::IntoArguments<DB>,
    (i64,): for<'r> sqlx::FromRow<'r, DB::Row>,
{
    let mut rows = build(false);
    let items: Vec<(i64,)> = rows.build_query_as().fetch_all(pool).await?;
    let total = match known {
        Some(total) => total,
        None => {
            let mut count = build(true);
            let (total,): (i64,) = count.build_query_as().fetch_one(pool).await?;
            total
        }
    };
    Ok(Page {
        items: items.into_iter().map(|(id,)| id).collect(),
        total,
    })
}

/// Whether a case list's total is a count `case_counts` keeps (migration 0017): a list of
/// every case, or of every case of one workflow, with no other filter.
fn kept_total(query: &CaseQuery) -> bool {
    query.scope == CaseScope::All
        && query.state.is_none()
        && query.overdue_at.is_none()
        && query.text.is_none()
}

/// The condition on `case_counts.workflow` that takes every row, as a range of its key: its
/// one row a workflow is rewritten with each case opened, and a bulk load leaves the table
/// hundreds of pages long with the live rows on its last page, which vacuum cannot cut off
/// (541 pages after 100,000 cases opened in one transaction: 2 ms a list on PostgreSQL to
/// read them all). By the key, the sum reads the few live index entries. Every text is
/// `>= ''`, whatever the collation.
macro_rules! every_workflow {
    () => {
        ">= ''"
    };
}

/// One page of the cases `query` asks for, nearest pending deadline first (cases with none
/// last), then oldest first.
pub(crate) async fn case_page<DB, T>(
    pool: &sqlx::Pool<DB>,
    backend: Backend,
    totals: &Totals,
    query: &CaseQuery,
    ts: impl Fn(DateTime<Utc>) -> T,
) -> Result<Page<i64>, StoreError>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    DB::Arguments: sqlx::IntoArguments<DB>,
    (i64,): for<'r> sqlx::FromRow<'r, DB::Row>,
    (i64, i64, i64): for<'r> sqlx::FromRow<'r, DB::Row>,
    i64: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    T: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB> + 'static + Send,
{
    // Filtered only by who may see: the total may be one kept from an earlier page.
    let stamp = if !reads_case(query) && query.scope != CaseScope::All {
        Some(
            sqlx::query_as::<_, (i64, i64, i64)>(LIST_STAMP)
                .fetch_one(pool)
                .await?,
        )
    } else {
        None
    };
    let known = stamp.and_then(|stamp| totals.get(&query.scope, stamp));
    let found = page(pool, known, |count| {
        // Every case, or every case of a workflow: the count the database keeps, one row
        // read, where counting 100,000 cases on every page was most of its time.
        if count && kept_total(query) {
            let mut q = QueryBuilder::new(
                "SELECT CAST(COALESCE(SUM(cases), 0) AS BIGINT) FROM case_counts WHERE workflow ",
            );
            match &query.workflow {
                Some(workflow) => q.push("= ").push_bind(workflow.clone()),
                None => q.push(every_workflow!()),
            };
            return q;
        }
        // Filtered only by who may see: counted from the set of their cases alone (it holds
        // ids of cases only, as cases are never deleted), which the indexes give.
        if count && !reads_case(query) && query.scope != CaseScope::All {
            let mut q = QueryBuilder::new("SELECT COUNT(DISTINCT s.case_id) FROM (");
            push_scope_set(&mut q, &query.scope);
            q.push(") s");
            return q;
        }
        // Filtered only by who may see: the ranges of their cases in list order.
        if !count && !reads_case(query) && query.scope != CaseScope::All {
            let mut q = QueryBuilder::new("");
            push_related_page(&mut q, query, backend);
            return q;
        }
        // Every case has its row in case_order (a trigger writes it with the case), whose rows
        // are a tenth the size: a list of every case reads no case row until the page's own.
        let mut q = QueryBuilder::new(if count {
            "SELECT COUNT(*) FROM case_order o"
        } else {
            "SELECT o.case_id FROM case_order o"
        });
        if reads_case(query) {
            q.push(" JOIN cases c ON c.id = o.case_id");
        }
        push_case_filter(&mut q, query, &ts);
        if !count {
            // By the index's own columns, so a later page is a walk along it, not a sort.
            q.push(" ORDER BY o.next_due, o.case_id LIMIT ")
                .push_bind(query.limit)
                .push(" OFFSET ")
                .push_bind(query.offset);
        }
        q
    })
    .await?;
    if let (Some(stamp), None) = (stamp, known) {
        totals.keep(&query.scope, stamp, found.total);
    }
    Ok(found)
}

/// What a list filtered only by who may see holds can change only when a case is opened (its
/// parties are written with it) or older cases' parties are reindexed: the newest case's id,
/// how many cases there are (cases are never deleted; were one, the count would tell), and
/// whether a reindex is pending, read before a total is counted.
const LIST_STAMP: &str = concat!(
    "SELECT CAST(COALESCE((SELECT MAX(id) FROM cases), 0) AS BIGINT), \
     CAST(COALESCE((SELECT SUM(cases) FROM case_counts WHERE workflow ",
    every_workflow!(),
    "), 0) AS BIGINT), CAST((SELECT COUNT(*) FROM party_reindex) AS BIGINT)"
);

/// The totals of lists filtered only by who may see, each with the [`LIST_STAMP`] read before
/// it was counted, kept between pages: counting a person's 4,500 cases was most of the work
/// of each page of their list. A total is used only while the stamp is unchanged.
/// Shared by a store's clones.
#[derive(Debug, Clone, Default)]
#[allow(clippy::type_complexity)]
pub(crate) struct Totals(
    std::sync::Arc<std::sync::Mutex<HashMap<CaseScope, ((i64, i64, i64), i64)>>>,
);

/// The most totals kept; past it they are all forgotten (each is one count to make again).
const MAX_TOTALS: usize = 10_000;

impl Totals {
    /// The total of `scope`'s list, if one was counted at `stamp`.
    fn get(&self, scope: &CaseScope, stamp: (i64, i64, i64)) -> Option<i64> {
        let totals = self.0.lock().unwrap_or_else(|e| e.into_inner());
        totals
            .get(scope)
            .filter(|(at, _)| *at == stamp)
            .map(|(_, total)| *total)
    }

    /// Keeps `total`, counted after `stamp` was read; not while a reindex is pending (its
    /// batches add parties without a case).
    fn keep(&self, scope: &CaseScope, stamp: (i64, i64, i64), total: i64) {
        if stamp.2 != 0 {
            return;
        }
        let mut totals = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if totals.len() >= MAX_TOTALS && !totals.contains_key(scope) {
            totals.clear();
        }
        totals.insert(scope.clone(), (stamp, total));
    }
}

/// One page of the deadline ids `query` asks for, soonest first.
pub(crate) async fn deadline_page<DB, T>(
    pool: &sqlx::Pool<DB>,
    query: &DeadlineQuery,
    ts: impl Fn(DateTime<Utc>) -> T,
) -> Result<Page<i64>, StoreError>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    DB::Arguments: sqlx::IntoArguments<DB>,
    (i64,): for<'r> sqlx::FromRow<'r, DB::Row>,
    i64: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    T: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB> + 'static + Send,
{
    page(pool, None, |count| {
        let mut q = QueryBuilder::new(if count {
            "SELECT COUNT(*) FROM deadlines d JOIN cases c ON c.id = d.case_id"
        } else {
            "SELECT d.id FROM deadlines d JOIN cases c ON c.id = d.case_id"
        });
        push_deadline_filter(&mut q, query, &ts);
        if !count {
            q.push(" ORDER BY d.due_at, d.id LIMIT ")
                .push_bind(query.limit)
                .push(" OFFSET ")
                .push_bind(query.offset);
        }
        q
    })
    .await
}

/// Whether `case_parties` still lacks the cases opened before it existed (migration 0012).
pub(crate) async fn parties_pending<DB>(pool: &sqlx::Pool<DB>) -> Result<bool, StoreError>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    DB::Arguments: sqlx::IntoArguments<DB>,
    (String,): for<'r> sqlx::FromRow<'r, DB::Row>,
{
    let row: Option<(String,)> = sqlx::query_as("SELECT reason FROM party_reindex LIMIT 1")
        .fetch_optional(pool)
        .await?;
    Ok(row.is_some())
}

/// Keeps the parties of cases opened before `case_parties` existed, in one transaction (a
/// case's kept already stay as they are); with `done`, the reindex is over.
pub(crate) async fn add_parties<DB>(
    pool: &sqlx::Pool<DB>,
    parties: &[(i64, Vec<Party>)],
    done: bool,
) -> Result<(), StoreError>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    DB::Arguments: sqlx::IntoArguments<DB>,
    i64: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<String>: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let mut tx = pool.begin().await?;
    for (case_id, list) in parties {
        for p in list {
            sqlx::query(
                "INSERT INTO case_parties (case_id, role, email, agency) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(*case_id)
            .bind(p.role.clone())
            .bind(p.email.clone())
            .bind(p.agency.clone())
            .execute(&mut *tx)
            .await?;
        }
    }
    if done {
        sqlx::query("DELETE FROM party_reindex")
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::contains_pattern;

    #[test]
    fn search_text_is_literal() {
        assert_eq!(contains_pattern("DSP-2026"), "%dsp-2026%");
        assert_eq!(contains_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
    }
}
