//! Which holidays explain why a deadline moved when the holiday data changed.
//!
//! The calendar that computed the old deadline is gone; what remains of it is the deadline's
//! stored one-line summary ([`Calendar::summary`]), which names every bank holiday and closure
//! day it skipped, with dates. So the old non-working days are read back from that text, and
//! compared with this calendar's over the same span: from the receipt day to the old due day
//! (the span the old summary speaks for). A day this calendar has that the summary does not
//! name *appeared*; a day the summary names that is now a working day *went*.

use chrono::{DateTime, Datelike, NaiveDate, Utc};

use super::{Calendar, Deadline, Duration, Source};

/// A non-working day that appeared or went between two versions of the holiday data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedDay {
    /// The civil date.
    pub date: NaiveDate,
    /// A local closure day rather than a bank holiday.
    pub closure: bool,
    /// Its name, when known (a day that went is named only if the old summary allows).
    pub title: Option<String>,
}

/// The holidays that differ between the data an old deadline was computed with and this one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HolidayChanges {
    /// Non-working days this calendar has that the old deadline did not skip.
    pub appeared: Vec<ChangedDay>,
    /// Days the old deadline skipped that are now working days.
    pub went: Vec<ChangedDay>,
}

impl HolidayChanges {
    /// Nothing identifiable changed (or the old summary could not be read).
    pub fn is_empty(&self) -> bool {
        self.appeared.is_empty() && self.went.is_empty()
    }
}

impl std::fmt::Display for HolidayChanges {
    /// "Mon 6 May 2024 is now a bank holiday (Coronation); Fri 3 May 2024 is no longer a bank
    /// holiday (Extra day)".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        for (days, now) in [(&self.appeared, "is now"), (&self.went, "is no longer")] {
            for d in days {
                let what = if d.closure {
                    "a local closure day"
                } else {
                    "a bank holiday"
                };
                let name = d
                    .title
                    .as_ref()
                    .map_or(String::new(), |t| format!(" ({t})"));
                parts.push(format!(
                    "{} {now} {what}{name}",
                    d.date.format("%a %-d %b %Y")
                ));
            }
        }
        f.write_str(&parts.join("; "))
    }
}

/// A non-working day as an old summary names it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Named {
    date: NaiveDate,
    closure: bool,
    title: Option<String>,
}

const GROUPS: [(&str, bool); 4] = [
    (" is a bank holiday (", false),
    (" are bank holidays (", false),
    (" is a local closure day (", true),
    (" are local closure days (", true),
];

/// "25 and 26 Dec", "31 Dec and 1 Jan", "1, 2 and 3 Jan" → (day, month) pairs.
fn day_months(list: &str) -> Option<Vec<(u32, u32)>> {
    let items: Vec<&str> = list
        .split(", ")
        .flat_map(|s| s.split(" and "))
        .map(str::trim)
        .collect();
    let mut out = Vec::with_capacity(items.len());
    let mut month = None;
    // From the end: in "25 and 26 Dec" only the last item names the month.
    for item in items.iter().rev() {
        let (day, m) = match item.split_once(' ') {
            Some((d, m)) => {
                let m = NaiveDate::parse_from_str(&format!("1 {m} 2000"), "%d %b %Y")
                    .ok()?
                    .month();
                (d, Some(m))
            }
            None => (*item, None),
        };
        month = m.or(month);
        out.push((day.parse().ok()?, month?));
    }
    out.reverse();
    Some(out)
}

/// The first date on `day`/`month` within `from..=until`.
fn resolve(day: u32, month: u32, from: NaiveDate, until: NaiveDate) -> Option<NaiveDate> {
    (from.year()..=until.year())
        .filter_map(|y| NaiveDate::from_ymd_opt(y, month, day))
        .find(|d| (from..=until).contains(d))
}

/// The non-working days an old summary names between `from` (the receipt day, named when
/// receipt fell on one) and `until`; `None` if it is not a working-day summary.
fn named_days(summary: &str, from: NaiveDate, until: NaiveDate) -> Option<Vec<Named>> {
    let first = summary.lines().next()?;
    let rest = first.strip_prefix("Due ")?;
    let (_, clauses) = rest.split_once(": ")?;
    let mut named = Vec::new();
    for (i, clause) in clauses.split("; ").enumerate() {
        if i == 0 {
            if !clause.starts_with("received ") {
                return None;
            }
            // "received on Mon 6 May, a bank holiday (Early May bank holiday)"
            for (marker, closure) in [
                (", a bank holiday (", false),
                (", a local closure day (", true),
            ] {
                if let Some((_, title)) = clause.split_once(marker) {
                    named.push(Named {
                        date: from,
                        closure,
                        title: title.strip_suffix(')').map(str::to_string),
                    });
                }
            }
            continue;
        }
        let Some((dates, closure, titles)) = GROUPS.iter().find_map(|(marker, closure)| {
            clause
                .split_once(marker)
                .map(|(dates, titles)| (dates, *closure, titles.strip_suffix(')')))
        }) else {
            continue;
        };
        let days = day_months(dates)?;
        // Titles are listed once each, in date order: they name each day only when there
        // are as many as days, or one for all.
        let titles: Vec<&str> = titles.map_or(Vec::new(), |t| t.split(", ").collect());
        for (k, (day, month)) in days.iter().enumerate() {
            let title = match titles.len() {
                1 => Some(titles[0]),
                n if n == days.len() => Some(titles[k]),
                _ => None,
            };
            // A day the summary names outside its own span: not a summary this code wrote.
            named.push(Named {
                date: resolve(*day, *month, from, until)?,
                closure,
                title: title.map(str::to_string),
            });
        }
    }
    Some(named)
}

impl Calendar {
    /// The holidays that explain why `new` (computed with this calendar) differs from a deadline
    /// that fell due at `old_due` with the one-line `old_summary` ([`Calendar::summary`]) it
    /// was stored with. Empty when the summary is not a working-day one or names nothing that
    /// differs (the caller then says only that the data changed). Weekends never count.
    pub fn holiday_changes(
        &self,
        new: &Deadline,
        old_due: DateTime<Utc>,
        old_summary: &str,
    ) -> HolidayChanges {
        let e = &new.explanation;
        if !matches!(e.duration, Duration::WorkingDays(_)) {
            return HolidayChanges::default();
        }
        let tz = e.hours.time_zone;
        let from = e.received_at.with_timezone(&tz).date_naive();
        let until = old_due.with_timezone(&tz).date_naive();
        if until < from {
            return HolidayChanges::default();
        }
        let Some(old) = named_days(old_summary, from, until) else {
            return HolidayChanges::default();
        };
        let cal = self.division(e.division);
        let weekday = |d: NaiveDate| d.weekday().number_from_monday() <= 5;
        let mut changes = HolidayChanges::default();
        let mut last = None;
        for h in cal.non_working_between(from, until + chrono::TimeDelta::days(1)) {
            // One name per date (a closure on a bank holiday adds nothing), weekdays only.
            if !weekday(h.date) || last.replace(h.date) == Some(h.date) {
                continue;
            }
            if !old.iter().any(|o| o.date == h.date) {
                changes.appeared.push(ChangedDay {
                    date: h.date,
                    closure: h.source == Source::Closure,
                    title: Some(h.title.clone()),
                });
            }
        }
        for o in old {
            if weekday(o.date)
                && matches!(cal.is_working_day(o.date), Ok(true))
                && !changes.went.iter().any(|w| w.date == o.date)
            {
                changes.went.push(ChangedDay {
                    date: o.date,
                    closure: o.closure,
                    title: o.title,
                });
            }
        }
        changes.went.sort_by_key(|d| d.date);
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::{BusinessHours, Division, HolidayFeed};

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    /// The official feed with `add` added to and `remove` taken from England and Wales.
    fn calendar(add: &[(&str, &str)], remove: &[&str]) -> Calendar {
        let mut json: serde_json::Value =
            serde_json::from_slice(crate::calendar::OFFICIAL_FEED).unwrap();
        let events = json["england-and-wales"]["events"].as_array_mut().unwrap();
        events.retain(|e| !remove.contains(&e["date"].as_str().unwrap()));
        for (date, title) in add {
            events.push(serde_json::json!({"title": title, "date": date, "notes": ""}));
        }
        let feed = HolidayFeed::from_json(json.to_string().as_bytes(), "test feed").unwrap();
        Calendar::new(&feed, &[], BusinessHours::default()).unwrap()
    }

    fn due(cal: &Calendar, from: &str, n: u32) -> Deadline {
        cal.due(
            from.parse().unwrap(),
            Duration::WorkingDays(n),
            Division::EnglandAndWales,
        )
        .unwrap()
    }

    #[test]
    fn a_new_holiday_in_the_span_is_named() {
        let old = Calendar::official();
        let new = calendar(&[("2024-05-03", "Extra holiday")], &[]);
        let before = due(&old, "2024-05-02T10:00:00Z", 3);
        let after = due(&new, "2024-05-02T10:00:00Z", 3);
        assert_eq!(after.explanation.due_date, d(2024, 5, 9));
        let changes = new.holiday_changes(&after, before.due_at, &old.summary(&before));
        assert_eq!(
            changes.to_string(),
            "Fri 3 May 2024 is now a bank holiday (Extra holiday)"
        );
        assert!(changes.went.is_empty());
    }

    #[test]
    fn a_holiday_taken_away_is_named_from_the_old_summary() {
        let old = Calendar::official();
        let new = calendar(&[], &["2024-05-06"]);
        let before = due(&old, "2024-05-02T10:00:00Z", 3);
        let after = due(&new, "2024-05-02T10:00:00Z", 3);
        assert_eq!(after.explanation.due_date, d(2024, 5, 7));
        let changes = new.holiday_changes(&after, before.due_at, &old.summary(&before));
        assert_eq!(
            changes.to_string(),
            "Mon 6 May 2024 is no longer a bank holiday (Early May bank holiday)"
        );
    }

    #[test]
    fn groups_across_months_and_receipt_on_a_holiday_are_read_back() {
        let old = Calendar::official();
        // Received on Boxing Day 2024; Christmas and New Year in the span.
        let before = due(&old, "2024-12-26T10:00:00Z", 5);
        let summary = old.summary(&before);
        let named = named_days(&summary, d(2024, 12, 26), d(2025, 1, 3)).unwrap();
        let dates: Vec<NaiveDate> = named.iter().map(|n| n.date).collect();
        assert_eq!(dates, [d(2024, 12, 26), d(2025, 1, 1)], "{summary}");
        assert_eq!(named[1].title.as_deref(), Some("New Year’s Day"));
        let new = calendar(&[], &["2024-12-26", "2025-01-01"]);
        let after = due(&new, "2024-12-26T10:00:00Z", 5);
        let changes = new.holiday_changes(&after, before.due_at, &summary);
        assert_eq!(changes.went.len(), 2, "{changes}");
    }

    #[test]
    fn date_lists_read_back_as_written() {
        assert_eq!(day_months("25 and 26 Dec"), Some(vec![(25, 12), (26, 12)]));
        assert_eq!(day_months("31 Dec and 1 Jan"), Some(vec![(31, 12), (1, 1)]));
        assert_eq!(
            day_months("1, 2 and 3 Jan"),
            Some(vec![(1, 1), (2, 1), (3, 1)])
        );
        assert_eq!(day_months("25 Dec, 26 Dec and 1 Jan").unwrap().len(), 3);
        for bad in ["", "Dec", "25", "x Dec", "25 Foo", "4294967296 Dec"] {
            assert_eq!(day_months(bad), None, "{bad}");
        }
    }

    #[test]
    fn unreadable_summaries_and_other_durations_name_nothing() {
        let new = Calendar::official();
        let after = due(&new, "2024-05-02T10:00:00Z", 3);
        for summary in [
            "",
            "Due",
            "Due x: y",
            "Due x: received; 99 and 1 Foo are bank holidays (x)",
            "Due x: received; 31 Feb is a bank holiday (x)",
            "\u{202e}Due: ; is a bank holiday (",
        ] {
            assert!(
                new.holiday_changes(&after, after.due_at, summary)
                    .is_empty()
            );
        }
        let hours = new
            .due(
                "2024-05-02T10:00:00Z".parse().unwrap(),
                Duration::Hours(48),
                Division::EnglandAndWales,
            )
            .unwrap();
        assert!(new.holiday_changes(&hours, hours.due_at, "Due").is_empty());
        // An old due before receipt (a damaged row) names nothing rather than panicking.
        assert!(
            new.holiday_changes(&after, "1990-01-01T00:00:00Z".parse().unwrap(), "Due x: y")
                .is_empty()
        );
    }
}
