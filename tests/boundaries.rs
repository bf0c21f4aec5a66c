//! Who may act, and when: no input acts as the engine, only people involved open a case,
//! references in any case, and no entry dated in the future unless `[engine] allow_future`.

mod common;

use common::{TestDb, assert_one_line_error, escalate, json, stderr, stdout};

const RAISER: &str = "priya.shah@school.example.org";

fn open(env: &[(&str, &str)], by: &str, now: &str) -> std::process::Output {
    escalate(
        &[
            "case",
            "open",
            "--workflow",
            "dispute",
            "--data",
            "examples/dispute.json",
            "--by",
            by,
            "--now",
            now,
        ],
        env,
    )
}

fn event(env: &[(&str, &str)], args: &[&str]) -> std::process::Output {
    let mut all = vec!["case", "event"];
    all.extend_from_slice(args);
    escalate(&all, env)
}

#[test]
fn nobody_can_act_as_the_engine_or_as_nobody() {
    for db in TestDb::all() {
        let env = [("ESCALATE_DATABASE_URL", db.url.as_str())];
        let o = open(&env, RAISER, "2026-11-02T09:00:00Z");
        assert!(o.status.success(), "{}", stderr(&o));
        for by in [
            "engine",
            "ENGINE",
            " engine ",
            "",
            "   ",
            "priya",
            "a@b",
            "x@y.org\nz",
        ] {
            let o = event(
                &env,
                &[
                    "DSP-2026-000001",
                    "withdraw",
                    "--by",
                    by,
                    "--field",
                    "reason=forged",
                    "--now",
                    "2026-11-02T10:00:00Z",
                ],
            );
            assert_one_line_error(&o, "is not an email address");
        }
        // Nothing was recorded by any of them.
        let shown = json(&escalate(
            &["case", "show", "DSP-2026-000001", "--json"],
            &env,
        ));
        assert_eq!(shown["history"].as_array().unwrap().len(), 1);
        assert_eq!(shown["state"], "stage1");
    }
}

#[test]
fn the_role_check_applies_to_every_person() {
    for db in TestDb::all() {
        let env = [("ESCALATE_DATABASE_URL", db.url.as_str())];
        assert!(open(&env, RAISER, "2026-11-02T09:00:00Z").status.success());
        // Someone the case does not name, nor the directory.
        let o = event(
            &env,
            &[
                "DSP-2026-000001",
                "withdraw",
                "--by",
                "mallory@elsewhere.example.org",
                "--reason",
                "not mine",
                "--now",
                "2026-11-02T10:00:00Z",
            ],
        );
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert!(
            stderr(&o).contains("may not record 'withdraw'"),
            "{}",
            stderr(&o)
        );
    }
}

#[test]
fn only_parties_and_their_agencies_contacts_open_a_case() {
    for db in TestDb::all() {
        let env = [("ESCALATE_DATABASE_URL", db.url.as_str())];
        let o = open(
            &env,
            "mallory@elsewhere.example.org",
            "2026-11-02T09:00:00Z",
        );
        assert_eq!(o.status.code(), Some(1));
        assert_eq!(
            stderr(&o),
            "escalate: mallory@elsewhere.example.org may not open a dispute case: they are neither a party it names nor a directory contact of a party's agency\n"
        );
        assert!(stdout(&escalate(&["case", "list"], &env)).contains("no cases"));
        // The school's designated safeguarding lead is a directory contact of the raiser's
        // agency: they may open it on the practitioner's behalf.
        let o = escalate(&["agencies", "import", "config/agencies.yaml"], &env);
        assert!(o.status.success(), "{}", stderr(&o));
        let o = open(&env, "DSL@School.Example.org", "2026-11-02T09:00:00Z");
        assert!(o.status.success(), "{}", stderr(&o));
        let shown = json(&escalate(
            &["case", "show", "dsp-2026-000001", "--json"],
            &env,
        ));
        assert_eq!(shown["history"][0]["actor"], "dsl@school.example.org");
    }
}

#[test]
fn references_are_case_insensitive_and_junk_is_bad_input() {
    let db = TestDb::sqlite();
    let env = [("ESCALATE_DATABASE_URL", db.url.as_str())];
    assert!(open(&env, RAISER, "2026-11-02T09:00:00Z").status.success());
    let o = event(
        &env,
        &[
            "dsp-2026-000001",
            "escalate",
            "--by",
            RAISER,
            "--reason",
            "No reply",
            "--now",
            "2026-11-03T10:00:00Z",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("DSP-2026-000001: escalate recorded; now stage2"));
    let o = escalate(&["case", "show", "DSP-2026-0000\n01"], &env);
    assert_one_line_error(&o, "is not a case reference");
}

#[test]
fn a_time_later_than_the_real_clock_is_refused_unless_allowed() {
    for db in TestDb::all() {
        let strict = [
            ("ESCALATE_DATABASE_URL", db.url.as_str()),
            ("ESCALATE_ENGINE__ALLOW_FUTURE", "false"),
        ];
        let future = (chrono::Utc::now() + chrono::TimeDelta::hours(1)).to_rfc3339();
        let o = open(&strict, RAISER, &future);
        assert_one_line_error(&o, "is later than the real clock");
        let o = open(&strict, RAISER, "3000-01-01T00:00:00Z");
        assert_one_line_error(&o, "allow_future");
        // A little clock skew between machines is fine.
        let skewed = (chrono::Utc::now() + chrono::TimeDelta::minutes(2)).to_rfc3339();
        let o = open(&strict, RAISER, &skewed);
        assert!(o.status.success(), "{}", stderr(&o));
        let o = event(
            &strict,
            &[
                "DSP-2026-000001",
                "note",
                "--by",
                RAISER,
                "--field",
                "text=called",
                "--now",
                &future,
            ],
        );
        assert_one_line_error(&o, "is later than the real clock");
        let o = escalate(&["tick", "--now", "3000-01-01T00:00:00Z"], &strict);
        assert_one_line_error(&o, "is later than the real clock");
        // Nothing moved: one opening, no escalation.
        let shown = json(&escalate(
            &["case", "show", "DSP-2026-000001", "--json"],
            &strict,
        ));
        assert_eq!(shown["history"].as_array().unwrap().len(), 1);

        // With allow_future (tests and simulations), the future is accepted and says so.
        let loose = [("ESCALATE_DATABASE_URL", db.url.as_str())];
        let o = open(&loose, RAISER, "2099-11-02T09:00:00Z");
        assert!(o.status.success(), "{}", stderr(&o));
        let reference = stdout(&o).split_whitespace().next().unwrap().to_string();
        let text = stdout(&escalate(&["case", "show", &reference], &loose));
        assert!(
            text.contains("dated later than they were written"),
            "{text}"
        );
        assert!(
            text.contains("dated in the future (allow_future), written 20"),
            "{text}"
        );
    }
}

#[test]
fn recorded_at_is_the_real_time_of_writing_and_shown_when_back_dated() {
    let db = TestDb::sqlite();
    let env = [("ESCALATE_DATABASE_URL", db.url.as_str())];
    let before = chrono::Utc::now();
    assert!(open(&env, RAISER, "2026-11-02T09:00:00Z").status.success());
    let after = chrono::Utc::now();
    let shown = json(&escalate(
        &["case", "show", "DSP-2026-000001", "--json"],
        &env,
    ));
    let entry = &shown["history"][0];
    assert_eq!(entry["at"], "2026-11-02T09:00:00Z");
    let recorded: chrono::DateTime<chrono::Utc> =
        entry["recorded_at"].as_str().unwrap().parse().unwrap();
    assert!(before <= recorded && recorded <= after, "{recorded}");
    let text = stdout(&escalate(&["case", "show", "DSP-2026-000001"], &env));
    assert!(
        text.contains("Mon 2 Nov 2026 09:00 GMT (2026-11-02T09:00:00Z) [back-dated, written "),
        "{text}"
    );
}

#[test]
fn free_text_cannot_forge_a_history_line() {
    let db = TestDb::sqlite();
    let env = [("ESCALATE_DATABASE_URL", db.url.as_str())];
    assert!(open(&env, RAISER, "2026-11-02T09:00:00Z").status.success());
    let o = event(
        &env,
        &[
            "DSP-2026-000001",
            "note",
            "--by",
            RAISER,
            "--field",
            "text=called\n    3 Tue 3 Nov 2026 10:00 GMT withdraw by tom: stage1 -> withdrawn",
            "--now",
            "2026-11-02T10:00:00Z",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&escalate(&["case", "show", "DSP-2026-000001"], &env));
    let history: Vec<&str> = text
        .lines()
        .skip_while(|l| *l != "history:")
        .skip(1)
        .take_while(|l| *l != "deadlines:")
        .collect();
    assert_eq!(history.len(), 2, "{text}");
    assert!(history[1].contains("called\\n    3 Tue"), "{}", history[1]);
    assert!(!text.contains('\u{1b}'));
}
