//! Per-day UTC offsets of the deployment's time zone, so converting between UTC and local time is
//! one array look-up except on the few days around a clock change (chrono-tz searches its
//! transition list on every call, which was most of the cost of a deadline).

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Offset, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

use super::{first_day, last_day};

/// Marks a day within one day of a clock change: those take the exact (slower) path.
const NEAR_CHANGE: i32 = i32::MIN;

/// One time zone's UTC offset per day of the calendar's range.
#[derive(Debug, Clone)]
pub(crate) struct ZoneTable {
    tz: Tz,
    /// Day number (from the common era) of `offsets[0]`.
    first_ce: i32,
    /// Seconds east of UTC throughout the UTC day and the day either side, or [`NEAR_CHANGE`].
    offsets: Vec<i32>,
}

fn offset_at(tz: Tz, utc: NaiveDateTime) -> i32 {
    tz.offset_from_utc_datetime(&utc).fix().local_minus_utc()
}

impl ZoneTable {
    /// Builds the table for `tz` over FIRST_YEAR..=LAST_YEAR.
    pub(crate) fn new(tz: Tz) -> Self {
        let first = first_day();
        let days = (last_day() - first).num_days() as usize + 1;
        // Offsets at 00:00 UTC from the day before the range to two days after it.
        let midnights: Vec<i32> = (first - TimeDelta::days(1))
            .iter_days()
            .take(days + 3)
            .map(|d| offset_at(tz, d.and_hms_opt(0, 0, 0).expect("midnight")))
            .collect();
        // Day i is stable when the offset is the same at the midnights of days i-1 to i+2, i.e. no
        // change from the start of the day before to the end of the day after.
        let offsets = midnights
            .windows(4)
            .map(|w| {
                if w.iter().all(|&o| o == w[0]) {
                    w[0]
                } else {
                    NEAR_CHANGE
                }
            })
            .collect();
        ZoneTable {
            tz,
            first_ce: first.num_days_from_ce(),
            offsets,
        }
    }

    fn stable_offset(&self, tz: Tz, date: NaiveDate) -> Option<i32> {
        if tz != self.tz {
            return None;
        }
        let i = usize::try_from(date.num_days_from_ce() - self.first_ce).ok()?;
        self.offsets.get(i).copied().filter(|&o| o != NEAR_CHANGE)
    }

    /// The local civil time of `utc` in `tz`.
    pub(crate) fn to_local(&self, tz: Tz, utc: DateTime<Utc>) -> NaiveDateTime {
        let naive = utc.naive_utc();
        // The offset is constant over the UTC day and a day either side, so it applies to `utc`.
        match self.stable_offset(tz, naive.date()) {
            Some(offset) => naive + TimeDelta::seconds(offset.into()),
            None => utc.with_timezone(&tz).naive_local(),
        }
    }

    /// The UTC instant of a local civil time in `tz`; in a gap, the first valid instant after it;
    /// when the time occurs twice, the earlier.
    pub(crate) fn to_utc(&self, tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
        // Any instant with this local date lies within a day of its UTC date, where the offset
        // is constant when the table says so.
        if let Some(offset) = self.stable_offset(tz, local.date()) {
            return (local - TimeDelta::seconds(offset.into())).and_utc();
        }
        exact_to_utc(tz, local)
    }
}

/// [`ZoneTable::to_utc`] by chrono-tz alone: for days near a clock change and other zones.
fn exact_to_utc(tz: Tz, mut local: NaiveDateTime) -> DateTime<Utc> {
    // Gaps are at most a few hours; step forward until the local time exists.
    for _ in 0..96 {
        if let Some(t) = tz.from_local_datetime(&local).earliest() {
            return t.with_timezone(&Utc);
        }
        local += TimeDelta::minutes(15);
    }
    unreachable!("no time zone has a gap of a whole day")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every quarter hour of 2024 and of the DST weeks of 2040 agrees with chrono-tz's exact answer.
    #[test]
    fn table_agrees_with_chrono_tz() {
        for tz in [chrono_tz::Europe::London, chrono_tz::America::New_York] {
            let table = ZoneTable::new(tz);
            let starts = [
                "2024-01-01T00:00:00",
                "2040-03-20T00:00:00",
                "2040-10-24T00:00:00",
            ];
            for (start, days) in starts.iter().zip([366, 14, 14]) {
                let mut local: NaiveDateTime = start.parse().unwrap();
                for _ in 0..days * 96 {
                    let exact = exact_to_utc(tz, local);
                    assert_eq!(table.to_utc(tz, local), exact, "{tz} local {local}");
                    let utc = local.and_utc();
                    assert_eq!(
                        table.to_local(tz, utc),
                        utc.with_timezone(&tz).naive_local(),
                        "{tz} utc {utc}"
                    );
                    local += TimeDelta::minutes(15);
                }
            }
        }
    }

    #[test]
    fn other_zones_and_dates_outside_the_range_take_the_exact_path() {
        let table = ZoneTable::new(chrono_tz::Europe::London);
        let paris = chrono_tz::Europe::Paris;
        let local = NaiveDate::from_ymd_opt(2024, 7, 1)
            .unwrap()
            .and_hms_opt(17, 0, 0)
            .unwrap();
        assert_eq!(
            table.to_utc(paris, local).to_rfc3339(),
            "2024-07-01T15:00:00+00:00"
        );
        let old = NaiveDate::from_ymd_opt(1985, 7, 1)
            .unwrap()
            .and_hms_opt(17, 0, 0)
            .unwrap();
        let london = chrono_tz::Europe::London;
        assert_eq!(
            table.to_utc(london, old).to_rfc3339(),
            "1985-07-01T16:00:00+00:00"
        );
    }
}
