//! Properties of `Calendar::due` over random receipt times (2012–2035, feed and rule years),
//! durations and divisions.

use std::sync::OnceLock;

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc};
use escalate::calendar::{Calendar, Division, Duration};
use proptest::prelude::*;

fn calendar() -> &'static Calendar {
    static CAL: OnceLock<Calendar> = OnceLock::new();
    CAL.get_or_init(Calendar::official)
}

fn receipt() -> impl Strategy<Value = DateTime<Utc>> {
    let start = DateTime::parse_from_rfc3339("2012-01-01T00:00:00Z")
        .unwrap()
        .timestamp();
    let end = DateTime::parse_from_rfc3339("2035-12-31T23:59:59Z")
        .unwrap()
        .timestamp();
    (start..end).prop_map(|s| DateTime::from_timestamp(s, 0).unwrap())
}

fn division() -> impl Strategy<Value = Division> {
    prop::sample::select(Division::ALL.to_vec())
}

fn due_wd(at: DateTime<Utc>, n: u32, division: Division) -> DateTime<Utc> {
    calendar()
        .due(at, Duration::WorkingDays(n), division)
        .unwrap()
        .due_at
}

fn local_date(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&chrono_tz::Europe::London).date_naive()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn due_is_a_working_day_at_close_of_business(at in receipt(), n in 1u32..60, division in division()) {
        let deadline = calendar().due(at, Duration::WorkingDays(n), division).unwrap();
        let local = deadline.due_at.with_timezone(&chrono_tz::Europe::London);
        prop_assert_eq!(local.time(), "17:00:00".parse().unwrap());
        prop_assert!(calendar().division(division).is_working_day(local.date_naive()).unwrap());
        prop_assert!(deadline.due_at > at);
        prop_assert!(deadline.effective_start >= at);
        prop_assert!(calendar().division(division).is_working_day(deadline.explanation.effective_date).unwrap());
    }

    #[test]
    fn due_is_monotonic_in_receipt_time(at in receipt(), later in 0i64..(20 * 86_400), n in 1u32..30, division in division()) {
        let second = at + TimeDelta::seconds(later);
        prop_assert!(due_wd(at, n, division) <= due_wd(second, n, division));
    }

    #[test]
    fn due_is_strictly_monotonic_in_n(at in receipt(), n in 1u32..60, more in 1u32..10, division in division()) {
        prop_assert!(due_wd(at, n, division) < due_wd(at, n + more, division));
    }

    #[test]
    fn n_plus_one_is_the_next_working_day_after_n(at in receipt(), n in 1u32..60, division in division()) {
        let table = calendar().division(division);
        let mut next = local_date(due_wd(at, n, division)) + TimeDelta::days(1);
        while !table.is_working_day(next).unwrap() {
            next += TimeDelta::days(1);
        }
        prop_assert_eq!(local_date(due_wd(at, n + 1, division)), next);
    }

    #[test]
    fn hours_are_exact_elapsed_time(at in receipt(), n in 1u32..200) {
        let d = calendar().due(at, Duration::Hours(n), Division::EnglandAndWales).unwrap();
        prop_assert_eq!(d.due_at - at, TimeDelta::hours(n.into()));
    }

    #[test]
    fn calendar_days_land_on_the_nth_local_date(at in receipt(), n in 1u32..60) {
        let d = calendar().due(at, Duration::CalendarDays(n), Division::Scotland).unwrap();
        let local = d.due_at.with_timezone(&chrono_tz::Europe::London);
        prop_assert_eq!(local.date_naive(), local_date(at) + TimeDelta::days(n.into()));
        prop_assert_eq!(local.time(), "17:00:00".parse().unwrap());
    }

    #[test]
    fn explanations_name_every_skipped_bank_holiday(at in receipt(), n in 1u32..45, division in division()) {
        let d = calendar().due(at, Duration::WorkingDays(n), division).unwrap();
        let steps = calendar().explain(&d).join("\n");
        let table = calendar().division(division);
        let from = local_date(at) + TimeDelta::days(1);
        for h in table.non_working_between(from, d.explanation.due_date) {
            if h.date.weekday().number_from_monday() <= 5 {
                prop_assert!(steps.contains(&h.title), "{} missing from {}", h.title, steps);
            }
        }
        prop_assert!(steps.contains(&d.data_version.to_string()));
    }
}
