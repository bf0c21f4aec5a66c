//! The monthly report's per-case summary (migration 0009): `case_summary`, one row per case:
//! what it is about, the London month and day it opened and closed, its outcome, and its
//! `moves`, one short entry per change of state (where to, when, and whether the state left
//! had its deadline met in time), from which the stays in each state follow.
//!
//! It is a derived cache of the event log (and of the lapse deadlines, for "in time"): it holds
//! nothing the log does not, so the hash chain does not cover it. The store writes it in the same
//! transaction as each entry ([`SummaryWrite`]): an opening inserts the row, a change of state
//! appends to `moves` (a column no index covers, so on PostgreSQL a HOT update: no index entry),
//! a closing fills in the closing columns. The report is then a few grouped scans of one month's
//! cases ([`month_facts`]), whose work grows with one month's activity, not with every case ever
//! opened. [`summary_of`] derives the same row from a case's log: `escalate report rebuild`
//! rewrites the table with it, and `audit verify` checks the table against it ([`verify`]).
//!
//! Months and days are integers (London month number, London civil day number), so the report's
//! SQL and row types are the same text and decoding on SQLite and PostgreSQL.

use std::collections::BTreeMap;
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
    /// Its changes of state, each written as [`Move::text`] says, oldest first.
    pub moves: String,
}

/// A change of state: an entry whose state before and after differ (the opening included).
/// Two moves in a row make a stay in the first's state; the last is the case's state now (or
/// the terminal state it closed in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move<'a> {
    /// The state entered.
    pub state: &'a str,
    /// London month.
    pub month: i64,
    /// London day.
    pub day: i64,
    /// Whether the entry met the lapse deadline of the state it left before it fell due; none
    /// for the opening.
    pub in_time: Option<bool>,
}

impl Move<'_> {
    /// `STATE MONTH DAY FLAG;` with FLAG `1` (in time), `0` or `-` (the opening). State names
    /// are lower case letters, digits and underscores, so neither separator occurs in them.
    pub fn text(&self) -> String {
        format!("{}{};", self.head(), flag(self.in_time))
    }

    /// The text up to the flag, which a write may work out in SQL.
    fn head(&self) -> String {
        format!("{} {} {} ", self.state, self.month, self.day)
    }

    /// The moves of a `moves` column, oldest first; none for what does not read as one.
    pub fn parse(moves: &str) -> impl Iterator<Item = Option<Move<'_>>> {
        moves.split_terminator(';').map(|text| {
            let mut parts = text.split(' ');
            let state = parts.next()?;
            let month = parts.next()?.parse().ok()?;
            let day = parts.next()?.parse().ok()?;
            let in_time = match parts.next()? {
                "1" => Some(true),
                "0" => Some(false),
                "-" => None,
                _ => return None,
            };
            Some(Move {
                state,
                month,
                day,
                in_time,
            })
        })
    }
}

fn flag(in_time: Option<bool>) -> &'static str {
    match in_time {
        Some(true) => "1",
        Some(false) => "0",
        None => "-",
    }
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

/// The summary row of a case, derived from its log and lapse deadlines: what the store writes,
/// entry by entry, as the case goes.
pub fn summary_of(f: &CaseFacts) -> CaseSummary {
    let mut moves = String::new();
    // The resolving entry: after the case closed, only entries that keep the state follow.
    let mut closing: Option<&EntryFact> = None;
    for e in f.entries.iter().filter(|e| e.from_state != e.to_state) {
        let in_time = (!moves.is_empty()).then(|| {
            f.lapses.iter().any(|l| {
                l.slot == e.from_state
                    && l.status == "met"
                    && l.ended_at == Some(e.at)
                    && e.at <= l.due_at
            })
        });
        let m = Move {
            state: &e.to_state,
            month: month_of(e.at),
            day: day_of(e.at),
            in_time,
        };
        moves.push_str(&m.text());
        closing = Some(e);
    }
    let closing = closing.filter(|_| f.closed_at.is_some());
    CaseSummary {
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
        moves,
    }
}

/// What one case write changes in the summary, worked out from the write itself.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SummaryWrite {
    /// Nothing: an entry that keeps the state.
    None,
    /// A new case's row (its `case_id` is filled in by the store).
    Open(CaseSummary),
    /// An existing case changed state: its move appended, and if it closed, the closing.
    Move {
        /// The move's text up to its flag.
        head: String,
        /// The state left, whose lapse deadline decides the flag.
        from: String,
        /// When (event time).
        at: DateTime<Utc>,
        /// The write meets the state's deadline: in time if a pending lapse of the state falls
        /// due at or after `at` (read in the same transaction, before the write ends it).
        meets: bool,
        /// The closing, if it closed.
        close: Option<Close>,
    },
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
    /// What `w` changes.
    pub fn of(w: &CaseWrite) -> SummaryWrite {
        let e = &w.event;
        if e.from_state == e.to_state {
            return SummaryWrite::None;
        }
        let close = w.closed_at.is_some().then(|| Close {
            month: month_of(e.at),
            day: day_of(e.at),
            outcome: w.outcome.clone(),
            detail: outcome_detail(
                w.outcome.as_deref(),
                e.fields.get("outcome").map(String::as_str),
            ),
        });
        let opened = Move {
            state: &e.to_state,
            month: month_of(e.at),
            day: day_of(e.at),
            in_time: None,
        };
        match &w.target {
            Target::New {
                workflow,
                division,
                data,
                ..
            } => SummaryWrite::Open(CaseSummary {
                case_id: 0,
                workflow: workflow.clone(),
                division: division.clone(),
                category: data_text(data, CATEGORY),
                raising: data_text(data, RAISING),
                receiving: data_text(data, RECEIVING),
                opened_month: opened.month,
                opened_day: opened.day,
                closed_month: close.as_ref().map(|c| c.month),
                closed_day: close.as_ref().map(|c| c.day),
                outcome: close.as_ref().and_then(|c| c.outcome.clone()),
                outcome_detail: close.map(|c| c.detail),
                moves: opened.text(),
            }),
            Target::Existing { .. } => SummaryWrite::Move {
                head: opened.head(),
                from: e.from_state.clone(),
                at: e.at,
                meets: w.meet.contains(&Slot::State(e.from_state.clone())),
                close,
            },
        }
    }
}

/// The summary columns, in the order [`push_write`] and [`insert`] bind them.
pub(crate) const SUMMARY_COLUMNS: &str = "case_id, workflow, division, category, raising, \
     receiving, opened_month, opened_day, closed_month, closed_day, outcome, outcome_detail, moves";

/// Binds a summary row's columns after `case_id`, in [`SUMMARY_COLUMNS`]' order.
fn push_columns<DB>(row: &mut sqlx::query_builder::Separated<'_, DB, &'static str>, s: &CaseSummary)
where
    DB: sqlx::Database,
    i64: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<i64>: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<String>: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    row.push_bind(s.workflow.clone())
        .push_bind(s.division.clone())
        .push_bind(s.category.clone())
        .push_bind(s.raising.clone())
        .push_bind(s.receiving.clone())
        .push_bind(s.opened_month)
        .push_bind(s.opened_day)
        .push_bind(s.closed_month)
        .push_bind(s.closed_day)
        .push_bind(s.outcome.clone())
        .push_bind(s.outcome_detail.clone())
        .push_bind(s.moves.clone());
}

/// Pushes the SQL of a [`SummaryWrite`] onto a case write, as one statement that `step` wraps
/// (a statement of a script on SQLite, a data-modifying CTE on PostgreSQL), `case_id` pushing
/// the case's id and `ts` binding an instant as the backend stores it. It must run before the
/// write ends any deadline: whether a move was in time reads the state's lapse while it is still
/// pending.
pub(crate) fn push_write<DB, T>(
    q: &mut sqlx::QueryBuilder<DB>,
    s: &SummaryWrite,
    step: (&str, &str),
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
    let (before, after) = step;
    match s {
        SummaryWrite::None => {}
        SummaryWrite::Open(open) => {
            q.push(before);
            q.push(format!(
                "INSERT INTO case_summary ({SUMMARY_COLUMNS}) SELECT "
            ));
            case_id(q);
            q.push(", ");
            push_columns(&mut q.separated(", "), open);
            q.push(after);
        }
        SummaryWrite::Move {
            head,
            from,
            at,
            meets,
            close,
        } => {
            q.push(before);
            q.push("UPDATE case_summary SET moves = moves || ")
                .push_bind(head.clone())
                .push(" || ");
            if *meets {
                q.push(
                    "CASE WHEN EXISTS (SELECT 1 FROM deadlines d WHERE d.case_id = \
                     case_summary.case_id AND d.slot_kind = 'state' AND d.kind = 'lapse' \
                     AND d.status = 'pending' AND d.slot = ",
                )
                .push_bind(from.clone())
                .push(" AND d.due_at >= ")
                .push_bind(ts(*at))
                .push(") THEN '1' ELSE '0' END");
            } else {
                q.push("'0'");
            }
            q.push(" || ';'");
            if let Some(close) = close {
                q.push(", closed_month = ")
                    .push_bind(close.month)
                    .push(", closed_day = ")
                    .push_bind(close.day)
                    .push(", outcome = ")
                    .push_bind(close.outcome.clone())
                    .push(", outcome_detail = ")
                    .push_bind(close.detail.clone());
            }
            q.push(" WHERE case_id = ");
            case_id(q);
            q.push(after);
        }
    }
}

/// What the summary gives for one month's report: counts, grouped in the database or from the
/// month's cases' moves, and what the medians need, grouped by the days counted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SummaryFacts {
    /// Disputes opened up to the month and open at some time since the window's start, grouped
    /// by the month they opened and closed and their outcome.
    pub months: Vec<MonthCount>,
    /// Disputes opened in the month, grouped by category and agencies (as named).
    pub opened: Vec<OpenedCount>,
    /// Disputes active in the month by the highest stage (`stage1`..`stage4`) they were at.
    pub stage_reached: BTreeMap<String, i64>,
    /// Disputes resolved in the month, grouped by division and the days they opened and
    /// closed.
    pub resolutions: BTreeMap<DaySpan, i64>,
    /// Dispute stays in `stage1`..`stage4` that ended in the month, grouped by stage, division
    /// and the days they began and ended.
    pub stage_stays: BTreeMap<(String, DaySpan), i64>,
    /// Referral and transfer decisions in the month, by workflow and state left: how many, and
    /// how many in time.
    pub decisions: BTreeMap<(String, String), (i64, i64)>,
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

/// A span of London days on a division's calendar.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DaySpan {
    /// Division.
    pub division: String,
    /// First day ([`day_of`]).
    pub from_day: i64,
    /// Last day.
    pub until_day: i64,
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

/// The month a case closed, an open one's counted as the last there is: the expression the
/// `case_summary_active` index (migration 0009) is on, which a query must repeat as it is.
const UNTIL: &str = "COALESCE(c.closed_month, 2147483647)";

/// Whether `c` (a `case_summary` row) is a case of `workflows` active in month `$1`: opened by
/// its end, not closed before its start. A range of the `case_summary_active` index, small for
/// a recent month. Every stay that overlaps the month, and every deadline that fell due in it
/// while its case was open, belongs to one of these cases.
fn active(workflows: &str) -> String {
    format!("c.workflow IN {workflows} AND {UNTIL} >= $1 AND c.opened_month <= $1")
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
        "SELECT division, opened_day, closed_day, COUNT(*) FROM case_summary c \
         WHERE c.workflow = 'dispute' AND {UNTIL} = $1 AND c.outcome = 'resolved' \
         GROUP BY division, opened_day, closed_day"
    )
}

/// The moves of the month's active disputes, referrals and transfers; `$1` the month.
fn moves_query() -> String {
    format!(
        "SELECT c.workflow, c.division, c.closed_month IS NOT NULL, c.moves FROM case_summary c \
         WHERE {}",
        active("('dispute', 'referral', 'transfer')")
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

/// `stageN` for N in 1..=4, the stages the report counts; none for any other state.
fn stage(state: &str) -> Option<u32> {
    state
        .strip_prefix("stage")
        .and_then(|n| n.parse().ok())
        .filter(|n| (1..=4).contains(n))
}

impl SummaryFacts {
    /// Counts one active case's stays for `month`: a dispute's highest stage during it and its
    /// stage stays that ended in it, a referral's or transfer's decisions in it.
    pub fn add_moves(
        &mut self,
        month: i64,
        workflow: &str,
        division: &str,
        closed: bool,
        moves: &str,
    ) {
        let moves: Vec<Move> = Move::parse(moves).flatten().collect();
        // Each stay: a move and the next; a closed case's last move entered its terminal state.
        let stays = moves.len().saturating_sub(usize::from(closed));
        let mut top = None;
        for (i, m) in moves.iter().take(stays).enumerate() {
            let next = moves.get(i + 1);
            let overlaps = m.month <= month && next.is_none_or(|n| n.month >= month);
            let ended_now = next.filter(|n| n.month == month);
            match workflow {
                "dispute" => {
                    let Some(n) = stage(m.state) else { continue };
                    if overlaps {
                        top = top.max(Some(n));
                    }
                    if let Some(next) = ended_now {
                        let span = DaySpan {
                            division: division.to_string(),
                            from_day: m.day,
                            until_day: next.day,
                        };
                        *self
                            .stage_stays
                            .entry((m.state.to_string(), span))
                            .or_default() += 1;
                    }
                }
                "referral" | "transfer" => {
                    let Some(next) = ended_now.filter(|n| n.state != "withdrawn") else {
                        continue;
                    };
                    let counted = match (workflow, m.state) {
                        ("referral", "received" | "feedback_due" | "feedback_due_declined") => true,
                        ("transfer", "notified") => matches!(next.state, "transferred" | "refused"),
                        _ => false,
                    };
                    if counted {
                        let d = self
                            .decisions
                            .entry((workflow.to_string(), m.state.to_string()))
                            .or_default();
                        d.0 += 1;
                        d.1 += i64::from(next.in_time == Some(true));
                    }
                }
                _ => {}
            }
        }
        if let Some(n) = top {
            *self.stage_reached.entry(format!("stage{n}")).or_default() += 1;
        }
    }
}

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
    (String, i64, i64, i64): for<'r> sqlx::FromRow<'r, DB::Row>,
    (String, String, bool, String): for<'r> sqlx::FromRow<'r, DB::Row>,
    (i64,): for<'r> sqlx::FromRow<'r, DB::Row>,
{
    use futures_util::TryStreamExt;
    let mut conn = pool.acquire().await?;
    let mut facts = SummaryFacts {
        months: sqlx::query_as::<DB, MonthCount>(sqlx::AssertSqlSafe(months_query()))
            .bind(q.month)
            .bind(q.window)
            .fetch_all(&mut *conn)
            .await?,
        opened: sqlx::query_as::<DB, OpenedCount>(sqlx::AssertSqlSafe(opened_query()))
            .bind(q.month)
            .fetch_all(&mut *conn)
            .await?,
        ..SummaryFacts::default()
    };
    facts.resolutions =
        sqlx::query_as::<DB, (String, i64, i64, i64)>(sqlx::AssertSqlSafe(resolutions_query()))
            .bind(q.month)
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .map(|(division, from_day, until_day, n)| {
                let span = DaySpan {
                    division,
                    from_day,
                    until_day,
                };
                (span, n)
            })
            .collect();
    {
        // One month's cases, streamed: nothing of them is kept but the counts.
        let moves = moves_query();
        let mut rows =
            sqlx::query_as::<DB, (String, String, bool, String)>(sqlx::AssertSqlSafe(moves))
                .bind(q.month)
                .fetch(&mut *conn);
        while let Some((workflow, division, closed, moves)) = rows.try_next().await? {
            facts.add_moves(q.month, &workflow, &division, closed, &moves);
        }
    }
    let (missed,) = sqlx::query_as::<DB, (i64,)>(sqlx::AssertSqlSafe(missed_query()))
        .bind(q.month)
        .bind(ts(q.start))
        .bind(ts(q.end))
        .fetch_one(&mut *conn)
        .await?;
    facts.deadlines_missed = missed;
    Ok(facts)
}

/// The stored summary rows of the cases with ids in `ids`, by id.
pub(crate) async fn stored<DB>(
    pool: &sqlx::Pool<DB>,
    ids: Range<i64>,
) -> Result<Vec<CaseSummary>, StoreError>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    DB::Arguments: sqlx::IntoArguments<DB>,
    i64: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    CaseSummary: for<'r> sqlx::FromRow<'r, DB::Row>,
{
    Ok(
        sqlx::query_as::<DB, CaseSummary>(sqlx::AssertSqlSafe(format!(
            "SELECT {SUMMARY_COLUMNS} FROM case_summary WHERE case_id >= $1 AND case_id < $2 \
         ORDER BY case_id"
        )))
        .bind(ids.start)
        .bind(ids.end)
        .fetch_all(pool)
        .await?,
    )
}

/// Inserts summary rows with multi-row `INSERT`s, in `conn`'s transaction.
async fn insert<DB>(conn: &mut DB::Connection, rows: &[CaseSummary]) -> Result<(), StoreError>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    DB::Arguments: sqlx::IntoArguments<DB>,
    i64: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<i64>: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<String>: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    // Under SQLite's 32,766 bound parameters a statement.
    for chunk in rows.chunks(2_000) {
        let mut q =
            sqlx::QueryBuilder::<DB>::new(format!("INSERT INTO case_summary ({SUMMARY_COLUMNS}) "));
        q.push_values(chunk, |mut row, s| {
            row.push_bind(s.case_id);
            push_columns(&mut row, s);
        });
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// How many cases a rebuild or a check reads at a time (by id), so memory stays flat.
const PAGE: i64 = 20_000;

/// The summary rows the log gives for the cases with ids in `ids`.
async fn derive(store: &dyn Store, ids: Range<i64>) -> Result<Vec<CaseSummary>, StoreError> {
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
/// again here: another process may have done it meanwhile). `clear` empties the table. The log
/// is read a page of cases at a time, on other connections. Returns how many cases it
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
/// whose row differs (or is missing, or has no case).
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
                (Some(a), None) => a.case_id,
                (None, Some(b)) => b.case_id,
                (Some(a), Some(b)) => a.case_id.min(b.case_id),
            };
            let mine = d.next_if(|a| a.case_id == id);
            let kept = s.next_if(|b| b.case_id == id);
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
    fn moves_give_the_stays_from_entering_a_state_to_leaving_it() {
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
        let summary = summary_of(&referral);
        assert_eq!(summary.opened_month, month_number(2026, 1));
        assert_eq!((summary.closed_month, summary.outcome_detail), (None, None));
        let (jan, feb) = (month_number(2026, 1), month_number(2026, 2));
        let day = |d: u32| {
            i64::from(
                NaiveDate::from_ymd_opt(2026, 1, 1)
                    .unwrap()
                    .num_days_from_ce(),
            ) + i64::from(d)
                - 1
        };
        // Days of 2026 counted from 1 January: 30 Jan is day 30, 2 Feb day 33.
        assert_eq!(
            summary.moves,
            format!(
                "received {jan} {} -;feedback_due_declined {feb} {} 1;not_accepted {feb} {} 0;\
                 received {feb} {} 0;feedback_due {feb} {} 1;",
                day(30),
                day(33),
                day(36),
                day(37),
                day(40)
            )
        );
        let parsed: Vec<_> = Move::parse(&summary.moves).collect();
        assert_eq!(parsed.len(), 5);
        assert_eq!(
            parsed[1],
            Some(Move {
                state: "feedback_due_declined",
                month: feb,
                day: day(33),
                in_time: Some(true)
            })
        );
        assert_eq!(Move::parse("stage1 24000 x -;").next(), Some(None));

        // Decisions in February: the decline (in time), the feedback (late), the acceptance
        // after the re-referral (in time); the open stay in feedback_due ended nothing.
        let mut facts = SummaryFacts::default();
        facts.add_moves(feb, "referral", "england-and-wales", false, &summary.moves);
        assert_eq!(
            facts.decisions,
            BTreeMap::from([
                (("referral".into(), "feedback_due_declined".into()), (1, 0)),
                (("referral".into(), "received".into()), (2, 2)),
            ])
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
        let summary = summary_of(&dispute);
        assert_eq!(summary.outcome_detail.as_deref(), Some("partly_resolved"));
        assert_eq!(summary.closed_day, Some(day_of(t("2026-03-09T10:00:00Z"))));
        assert_eq!(Move::parse(&summary.moves).count(), 3);
        // In March it reached stage 2, and left stage 1 (2 to 4 Mar) and stage 2 (4 to 9 Mar);
        // its last move entered the terminal state, no stay.
        let mut facts = SummaryFacts::default();
        let march = month_number(2026, 3);
        facts.add_moves(march, "dispute", "england-and-wales", true, &summary.moves);
        assert_eq!(facts.stage_reached, BTreeMap::from([("stage2".into(), 1)]));
        let stays: Vec<_> = facts
            .stage_stays
            .keys()
            .map(|(stage, span)| (stage.as_str(), span.until_day - span.from_day))
            .collect();
        assert_eq!(stays, [("stage1", 2), ("stage2", 5)]);
        // In April nothing: it closed in March.
        let mut facts = SummaryFacts::default();
        facts.add_moves(
            march + 1,
            "dispute",
            "england-and-wales",
            true,
            &summary.moves,
        );
        assert_eq!(facts, SummaryFacts::default());
    }
}
