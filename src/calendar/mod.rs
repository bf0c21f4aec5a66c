//! Working-day arithmetic on UK bank-holiday calendars: pure, no I/O, `now` always a parameter.
//!
//! A [`Calendar`] precomputes, per division, a table of working days over [`FIRST_YEAR`] to
//! [`LAST_YEAR`], so the Nth working day after any date is two array look-ups, never a loop over days.
//! Feed years use the GOV.UK feed; other years use [`rules`] and make deadlines provisional.

mod division;
mod duration;
mod explain;
mod feed;
pub mod rules;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use sha2::{Digest, Sha256};

pub use division::{Division, UnknownDivision};
pub use duration::{Duration, DurationError};
pub use feed::{Holiday, HolidayFeed, OFFICIAL_FEED, Source};

/// First year the calendar answers for.
pub const FIRST_YEAR: i32 = 1990;
/// Last year the calendar answers for.
pub const LAST_YEAR: i32 = 2199;

/// What can go wrong building or asking a calendar.
#[derive(Debug, thiserror::Error)]
pub enum CalendarError {
    /// The feed is not GOV.UK-format JSON.
    #[error("{origin}: malformed bank-holiday feed: {message}")]
    MalformedFeed {
        /// Where the feed came from.
        origin: String,
        /// What is wrong.
        message: String,
    },
    /// A date outside the years the calendar covers.
    #[error("{0} is outside the calendar's range ({FIRST_YEAR} to {LAST_YEAR})")]
    OutOfRange(String),
    /// A configured closure that makes no sense.
    #[error("local closure '{name}': {message}")]
    BadClosure {
        /// The closure's name.
        name: String,
        /// What is wrong.
        message: String,
    },
}

/// The daily times that shape a deadline, in the workflow's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusinessHours {
    /// Civil time zone for working-day arithmetic.
    pub time_zone: Tz,
    /// Receipt at or after this local time counts from the next working day.
    pub cutoff: NaiveTime,
    /// Working-day and calendar-day deadlines fall due at this local time.
    pub close_of_business: NaiveTime,
}

impl Default for BusinessHours {
    fn default() -> Self {
        let five_pm = NaiveTime::from_hms_opt(17, 0, 0).expect("valid time");
        BusinessHours {
            time_zone: chrono_tz::Europe::London,
            cutoff: five_pm,
            close_of_business: five_pm,
        }
    }
}

impl BusinessHours {
    /// The UTC instant of a local civil time; in a DST gap, the first valid instant after it.
    pub fn instant(&self, date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
        let mut local = NaiveDateTime::new(date, time);
        // Gaps are at most a few hours; step forward until the local time exists.
        for _ in 0..96 {
            if let Some(t) = self.time_zone.from_local_datetime(&local).earliest() {
                return t.with_timezone(&Utc);
            }
            local += TimeDelta::minutes(15);
        }
        unreachable!("no time zone has a gap of a whole day")
    }
}

/// A deployment's own non-working days, e.g. a council closed between Christmas and New Year.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closure {
    /// First day closed.
    pub from: NaiveDate,
    /// Last day closed (inclusive).
    pub to: NaiveDate,
    /// Shown in explanations, e.g. "Council closure".
    pub name: String,
    /// Divisions it applies to; empty means all.
    pub divisions: Vec<Division>,
}

/// Identifies the holiday data (feed and closures) that produced a deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DataVersion([u8; 8]);

impl std::fmt::Display for DataVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("sha256:")?;
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// How the receipt time was treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// On a working day before the cut-off: counting starts that day.
    OnTime,
    /// On a working day at or after the cut-off: counting starts the next working day.
    AfterCutoff,
    /// On a weekend, bank holiday or closure day: counting starts the next working day.
    NonWorkingDay,
    /// Calendar days and hours start at the receipt itself.
    Exact,
}

/// The facts behind a deadline, small enough to compute on every call; [`Calendar::explain`]
/// turns them into readable steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Explanation {
    /// When it was received.
    pub received_at: DateTime<Utc>,
    /// The duration asked for.
    pub duration: Duration,
    /// The division whose holidays apply.
    pub division: Division,
    /// The time zone, cut-off and close of business used.
    pub hours: BusinessHours,
    /// How the receipt time was treated.
    pub start: Start,
    /// The local date counting starts from.
    pub effective_date: NaiveDate,
    /// The local date it falls due.
    pub due_date: NaiveDate,
}

/// A computed deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    /// When it falls due.
    pub due_at: DateTime<Utc>,
    /// When counting effectively started (receipt, or the start of the next working day).
    pub effective_start: DateTime<Utc>,
    /// True when a holiday year involved was generated by rule rather than read from the feed.
    pub provisional: bool,
    /// The holiday data that produced it.
    pub data_version: DataVersion,
    /// Why it falls when it does.
    pub explanation: Explanation,
}

/// One division's precomputed working-day table and named non-working days.
#[derive(Debug, Clone)]
pub struct DivisionCalendar {
    division: Division,
    first_ce: i32,
    /// `rank[i]` = number of working days before day `i`; one entry more than there are days.
    rank: Vec<u32>,
    /// Day index of the k-th working day.
    workdays: Vec<u32>,
    /// Bank holidays and closures, sorted by date then source.
    non_working: Vec<Holiday>,
    /// Per year from FIRST_YEAR: does the feed cover it?
    feed_years: Vec<bool>,
}

/// Bank-holiday calendars for the three divisions, with the deployment's closures and hours.
#[derive(Debug, Clone)]
pub struct Calendar {
    divisions: [DivisionCalendar; 3],
    hours: BusinessHours,
    version: DataVersion,
    origin: String,
}

fn first_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(FIRST_YEAR, 1, 1).expect("valid date")
}

fn last_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(LAST_YEAR, 12, 31).expect("valid date")
}

fn is_weekend(date: NaiveDate) -> bool {
    date.weekday().number_from_monday() > 5
}

impl DivisionCalendar {
    fn build(division: Division, feed: &HolidayFeed, closures: &[Closure]) -> Self {
        let first = first_day();
        let years = (LAST_YEAR - FIRST_YEAR + 1) as usize;
        let mut feed_years = vec![false; years];
        let mut non_working = Vec::new();
        for h in feed.holidays(division) {
            if (FIRST_YEAR..=LAST_YEAR).contains(&h.date.year()) {
                feed_years[(h.date.year() - FIRST_YEAR) as usize] = true;
                non_working.push(h.clone());
            }
        }
        for (i, _) in feed_years
            .iter()
            .enumerate()
            .filter(|(_, covered)| !**covered)
        {
            let year = FIRST_YEAR + i as i32;
            non_working.extend(rules::holidays(division, year).into_iter().map(
                |(date, title, notes)| Holiday {
                    date,
                    title: title.to_string(),
                    notes: notes.to_string(),
                    source: Source::Rule,
                },
            ));
        }
        for c in closures
            .iter()
            .filter(|c| c.divisions.is_empty() || c.divisions.contains(&division))
        {
            non_working.extend(
                c.from
                    .iter_days()
                    .take_while(|d| *d <= c.to)
                    .map(|date| Holiday {
                        date,
                        title: c.name.clone(),
                        notes: String::new(),
                        source: Source::Closure,
                    }),
            );
        }
        non_working.sort_by_key(|h| (h.date, h.source));

        let days = (last_day() - first).num_days() as usize + 1;
        let mut rank = Vec::with_capacity(days + 1);
        let mut workdays = Vec::with_capacity(days * 5 / 7 + 1);
        let mut off = vec![false; days];
        for h in &non_working {
            off[(h.date - first).num_days() as usize] = true;
        }
        for (i, date) in first.iter_days().take(days).enumerate() {
            rank.push(workdays.len() as u32);
            if !off[i] && !is_weekend(date) {
                workdays.push(i as u32);
            }
        }
        rank.push(workdays.len() as u32);
        DivisionCalendar {
            division,
            first_ce: first.num_days_from_ce(),
            rank,
            workdays,
            non_working,
            feed_years,
        }
    }

    /// The division this table is for.
    pub fn division(&self) -> Division {
        self.division
    }

    fn index(&self, date: NaiveDate) -> Result<usize, CalendarError> {
        let i = date.num_days_from_ce() - self.first_ce;
        if i < 0 || i as usize + 1 >= self.rank.len() {
            return Err(CalendarError::OutOfRange(date.to_string()));
        }
        Ok(i as usize)
    }

    fn date_of(&self, index: u32) -> NaiveDate {
        NaiveDate::from_num_days_from_ce_opt(self.first_ce + index as i32).expect("in table range")
    }

    fn is_working_index(&self, i: usize) -> bool {
        self.rank[i + 1] > self.rank[i]
    }

    /// Is `date` a working day (not a weekend, bank holiday or closure)?
    pub fn is_working_day(&self, date: NaiveDate) -> Result<bool, CalendarError> {
        Ok(self.is_working_index(self.index(date)?))
    }

    /// The first working day on or after `date`, then `n` working days on: the same rule as
    /// `bdays::HolidayCalendar::advance_bdays`, in constant time.
    pub fn add_working_days(&self, date: NaiveDate, n: u32) -> Result<NaiveDate, CalendarError> {
        let k = self.rank[self.index(date)?] as usize;
        self.workdays
            .get(k + n as usize)
            .map(|&i| self.date_of(i))
            .ok_or_else(|| CalendarError::OutOfRange(format!("{n} working days after {date}")))
    }

    /// The named non-working days on or after `from` and before `until`.
    pub fn non_working_between(&self, from: NaiveDate, until: NaiveDate) -> &[Holiday] {
        let lo = self.non_working.partition_point(|h| h.date < from);
        let hi = self.non_working.partition_point(|h| h.date < until);
        &self.non_working[lo..hi.max(lo)]
    }

    /// The named non-working day on `date`, if any (a bank holiday before a closure).
    pub fn holiday_on(&self, date: NaiveDate) -> Option<&Holiday> {
        self.non_working_between(date, date + TimeDelta::days(1))
            .first()
    }

    /// Bank holidays and closures in `year`.
    pub fn holidays_in_year(&self, year: i32) -> Result<&[Holiday], CalendarError> {
        if !(FIRST_YEAR..=LAST_YEAR).contains(&year) {
            return Err(CalendarError::OutOfRange(format!("year {year}")));
        }
        let start = NaiveDate::from_ymd_opt(year, 1, 1).expect("valid date");
        let end = NaiveDate::from_ymd_opt(year + 1, 1, 1).expect("valid date");
        Ok(self.non_working_between(start, end))
    }

    /// Does the feed cover `year` (otherwise its holidays are generated by rule)?
    pub fn feed_covers(&self, year: i32) -> bool {
        year >= FIRST_YEAR
            && self
                .feed_years
                .get((year - FIRST_YEAR) as usize)
                .copied()
                .unwrap_or(false)
    }

    /// The years the feed covers, if any.
    pub fn feed_years(&self) -> Option<(i32, i32)> {
        let first = self.feed_years.iter().position(|c| *c)?;
        let last = self.feed_years.iter().rposition(|c| *c)?;
        Some((FIRST_YEAR + first as i32, FIRST_YEAR + last as i32))
    }
}

impl bdays::HolidayCalendar<NaiveDate> for DivisionCalendar {
    fn is_holiday(&self, date: NaiveDate) -> bool {
        match self.index(date) {
            Ok(_) => self.holiday_on(date).is_some(),
            // Outside the table only the regular holidays are known.
            Err(_) => rules::holidays(self.division, date.year())
                .iter()
                .any(|h| h.0 == date),
        }
    }
}

impl Calendar {
    /// Builds the tables from a feed, the deployment's closures and its business hours.
    pub fn new(
        feed: &HolidayFeed,
        closures: &[Closure],
        hours: BusinessHours,
    ) -> Result<Self, CalendarError> {
        let range = first_day()..=last_day();
        for c in closures {
            let bad = |message: String| CalendarError::BadClosure {
                name: c.name.clone(),
                message,
            };
            if c.from > c.to {
                return Err(bad(format!(
                    "ends ({}) before it starts ({})",
                    c.to, c.from
                )));
            }
            if !range.contains(&c.from) || !range.contains(&c.to) {
                return Err(bad(format!(
                    "{} to {} is outside {FIRST_YEAR} to {LAST_YEAR}",
                    c.from, c.to
                )));
            }
            if c.name.trim().is_empty() {
                return Err(bad("needs a name to show in explanations".into()));
            }
        }
        let mut hash = Sha256::new();
        hash.update(feed.digest());
        for c in closures {
            hash.update(format!(
                "{}|{}|{}|{:?}\n",
                c.from, c.to, c.name, c.divisions
            ));
        }
        let digest = hash.finalize();
        let mut version = [0u8; 8];
        version.copy_from_slice(&digest[..8]);
        Ok(Calendar {
            divisions: Division::ALL.map(|d| DivisionCalendar::build(d, feed, closures)),
            hours,
            version: DataVersion(version),
            origin: feed.origin.clone(),
        })
    }

    /// The shipped GOV.UK data, no closures, Europe/London with a 17:00 cut-off.
    pub fn official() -> Self {
        Self::new(&HolidayFeed::official(), &[], BusinessHours::default())
            .expect("the official calendar builds")
    }

    /// One division's table.
    pub fn division(&self, division: Division) -> &DivisionCalendar {
        &self.divisions[division.index()]
    }

    /// The configured business hours.
    pub fn hours(&self) -> &BusinessHours {
        &self.hours
    }

    /// The holiday data version.
    pub fn version(&self) -> DataVersion {
        self.version
    }

    /// Where the feed came from.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// When something received at `received_at` is due, with the configured business hours.
    pub fn due(
        &self,
        received_at: DateTime<Utc>,
        duration: Duration,
        division: Division,
    ) -> Result<Deadline, CalendarError> {
        self.due_with(received_at, duration, division, &self.hours)
    }

    /// As [`Calendar::due`], in a workflow's own time zone and times.
    pub fn due_with(
        &self,
        received_at: DateTime<Utc>,
        duration: Duration,
        division: Division,
        hours: &BusinessHours,
    ) -> Result<Deadline, CalendarError> {
        let local = received_at.with_timezone(&hours.time_zone).naive_local();
        let received_date = local.date();
        let out_of_range = || CalendarError::OutOfRange(format!("{duration} after {received_at}"));
        let (start, effective_date, due_date, due_at, effective_start) = match duration {
            Duration::WorkingDays(n) => {
                let cal = self.division(division);
                let i = cal.index(received_date)?;
                let start = if !cal.is_working_index(i) {
                    Start::NonWorkingDay
                } else if local.time() >= hours.cutoff {
                    Start::AfterCutoff
                } else {
                    Start::OnTime
                };
                let counted_from = if start == Start::OnTime { i } else { i + 1 };
                let k = cal.rank[counted_from] as usize;
                let effective = *cal.workdays.get(k).ok_or_else(out_of_range)?;
                let due = *cal.workdays.get(k + n as usize).ok_or_else(out_of_range)?;
                let (effective_date, due_date) = (cal.date_of(effective), cal.date_of(due));
                let effective_start = if start == Start::OnTime {
                    received_at
                } else {
                    hours.instant(effective_date, NaiveTime::MIN)
                };
                let due_at = hours.instant(due_date, hours.close_of_business);
                (start, effective_date, due_date, due_at, effective_start)
            }
            Duration::CalendarDays(n) => {
                let due_date = received_date
                    .checked_add_days(chrono::Days::new(n.into()))
                    .filter(|d| d.year() <= LAST_YEAR)
                    .ok_or_else(out_of_range)?;
                let due_at = hours.instant(due_date, hours.close_of_business);
                (Start::Exact, received_date, due_date, due_at, received_at)
            }
            Duration::Hours(n) => {
                let due_at = received_at
                    .checked_add_signed(TimeDelta::hours(n.into()))
                    .ok_or_else(out_of_range)?;
                let due_date = due_at.with_timezone(&hours.time_zone).date_naive();
                (Start::Exact, received_date, due_date, due_at, received_at)
            }
        };
        let provisional = matches!(duration, Duration::WorkingDays(_))
            && (received_date.year()..=due_date.year())
                .any(|y| !self.division(division).feed_covers(y));
        Ok(Deadline {
            due_at,
            effective_start,
            provisional,
            data_version: self.version,
            explanation: Explanation {
                received_at,
                duration,
                division,
                hours: *hours,
                start,
                effective_date,
                due_date,
            },
        })
    }
}

#[cfg(test)]
mod tests;
