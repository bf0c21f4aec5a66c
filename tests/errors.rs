//! Errors and exit codes as the README states them: one line on stderr (`file:line:col:
//! message` for a file that does not parse), paths in a configuration file relative to it, a
//! closed pipe ending quietly, and `case list` saying what is due next.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{TestDb, assert_one_line_error, escalate, json, stderr, stdout};

const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// Runs escalate in `dir` with only the given `ESCALATE_*` variables.
fn escalate_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_escalate"));
    cmd.args(args).current_dir(dir);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("ESCALATE_")) {
        cmd.env_remove(k);
    }
    cmd.env("ESCALATE_ENGINE__ALLOW_FUTURE", "true");
    cmd.envs(env.iter().copied());
    cmd.output().unwrap()
}

#[test]
fn a_configuration_file_that_does_not_parse_is_one_line_naming_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("escalate.toml");
    let config = file.to_str().unwrap();
    std::fs::write(
        &file,
        "smtp_url = \"file://mail\"\n[calendar\ncutoff = \"16:30\"\n",
    )
    .unwrap();
    let o = escalate(&["--config", config, "workflows", "check"], &[]);
    assert_one_line_error(&o, &format!("{config}:2:10: unclosed table, expected `]`"));

    // A value of the wrong type: where it is written.
    std::fs::write(&file, "[engine]\n\nlease_seconds = \"sixty\"\n").unwrap();
    let o = escalate(&["--config", config, "workflows", "check"], &[]);
    assert_one_line_error(&o, &format!("{config}:3:1: invalid type: string \"sixty\""));

    // An unknown key in a table.
    std::fs::write(&file, "[mail]\nfrom_nmae = \"x\"\n").unwrap();
    let o = escalate(&["--config", config, "workflows", "check"], &[]);
    assert_one_line_error(&o, &format!("{config}:1:2: unknown field `from_nmae`"));

    // A variable's mistake is not blamed on the file.
    let o = escalate(
        &["workflows", "check"],
        &[("ESCALATE_ENGINE__LEASE_SECONDS", "sixty")],
    );
    assert_one_line_error(
        &o,
        "escalate: configuration: invalid type: string \"sixty\", expected an integer for key `engine.lease_seconds` in the environment",
    );
}

#[test]
fn an_agency_directory_that_does_not_parse_is_one_line_naming_file_line_and_column() {
    let db = TestDb::sqlite();
    let env = [("ESCALATE_DATABASE_URL", db.url.as_str())];
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("agencies.yaml");
    let path = file.to_str().unwrap();
    std::fs::write(
        &file,
        "partnership:\n  name: Partnership\n  practitioner: [\n",
    )
    .unwrap();
    let o = escalate(&["agencies", "import", path], &env);
    assert_one_line_error(&o, &format!("escalate: {path}:3:17: unclosed bracket '['"));

    std::fs::write(&file, "partnership:\n  name: Partnership\n  adress: here\n").unwrap();
    let o = escalate(&["agencies", "import", path], &env);
    assert_one_line_error(&o, &format!("escalate: {path}:3:3: unknown field `adress`"));

    // Checked after parsing: the entry is named, and a quoted value cannot break the line.
    std::fs::write(
        &file,
        "partnership:\n  name: Partnership\nagencies:\n  - name: School\n    id: \"a\\nb\"\n",
    )
    .unwrap();
    let o = escalate(&["agencies", "import", path], &env);
    assert_one_line_error(
        &o,
        &format!("escalate: {path}: agencies[0].id: 'a\\nb' must be letters"),
    );
}

/// A deployment directory `conf/` whose file names its paths relative to itself.
fn deployment() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let conf = root.path().join("conf");
    std::fs::create_dir_all(conf.join("wf")).unwrap();
    std::fs::copy(
        Path::new(REPO).join("workflows/dispute.yaml"),
        conf.join("wf/dispute.yaml"),
    )
    .unwrap();
    std::fs::create_dir(conf.join("tpl")).unwrap();
    for entry in std::fs::read_dir(Path::new(REPO).join("config/templates")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), conf.join("tpl").join(entry.file_name())).unwrap();
    }
    // The official feed with one holiday renamed, to see that this file is the one read.
    let feed = std::fs::read_to_string(Path::new(REPO).join("config/bank-holidays.json"))
        .unwrap()
        .replace("Boxing Day", "Boxing Day (from conf)");
    std::fs::write(conf.join("holidays.json"), feed).unwrap();
    std::fs::write(
        conf.join("escalate.toml"),
        "database_url = \"sqlite://data.db\"\n\
         smtp_url = \"file://outgoing\"\n\
         bank_holidays = \"holidays.json\"\n\
         workflows_dir = \"./wf\"\n\
         templates_dir = \"../conf/tpl\"\n",
    )
    .unwrap();
    root
}

#[test]
fn paths_in_a_configuration_file_are_relative_to_it() {
    let root = deployment();
    let conf = root.path().join("conf");
    let config = conf.join("escalate.toml");
    let config = config.to_str().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let o = escalate_in(
            elsewhere.path(),
            &[&["--config", config], args].concat(),
            &[],
        );
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        stdout(&o)
    };
    let checked = run(&["workflows", "check"]);
    assert!(checked.starts_with("dispute: ok"), "{checked}");
    assert_eq!(
        checked.lines().count(),
        1,
        "only conf/wf is read: {checked}"
    );
    let holidays = run(&["calendar", "holidays", "--year", "2025"]);
    assert!(holidays.contains("Boxing Day (from conf)"), "{holidays}");
    run(&["migrate"]);
    run(&["tick", "--now", "2026-11-02T09:00:00Z"]);
    assert!(conf.join("data.db").is_file());
    assert!(conf.join("outgoing").is_dir());
    assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0);

    // Relative to the file wherever --config itself is given from.
    let o = escalate_in(
        &conf,
        &["--config", "escalate.toml", "workflows", "check"],
        &[],
    );
    assert!(stdout(&o).starts_with("dispute: ok"), "{}", stderr(&o));

    // A variable stays relative to where escalate runs, as a shell user expects.
    std::fs::create_dir(elsewhere.path().join("mine")).unwrap();
    for name in ["dispute.yaml", "referral.yaml"] {
        std::fs::copy(
            Path::new(REPO).join("workflows").join(name),
            elsewhere.path().join("mine").join(name),
        )
        .unwrap();
    }
    let o = escalate_in(
        elsewhere.path(),
        &["--config", config, "workflows", "check"],
        &[("ESCALATE_WORKFLOWS_DIR", "mine")],
    );
    assert!(stdout(&o).contains("\nreferral: ok"), "{}", stdout(&o));
}

#[test]
fn the_shipped_configuration_works_from_any_directory() {
    let elsewhere = tempfile::tempdir().unwrap();
    let config = format!("{REPO}/config/escalate.toml");
    let o = escalate_in(
        elsewhere.path(),
        &["--config", &config, "workflows", "check"],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).lines().count(), 3, "{}", stdout(&o));
    let o = escalate_in(
        elsewhere.path(),
        &[
            "--config", &config, "calendar", "holidays", "--year", "2025",
        ],
        &[],
    );
    assert!(
        stdout(&o).contains(&format!("{REPO}/config/bank-holidays.json")),
        "{}",
        stdout(&o)
    );
    // Run from the repository, the default file is found and its paths read as before.
    let o = escalate(&["calendar", "holidays", "--year", "2025"], &[]);
    assert!(
        stdout(&o).contains("(config/bank-holidays.json, "),
        "{}",
        stdout(&o)
    );
}

/// Runs escalate with its standard output a pipe whose reader has already gone, as in
/// `escalate … | head -0`.
fn into_closed_pipe(args: &[&str], env: &[(&str, &str)]) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_escalate"));
    cmd.args(args)
        .current_dir(REPO)
        .stdout(writer)
        .stderr(Stdio::piped());
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("ESCALATE_")) {
        cmd.env_remove(k);
    }
    cmd.env("ESCALATE_ENGINE__ALLOW_FUTURE", "true");
    cmd.envs(env.iter().copied());
    cmd.output().unwrap()
}

fn open_dispute(env: &[(&str, &str)], now: &str) -> String {
    let o = escalate(
        &[
            "case",
            "open",
            "--workflow",
            "dispute",
            "--data",
            "examples/dispute.json",
            "--by",
            "priya.shah@school.example.org",
            "--now",
            now,
            "--json",
        ],
        env,
    );
    json(&o)["reference"].as_str().unwrap().to_string()
}

#[test]
fn a_closed_pipe_ends_quietly() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let mail = format!("file://{}", dir.path().display());
    let env = [
        ("ESCALATE_DATABASE_URL", db.url.as_str()),
        ("ESCALATE_SMTP_URL", mail.as_str()),
    ];
    open_dispute(&env, "2026-11-02T09:00:00Z");
    open_dispute(&env, "2026-11-02T09:30:00Z");
    for args in [
        &["calendar", "holidays", "--year", "2025"][..],
        &["workflows", "show", "dispute"],
        &["case", "list"],
        &["case", "list", "--json"],
        &["tick", "--verbose", "--now", "2026-11-05T09:00:00Z"],
    ] {
        let o = into_closed_pipe(args, &env);
        assert_eq!(
            (o.status.code(), stderr(&o)),
            (Some(0), String::new()),
            "{args:?}"
        );
    }
    // The tick did its work although nobody read its report.
    let listed = json(&escalate(&["case", "list", "--json"], &env));
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["state"] == "stage2"),
        "{listed}"
    );
}

#[test]
fn who_acts_must_be_an_email_address() {
    let db = TestDb::sqlite();
    let env = [("ESCALATE_DATABASE_URL", db.url.as_str())];
    let reference = open_dispute(&env, "2026-11-02T09:00:00Z");
    for by in ["", "  ", "priya", "engine", "a@b@c"] {
        let o = escalate(&["case", "event", &reference, "note", "--by", by], &env);
        assert_eq!(o.status.code(), Some(2), "{by:?}: {}", stderr(&o));
        assert_eq!(stderr(&o).lines().count(), 1, "{by:?}: {}", stderr(&o));
        let o = escalate(
            &[
                "case",
                "open",
                "--workflow",
                "dispute",
                "--data",
                "examples/dispute.json",
                "--by",
                by,
            ],
            &env,
        );
        assert_eq!(o.status.code(), Some(2), "{by:?}: {}", stderr(&o));
        assert_eq!(stderr(&o).lines().count(), 1, "{by:?}: {}", stderr(&o));
    }
}

#[test]
fn outbox_list_takes_a_reference_in_any_case() {
    for db in TestDb::all() {
        let env = [("ESCALATE_DATABASE_URL", db.url.as_str())];
        let reference = open_dispute(&env, "2026-11-02T09:00:00Z");
        let o = escalate(
            &[
                "case",
                "event",
                &reference,
                "escalate",
                "--by",
                "priya.shah@school.example.org",
                "--reason",
                "No reply",
                "--now",
                "2026-11-02T10:00:00Z",
            ],
            &env,
        );
        assert!(o.status.success(), "{}", stderr(&o));
        let upper = json(&escalate(
            &["outbox", "list", "--case", &reference, "--json"],
            &env,
        ));
        let lower = json(&escalate(
            &[
                "outbox",
                "list",
                "--case",
                &reference.to_lowercase(),
                "--json",
            ],
            &env,
        ));
        assert!(!upper.as_array().unwrap().is_empty());
        assert_eq!(upper, lower);
        let o = escalate(&["outbox", "list", "--case", "DSP-2026"], &env);
        assert_one_line_error(&o, "is not a case reference");
    }
}

#[test]
fn a_mail_directory_that_cannot_be_made_is_named() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("a-file");
    std::fs::write(&blocker, "").unwrap();
    let mail_dir = blocker.join("mail");
    let url = format!("file://{}", mail_dir.display());
    let env = [
        ("ESCALATE_DATABASE_URL", db.url.as_str()),
        ("ESCALATE_SMTP_URL", url.as_str()),
    ];
    let o = escalate(&["tick", "--now", "2026-11-02T09:00:00Z"], &env);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!("cannot create {}: ", mail_dir.display())),
        "{err}"
    );
}

#[test]
fn case_list_shows_local_time_and_the_next_deadline_and_how_overdue_it_is() {
    for db in TestDb::all() {
        let env = [("ESCALATE_DATABASE_URL", db.url.as_str())];
        let reference = open_dispute(&env, "2026-11-02T09:00:00Z");
        // Before anything is due.
        let o = escalate(&["case", "list", "--now", "2026-11-02T12:00:00Z"], &env);
        assert!(o.status.success(), "{}", stderr(&o));
        let listed = stdout(&o);
        let lines: Vec<&str> = listed.lines().collect();
        assert_eq!(lines.len(), 3, "{listed}");
        assert!(lines[0].starts_with(&reference), "{listed}");
        assert!(
            lines[0].ends_with("opened Mon 2 Nov 2026 09:00 GMT (2026-11-02T09:00:00Z)"),
            "{listed}"
        );
        assert_eq!(
            lines[1],
            "    next: stage1 deadline Wed 4 Nov 2026 17:00 GMT (2026-11-04T17:00:00Z)"
        );
        assert_eq!(
            lines[2],
            "          Due Wed 4 Nov 2026 17:00 GMT: received on Mon 2 Nov at 09:00, before the 17:00 cut-off"
        );
        // A day and a bit later, nobody having ticked.
        let o = escalate(&["case", "list", "--now", "2026-11-05T19:30:00Z"], &env);
        assert!(
            stdout(&o).contains("(2026-11-04T17:00:00Z); overdue: due 1 day 2 hours ago\n"),
            "{}",
            stdout(&o)
        );
        let listed = json(&escalate(
            &["case", "list", "--now", "2026-11-05T19:30:00Z", "--json"],
            &env,
        ));
        let next = &listed[0]["next_deadline"];
        assert_eq!(next["slot"], "stage1");
        assert_eq!(next["kind"], "lapse");
        assert_eq!(next["due"], "2026-11-04T17:00:00Z");
        assert_eq!(next["due_local"], "Wed 4 Nov 2026 17:00 GMT");
        assert_eq!(next["overdue"], true);
        assert_eq!(next["overdue_seconds"], 95400);
        assert!(
            next["explanation"]
                .as_str()
                .unwrap()
                .starts_with("Due Wed 4 Nov 2026 17:00 GMT")
        );
        assert_eq!(listed[0]["opened_local"], "Mon 2 Nov 2026 09:00 GMT");
        // A closed case has no next deadline.
        let o = escalate(
            &[
                "case",
                "event",
                &reference,
                "withdraw",
                "--by",
                "priya.shah@school.example.org",
                "--reason",
                "Agreed",
                "--now",
                "2026-11-02T13:00:00Z",
            ],
            &env,
        );
        assert!(o.status.success(), "{}", stderr(&o));
        let listed = json(&escalate(&["case", "list", "--json"], &env));
        assert_eq!(listed[0]["next_deadline"], serde_json::Value::Null);
        let o = escalate(&["case", "list"], &env);
        assert_eq!(stdout(&o).lines().count(), 1, "{}", stdout(&o));
    }
}
