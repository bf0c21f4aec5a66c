//! The monthly resolution report for board members: a pure core (no clock, no I/O) and its
//! JSON, CSV and HTML forms.
//!
//! The report is computed from the per-case summary the store keeps beside the event log
//! ([`crate::store::summary`]): a few grouped queries whose work grows with one month's activity
//! ([`build_from_summary`], what `report monthly` and the monthly job use). The same figures can
//! be computed by folding every case's full event log ([`build`], `report monthly --from-log`);
//! the two are kept equal by tests over random histories.
//!
//! Everything is counted by event time (`at`), never by when an entry was written, so a past
//! month's report is the same whenever it is generated. Month boundaries are Europe/London
//! midnights. Aggregates only: agency names, categories, outcomes and counts, never a child or
//! a word anyone typed.

pub mod chart;
pub mod mail;
mod pdf;
mod render;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use chrono_tz::Europe::London;
use serde::{Deserialize, Serialize};

use crate::calendar::{Calendar, Division};
use crate::directory::Directory;
use crate::engine::Engine;
use crate::store::summary::{self, DaySpan, MonthQuery, SummaryFacts};
use crate::store::{CaseFacts, StoreError};

/// What the report says for an agency the directory does not know: never the typed name.
pub const NOT_IN_DIRECTORY: &str = "(an agency not in the directory)";

pub use render::{Format, Row, SUPPRESSED, Section, month_title, render, sections};

/// What can go wrong making a report, each one line.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A month that is not `YYYY-MM`.
    #[error("'{0}' is not a month; write YYYY-MM, e.g. 2026-03")]
    BadMonth(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The chart or the PDF could not be drawn.
    #[error("the report could not be drawn: {0}")]
    Render(String),
}

impl From<ReportError> for crate::Error {
    fn from(e: ReportError) -> Self {
        match e {
            ReportError::BadMonth(_) => crate::Error::Input(e.to_string()),
            ReportError::Store(e) => crate::Error::Store(e),
            ReportError::Render(_) => crate::Error::Failed(e.to_string()),
        }
    }
}

/// A calendar month, e.g. `2026-03`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    year: i32,
    month: u32,
}

impl Month {
    /// The month `year`-`month` (1–12), if there is one.
    pub fn new(year: i32, month: u32) -> Option<Month> {
        ((1..=12).contains(&month) && (1900..=9998).contains(&year))
            .then_some(Month { year, month })
    }

    /// The month (in London, as the report's months are) that `t` falls in.
    pub fn containing(t: DateTime<Utc>) -> Month {
        let local = t.with_timezone(&London);
        Month {
            year: local.year(),
            month: local.month(),
        }
    }

    /// The month `n` months before this one.
    pub fn minus(self, n: u32) -> Month {
        let index = self.year * 12 + self.month as i32 - 1 - n as i32;
        Month {
            year: index.div_euclid(12),
            month: index.rem_euclid(12) as u32 + 1,
        }
    }

    /// The month after this one.
    pub fn next(self) -> Month {
        let index = self.year * 12 + self.month as i32;
        Month {
            year: index.div_euclid(12),
            month: index.rem_euclid(12) as u32 + 1,
        }
    }

    /// Its first day.
    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).expect("a valid month")
    }

    /// Its start: local midnight on the 1st in Europe/London, in UTC.
    pub fn start(self) -> DateTime<Utc> {
        let midnight = self.first_day().and_hms_opt(0, 0, 0).expect("midnight");
        // London's clocks change at 01:00 or 02:00, never at midnight, so midnight is one time.
        London
            .from_local_datetime(&midnight)
            .earliest()
            .expect("London midnight exists")
            .with_timezone(&Utc)
    }

    /// Its end: the next month's start.
    pub fn end(self) -> DateTime<Utc> {
        self.next().start()
    }

    /// Does `t` fall in this month (London time)?
    fn contains(self, t: DateTime<Utc>) -> bool {
        self.start() <= t && t < self.end()
    }

    /// The month as the report summary numbers it ([`summary::month_number`]).
    pub fn number(self) -> i64 {
        summary::month_number(self.year, self.month)
    }

    /// What the summary's queries need to know of this month's report.
    pub fn query(self) -> MonthQuery {
        MonthQuery {
            month: self.number(),
            window: self.minus(12).number(),
            start: self.start(),
            end: self.end(),
        }
    }
}

impl FromStr for Month {
    type Err = ReportError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ReportError::BadMonth(s.to_string());
        let (y, m) = s.trim().split_once('-').ok_or_else(bad)?;
        if y.len() != 4 || m.len() != 2 {
            return Err(bad());
        }
        let year = y.parse().map_err(|_| bad())?;
        let month = m.parse().map_err(|_| bad())?;
        Month::new(year, month).ok_or_else(bad)
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl Serialize for Month {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl utoipa::PartialSchema for Month {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            // A report's series reaches back before the first month one can be asked for.
            .pattern(Some("^[0-9]{4}-(0[1-9]|1[0-2])$"))
            .description(Some("A month, YYYY-MM (London time)."))
            .examples(["2026-10"])
            .into()
    }
}

impl utoipa::ToSchema for Month {}

impl<'de> Deserialize<'de> for Month {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A month's headline figures (disputes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Headline {
    /// The month.
    pub month: Month,
    /// Disputes opened in it.
    pub opened: u64,
    /// Disputes closed in it as resolved or partly resolved.
    pub resolved: u64,
    /// Disputes withdrawn in it.
    pub withdrawn: u64,
    /// Disputes closed in it as unresolved at stage 4.
    pub unresolved: u64,
    /// Disputes open at its end.
    pub open_at_end: u64,
}

/// One month of the 12-month series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SeriesPoint {
    /// The month.
    pub month: Month,
    /// Disputes opened.
    pub opened: u64,
    /// Disputes resolved or partly resolved.
    pub resolved: u64,
    /// Disputes open at the month's end.
    pub open_at_end: u64,
}

/// Decisions made this month and how many of them in time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InTime {
    /// Decisions made this month.
    pub decided: u64,
    /// Of those, made within the time allowed.
    pub in_time: u64,
    /// `in_time / decided`, none when nothing was decided.
    pub share: Option<f64>,
}

/// Disputes opened this month between two agencies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AgencyPair {
    /// The agency that raised it.
    pub raising: String,
    /// The agency whose decision it disputes.
    pub receiving: String,
    /// How many (exact; suppressed under 5 in CSV and HTML).
    pub count: u64,
}

/// The monthly resolution report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MonthlyReport {
    /// The month reported on.
    pub month: Month,
    /// Disputes opened this month.
    pub opened: u64,
    /// Disputes resolved or partly resolved this month.
    pub resolved: u64,
    /// Disputes withdrawn this month.
    pub withdrawn: u64,
    /// Disputes closed unresolved at stage 4 this month.
    pub unresolved: u64,
    /// Disputes open at the month's end.
    pub open_at_end: u64,
    /// `"1"`..`"4"`: disputes active this month by the highest stage they were at during it.
    pub by_stage_reached: BTreeMap<String, u64>,
    /// Disputes closed this month by outcome (`resolved`, `partly_resolved`, `withdrawn`,
    /// `unresolved`).
    pub by_outcome: BTreeMap<String, u64>,
    /// Disputes opened this month by category.
    pub by_category: BTreeMap<String, u64>,
    /// Disputes opened this month by raising → receiving agency, most first.
    pub by_agency_pair: Vec<AgencyPair>,
    /// Disputes opened this month by raising agency, with every directory agency (0 when it
    /// raised none: the under-use question).
    pub by_raising_agency: BTreeMap<String, u64>,
    /// Dispute stage deadlines that lapsed this month (fired, or ended only after their time).
    pub deadlines_missed: u64,
    /// Median working days from opening to resolution, over disputes resolved this month, on
    /// each case's own calendar; none when none was resolved.
    pub median_working_days_to_resolve: Option<f64>,
    /// `"1"`..`"4"`: median working days disputes spent in each stage, over the stays in it that
    /// ended this month (escalated, resolved, withdrawn or closed): for each, the working days on
    /// the case's own calendar from the London date it entered the stage up to (not including)
    /// the date it left it, as for [`Self::median_working_days_to_resolve`]; none for a stage
    /// no dispute left this month.
    #[serde(default)]
    pub median_working_days_in_stage: BTreeMap<String, Option<f64>>,
    /// The month before, in headline figures.
    pub previous_month: Headline,
    /// The same month a year before, in headline figures.
    pub same_month_last_year: Headline,
    /// The 12 months up to and including this one.
    pub series: Vec<SeriesPoint>,
    /// Referrals: decisions (accept or decline) made this month within one working day.
    pub referrals_decided_within_one_working_day: InTime,
    /// Referrals: feedback given to the referrer this month (`decided`), and how much of it
    /// within one working day of the decision (`in_time`: the feedback deadline met before it
    /// fell due).
    #[serde(default)]
    pub referrals_feedback_in_time: InTime,
    /// Transfers: decisions (accept or refuse) made this month within their deadline.
    pub transfers_decided_within_deadline: InTime,
}

/// The report of `month` from every case's full event log: `rows` are every case open at some
/// time in the 13 months up to its end (others count for nothing), with working days on
/// `calendar` and the raising agencies listed from `directory`. The oracle
/// [`build_from_summary`] is checked against.
pub fn build(
    month: Month,
    rows: impl IntoIterator<Item = CaseFacts>,
    calendar: &Calendar,
    directory: &Directory,
) -> MonthlyReport {
    let mut acc = Accumulator::new(month, calendar, directory);
    for facts in rows {
        acc.add(&facts);
    }
    acc.finish()
}

/// The report of `month` from the report summary's figures for it (`facts`, from
/// [`crate::store::Store::report_summary`]), with working days on `calendar` and the raising
/// agencies listed from `directory`.
pub fn build_from_summary(
    month: Month,
    facts: &SummaryFacts,
    calendar: &Calendar,
    directory: &Directory,
) -> MonthlyReport {
    let mut acc = Accumulator::new(month, calendar, directory);
    acc.add_summary(facts);
    acc.finish()
}

/// Computes `month`'s report from the report summary in the engine's store: what
/// `report monthly` and the scheduler's monthly job call.
pub async fn monthly_job(engine: &Engine, month: Month) -> Result<MonthlyReport, ReportError> {
    let store = engine.store();
    let directory = store.directory().await?;
    let facts = store.report_summary(&month.query()).await?;
    Ok(build_from_summary(
        month,
        &facts,
        engine.calendar(),
        &directory,
    ))
}

/// Computes `month`'s report by folding every case's full event log, one case at a time
/// (`report monthly --from-log`): slower, and what the summary is checked against.
pub async fn monthly_from_log(engine: &Engine, month: Month) -> Result<MonthlyReport, ReportError> {
    let store = engine.store();
    let directory = store.directory().await?;
    let mut acc = Accumulator::new(month, engine.calendar(), &directory);
    store
        .report_facts(
            window_start(month),
            month.end(),
            0..i64::MAX,
            &mut |facts| acc.add(&facts),
        )
        .await?;
    Ok(acc.finish())
}

/// The first instant any figure of `month`'s report looks at: the start of the same month a
/// year before.
pub fn window_start(month: Month) -> DateTime<Utc> {
    month.minus(12).start()
}

/// Headline counters for one month.
#[derive(Default, Clone, Copy)]
struct Counts {
    opened: u64,
    resolved: u64,
    withdrawn: u64,
    unresolved: u64,
    open_at_end: u64,
}

/// The report being built, from one case's log at a time or from the summary's figures; its
/// memory does not grow with the cases (the medians keep a count per number of days).
pub struct Accumulator<'a> {
    month: Month,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    calendar: &'a Calendar,
    directory: &'a Directory,
    /// Index 0 is 12 months back, 12 is `month`.
    months: [(Month, DateTime<Utc>, DateTime<Utc>, Counts); 13],
    by_stage: [u64; 4],
    by_outcome: BTreeMap<String, u64>,
    by_category: BTreeMap<String, u64>,
    pairs: BTreeMap<(String, String), u64>,
    raising: BTreeMap<String, u64>,
    deadlines_missed: u64,
    resolve_days: Days,
    stage_days: [Days; 4],
    referrals: (u64, u64),
    feedback: (u64, u64),
    transfers: (u64, u64),
}

impl<'a> Accumulator<'a> {
    /// An empty report of `month`.
    pub fn new(month: Month, calendar: &'a Calendar, directory: &'a Directory) -> Self {
        let months = std::array::from_fn(|i| {
            let m = month.minus(12 - i as u32);
            (m, m.start(), m.end(), Counts::default())
        });
        let raising = directory
            .agencies
            .iter()
            .filter(|a| a.id != "partnership")
            .map(|a| (a.name.clone(), 0))
            .collect();
        Accumulator {
            month,
            start: month.start(),
            end: month.end(),
            calendar,
            directory,
            months,
            by_stage: [0; 4],
            by_outcome: BTreeMap::new(),
            by_category: BTreeMap::new(),
            pairs: BTreeMap::new(),
            raising,
            deadlines_missed: 0,
            resolve_days: Days::new(),
            stage_days: Default::default(),
            referrals: (0, 0),
            feedback: (0, 0),
            transfers: (0, 0),
        }
    }

    /// Working days from `from` up to `until` on the calendar of `division` (England and Wales
    /// if it names none we know); none outside the calendar's years.
    fn working_days(&self, division: &str, from: NaiveDate, until: NaiveDate) -> Option<u32> {
        let division = Division::from_str(division).unwrap_or(Division::EnglandAndWales);
        self.calendar
            .division(division)
            .working_days_between(from, until)
            .ok()
    }

    /// Counts disputes opened this month: by category, agency pair and raising agency.
    fn add_opened(
        &mut self,
        category: Option<&str>,
        raising: Option<&str>,
        receiving: Option<&str>,
        n: u64,
    ) {
        let category = category.unwrap_or("(not given)").to_string();
        *self.by_category.entry(category).or_default() += n;
        let raising = self.agency(raising);
        let receiving = self.agency(receiving);
        *self.raising.entry(raising.clone()).or_default() += n;
        *self.pairs.entry((raising, receiving)).or_default() += n;
    }

    /// The agency name to report for what case data names: the directory's name when it
    /// knows the agency, else one fixed label. The data's agency is free text, and a board
    /// report must not carry what someone typed there (a child's name, say).
    fn agency(&self, named: Option<&str>) -> String {
        match named.map(str::trim).filter(|n| !n.is_empty()) {
            Some(n) => self
                .directory
                .agency(n)
                .map_or_else(|| NOT_IN_DIRECTORY.to_string(), |a| a.name.clone()),
            None => "(not given)".to_string(),
        }
    }

    /// Counts one case.
    pub fn add(&mut self, facts: &CaseFacts) {
        match facts.workflow.as_str() {
            "dispute" => self.add_dispute(facts),
            "referral" => {
                let (d, t) = decisions(facts, self.month, "received", &[]);
                self.referrals.0 += d;
                self.referrals.1 += t;
                for state in ["feedback_due", "feedback_due_declined"] {
                    let (d, t) = decisions(facts, self.month, state, &[]);
                    self.feedback.0 += d;
                    self.feedback.1 += t;
                }
            }
            "transfer" => {
                let (d, t) = decisions(facts, self.month, "notified", &["transferred", "refused"]);
                self.transfers.0 += d;
                self.transfers.1 += t;
            }
            _ => {}
        }
    }

    fn add_dispute(&mut self, f: &CaseFacts) {
        let outcome = f.outcome.as_deref();
        for (_, start, end, counts) in &mut self.months {
            let (start, end) = (*start, *end);
            if start <= f.opened_at && f.opened_at < end {
                counts.opened += 1;
            }
            if f.closed_at.is_some_and(|c| start <= c && c < end) {
                match outcome {
                    Some("resolved") => counts.resolved += 1,
                    Some("withdrawn") => counts.withdrawn += 1,
                    Some("unresolved") => counts.unresolved += 1,
                    _ => {}
                }
            }
            if f.opened_at < end && f.closed_at.is_none_or(|c| c >= end) {
                counts.open_at_end += 1;
            }
        }
        let (start, end) = (self.start, self.end);
        let active = f.opened_at < end && f.closed_at.is_none_or(|c| c >= start);
        if !active {
            return;
        }
        let stage = highest_stage(f, start, end);
        if (1..=4).contains(&stage) {
            self.by_stage[stage as usize - 1] += 1;
        }
        if let Some(closed) = f.closed_at.filter(|c| start <= *c && *c < end) {
            let outcome = outcome.unwrap_or("closed");
            let detail = if outcome == "resolved" {
                // The resolving entry (the last that changed the state) says whether in full or
                // in part.
                f.entries
                    .iter()
                    .rev()
                    .find(|e| e.from_state != e.to_state)
                    .and_then(|e| e.outcome.as_deref())
                    .unwrap_or("resolved")
            } else {
                outcome
            };
            *self.by_outcome.entry(detail.to_string()).or_default() += 1;
            if outcome == "resolved"
                && let Some(days) =
                    self.working_days(&f.division, local_date(f.opened_at), local_date(closed))
            {
                *self.resolve_days.entry(days).or_default() += 1;
            }
        }
        // Each stay in a stage (from the entry that entered it to the one that left it) that
        // ended this month.
        let mut stay: Option<(u32, DateTime<Utc>)> = None;
        for e in f.entries.iter().filter(|e| e.from_state != e.to_state) {
            if let Some((stage, since)) = stay.take()
                && (1..=4).contains(&stage)
                && start <= e.at
                && e.at < end
                && let Some(days) =
                    self.working_days(&f.division, local_date(since), local_date(e.at))
            {
                *self.stage_days[stage as usize - 1].entry(days).or_default() += 1;
            }
            stay = Some((stage_number(&e.to_state), e.at));
        }
        if start <= f.opened_at && f.opened_at < end {
            self.add_opened(
                f.category.as_deref(),
                f.raised_by.as_deref(),
                f.respondent.as_deref(),
                1,
            );
        }
        self.deadlines_missed += f
            .lapses
            .iter()
            .filter(|l| start <= l.due_at && l.due_at < end)
            .filter(|l| {
                // Fired, or met or cancelled only after it fell due: missed. A pending one is
                // not counted: without a clock the core cannot tell one due next week from one
                // the sweep (every minute) has not reached yet.
                match l.status.as_str() {
                    "fired" => true,
                    "met" | "cancelled" => l.ended_at.is_some_and(|t| t > l.due_at),
                    _ => false,
                }
            })
            .count() as u64;
    }

    /// Counts the summary's figures for the month (once).
    pub fn add_summary(&mut self, s: &SummaryFacts) {
        let this = self.month.number();
        for g in &s.months {
            let n = g.n as u64;
            for (m, _, _, counts) in &mut self.months {
                let m = m.number();
                if g.opened_month == m {
                    counts.opened += n;
                }
                if g.closed_month == Some(m) {
                    match g.outcome.as_deref() {
                        Some("resolved") => counts.resolved += n,
                        Some("withdrawn") => counts.withdrawn += n,
                        Some("unresolved") => counts.unresolved += n,
                        _ => {}
                    }
                }
                if g.opened_month <= m && g.closed_month.is_none_or(|c| c > m) {
                    counts.open_at_end += n;
                }
            }
            if g.closed_month == Some(this) {
                let detail = g.outcome_detail.as_deref().unwrap_or("closed");
                *self.by_outcome.entry(detail.to_string()).or_default() += n;
            }
        }
        for (top, n) in &s.stage_reached {
            let stage = stage_number(top);
            if (1..=4).contains(&stage) {
                self.by_stage[stage as usize - 1] += *n as u64;
            }
        }
        for o in &s.opened {
            let n = o.n as u64;
            self.add_opened(
                o.category.as_deref(),
                o.raising.as_deref(),
                o.receiving.as_deref(),
                n,
            );
        }
        let days = |acc: &Self, span: &DaySpan| {
            let from = summary::date_of_day(span.from_day)?;
            let until = summary::date_of_day(span.until_day)?;
            acc.working_days(&span.division, from, until)
        };
        for (span, n) in &s.resolutions {
            if let Some(d) = days(self, span) {
                *self.resolve_days.entry(d).or_default() += *n as u64;
            }
        }
        for ((state, span), n) in &s.stage_stays {
            let stage = stage_number(state);
            if (1..=4).contains(&stage)
                && let Some(d) = days(self, span)
            {
                *self.stage_days[stage as usize - 1].entry(d).or_default() += *n as u64;
            }
        }
        for ((workflow, state), (decided, in_time)) in &s.decisions {
            let target = match (workflow.as_str(), state.as_str()) {
                ("referral", "received") => &mut self.referrals,
                ("referral", _) => &mut self.feedback,
                ("transfer", _) => &mut self.transfers,
                _ => continue,
            };
            target.0 += *decided as u64;
            target.1 += *in_time as u64;
        }
        self.deadlines_missed += s.deadlines_missed as u64;
    }

    /// The finished report.
    pub fn finish(mut self) -> MonthlyReport {
        let headline = |(m, _, _, c): &(Month, DateTime<Utc>, DateTime<Utc>, Counts)| Headline {
            month: *m,
            opened: c.opened,
            resolved: c.resolved,
            withdrawn: c.withdrawn,
            unresolved: c.unresolved,
            open_at_end: c.open_at_end,
        };
        let this = self.months[12].3;
        let mut pairs: Vec<AgencyPair> = std::mem::take(&mut self.pairs)
            .into_iter()
            .map(|((raising, receiving), count)| AgencyPair {
                raising,
                receiving,
                count,
            })
            .collect();
        pairs.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then_with(|| (&a.raising, &a.receiving).cmp(&(&b.raising, &b.receiving)))
        });
        MonthlyReport {
            month: self.month,
            opened: this.opened,
            resolved: this.resolved,
            withdrawn: this.withdrawn,
            unresolved: this.unresolved,
            open_at_end: this.open_at_end,
            by_stage_reached: (1..=4)
                .map(|s| (s.to_string(), self.by_stage[s - 1]))
                .collect(),
            by_outcome: self.by_outcome,
            by_category: self.by_category,
            by_agency_pair: pairs,
            by_raising_agency: self.raising,
            deadlines_missed: self.deadlines_missed,
            median_working_days_to_resolve: median(&self.resolve_days),
            median_working_days_in_stage: (1..=4)
                .map(|s| (s.to_string(), median(&self.stage_days[s - 1])))
                .collect(),
            previous_month: headline(&self.months[11]),
            same_month_last_year: headline(&self.months[0]),
            series: self.months[1..]
                .iter()
                .map(|(m, _, _, c)| SeriesPoint {
                    month: *m,
                    opened: c.opened,
                    resolved: c.resolved,
                    open_at_end: c.open_at_end,
                })
                .collect(),
            referrals_decided_within_one_working_day: in_time(self.referrals),
            referrals_feedback_in_time: in_time(self.feedback),
            transfers_decided_within_deadline: in_time(self.transfers),
        }
    }
}

fn in_time((decided, in_time): (u64, u64)) -> InTime {
    InTime {
        decided,
        in_time,
        share: (decided > 0).then(|| in_time as f64 / decided as f64),
    }
}

use summary::london_date as local_date;

/// `stageN` → N; any other state → 0.
fn stage_number(state: &str) -> u32 {
    state
        .strip_prefix("stage")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The highest stage a dispute was at during `[start, end)`: the stage it was at when the
/// month began, and each stage it entered or left during it.
fn highest_stage(f: &CaseFacts, start: DateTime<Utc>, end: DateTime<Utc>) -> u32 {
    let mut at_start = 0;
    let mut best = 0;
    for e in &f.entries {
        if e.at < start {
            at_start = stage_number(&e.to_state);
        } else if e.at < end {
            best = best
                .max(stage_number(&e.from_state))
                .max(stage_number(&e.to_state));
        }
    }
    best.max(at_start)
}

/// Decisions this month that left `state` (for a state other than withdrawn, or one of
/// `to` when given), and how many were made before the state's deadline fell due: its lapse
/// timer was met by that very entry.
fn decisions(f: &CaseFacts, month: Month, state: &str, to: &[&str]) -> (u64, u64) {
    let mut decided = 0;
    let mut in_time = 0;
    for e in f.entries.iter().filter(|e| {
        e.from_state == state
            && e.to_state != state
            && e.to_state != "withdrawn"
            && (to.is_empty() || to.contains(&e.to_state.as_str()))
            && month.contains(e.at)
    }) {
        decided += 1;
        if f.lapses.iter().any(|l| {
            l.slot == state && l.status == "met" && l.ended_at == Some(e.at) && e.at <= l.due_at
        }) {
            in_time += 1;
        }
    }
    (decided, in_time)
}

/// How many times each number of working days was counted: what a median needs, in memory that
/// grows with the distinct values (a few dozen), not with the cases.
type Days = BTreeMap<u32, u64>;

/// The median of the values counted, halfway between the middle two of an even count; none of
/// nothing.
fn median(days: &Days) -> Option<f64> {
    let n: u64 = days.values().sum();
    // The value at 0-based position `k` in sorted order.
    let nth = |k: u64| {
        let mut seen = 0;
        days.iter()
            .find(|(_, count)| {
                seen += **count;
                seen > k
            })
            .map(|(value, _)| f64::from(*value))
    };
    match n {
        0 => None,
        _ if n % 2 == 1 => nth(n / 2),
        _ => Some((nth(n / 2 - 1)? + nth(n / 2)?) / 2.0),
    }
}

#[cfg(test)]
mod tests;
