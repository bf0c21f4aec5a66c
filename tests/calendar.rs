//! Worked deadline examples through the public calendar API: cut-off, weekends, bank holidays,
//! one-off holidays, daylight saving, the three divisions, closures and years beyond the feed.

use chrono::{DateTime, NaiveDate, Utc};
use escalate::calendar::{
    BusinessHours, Calendar, Closure, Deadline, Division, Duration, HolidayFeed, Start,
};

fn t(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn d(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

fn due(cal: &Calendar, received: &str, duration: &str, division: Division) -> Deadline {
    cal.due(t(received), duration.parse().unwrap(), division)
        .unwrap()
}

fn ew(received: &str, duration: &str) -> Deadline {
    due(
        &Calendar::official(),
        received,
        duration,
        Division::EnglandAndWales,
    )
}

#[test]
fn design_example_christmas_eve_after_cut_off() {
    let cal = Calendar::official();
    let dl = due(
        &cal,
        "2024-12-24T18:00:00Z",
        "1 working day",
        Division::EnglandAndWales,
    );
    assert_eq!(dl.due_at, t("2024-12-30T17:00:00Z"));
    assert_eq!(dl.explanation.effective_date, d("2024-12-27"));
    assert_eq!(dl.effective_start, t("2024-12-27T00:00:00Z"));
    assert_eq!(dl.explanation.start, Start::AfterCutoff);
    assert!(!dl.provisional);
    assert_eq!(
        cal.summary(&dl).lines().next().unwrap(),
        "Due Mon 30 Dec 2024 17:00 GMT: received after 17:00 on Tue 24 Dec; 25 and 26 Dec are bank holidays (Christmas Day, Boxing Day)"
    );
    let steps = cal.explain(&dl);
    let expected_prefixes = [
        "received Tue 24 Dec 2024 18:00 GMT, at or after the 17:00 cut-off",
        "skipped Wed 25 Dec 2024: Christmas Day (bank holiday)",
        "skipped Thu 26 Dec 2024: Boxing Day (bank holiday)",
        "counting starts Fri 27 Dec 2024",
        "skipped Sat 28 Dec to Sun 29 Dec 2024: weekend",
        "due Mon 30 Dec 2024 17:00 GMT",
        "holiday data sha256:",
    ];
    assert_eq!(steps.len(), expected_prefixes.len(), "{steps:#?}");
    for (step, prefix) in steps.iter().zip(expected_prefixes) {
        assert!(
            step.starts_with(prefix),
            "{step:?} should start with {prefix:?}"
        );
    }
    assert!(steps[6].contains(&dl.data_version.to_string()));
}

#[test]
fn cut_off_is_at_or_after_five_pm_local() {
    // Mon 2 Dec 2024 (GMT): 16:59:59 counts that day, 17:00:00 counts from Tuesday.
    let before = ew("2024-12-02T16:59:59Z", "1 working day");
    assert_eq!(before.due_at, t("2024-12-03T17:00:00Z"));
    assert_eq!(before.explanation.start, Start::OnTime);
    assert_eq!(before.effective_start, t("2024-12-02T16:59:59Z"));
    let at = ew("2024-12-02T17:00:00Z", "1 working day");
    assert_eq!(at.due_at, t("2024-12-04T17:00:00Z"));
    assert_eq!(at.explanation.start, Start::AfterCutoff);
    let midnight = ew("2024-12-02T00:00:00Z", "2 working days");
    assert_eq!(midnight.due_at, t("2024-12-04T17:00:00Z"));
}

#[test]
fn weekend_receipt_counts_from_monday() {
    for received in [
        "2024-12-07T09:00:00Z",
        "2024-12-08T23:59:00Z",
        "2024-12-06T17:30:00Z",
    ] {
        let dl = ew(received, "1 working day");
        assert_eq!(dl.explanation.effective_date, d("2024-12-09"), "{received}");
        assert_eq!(dl.due_at, t("2024-12-10T17:00:00Z"), "{received}");
    }
    assert_eq!(
        ew("2024-12-07T09:00:00Z", "1 working day")
            .explanation
            .start,
        Start::NonWorkingDay
    );
}

#[test]
fn dst_spring_forward_moves_the_cut_off_in_utc() {
    // Clocks go forward Sun 30 Mar 2025. 16:30 UTC is 16:30 GMT on Friday (before the cut-off)
    // but 17:30 BST on Monday (after it).
    let friday = ew("2025-03-28T16:30:00Z", "1 working day");
    assert_eq!(
        friday.due_at,
        t("2025-03-31T16:00:00Z"),
        "Mon 31 Mar 17:00 BST"
    );
    let monday = ew("2025-03-31T16:30:00Z", "1 working day");
    assert_eq!(monday.explanation.start, Start::AfterCutoff);
    assert_eq!(
        monday.due_at,
        t("2025-04-02T16:00:00Z"),
        "Wed 2 Apr 17:00 BST"
    );
    // Hours are elapsed time across the change; calendar days land at 17:00 local.
    assert_eq!(
        ew("2025-03-29T12:00:00Z", "24 hours").due_at,
        t("2025-03-30T12:00:00Z")
    );
    assert_eq!(
        ew("2025-03-29T12:00:00Z", "1 calendar day").due_at,
        t("2025-03-30T16:00:00Z")
    );
    // The summary shows the local zone of each end.
    let cal = Calendar::official();
    let s = cal.summary(&due(
        &cal,
        "2025-03-29T12:00:00Z",
        "24 hours",
        Division::EnglandAndWales,
    ));
    assert_eq!(
        s,
        "Due Sun 30 Mar 2025 13:00 BST: 24 hours after receipt at Sat 29 Mar 2025 12:00 GMT (elapsed time, no cut-off)"
    );
}

#[test]
fn dst_fall_back_moves_the_cut_off_in_utc() {
    // Clocks go back Sun 26 Oct 2025. 16:30 UTC is 17:30 BST on Friday (after the cut-off) but
    // 16:30 GMT on Monday (before it).
    let friday = ew("2025-10-24T16:30:00Z", "1 working day");
    assert_eq!(friday.explanation.start, Start::AfterCutoff);
    assert_eq!(friday.explanation.effective_date, d("2025-10-27"));
    assert_eq!(
        friday.due_at,
        t("2025-10-28T17:00:00Z"),
        "Tue 28 Oct 17:00 GMT"
    );
    let monday = ew("2025-10-27T16:30:00Z", "1 working day");
    assert_eq!(monday.explanation.start, Start::OnTime);
    assert_eq!(monday.due_at, t("2025-10-28T17:00:00Z"));
    // 15:59 UTC on the Friday is 16:59 BST: still on time.
    assert_eq!(
        ew("2025-10-24T15:59:00Z", "1 working day").due_at,
        t("2025-10-27T17:00:00Z")
    );
    // 48 hours across the change is 48 elapsed hours, one of them "repeated" on the clock.
    assert_eq!(
        ew("2025-10-25T12:00:00Z", "48 hours").due_at,
        t("2025-10-27T12:00:00Z")
    );
    assert_eq!(
        ew("2025-10-25T12:00:00Z", "2 calendar days").due_at,
        t("2025-10-27T17:00:00Z")
    );
}

#[test]
fn state_funeral_2022_is_a_holiday_in_every_division() {
    let cal = Calendar::official();
    for division in Division::ALL {
        let dl = due(&cal, "2022-09-16T09:00:00Z", "1 working day", division);
        assert_eq!(
            dl.due_at,
            t("2022-09-20T16:00:00Z"),
            "{division}: Tue 20 Sep 17:00 BST"
        );
        let summary = cal.summary(&dl);
        assert!(
            summary.contains("19 Sep is a bank holiday (Bank Holiday for the State Funeral of Queen Elizabeth II)"),
            "{summary}"
        );
    }
}

#[test]
fn scotland_has_no_easter_monday() {
    // Thu 17 Apr 2025 18:00 BST, after the cut-off; Good Friday 18 Apr, Easter Monday 21 Apr.
    let cal = Calendar::official();
    let ew = due(
        &cal,
        "2025-04-17T17:00:00Z",
        "1 working day",
        Division::EnglandAndWales,
    );
    let sc = due(
        &cal,
        "2025-04-17T17:00:00Z",
        "1 working day",
        Division::Scotland,
    );
    assert_eq!(ew.explanation.effective_date, d("2025-04-22"));
    assert_eq!(ew.due_at, t("2025-04-23T16:00:00Z"));
    assert_eq!(sc.explanation.effective_date, d("2025-04-21"));
    assert_eq!(sc.due_at, t("2025-04-22T16:00:00Z"));
}

#[test]
fn scotland_st_andrews_day_and_second_january() {
    let cal = Calendar::official();
    // St Andrew's Day 2025 is a Sunday: the substitute is Mon 1 Dec in Scotland only.
    let sc = due(
        &cal,
        "2025-11-28T10:00:00Z",
        "1 working day",
        Division::Scotland,
    );
    assert_eq!(sc.due_at, t("2025-12-02T17:00:00Z"));
    let ew = due(
        &cal,
        "2025-11-28T10:00:00Z",
        "1 working day",
        Division::EnglandAndWales,
    );
    assert_eq!(ew.due_at, t("2025-12-01T17:00:00Z"));
    // 2 January is a holiday in Scotland only.
    let sc = due(
        &cal,
        "2026-01-01T10:00:00Z",
        "1 working day",
        Division::Scotland,
    );
    assert_eq!(sc.explanation.effective_date, d("2026-01-05"));
    let ew = due(
        &cal,
        "2026-01-01T10:00:00Z",
        "1 working day",
        Division::EnglandAndWales,
    );
    assert_eq!(ew.explanation.effective_date, d("2026-01-02"));
}

#[test]
fn northern_ireland_twelfth_of_july_substitute() {
    // 12 July 2026 is a Sunday: Northern Ireland's holiday moves to Mon 13 July.
    let cal = Calendar::official();
    let ni = due(
        &cal,
        "2026-07-10T09:00:00Z",
        "1 working day",
        Division::NorthernIreland,
    );
    assert_eq!(ni.due_at, t("2026-07-14T16:00:00Z"));
    let summary = cal.summary(&ni);
    assert!(
        summary.contains("13 Jul is a bank holiday (Battle of the Boyne (Orangemen’s Day))"),
        "{summary}"
    );
    let explain = cal.explain(&ni).join("\n");
    assert!(explain.contains("skipped Mon 13 Jul 2026: Battle of the Boyne (Orangemen’s Day) (bank holiday), substitute day"), "{explain}");
    let ew = due(
        &cal,
        "2026-07-10T09:00:00Z",
        "1 working day",
        Division::EnglandAndWales,
    );
    assert_eq!(ew.due_at, t("2026-07-13T16:00:00Z"));
}

#[test]
fn years_beyond_the_feed_are_generated_by_rule_and_provisional() {
    let cal = Calendar::official();
    // Christmas 2030: Wed 25 and Thu 26 Dec, generated by rule.
    let dl = due(
        &cal,
        "2030-12-24T18:00:00Z",
        "1 working day",
        Division::EnglandAndWales,
    );
    assert_eq!(dl.due_at, t("2030-12-30T17:00:00Z"));
    assert!(dl.provisional);
    let explain = cal.explain(&dl).join("\n");
    assert!(
        explain.contains("Christmas Day (bank holiday, generated by rule)"),
        "{explain}"
    );
    assert!(
        explain.contains("provisional: bank holidays for 2030 are generated by rule"),
        "{explain}"
    );
    assert!(cal.summary(&dl).contains("PROVISIONAL"));
    // Easter 2035 (25 Mar is Easter Sunday): Good Friday 23 Mar, Easter Monday 26 Mar.
    let easter = due(
        &cal,
        "2035-03-22T12:00:00Z",
        "1 working day",
        Division::EnglandAndWales,
    );
    assert_eq!(easter.due_at, t("2035-03-27T16:00:00Z"));
    // A deadline crossing from the last feed year into the next is provisional too.
    assert!(ew("2028-12-22T10:00:00Z", "5 working days").provisional);
    assert!(!ew("2028-12-20T10:00:00Z", "1 working day").provisional);
    // Hours and calendar days do not depend on holidays.
    assert!(!ew("2031-01-01T10:00:00Z", "5 calendar days").provisional);
}

#[test]
fn calendar_days_ignore_weekends_and_holidays() {
    let dl = ew("2024-12-24T18:00:00Z", "2 calendar days");
    assert_eq!(dl.due_at, t("2024-12-26T17:00:00Z"));
    let cal = Calendar::official();
    assert_eq!(
        cal.summary(&dl),
        "Due Thu 26 Dec 2024 17:00 GMT: 2 calendar days after receipt on Tue 24 Dec 2024, at close of business (note: Thu 26 Dec is a bank holiday (Boxing Day))"
    );
    // 15 calendar days from a Sunday in summer.
    assert_eq!(
        ew("2026-06-07T08:00:00Z", "15 calendar days").due_at,
        t("2026-06-22T16:00:00Z")
    );
}

#[test]
fn forty_five_working_days_lists_every_skipped_weekend_and_holiday() {
    let cal = Calendar::official();
    // Mon 1 Dec 2025, 45 working days: Christmas, Boxing Day and New Year's Day are skipped.
    let dl = due(
        &cal,
        "2025-12-01T10:00:00Z",
        "45 working days",
        Division::EnglandAndWales,
    );
    assert_eq!(dl.due_at, t("2026-02-05T17:00:00Z"));
    let steps = cal.explain(&dl);
    assert_eq!(
        steps.iter().filter(|s| s.ends_with(": weekend")).count(),
        9,
        "{steps:#?}"
    );
    let holidays: Vec<&String> = steps
        .iter()
        .filter(|s| s.contains("(bank holiday)"))
        .collect();
    assert_eq!(holidays.len(), 3, "{holidays:#?}");
}

#[test]
fn closures_count_as_non_working_days_for_their_divisions() {
    let closure = Closure {
        from: d("2026-12-29"),
        to: d("2026-12-31"),
        name: "Council closure".into(),
        divisions: vec![Division::EnglandAndWales],
    };
    let cal = Calendar::new(
        &HolidayFeed::official(),
        &[closure],
        BusinessHours::default(),
    )
    .unwrap();
    // Thu 24 Dec 2026: Christmas Fri 25, Boxing Day substitute Mon 28, closure 29-31, New Year Fri 1.
    let dl = due(
        &cal,
        "2026-12-24T10:00:00Z",
        "1 working day",
        Division::EnglandAndWales,
    );
    assert_eq!(dl.due_at, t("2027-01-04T17:00:00Z"));
    let summary = cal.summary(&dl);
    assert!(
        summary.contains("29, 30 and 31 Dec are local closure days (Council closure)"),
        "{summary}"
    );
    let sc = due(
        &cal,
        "2026-12-24T10:00:00Z",
        "1 working day",
        Division::Scotland,
    );
    assert_eq!(
        sc.due_at,
        t("2026-12-29T17:00:00Z"),
        "Scotland is not closed"
    );
    assert!(
        !cal.division(Division::EnglandAndWales)
            .is_working_day(d("2026-12-30"))
            .unwrap()
    );
}

#[test]
fn business_hours_are_configurable() {
    let hours = BusinessHours {
        time_zone: chrono_tz::Europe::London,
        cutoff: "16:00:00".parse().unwrap(),
        close_of_business: "17:30:00".parse().unwrap(),
    };
    let cal = Calendar::new(&HolidayFeed::official(), &[], hours).unwrap();
    let dl = due(
        &cal,
        "2024-12-02T16:15:00Z",
        "1 working day",
        Division::EnglandAndWales,
    );
    assert_eq!(dl.explanation.start, Start::AfterCutoff);
    assert_eq!(dl.due_at, t("2024-12-04T17:30:00Z"));
    // A workflow in another zone uses its own civil dates.
    let new_york = BusinessHours {
        time_zone: chrono_tz::America::New_York,
        ..BusinessHours::default()
    };
    let ny = cal
        .due_with(
            t("2024-12-02T22:30:00Z"),
            Duration::WorkingDays(1),
            Division::NorthernIreland,
            &new_york,
        )
        .unwrap();
    assert_eq!(
        ny.explanation.start,
        Start::AfterCutoff,
        "17:30 in New York"
    );
    assert_eq!(ny.due_at, t("2024-12-04T22:00:00Z"));
}

#[test]
fn bdays_trait_agrees_with_the_table() {
    use bdays::HolidayCalendar;
    let cal = Calendar::official();
    let sc = cal.division(Division::Scotland);
    assert!(sc.is_holiday(d("2025-11-30")) || sc.is_holiday(d("2025-12-01")));
    assert!(sc.is_holiday(d("2025-12-01")));
    assert!(!sc.is_bday(d("2025-12-01")));
    assert!(sc.is_bday(d("2025-12-02")));
    assert_eq!(sc.advance_bdays(d("2025-11-28"), 1), d("2025-12-02"));
    // Outside the table the regular rules still answer.
    assert!(sc.is_holiday(d("2250-12-25")));
}
