//! A closed case still takes the record-only events its workflow lists under `after_close`
//! (the monitoring form, notes), and stays closed; nothing else.

mod common;

use common::{TestDb, escalate, json, stderr, stdout};

const RAISER: &str = "priya.shah@school.example.org";

#[test]
fn a_closed_dispute_takes_the_form_and_notes_and_stays_closed() {
    for db in TestDb::all() {
        let env = [("ESCALATE_DATABASE_URL", db.url.as_str())];
        let run = |args: &[&str]| escalate(args, &env);
        let o = run(&[
            "case",
            "open",
            "--workflow",
            "dispute",
            "--data",
            "examples/dispute.json",
            "--by",
            RAISER,
            "--now",
            "2026-11-02T09:00:00Z",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let o = run(&[
            "case",
            "event",
            "DSP-2026-000001",
            "withdraw",
            "--by",
            RAISER,
            "--reason",
            "Agreed on the phone",
            "--now",
            "2026-11-02T10:00:00Z",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let closed = json(&run(&["case", "show", "DSP-2026-000001", "--json"]));
        assert_eq!(closed["state"], "withdrawn");

        for (event, field) in [
            ("record_form", "learning=Phone first next time"),
            ("note", "text=Shared with the DSL network"),
        ] {
            let o = run(&[
                "case",
                "event",
                "DSP-2026-000001",
                event,
                "--by",
                RAISER,
                "--field",
                field,
                "--now",
                "2026-11-03T10:00:00Z",
            ]);
            assert!(o.status.success(), "{event}: {}", stderr(&o));
        }
        let after = json(&run(&["case", "show", "DSP-2026-000001", "--json"]));
        assert_eq!(after["state"], "withdrawn");
        assert_eq!(after["closed_at"], closed["closed_at"]);
        assert_eq!(after["outcome"], closed["outcome"]);
        assert_eq!(after["history"].as_array().unwrap().len(), 4);

        // Anything that would move it is still refused.
        let o = run(&[
            "case",
            "event",
            "DSP-2026-000001",
            "escalate",
            "--by",
            RAISER,
            "--reason",
            "x",
            "--now",
            "2026-11-03T11:00:00Z",
        ]);
        assert_eq!(o.status.code(), Some(1));
        assert_eq!(
            stderr(&o),
            "escalate: the case is closed (withdrawn); it takes no more events\n"
        );
        let o = run(&["audit", "verify"]);
        assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    }
}

#[test]
fn after_close_may_name_only_record_only_events() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string("workflows/dispute.yaml")
        .unwrap()
        .replace(
            "after_close: [record_form, note]",
            "after_close: [record_form, resolve, nonsense]",
        );
    std::fs::write(dir.path().join("dispute.yaml"), text).unwrap();
    let o = escalate(
        &["workflows", "check", dir.path().to_str().unwrap()],
        &[("ESCALATE_TEMPLATES_DIR", "config/templates")],
    );
    assert_eq!(o.status.code(), Some(1));
    // `workflows check` lists its findings on standard output.
    let err = stdout(&o);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(
        lines[0].contains("dispute.yaml:")
            && lines[0].ends_with(
                "after_close event 'resolve' must only record (no `to`, no `opens`): a closed case does not move"
            ),
        "{err}"
    );
    assert!(
        lines[1].ends_with("after_close names 'nonsense', which is no event"),
        "{err}"
    );
}
