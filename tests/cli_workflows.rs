//! `escalate workflows check|show|simulate`, run as a user would.

mod common;

use common::{assert_one_line_error, escalate, json, stderr, stdout};

#[test]
fn check_passes_the_shipped_workflows() {
    let o = escalate(&["workflows", "check"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    for id in ["dispute", "referral", "transfer"] {
        assert!(out.contains(&format!("{id}: ok (")), "{out}");
    }
}

#[test]
fn check_reports_each_problem_of_each_file_as_file_line_col() {
    let dir = tempfile::tempdir().unwrap();
    let shipped = std::fs::read_to_string("workflows/dispute.yaml").unwrap();
    // Two mistakes in one file, a syntax error in another.
    let broken = shipped
        .replacen("within: 5 working days", "within: 5 wrking days", 1)
        .replacen("to: stage3", "to: stage33", 1);
    std::fs::write(dir.path().join("dispute.yaml"), &broken).unwrap();
    std::fs::write(
        dir.path().join("other.yaml"),
        "id: other\ntitle: [unclosed\n",
    )
    .unwrap();
    let d = dir.path().to_str().unwrap();
    let o = escalate(&["workflows", "check", d], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    let line_of = |needle: &str| broken.lines().position(|l| l.contains(needle)).unwrap() + 1;
    let dispute = format!("{d}/dispute.yaml");
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines[0].starts_with(&format!(
            "{dispute}:{}:13: invalid duration '5 wrking days'",
            line_of("5 wrking days")
        )),
        "{out}"
    );
    assert!(
        lines[1].starts_with(&format!(
            "{dispute}:{}:13: event 'escalate' goes to state 'stage33'",
            line_of("stage33")
        )),
        "{out}"
    );
    assert!(lines[2].starts_with(&format!("{d}/other.yaml:")), "{out}");
}

#[test]
fn check_of_a_missing_directory_is_one_line() {
    let o = escalate(&["workflows", "check", "no/such/dir"], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stdout(&o),
        "no/such/dir:1:1: is not a directory of workflow files\n"
    );
}

#[test]
fn show_outlines_states_deadlines_and_who_may_act() {
    let o = escalate(&["workflows", "show", "dispute"], &[]);
    let out = stdout(&o);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        out.starts_with("dispute: Professional disagreement (version 1, sha256:"),
        "{out}"
    );
    assert!(out.contains("  stage2: Stage 2: line managers or designated safeguarding leads [owners: line_manager]"), "{out}");
    assert!(
        out.contains("due within 5 working days of entering; warning 1 working day before"),
        "{out}"
    );
    assert!(
        out.contains(
            "on entry: form monitoring_form to raiser, respondent, senior_manager, partnership"
        ),
        "{out}"
    );
    assert!(out.contains("close_unresolved -> unresolved"), "{out}");
    assert!(
        out.contains("  resolved: Resolved [terminal, outcome resolved]"),
        "{out}"
    );
}

#[test]
fn show_of_an_unknown_workflow_names_the_known_ones() {
    let o = escalate(&["workflows", "show", "complaint"], &[]);
    assert_one_line_error(
        &o,
        "no workflow 'complaint'; there are: dispute, referral, transfer",
    );
}

#[test]
fn simulate_dispute_lists_every_warning_lapse_and_escalation_with_dates() {
    let o = escalate(
        &[
            "workflows",
            "simulate",
            "dispute",
            "--from",
            "2026-11-02T09:00:00Z",
            "--json",
        ],
        &[],
    );
    let steps = json(&o);
    let summary: Vec<(String, String, String, String)> = steps
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["at"].as_str().unwrap().to_string(),
                s["kind"].as_str().unwrap().to_string(),
                s["from"].as_str().unwrap().to_string(),
                s["to"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected = [
        ("2026-11-02T09:00:00Z", "open", "", "stage1"),
        ("2026-11-03T17:00:00Z", "warning", "stage1", "stage1"),
        ("2026-11-04T17:00:00Z", "escalation", "stage1", "stage2"),
        ("2026-11-11T17:00:00Z", "warning", "stage2", "stage2"),
        ("2026-11-12T17:00:00Z", "escalation", "stage2", "stage3"),
        ("2026-11-19T17:00:00Z", "warning", "stage3", "stage3"),
        ("2026-11-20T17:00:00Z", "escalation", "stage3", "stage4"),
        // 10 working days from Mon 23 Nov 2026.
        ("2026-12-04T17:00:00Z", "warning", "stage4", "stage4"),
        ("2026-12-07T17:00:00Z", "lapse", "stage4", "stage4"),
        // Reminded again 5 working days after each lapse (a lapse at 17:00 counts from the
        // next working day), shown twice.
        ("2026-12-15T17:00:00Z", "lapse", "stage4", "stage4"),
        ("2026-12-23T17:00:00Z", "lapse", "stage4", "stage4"),
    ]
    .map(|(a, b, c, d)| (a.to_string(), b.to_string(), c.to_string(), d.to_string()));
    assert_eq!(summary, expected);
    assert_eq!(steps[2]["actor"], "engine");
    assert_eq!(steps[2]["reason"], "Stage 1 timescale lapsed");
    assert_eq!(steps[4]["sends"][1]["kind"], "form");
    assert_eq!(steps[4]["sends"][1]["template"], "monitoring_form");
    assert_eq!(
        steps[8]["sends"][0]["to"],
        serde_json::json!(["partnership"])
    );
}

#[test]
fn simulate_prints_a_readable_timeline() {
    let o = escalate(
        &[
            "workflows",
            "simulate",
            "transfer",
            "--from",
            "2026-12-01T10:00:00Z",
        ],
        &[],
    );
    let out = stdout(&o);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        out.contains("Tue 1 Dec 2026 10:00 GMT  opened in notified"),
        "{out}"
    );
    assert!(
        out.contains("Tue 8 Dec 2026 17:00 GMT  agencies_informed deadline lapsed"),
        "{out}"
    );
    assert!(
        out.contains("Tue 22 Dec 2026 17:00 GMT  notified deadline lapsed"),
        "{out}"
    );
    assert!(
        out.contains("email transfer_decision_due to receiving, receiving_manager, originating"),
        "{out}"
    );
}

#[test]
fn simulate_with_bad_data_is_one_line_naming_the_file_or_field() {
    let dir = tempfile::tempdir().unwrap();
    let bad_json = dir.path().join("bad.json");
    std::fs::write(&bad_json, "{\n  \"category\": \"threshold\",\n}\n").unwrap();
    let o = escalate(
        &[
            "workflows",
            "simulate",
            "dispute",
            "--from",
            "2026-11-02T09:00:00Z",
            "--data",
            bad_json.to_str().unwrap(),
        ],
        &[],
    );
    assert_one_line_error(&o, &format!("{}:3:1: invalid JSON", bad_json.display()));

    let missing = dir.path().join("missing.json");
    std::fs::write(&missing, "{\"category\": \"threshold\"}").unwrap();
    let o = escalate(
        &[
            "workflows",
            "simulate",
            "dispute",
            "--from",
            "2026-11-02T09:00:00Z",
            "--data",
            missing.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "bad data is bad input");
    assert_eq!(stderr(&o), "escalate: case data: summary: is required\n");
}
