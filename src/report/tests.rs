//! The pure core on fixed facts.

use chrono::{DateTime, Utc};

use super::*;
use crate::store::{EntryFact, LapseFact};

fn t(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn entry(at: &str, from: &str, to: &str, outcome: Option<&str>) -> EntryFact {
    EntryFact {
        seq: 0,
        at: t(at),
        event: "e".into(),
        from_state: from.into(),
        to_state: to.into(),
        outcome: outcome.map(String::from),
    }
}

fn dispute(
    id: i64,
    opened: &str,
    entries: Vec<EntryFact>,
    closed: Option<(&str, &str)>,
) -> CaseFacts {
    CaseFacts {
        id,
        workflow: "dispute".into(),
        division: "england-and-wales".into(),
        category: Some("threshold".into()),
        raised_by: Some("riverside-primary".into()),
        respondent: Some("Children's Social Care".into()),
        opened_at: t(opened),
        closed_at: closed.map(|c| t(c.0)),
        outcome: closed.map(|c| c.1.to_string()),
        entries,
        lapses: Vec::new(),
    }
}

#[test]
fn months_parse_and_start_at_london_midnight() {
    let m: Month = "2026-04".parse().unwrap();
    assert_eq!(m.to_string(), "2026-04");
    // BST: midnight on 1 April is 23:00 UTC the day before.
    assert_eq!(m.start(), t("2026-03-31T23:00:00Z"));
    assert_eq!(m.minus(1).start(), t("2026-03-01T00:00:00Z"));
    assert_eq!(m.minus(4).to_string(), "2025-12");
    assert_eq!(m.minus(12).to_string(), "2025-04");
    assert_eq!(
        "2025-12".parse::<Month>().unwrap().end(),
        t("2026-01-01T00:00:00Z")
    );
    for bad in ["2026-13", "2026-4", "26-04", "april", "2026-00", ""] {
        assert!(bad.parse::<Month>().is_err(), "{bad}");
    }
    // 23:30 UTC on 30 June is 00:30 on 1 July in London (BST); on 31 October, GMT again.
    assert_eq!(
        Month::containing(t("2026-06-30T23:30:00Z")).to_string(),
        "2026-07"
    );
    assert_eq!(
        Month::containing(t("2026-10-31T23:30:00Z")).to_string(),
        "2026-10"
    );
    for month in ["2026-03", "2026-10", "2027-01"] {
        let m: Month = month.parse().unwrap();
        assert_eq!(Month::containing(m.start()), m);
        assert_eq!(
            Month::containing(m.end() - chrono::TimeDelta::seconds(1)),
            m
        );
    }
}

#[test]
fn a_case_counts_in_the_months_its_events_fall_in() {
    let directory = Directory {
        agencies: vec![crate::directory::Agency {
            id: "riverside-primary".into(),
            name: "Riverside Primary School".into(),
            contacts: Vec::new(),
        }],
    };
    let cal = Calendar::official();
    // Opened Mon 2 Mar 2026, escalated to stage 2 on Wed 4 Mar, resolved in part on Mon
    // 9 Mar: 5 working days (2, 3, 4, 5, 6 Mar).
    let a = dispute(
        1,
        "2026-03-02T10:00:00Z",
        vec![
            entry("2026-03-02T10:00:00Z", "", "stage1", None),
            entry("2026-03-04T10:00:00Z", "stage1", "stage2", None),
            entry(
                "2026-03-09T10:00:00Z",
                "stage2",
                "resolved",
                Some("partly_resolved"),
            ),
        ],
        Some(("2026-03-09T10:00:00Z", "resolved")),
    );
    // Opened in February at stage 1, still open.
    let b = dispute(
        2,
        "2026-02-27T10:00:00Z",
        vec![entry("2026-02-27T10:00:00Z", "", "stage1", None)],
        None,
    );
    let r = build("2026-03".parse().unwrap(), [a, b], &cal, &directory);
    assert_eq!((r.opened, r.resolved, r.open_at_end), (1, 1, 1));
    assert_eq!(r.by_stage_reached["1"], 1);
    assert_eq!(r.by_stage_reached["2"], 1);
    assert_eq!(r.by_outcome["partly_resolved"], 1);
    assert_eq!(r.by_raising_agency["Riverside Primary School"], 1);
    assert_eq!(r.median_working_days_to_resolve, Some(5.0));
    assert_eq!(r.previous_month.opened, 1);
    assert_eq!(r.previous_month.open_at_end, 1);
    assert_eq!(r.series.len(), 12);
    assert_eq!(r.series[11].month.to_string(), "2026-03");
}

#[test]
fn missed_deadlines_are_those_not_ended_before_they_fell_due() {
    let cal = Calendar::official();
    let mut a = dispute(1, "2026-03-02T10:00:00Z", Vec::new(), None);
    let lapse = |due: &str, status: &str, ended: Option<&str>| LapseFact {
        slot: "stage1".into(),
        due_at: t(due),
        status: status.into(),
        ended_at: ended.map(t),
    };
    a.lapses = vec![
        lapse(
            "2026-03-04T17:00:00Z",
            "fired",
            Some("2026-03-04T17:00:00Z"),
        ),
        lapse("2026-03-05T17:00:00Z", "met", Some("2026-03-05T09:00:00Z")),
        lapse("2026-03-06T17:00:00Z", "met", Some("2026-03-09T09:00:00Z")),
        lapse(
            "2026-04-06T17:00:00Z",
            "fired",
            Some("2026-04-06T17:00:00Z"),
        ),
    ];
    let r = build("2026-03".parse().unwrap(), [a], &cal, &Directory::default());
    assert_eq!(r.deadlines_missed, 2);
}

#[test]
fn medians_of_even_counts_fall_between() {
    let days = |values: &[u32]| {
        let mut days = Days::new();
        for v in values {
            *days.entry(*v).or_default() += 1;
        }
        days
    };
    assert_eq!(median(&days(&[])), None);
    assert_eq!(median(&days(&[3, 1, 2])), Some(2.0));
    assert_eq!(median(&days(&[4, 1, 2, 3])), Some(2.5));
    assert_eq!(median(&days(&[5, 5, 5, 1])), Some(5.0));
    assert_eq!(median(&days(&[1, 1, 7, 9])), Some(4.0));
}
