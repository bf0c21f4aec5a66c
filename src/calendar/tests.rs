//! Tests of the calendar's internals: the rule generator against the official feed, and the
//! precomputed table against a day-by-day walk.

use std::collections::BTreeSet;

use chrono::{Datelike, NaiveDate};

use super::*;

fn date(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

/// The one-off changes GOV.UK made in 2012–2028, which no rule can know.
const ONE_OFFS: &[(&str, &str)] = &[
    // 2012: spring bank holiday moved to 4 June, and the Diamond Jubilee on 5 June.
    ("-", "2012-05-28"),
    ("+", "2012-06-04"),
    ("+", "2012-06-05"),
    // 2020: early May bank holiday moved to Friday 8 May for VE day.
    ("-", "2020-05-04"),
    ("+", "2020-05-08"),
    // 2022: spring bank holiday moved to 2 June, Platinum Jubilee 3 June, state funeral 19 September.
    ("-", "2022-05-30"),
    ("+", "2022-06-02"),
    ("+", "2022-06-03"),
    ("+", "2022-09-19"),
    // 2023: coronation of King Charles III.
    ("+", "2023-05-08"),
];

#[test]
fn rules_reproduce_the_feed_except_the_known_one_offs() {
    let feed = HolidayFeed::official();
    for division in Division::ALL {
        let official: BTreeSet<NaiveDate> =
            feed.holidays(division).iter().map(|h| h.date).collect();
        let generated: BTreeSet<NaiveDate> = (2012..=2028)
            .flat_map(|y| rules::holidays(division, y))
            .map(|h| h.0)
            .collect();
        let missing_from_rules: BTreeSet<String> = official
            .difference(&generated)
            .map(|d| d.to_string())
            .collect();
        let extra_in_rules: BTreeSet<String> = generated
            .difference(&official)
            .map(|d| d.to_string())
            .collect();
        let expect = |sign| -> BTreeSet<String> {
            ONE_OFFS
                .iter()
                .filter(|(s, _)| *s == sign)
                .map(|(_, d)| d.to_string())
                .collect()
        };
        assert_eq!(
            missing_from_rules,
            expect("+"),
            "{division}: feed-only dates"
        );
        assert_eq!(extra_in_rules, expect("-"), "{division}: rule-only dates");
    }
}

#[test]
fn rule_titles_match_the_feed_titles() {
    let feed = HolidayFeed::official();
    for division in Division::ALL {
        for (d, title, notes) in rules::holidays(division, 2026) {
            let official = feed
                .holidays(division)
                .iter()
                .find(|h| h.date == d)
                .unwrap_or_else(|| panic!("{division} {d} not in feed"));
            assert_eq!(
                (official.title.as_str(), official.notes.as_str()),
                (title, notes)
            );
        }
    }
}

/// Walks day by day using only the named non-working days: an independent oracle for the table.
fn walk(cal: &DivisionCalendar, from: NaiveDate, n: u32) -> NaiveDate {
    let working =
        |d: NaiveDate| d.weekday().number_from_monday() <= 5 && cal.holiday_on(d).is_none();
    let mut d = from;
    while !working(d) {
        d = d.succ_opt().unwrap();
    }
    for _ in 0..n {
        d = d.succ_opt().unwrap();
        while !working(d) {
            d = d.succ_opt().unwrap();
        }
    }
    d
}

#[test]
fn table_agrees_with_a_day_by_day_walk_every_day_for_decades() {
    let cal = Calendar::official();
    for division in Division::ALL {
        let table = cal.division(division);
        for from in date("2010-01-01")
            .iter_days()
            .take_while(|d| d.year() < 2040)
        {
            for n in [0, 1, 5, 15] {
                assert_eq!(
                    table.add_working_days(from, n).unwrap(),
                    walk(table, from, n),
                    "{division} {from} +{n}"
                );
            }
        }
    }
}

#[test]
fn table_edges_are_errors_not_panics() {
    let cal = Calendar::official();
    let table = cal.division(Division::EnglandAndWales);
    assert!(table.add_working_days(date("2099-12-30"), 5).is_err());
    assert!(table.add_working_days(date("1989-12-31"), 1).is_err());
    assert!(table.add_working_days(date("1990-01-01"), 1).is_ok());
    let late = "2099-12-31T12:00:00Z".parse().unwrap();
    let err = cal
        .due(late, Duration::WorkingDays(45), Division::Scotland)
        .unwrap_err();
    assert!(
        err.to_string().contains("outside the calendar's range"),
        "{err}"
    );
}

#[test]
fn closures_validate_and_change_the_version() {
    let feed = HolidayFeed::official();
    let closure = |from: &str, to: &str, name: &str| Closure {
        from: date(from),
        to: date(to),
        name: name.into(),
        divisions: vec![],
    };
    let plain = Calendar::new(&feed, &[], BusinessHours::default()).unwrap();
    let closed = Calendar::new(
        &feed,
        &[closure("2026-12-29", "2026-12-31", "Council closure")],
        BusinessHours::default(),
    )
    .unwrap();
    assert_ne!(plain.version(), closed.version());
    for (c, wanted) in [
        (
            closure("2026-12-31", "2026-12-29", "x"),
            "ends (2026-12-29) before it starts (2026-12-31)",
        ),
        (
            closure("2300-01-01", "2300-01-02", "x"),
            "outside 1990 to 2099",
        ),
        (closure("2026-12-29", "2026-12-29", " "), "needs a name"),
    ] {
        let err = Calendar::new(&feed, &[c], BusinessHours::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains(wanted), "{err}");
    }
}

#[test]
fn earlier_counts_back_working_days_across_holidays() {
    let cal = Calendar::official();
    // Received Mon 23 Dec 2024 10:00: 5 working days is Thu 2 Jan (25, 26 Dec, 1 Jan are holidays).
    let d = cal
        .due(
            "2024-12-23T10:00:00Z".parse().unwrap(),
            Duration::WorkingDays(5),
            Division::EnglandAndWales,
        )
        .unwrap();
    assert_eq!(d.due_at.to_rfc3339(), "2025-01-02T17:00:00+00:00");
    let warn = cal.earlier(&d, Duration::WorkingDays(1)).unwrap();
    assert_eq!(warn.to_rfc3339(), "2024-12-31T17:00:00+00:00");
    let warn = cal.earlier(&d, Duration::WorkingDays(2)).unwrap();
    assert_eq!(warn.to_rfc3339(), "2024-12-30T17:00:00+00:00");
    let warn = cal.earlier(&d, Duration::WorkingDays(3)).unwrap();
    assert_eq!(warn.to_rfc3339(), "2024-12-27T17:00:00+00:00");
    let warn = cal.earlier(&d, Duration::CalendarDays(2)).unwrap();
    assert_eq!(warn.to_rfc3339(), "2024-12-31T17:00:00+00:00");
    let warn = cal.earlier(&d, Duration::Hours(30)).unwrap();
    assert_eq!(warn.to_rfc3339(), "2025-01-01T11:00:00+00:00");
}

#[test]
fn earlier_keeps_local_time_across_a_clock_change() {
    let cal = Calendar::official();
    // Due Mon 30 Mar 2026 17:00 BST; one working day earlier is Fri 27 Mar 17:00 GMT.
    let d = cal
        .due(
            "2026-03-27T09:00:00Z".parse().unwrap(),
            Duration::WorkingDays(1),
            Division::EnglandAndWales,
        )
        .unwrap();
    assert_eq!(d.due_at.to_rfc3339(), "2026-03-30T16:00:00+00:00");
    let warn = cal.earlier(&d, Duration::WorkingDays(1)).unwrap();
    assert_eq!(warn.to_rfc3339(), "2026-03-27T17:00:00+00:00");
}

#[test]
fn working_days_between_counts_from_the_first_date_up_to_the_second() {
    let cal = Calendar::official();
    let ew = cal.division(Division::EnglandAndWales);
    // Mon 2 Dec 2024 to Wed 4 Dec: Mon and Tue.
    assert_eq!(
        ew.working_days_between(date("2024-12-02"), date("2024-12-04"))
            .unwrap(),
        2
    );
    // Fri 20 Dec to Fri 3 Jan 2025: 20, 23, 24, 27, 30, 31 Dec and 2 Jan (25, 26 Dec and
    // 1 Jan are bank holidays).
    assert_eq!(
        ew.working_days_between(date("2024-12-20"), date("2025-01-03"))
            .unwrap(),
        7
    );
    // Saturday to Monday: none; the same day or backwards: none.
    assert_eq!(
        ew.working_days_between(date("2024-12-07"), date("2024-12-09"))
            .unwrap(),
        0
    );
    assert_eq!(
        ew.working_days_between(date("2024-12-04"), date("2024-12-02"))
            .unwrap(),
        0
    );
}
