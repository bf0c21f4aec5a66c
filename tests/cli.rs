//! The `escalate calendar` command line, run as a user would: output, JSON, and one-line errors.

mod common;

use std::path::Path;

use common::{assert_one_line_error, escalate, json, stderr, stdout};

const DUE: &[&str] = &[
    "calendar",
    "due",
    "--from",
    "2024-12-24T18:00:00Z",
    "--after",
    "1 working day",
];

#[test]
fn due_explains_itself_in_two_lines() {
    let o = escalate(DUE, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(
        lines[0],
        "Due Mon 30 Dec 2024 17:00 GMT: received after 17:00 on Tue 24 Dec; 25 and 26 Dec are bank holidays (Christmas Day, Boxing Day)"
    );
    assert!(lines[1].starts_with(
        "1 working day counted from Fri 27 Dec 2024; england-and-wales holidays sha256:"
    ));
}

#[test]
fn due_json_has_due_effective_start_and_explanation() {
    let v = json(&escalate(&[DUE, &["--json"]].concat(), &[]));
    assert_eq!(v["due"], "2024-12-30T17:00:00Z");
    assert_eq!(v["due_local"], "2024-12-30T17:00:00+00:00");
    assert_eq!(v["effective_start"], "2024-12-27T00:00:00Z");
    assert_eq!(v["effective_date"], "2024-12-27");
    assert_eq!(v["division"], "england-and-wales");
    assert_eq!(v["provisional"], false);
    let explain: Vec<&str> = v["explain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert!(
        explain.iter().any(|s| s.contains("Christmas Day")),
        "{explain:?}"
    );
    assert!(
        explain
            .iter()
            .any(|s| s.contains(v["data_version"].as_str().unwrap()))
    );
}

#[test]
fn due_in_summer_reports_utc_and_local_offsets() {
    let v = json(&escalate(
        &[
            "calendar",
            "due",
            "--from",
            "2025-04-17T17:00:00Z",
            "--after",
            "1 working day",
            "--division",
            "scotland",
            "--json",
        ],
        &[],
    ));
    assert_eq!(v["due"], "2025-04-22T16:00:00Z");
    assert_eq!(v["due_local"], "2025-04-22T17:00:00+01:00");
    assert_eq!(v["division"], "scotland");
}

#[test]
fn holidays_file_option_and_environment_replace_the_feed() {
    // A feed like GOV.UK's with a one-off extra holiday on Mon 30 Dec 2024.
    let official: serde_json::Value = serde_json::from_slice(
        &std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/bank-holidays.json"))
            .unwrap(),
    )
    .unwrap();
    let mut feed = official.clone();
    feed["england-and-wales"]["events"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "title": "Extra bank holiday", "date": "2024-12-30", "notes": "", "bunting": true
        }));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("feed.json");
    std::fs::write(&path, serde_json::to_vec(&feed).unwrap()).unwrap();
    let path = path.to_str().unwrap();

    let base = json(&escalate(&[DUE, &["--json"]].concat(), &[]));
    let by_option = json(&escalate(
        &[DUE, &["--json", "--holidays", path]].concat(),
        &[],
    ));
    let by_env = json(&escalate(
        &[DUE, &["--json"]].concat(),
        &[("ESCALATE_BANK_HOLIDAYS", path)],
    ));
    for v in [&by_option, &by_env] {
        assert_eq!(v["due"], "2024-12-31T17:00:00Z");
        assert_ne!(v["data_version"], base["data_version"]);
    }
}

#[test]
fn configuration_comes_from_file_then_environment() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("escalate.toml");
    std::fs::write(
        &config,
        "[calendar]\ncutoff = \"16:00\"\n[[calendar.closures]]\nname = \"Council closure\"\ndate = \"2024-12-27\"\n",
    )
    .unwrap();
    let config = config.to_str().unwrap();
    // Received 16:30: after a 16:00 cut-off; Fri 27 Dec is closed.
    let args = [
        "--config",
        config,
        "calendar",
        "due",
        "--from",
        "2024-12-23T16:30:00Z",
        "--after",
        "1 working day",
        "--json",
    ];
    let v = json(&escalate(&args, &[]));
    assert_eq!(v["effective_date"], "2024-12-24");
    assert_eq!(v["due"], "2024-12-30T17:00:00Z");
    let v = json(&escalate(&args, &[("ESCALATE_CALENDAR__CUTOFF", "17:00")]));
    assert_eq!(v["effective_date"], "2024-12-23");
    assert_eq!(v["due"], "2024-12-24T17:00:00Z");
}

#[test]
fn holidays_lists_a_year_and_flags_rule_years() {
    let o = escalate(
        &[
            "calendar",
            "holidays",
            "--year",
            "2026",
            "--division",
            "northern-ireland",
        ],
        &[],
    );
    let out = stdout(&o);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(out.contains("Tue 17 Mar 2026  St Patrick’s Day"), "{out}");
    assert!(
        out.contains("Mon 13 Jul 2026  Battle of the Boyne (Orangemen’s Day) (substitute day)"),
        "{out}"
    );
    assert!(!out.contains("PROVISIONAL"));
    assert_eq!(out.lines().count(), 1 + 10, "{out}");

    let o = escalate(&["calendar", "holidays", "--year", "2031", "--json"], &[]);
    let v = json(&o);
    assert_eq!(v["provisional"], true);
    let titles: Vec<&str> = v["holidays"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles.len(), 8, "{titles:?}");
    assert!(
        v["holidays"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["source"] == "rule")
    );
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let malformed = dir.path().join("bad.json");
    std::fs::write(&malformed, "{\"scotland\": [").unwrap();
    let malformed = malformed.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            [DUE, &["--division", "wales"]].concat(),
            "unknown division 'wales'",
        ),
        (
            [DUE, &["--holidays", "/nonexistent/feed.json"]].concat(),
            "cannot read /nonexistent/feed.json",
        ),
        (
            [DUE, &["--holidays", malformed]].concat(),
            "bad.json: malformed bank-holiday feed",
        ),
        (
            vec![
                "calendar",
                "due",
                "--from",
                "24/12/2024 18:00",
                "--after",
                "1 working day",
            ],
            "'24/12/2024 18:00' is not an RFC 3339 time",
        ),
        (
            vec![
                "calendar",
                "due",
                "--from",
                "2024-12-24T18:00:00Z",
                "--after",
                "3 wrking days",
            ],
            "invalid duration '3 wrking days'",
        ),
        (
            vec![
                "calendar",
                "due",
                "--from",
                "2024-12-24T18:00:00Z",
                "--after",
                "1.5 days",
            ],
            "invalid duration '1.5 days'",
        ),
        (
            vec!["calendar", "due", "--after", "1 working day"],
            "--from",
        ),
        (vec!["calendar", "holidays", "--year", "1066"], "1066"),
        (
            [&["--config", "/nonexistent.toml"], DUE].concat(),
            "/nonexistent.toml does not exist",
        ),
    ];
    for (args, wanted) in cases {
        assert_one_line_error(&escalate(&args, &[]), wanted);
    }
    assert_one_line_error(
        &escalate(DUE, &[("ESCALATE_CALENDAR__TIME_ZONE", "Mars/Olympus")]),
        "'Mars/Olympus' is not an IANA time zone",
    );
}
