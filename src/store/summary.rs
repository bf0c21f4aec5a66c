//! The monthly report's per-case summary (migration 0009): `case_summary`, one row per case
//! (what it is about, the London month and day it opened and closed, its outcome), and
//! `case_stays`, one row per stay of a case in a state that is not terminal (when it entered and
//! left, where it went, whether the state's deadline was met in time).
//!
//! It is a derived cache of the event log (and of the lapse deadlines, for "in time"): it holds
//! nothing the log does not, so the hash chain does not cover it. The store writes it in the same
//! transaction as each entry ([`SummaryWrite`]), so the report becomes a few grouped, indexed
//! scans ([`month_facts`]) whose work grows with one month's activity, not with every case
//! ever opened. [`summary_of`] derives the same rows from a case's log: `escalate report
//! rebuild` rewrites the tables with it, and `audit verify` checks them against it ([`verify`]).
//!
//! Months and days are integers (London month number, London civil day number), so the report's
//! SQL and row types are the same text and decoding on SQLite and PostgreSQL.

use std::ops::Range;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Europe::London;
use serde_json::Value;

use super::report_rows::{CaseFacts, EntryFact};
use super::{CaseWrite, Store, StoreError, Target};
use crate::workflow::Slot;

/// A month as one number, `year * 12 + month - 1`, so months compare and subtract as integers.
pub fn month_number(year: i32, month: u32) -> i64 {
    i64::from(year) * 12 + i64::from(month) - 1
}

/// The London civil date of `t`.
pub fn london_date(t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&London).date_naive()
}

/// The London month `t` falls in, as a [`month_number`].
pub fn month_of(t: DateTime<Utc>) -> i64 {
    let d = london_date(t);
    month_number(d.year(), d.month())
}

/// The London civil day `t` falls on, as a day number (days from 1 January of year 1).
pub fn day_of(t: DateTime<Utc>) -> i64 {
    i64::from(london_date(t).num_days_from_ce())
}

/// The date a [`day_of`] number stands for.
pub fn date_of_day(day: i64) -> Option<NaiveDate> {
    NaiveDate::from_num_days_from_ce_opt(i32::try_from(day).ok()?)
}

/// A case's summary row.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CaseSummary {
    /// The case's row id.
    pub case_id: i64,
    /// Workflow id.
    pub workflow: String,
    /// Bank-holiday division.
    pub division: String,
    /// The opening data's `category`.
    pub category: Option<String>,
    /// The opening data's `raised_by.agency`, as named.
    pub raising: Option<String>,
    /// The opening data's `respondent.agency`, as named.
    pub receiving: Option<String>,
    /// London month it opened ([`month_number`]).
    pub opened_month: i64,
    /// London day it opened ([`day_of`]).
    pub opened_day: i64,
    /// London month it closed.
    pub closed_month: Option<i64>,
    /// London day it closed.
    pub closed_day: Option<i64>,
    /// The closing state's outcome (`resolved`, `unresolved`, `withdrawn`…).
    pub outcome: Option<String>,
    /// The outcome as the report lists it ([`outcome_detail`]).
    pub outcome_detail: Option<String>,
}

/// One stay of a case in a state that is not terminal: from the entry that took it there to
/// the entry that took it elsewhere (an entry whose state before and after differ).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Stay {
    /// The case's row id.
    pub case_id: i64,
    /// The number of the entry that entered the state.
    pub seq: i64,
    /// The state.
    pub state: String,
    /// London month it was entered.
    pub entered_month: i64,
    /// London day it was entered.
    pub entered_day: i64,
    /// London month it was left, none while the case is still there.
    pub left_month: Option<i64>,
    /// London day it was left.
    pub left_day: Option<i64>,
    /// The state it left for.
    pub left_to: Option<String>,
    /// Whether the entry that left it met the state's lapse deadline, before it fell due.
    pub left_in_time: Option<bool>,
}

/// How the report names a closed case's outcome: a resolution in full or in part as the
/// resolving entry's `outcome` field says (`resolved`, `partly_resolved`), any other outcome as
/// it is, and `closed` when the closing state has none.
pub fn outcome_detail(outcome: Option<&str>, field: Option<&str>) -> String {
    match outcome {
        Some("resolved") => field.unwrap_or("resolved").to_string(),
        Some(other) => other.to_string(),
        None => "closed".to_string(),
    }
}

/// A value of the opening data as the report reads it: text as it is, other values as JSON.
fn data_text(data: &Value, pointer: &str) -> Option<String> {
    match data.pointer(pointer)? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// The paths of the opening data the summary keeps: category, raising and receiving agency.
const CATEGORY: &str = "/category";
const RAISING: &str = "/raised_by/agency";
const RECEIVING: &str = "/respondent/agency";

/// The summary rows of a case, derived from its log and lapse deadlines: what the store
/// writes, entry by entry, as the case goes.
pub fn summary_of(f: &CaseFacts) -> (CaseSummary, Vec<Stay>) {
    let mut stays: Vec<Stay> = Vec::new();
    let mut closing: Option<&EntryFact> = None;
    // After the case closed, only entries that keep the state (record-only) follow.
    let last_move = f.entries.iter().rposition(|e| e.from_state != e.to_state);
    for (i, e) in f.entries.iter().enumerate() {
        if e.from_state == e.to_state {
            continue;
        }
        if let Some(open) = stays.last_mut().filter(|s| s.left_month.is_none()) {
            open.left_month = Some(month_of(e.at));
            open.left_day = Some(day_of(e.at));
            open.left_to = Some(e.to_state.clone());
            open.left_in_time = Some(f.lapses.iter().any(|l| {
                l.slot == e.from_state
                    && l.status == "met"
                    && l.ended_at == Some(e.at)
                    && e.at <= l.due_at
            }));
        }
        if f.closed_at.is_some() && Some(i) == last_move {
            closing = Some(e);
        } else {
            stays.push(Stay {
                case_id: f.id,
                seq: e.seq,
                state: e.to_state.clone(),
                entered_month: month_of(e.at),
                entered_day: day_of(e.at),
                left_month: None,
                left_day: None,
                left_to: None,
                left_in_time: None,
            });
        }
    }
    let summary = CaseSummary {
        case_id: f.id,
        workflow: f.workflow.clone(),
        division: f.division.clone(),
        category: f.category.clone(),
        raising: f.raised_by.clone(),
        receiving: f.respondent.clone(),
        opened_month: month_of(f.opened_at),
        opened_day: day_of(f.opened_at),
        closed_month: f.closed_at.map(month_of),
        closed_day: f.closed_at.map(day_of),
        outcome: f.closed_at.and(f.outcome.clone()),
        outcome_detail: f.closed_at.map(|_| {
            outcome_detail(
                f.outcome.as_deref(),
                closing.and_then(|e| e.outcome.as_deref()),
            )
        }),
    };
    (summary, stays)
}

/// What one case write changes in the summary, worked out from the write itself.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SummaryWrite {
    /// A new case's summary row (its `case_id` is filled in by the store).
    pub open: Option<CaseSummary>,
    /// The case left its state: close its open stay.
    pub leave: Option<Leave>,
    /// The case entered a state that is not terminal: a new stay.
    pub enter: Option<Enter>,
    /// An existing case closed.
    pub close: Option<Close>,
}

/// The open stay's end.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Leave {
    /// The state left.
    pub from: String,
    /// The state entered.
    pub to: String,
    /// When (event time).
    pub at: DateTime<Utc>,
    /// Its London month.
    pub month: i64,
    /// Its London day.
    pub day: i64,
    /// The write meets the state's deadline: it was in time if a pending lapse of the state
    /// falls due at or after `at` (read in the same transaction, before the write ends it).
    pub meets: bool,
}

/// A new stay.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Enter {
    /// The entry's number.
    pub seq: i64,
    /// The state.
    pub state: String,
    /// Its London month.
    pub month: i64,
    /// Its London day.
    pub day: i64,
}

/// An existing case's closing.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Close {
    /// London month.
    pub month: i64,
    /// London day.
    pub day: i64,
    /// The closing state's outcome.
    pub outcome: Option<String>,
    /// As the report lists it.
    pub detail: String,
}

impl SummaryWrite {
    /// What `w`, recorded as entry `seq`, changes.
    pub fn of(w: &CaseWrite, seq: i64) -> SummaryWrite {
        let e = &w.event;
        let moves = e.from_state != e.to_state;
        let closes = moves && w.closed_at.is_some();
        let close = closes.then(|| Close {
            month: month_of(e.at),
            day: day_of(e.at),
            outcome: w.outcome.clone(),
            detail: outcome_detail(
                w.outcome.as_deref(),
                e.fields.get("outcome").map(String::as_str),
            ),
        });
        let enter = (moves && !closes).then(|| Enter {
            seq,
            state: e.to_state.clone(),
            month: month_of(e.at),
            day: day_of(e.at),
        });
        match &w.target {
            Target::New {
                workflow,
                division,
                data,
                ..
            } => SummaryWrite {
                open: Some(CaseSummary {
                    case_id: 0,
                    workflow: workflow.clone(),
                    division: division.clone(),
                    category: data_text(data, CATEGORY),
                    raising: data_text(data, RAISING),
                    receiving: data_text(data, RECEIVING),
                    opened_month: month_of(e.at),
                    opened_day: day_of(e.at),
                    closed_month: close.as_ref().map(|c| c.month),
                    closed_day: close.as_ref().map(|c| c.day),
                    outcome: close.as_ref().and_then(|c| c.outcome.clone()),
                    outcome_detail: close.map(|c| c.detail),
                }),
                leave: None,
                enter,
                close: None,
            },
            Target::Existing { .. } => SummaryWrite {
                open: None,
                leave: moves.then(|| Leave {
                    from: e.from_state.clone(),
                    to: e.to_state.clone(),
                    at: e.at,
                    month: month_of(e.at),
                    day: day_of(e.at),
                    meets: w.meet.contains(&Slot::State(e.from_state.clone())),
                }),
                enter,
                close,
            },
        }
    }
}

/// Pushes the SQL of a [`SummaryWrite`] onto a case write: each change as one statement that
/// `step` wraps (a statement of a script on SQLite, a data-modifying CTE on PostgreSQL),
/// `case_id` pushing the case's id and `ts` binding an instant as the backend stores it. It
/// must run before the write ends any deadline: whether a leaving entry was in time reads the
/// state's lapse while it is still pending.
pub(crate) fn push_write<DB, T>(
    q: &mut sqlx::QueryBuilder<DB>,
    s: &SummaryWrite,
    step: (fn(&str) -> String, &str),
    case_id: impl Fn(&mut sqlx::QueryBuilder<DB>),
    ts: impl Fn(DateTime<Utc>) -> T,
) where
    DB: sqlx::Database,
    i64: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<i64>: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<String>: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    T: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let (open_step, close_step) = step;
    if let Some(open) = &s.open {
        q.push(open_step("summary_opened"));
        q.push(format!(
            "INSERT INTO case_summary ({SUMMARY_COLUMNS}) SELECT "
        ));
        case_id(q);
        q.push(", ")
            .separated(", ")
            .push_bind(open.workflow.clone())
            .push_bind(open.division.clone())
            .push_bind(open.category.clone())
            .push_bind(open.raising.clone())
            .push_bind(open.receiving.clone())
            .push_bind(open.opened_month)
            .push_bind(open.opened_day)
            .push_bind(open.closed_month)
            .push_bind(open.closed_day)
            .push_bind(open.outcome.clone())
            .push_bind(open.outcome_detail.clone());
        q.push(close_step);
    }
    if let Some(leave) = &s.leave {
        q.push(open_step("stay_left"));
        q.push("UPDATE case_stays SET left_month = ")
            .push_bind(leave.month)
            .push(", left_day = ")
            .push_bind(leave.day)
            .push(", left_to = ")
            .push_bind(leave.to.clone())
            .push(", left_in_time = ");
        if leave.meets {
            q.push(
                "EXISTS (SELECT 1 FROM deadlines d WHERE d.case_id = case_stays.case_id \
                 AND d.slot_kind = 'state' AND d.kind = 'lapse' AND d.status = 'pending' \
                 AND d.slot = ",
            )
            .push_bind(leave.from.clone())
            .push(" AND d.due_at >= ")
            .push_bind(ts(leave.at))
            .push(")");
        } else {
            q.push("FALSE");
        }
        q.push(" WHERE case_id = ");
        case_id(q);
        q.push(" AND left_month IS NULL").push(close_step);
    }
    if let Some(enter) = &s.enter {
        q.push(open_step("stay_entered"));
        q.push("INSERT INTO case_stays (case_id, seq, state, entered_month, entered_day) SELECT ");
        case_id(q);
        q.push(", ")
            .separated(", ")
            .push_bind(enter.seq)
            .push_bind(enter.state.clone())
            .push_bind(enter.month)
            .push_bind(enter.day);
        q.push(close_step);
    }
    if let Some(close) = &s.close {
        q.push(open_step("summary_closed"));
        q.push("UPDATE case_summary SET closed_month = ")
            .push_bind(close.month)
            .push(", closed_day = ")
            .push_bind(close.day)
            .push(", outcome = ")
            .push_bind(close.outcome.clone())
            .push(", outcome_detail = ")
            .push_bind(close.detail.clone())
            .push(" WHERE case_id = ");
        case_id(q);
        q.push(close_step);
    }
}

/// What the summary tables give for one month's report: counts grouped in the database, and
/// the rows the medians need (one month's resolutions and stage stays).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SummaryFacts {
    /// Disputes opened up to the month and open at some time since the window's start, grouped
    /// by the month they opened and closed and their outcome.
    pub months: Vec<MonthCount>,
    /// Disputes opened in the month, grouped by category and agencies (as named).
    pub opened: Vec<OpenedCount>,
    /// Disputes active in the month by the highest stage (`stage1`..`stage4`) they were at.
    pub stage_reached: Vec<(String, i64)>,
    /// Disputes resolved in the month, grouped by division and the days they opened and
    /// closed.
    pub resolutions: Vec<DaySpan>,
    /// Dispute stays in `stage1`..`stage4` left in the month, grouped by stage, division and
    /// the days they were entered and left.
    pub stage_stays: Vec<(String, DaySpan)>,
    /// Referral and transfer decisions in the month, by workflow and state left.
    pub decisions: Vec<DecisionCount>,
    /// Dispute state deadlines that fell due in the month and were missed.
    pub deadlines_missed: i64,
}

/// Disputes that opened in one month and closed in another (or are open) with one outcome.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MonthCount {
    /// The month they opened.
    pub opened_month: i64,
    /// The month they closed, none if open.
    pub closed_month: Option<i64>,
    /// The closing state's outcome.
    pub outcome: Option<String>,
    /// The outcome as the report lists it.
    pub outcome_detail: Option<String>,
    /// How many.
    pub n: i64,
}

/// Disputes opened in the month with one category and pair of agencies.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OpenedCount {
    /// Category.
    pub category: Option<String>,
    /// Raising agency as named.
    pub raising: Option<String>,
    /// Receiving agency as named.
    pub receiving: Option<String>,
    /// How many.
    pub n: i64,
}

/// Spans of London days on a division's calendar: how many with these first and last days.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DaySpan {
    /// Division.
    pub division: String,
    /// First day ([`day_of`]).
    pub from_day: i64,
    /// Last day.
    pub until_day: i64,
    /// How many.
    pub n: i64,
}

/// Decisions leaving one state of one workflow in the month.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DecisionCount {
    /// Workflow.
    pub workflow: String,
    /// The state left.
    pub state: String,
    /// How many.
    pub decided: i64,
    /// Of those, in time.
    pub in_time: i64,
}

/// The month a report asks for, in the forms its queries take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonthQuery {
    /// The month ([`month_number`]).
    pub month: i64,
    /// The first month of its window (12 before).
    pub window: i64,
    /// Its first instant (London midnight, in UTC).
    pub start: DateTime<Utc>,
    /// The next month's first instant.
    pub end: DateTime<Utc>,
}

/// The stages the report counts (a dispute's states `stage1`..`stage4`), as SQL.
const STAGES: &str = "('stage1', 'stage2', 'stage3', 'stage4')";

/// The month a case closed, an open one's counted as the last there is: the expression the
/// `case_summary_active` index (migration 0009) is on, which a query must repeat as it is.
const UNTIL: &str = "COALESCE(c.closed_month, 2147483647)";

/// Whether `c` (a `case_summary` row) is a case of `workflows` active in month `$1`: opened by
/// its end, not closed before its start. A range of the `case_summary_active` index, small for
/// a recent month. Every stay left in the month, and every deadline that fell due in it while
/// its case was open, belongs to one of these cases; their stays are read by case.
fn active(workflows: &str) -> String {
    format!("c.workflow IN {workflows} AND {UNTIL} >= $1 AND c.opened_month <= $1")
}

/// A month's active cases of `workflows` with their stays, as `c` and `s`.
fn active_stays(workflows: &str) -> String {
    format!(
        "case_summary c JOIN case_stays s ON s.case_id = c.case_id WHERE {}",
        active(workflows)
    )
}

/// Headline groups; `$1` the month, `$2` the window's first month.
fn months_query() -> String {
    format!(
        "SELECT opened_month, closed_month, outcome, outcome_detail, COUNT(*) AS n \
         FROM case_summary c WHERE c.workflow = 'dispute' AND {UNTIL} >= $2 \
         AND c.opened_month <= $1 GROUP BY opened_month, closed_month, outcome, outcome_detail"
    )
}

/// Opened in the month by category and agencies; `$1` the month.
fn opened_query() -> String {
    format!(
        "SELECT category, raising, receiving, COUNT(*) AS n FROM case_summary c WHERE {} \
         AND c.opened_month = $1 GROUP BY category, raising, receiving",
        active("('dispute')")
    )
}

/// Resolved in the month; `$1` the month.
fn resolutions_query() -> String {
    format!(
        "SELECT division, opened_day AS from_day, closed_day AS until_day, COUNT(*) AS n \
         FROM case_summary c WHERE c.workflow = 'dispute' AND {UNTIL} = $1 \
         AND c.outcome = 'resolved' GROUP BY division, opened_day, closed_day"
    )
}

/// Stage stays left in the month; `$1` the month.
fn stage_stays_query() -> String {
    format!(
        "SELECT s.state, c.division, s.entered_day, s.left_day, COUNT(*) \
         FROM {} AND s.left_month = $1 AND s.state IN {STAGES} \
         GROUP BY s.state, c.division, s.entered_day, s.left_day",
        active_stays("('dispute')")
    )
}

/// Highest stage per dispute active in the month (stage names order as their numbers): of its
/// stays in a stage, those entered by the month's end and not left before its start.
fn stage_reached_query() -> String {
    format!(
        "SELECT top, COUNT(*) FROM (SELECT s.case_id, MAX(s.state) AS top \
         FROM {} AND s.state IN {STAGES} AND s.entered_month <= $1 \
         AND (s.left_month IS NULL OR s.left_month >= $1) GROUP BY s.case_id) t GROUP BY top",
        active_stays("('dispute')")
    )
}

/// Referral decisions and feedback, transfer decisions, left in the month; `$1` the month.
fn decisions_query() -> String {
    format!(
        "SELECT c.workflow, s.state, COUNT(*) AS decided, \
         SUM(CASE WHEN s.left_in_time THEN 1 ELSE 0 END) AS in_time \
         FROM {} AND s.left_month = $1 AND s.left_to <> 'withdrawn' \
         AND ((c.workflow = 'referral' \
               AND s.state IN ('received', 'feedback_due', 'feedback_due_declined')) \
           OR (c.workflow = 'transfer' AND s.state = 'notified' \
               AND s.left_to IN ('transferred', 'refused'))) \
         GROUP BY c.workflow, s.state",
        active_stays("('referral', 'transfer')")
    )
}

/// Missed dispute state deadlines due in `[$2, $3)`: a missed one's case was open when it fell
/// due, so only the month's active cases' deadlines are read (by case).
fn missed_query() -> String {
    format!(
        "SELECT COUNT(*) FROM deadlines d \
         WHERE d.case_id IN (SELECT c.case_id FROM case_summary c WHERE {}) \
         AND d.slot_kind = 'state' AND d.kind = 'lapse' AND d.due_at >= $2 AND d.due_at < $3 \
         AND (d.status = 'fired' OR (d.status IN ('met', 'cancelled') AND d.ended_at > d.due_at))",
        active("('dispute')")
    )
}

/// The summary columns, in the order [`push_summary`] binds them.
pub(crate) const SUMMARY_COLUMNS: &str = "case_id, workflow, division, category, raising, \
     receiving, opened_month, opened_day, closed_month, closed_day, outcome, outcome_detail";

/// The stay columns, in the order [`push_stay`] binds them.
pub(crate) const STAY_COLUMNS: &str = "case_id, seq, state, entered_month, entered_day, \
     left_month, left_day, left_to, left_in_time";

/// Reads month `q`'s facts with the shared queries; `ts` is how the backend binds an instant.
pub(crate) async fn month_facts<DB, T>(
    pool: &sqlx::Pool<DB>,
    q: &MonthQuery,
    ts: impl Fn(DateTime<Utc>) -> T,
) -> Result<SummaryFacts, StoreError>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    DB::Arguments: sqlx::IntoArguments<DB>,
    i64: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    T: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB> + Send,
    MonthCount: for<'r> sqlx::FromRow<'r, DB::Row>,
    OpenedCount: for<'r> sqlx::FromRow<'r, DB::Row>,
    DaySpan: for<'r> sqlx::FromRow<'r, DB::Row>,
    DecisionCount: for<'r> sqlx::FromRow<'r, DB::Row>,
    (String, i64): for<'r> sqlx::FromRow<'r, DB::Row>,
    (String, String, i64, i64, i64): for<'r> sqlx::FromRow<'r, DB::Row>,
    (i64,): for<'r> sqlx::FromRow<'r, DB::Row>,
{
    let mut conn = pool.acquire().await?;
    let months = sqlx::query_as::<DB, MonthCount>(sqlx::AssertSqlSafe(months_query()))
        .bind(q.month)
        .bind(q.window)
        .fetch_all(&mut *conn)
        .await?;
    let opened = sqlx::query_as::<DB, OpenedCount>(sqlx::AssertSqlSafe(opened_query()))
        .bind(q.month)
        .fetch_all(&mut *conn)
        .await?;
    let stage_reached =
        sqlx::query_as::<DB, (String, i64)>(sqlx::AssertSqlSafe(stage_reached_query()))
            .bind(q.month)
            .fetch_all(&mut *conn)
            .await?;
    let resolutions = sqlx::query_as::<DB, DaySpan>(sqlx::AssertSqlSafe(resolutions_query()))
        .bind(q.month)
        .fetch_all(&mut *conn)
        .await?;
    let stage_stays = sqlx::query_as::<DB, (String, String, i64, i64, i64)>(sqlx::AssertSqlSafe(
        stage_stays_query(),
    ))
    .bind(q.month)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|(state, division, from_day, until_day, n)| {
        (
            state,
            DaySpan {
                division,
                from_day,
                until_day,
                n,
            },
        )
    })
    .collect();
    let decisions = sqlx::query_as::<DB, DecisionCount>(sqlx::AssertSqlSafe(decisions_query()))
        .bind(q.month)
        .fetch_all(&mut *conn)
        .await?;
    let (deadlines_missed,) = sqlx::query_as::<DB, (i64,)>(sqlx::AssertSqlSafe(missed_query()))
        .bind(q.month)
        .bind(ts(q.start))
        .bind(ts(q.end))
        .fetch_one(&mut *conn)
        .await?;
    Ok(SummaryFacts {
        months,
        opened,
        stage_reached,
        resolutions,
        stage_stays,
        decisions,
        deadlines_missed,
    })
}

/// The stored summary rows of the cases with ids in `ids`, each with its stays, by id.
pub(crate) async fn stored<DB>(
    pool: &sqlx::Pool<DB>,
    ids: Range<i64>,
) -> Result<Vec<(CaseSummary, Vec<Stay>)>, StoreError>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    DB::Arguments: sqlx::IntoArguments<DB>,
    i64: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    CaseSummary: for<'r> sqlx::FromRow<'r, DB::Row>,
    Stay: for<'r> sqlx::FromRow<'r, DB::Row>,
{
    let summaries = sqlx::query_as::<DB, CaseSummary>(sqlx::AssertSqlSafe(format!(
        "SELECT {SUMMARY_COLUMNS} FROM case_summary WHERE case_id >= $1 AND case_id < $2 \
         ORDER BY case_id"
    )))
    .bind(ids.start)
    .bind(ids.end)
    .fetch_all(pool)
    .await?;
    let stays = sqlx::query_as::<DB, Stay>(sqlx::AssertSqlSafe(format!(
        "SELECT {STAY_COLUMNS} FROM case_stays WHERE case_id >= $1 AND case_id < $2 \
         ORDER BY case_id, seq"
    )))
    .bind(ids.start)
    .bind(ids.end)
    .fetch_all(pool)
    .await?;
    let mut out: Vec<(CaseSummary, Vec<Stay>)> =
        summaries.into_iter().map(|s| (s, Vec::new())).collect();
    for stay in stays {
        match out.binary_search_by_key(&stay.case_id, |(s, _)| s.case_id) {
            Ok(i) => out[i].1.push(stay),
            // A stay without its case's summary: kept under a placeholder, so it is reported.
            Err(i) => out.insert(
                i,
                (
                    CaseSummary {
                        case_id: stay.case_id,
                        workflow: String::new(),
                        division: String::new(),
                        category: None,
                        raising: None,
                        receiving: None,
                        opened_month: 0,
                        opened_day: 0,
                        closed_month: None,
                        closed_day: None,
                        outcome: None,
                        outcome_detail: None,
                    },
                    vec![stay],
                ),
            ),
        }
    }
    Ok(out)
}

/// Inserts summary rows and stays with multi-row `INSERT`s, in `conn`'s transaction.
async fn insert<DB>(
    conn: &mut DB::Connection,
    rows: &[(CaseSummary, Vec<Stay>)],
) -> Result<(), StoreError>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    DB::Arguments: sqlx::IntoArguments<DB>,
    i64: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<i64>: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<String>: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<bool>: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    // Under SQLite's 32,766 bound parameters a statement.
    for chunk in rows.chunks(2_000) {
        let mut q =
            sqlx::QueryBuilder::<DB>::new(format!("INSERT INTO case_summary ({SUMMARY_COLUMNS}) "));
        q.push_values(chunk, |mut row, (s, _)| {
            row.push_bind(s.case_id)
                .push_bind(s.workflow.clone())
                .push_bind(s.division.clone())
                .push_bind(s.category.clone())
                .push_bind(s.raising.clone())
                .push_bind(s.receiving.clone())
                .push_bind(s.opened_month)
                .push_bind(s.opened_day)
                .push_bind(s.closed_month)
                .push_bind(s.closed_day)
                .push_bind(s.outcome.clone())
                .push_bind(s.outcome_detail.clone());
        });
        q.build().execute(&mut *conn).await?;
        let stays: Vec<&Stay> = chunk.iter().flat_map(|(_, stays)| stays).collect();
        for stays in stays.chunks(3_000) {
            let mut q =
                sqlx::QueryBuilder::<DB>::new(format!("INSERT INTO case_stays ({STAY_COLUMNS}) "));
            q.push_values(stays, |mut row, s| {
                row.push_bind(s.case_id)
                    .push_bind(s.seq)
                    .push_bind(s.state.clone())
                    .push_bind(s.entered_month)
                    .push_bind(s.entered_day)
                    .push_bind(s.left_month)
                    .push_bind(s.left_day)
                    .push_bind(s.left_to.clone())
                    .push_bind(s.left_in_time);
            });
            q.build().execute(&mut *conn).await?;
        }
    }
    Ok(())
}

/// How many cases a rebuild or a check reads at a time (by id), so memory stays flat.
const PAGE: i64 = 20_000;

/// The summary rows the log gives for the cases with ids in `ids`.
async fn derive(
    store: &dyn Store,
    ids: Range<i64>,
) -> Result<Vec<(CaseSummary, Vec<Stay>)>, StoreError> {
    let mut out = Vec::new();
    // Four-digit years: SQLite compares the stored times as text.
    let all = |text: &str| text.parse::<DateTime<Utc>>().expect("a valid time");
    store
        .report_facts(
            all("0001-01-01T00:00:00Z"),
            all("9999-12-31T00:00:00Z"),
            ids,
            &mut |facts| out.push(summary_of(&facts)),
        )
        .await?;
    Ok(out)
}

/// Whether a migration asked for the summary to be rebuilt.
pub(crate) async fn pending<'c, DB>(
    conn: impl sqlx::Executor<'c, Database = DB>,
) -> Result<bool, StoreError>
where
    DB: sqlx::Database,
    DB::Arguments: sqlx::IntoArguments<DB>,
    (i64,): for<'r> sqlx::FromRow<'r, DB::Row>,
{
    let (n,) = sqlx::query_as::<DB, (i64,)>("SELECT COUNT(*) FROM summary_rebuild")
        .fetch_one(conn)
        .await?;
    Ok(n > 0)
}

/// The highest case id, 0 with none.
pub(crate) async fn max_case_id<DB>(pool: &sqlx::Pool<DB>) -> Result<i64, StoreError>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    DB::Arguments: sqlx::IntoArguments<DB>,
    (Option<i64>,): for<'r> sqlx::FromRow<'r, DB::Row>,
{
    let (max,) = sqlx::query_as::<DB, (Option<i64>,)>("SELECT MAX(id) FROM cases")
        .fetch_one(pool)
        .await?;
    Ok(max.unwrap_or(0))
}

/// Rewrites the summary from the log in `conn`'s transaction, which the caller opened holding
/// off other writers of the summary: when `force`, or when a migration asked for it (checked
/// again here: another process may have done it meanwhile). `clear` empties the two tables.
/// The log is read a page of cases at a time, on other connections. Returns how many cases it
/// summarised, none if it had nothing to do.
pub(crate) async fn rebuild<DB>(
    store: &dyn Store,
    conn: &mut DB::Connection,
    force: bool,
    clear: &'static str,
) -> Result<Option<u64>, StoreError>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    DB::Arguments: sqlx::IntoArguments<DB>,
    i64: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<i64>: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<String>: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<bool>: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    (i64,): for<'r> sqlx::FromRow<'r, DB::Row>,
{
    if !force && !pending::<DB>(&mut *conn).await? {
        return Ok(None);
    }
    sqlx::query::<DB>(clear).execute(&mut *conn).await?;
    let last = store.max_case_id().await?;
    let mut cases = 0;
    let mut lo = 0;
    while lo <= last {
        let rows = derive(store, lo..lo + PAGE).await?;
        insert::<DB>(conn, &rows).await?;
        cases += rows.len() as u64;
        lo += PAGE;
    }
    sqlx::query::<DB>("DELETE FROM summary_rebuild")
        .execute(&mut *conn)
        .await?;
    Ok(Some(cases))
}

/// Compares the stored summary with what the log gives, case by case; one line per case
/// whose rows differ (or are missing, or have no case).
pub async fn verify(store: &dyn Store) -> Result<Vec<String>, StoreError> {
    let mut problems = Vec::new();
    let last = store.max_case_id().await?;
    let mut lo = 0;
    while lo <= last {
        let ids = lo..lo + PAGE;
        let derived = derive(store, ids.clone()).await?;
        let stored = store.stored_summaries(ids).await?;
        let (mut d, mut s) = (derived.iter().peekable(), stored.iter().peekable());
        loop {
            let id = match (d.peek(), s.peek()) {
                (None, None) => break,
                (Some(a), None) => a.0.case_id,
                (None, Some(b)) => b.0.case_id,
                (Some(a), Some(b)) => a.0.case_id.min(b.0.case_id),
            };
            let mine = d.next_if(|a| a.0.case_id == id);
            let kept = s.next_if(|b| b.0.case_id == id);
            match (mine, kept) {
                (Some(a), Some(b)) if a == b => {}
                (Some(_), Some(_)) => problems.push(format!(
                    "case {id}: its report summary differs from its history (escalate report rebuild rewrites it)"
                )),
                (Some(_), None) => problems.push(format!(
                    "case {id}: has no report summary (escalate report rebuild writes it)"
                )),
                (None, _) => problems.push(format!(
                    "case {id}: a report summary without its case (escalate report rebuild removes it)"
                )),
            }
        }
        lo += PAGE;
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::report_rows::LapseFact;

    fn t(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn entry(seq: i64, at: &str, from: &str, to: &str, outcome: Option<&str>) -> EntryFact {
        EntryFact {
            seq,
            at: t(at),
            event: "e".into(),
            from_state: from.into(),
            to_state: to.into(),
            outcome: outcome.map(String::from),
        }
    }

    #[test]
    fn stays_run_from_entering_a_state_to_leaving_it_and_closing_starts_none() {
        let lapse = |slot: &str, due: &str, status: &str, ended: &str| LapseFact {
            slot: slot.into(),
            due_at: t(due),
            status: status.into(),
            ended_at: Some(t(ended)),
        };
        // A referral declined in time, fed back late, re-referred (a note in between keeps its
        // state), then accepted; and a dispute resolved in part at stage 2.
        let referral = CaseFacts {
            id: 7,
            workflow: "referral".into(),
            division: "england-and-wales".into(),
            category: None,
            raised_by: Some("Little Steps Nursery".into()),
            respondent: None,
            opened_at: t("2026-01-30T10:00:00Z"),
            closed_at: None,
            outcome: None,
            entries: vec![
                entry(1, "2026-01-30T10:00:00Z", "", "received", None),
                entry(
                    2,
                    "2026-02-02T09:00:00Z",
                    "received",
                    "feedback_due_declined",
                    None,
                ),
                entry(
                    3,
                    "2026-02-05T09:00:00Z",
                    "feedback_due_declined",
                    "not_accepted",
                    None,
                ),
                entry(4, "2026-02-06T09:00:00Z", "not_accepted", "received", None),
                entry(5, "2026-02-06T11:00:00Z", "received", "received", None),
                entry(6, "2026-02-09T09:00:00Z", "received", "feedback_due", None),
            ],
            lapses: vec![
                lapse(
                    "received",
                    "2026-02-02T17:00:00Z",
                    "met",
                    "2026-02-02T09:00:00Z",
                ),
                lapse(
                    "feedback_due_declined",
                    "2026-02-03T17:00:00Z",
                    "fired",
                    "2026-02-03T17:00:00Z",
                ),
                lapse(
                    "received",
                    "2026-02-09T17:00:00Z",
                    "met",
                    "2026-02-09T09:00:00Z",
                ),
            ],
        };
        let (summary, stays) = summary_of(&referral);
        assert_eq!(summary.opened_month, month_number(2026, 1));
        assert_eq!((summary.closed_month, summary.outcome_detail), (None, None));
        let left: Vec<_> = stays
            .iter()
            .map(|s| {
                (
                    s.seq,
                    s.state.as_str(),
                    s.left_to.as_deref(),
                    s.left_in_time,
                )
            })
            .collect();
        assert_eq!(
            left,
            [
                (1, "received", Some("feedback_due_declined"), Some(true)),
                (
                    2,
                    "feedback_due_declined",
                    Some("not_accepted"),
                    Some(false)
                ),
                (3, "not_accepted", Some("received"), Some(false)),
                (4, "received", Some("feedback_due"), Some(true)),
                (6, "feedback_due", None, None),
            ]
        );
        assert_eq!(stays[0].entered_month, month_number(2026, 1));
        assert_eq!(stays[0].left_month, Some(month_number(2026, 2)));
        assert_eq!(
            date_of_day(stays[1].left_day.unwrap()),
            NaiveDate::from_ymd_opt(2026, 2, 5)
        );

        let dispute = CaseFacts {
            workflow: "dispute".into(),
            opened_at: t("2026-03-02T10:00:00Z"),
            closed_at: Some(t("2026-03-09T10:00:00Z")),
            outcome: Some("resolved".into()),
            entries: vec![
                entry(1, "2026-03-02T10:00:00Z", "", "stage1", None),
                entry(2, "2026-03-04T10:00:00Z", "stage1", "stage2", None),
                entry(
                    3,
                    "2026-03-09T10:00:00Z",
                    "stage2",
                    "resolved",
                    Some("partly_resolved"),
                ),
                entry(4, "2026-03-10T10:00:00Z", "resolved", "resolved", None),
            ],
            lapses: Vec::new(),
            ..referral
        };
        let (summary, stays) = summary_of(&dispute);
        assert_eq!(summary.outcome_detail.as_deref(), Some("partly_resolved"));
        assert_eq!(summary.closed_day, Some(day_of(t("2026-03-09T10:00:00Z"))));
        assert_eq!(stays.len(), 2);
        assert_eq!(stays[1].left_to.as_deref(), Some("resolved"));
    }
}
