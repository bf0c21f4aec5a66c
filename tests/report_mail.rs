//! The monthly report by email: through the outbox to `[report] recipients`, each once per
//! month whoever queues it (`report monthly --send`, the monthly job, two `serve` replicas),
//! with its chart as an inline PNG that shows the figures, the CSV attached exactly as
//! `report monthly --format csv` prints it, the audit checkpoint's root, and nothing typed
//! into a case.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use common::{MimePart, SmtpServer, TestDb, escalate, json, mime_parts, stderr, stdout};
use serde_json::{Value, json};

const RAISER: &str = "priya.shah@school.example.org";
const RECIPIENTS: &str = "board@partnership.example.org, Chair@Partnership.example.org";
const SUBJECT: &str = "Subject: Professional disagreements: monthly report for October 2026";
/// Typed into every seeded case's summary: it must never reach the report.
const CHILD: &str = "Jayden Okafor";

fn ok(env: &[(&str, &str)], args: &[&str]) -> String {
    let o = escalate(args, env);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    stdout(&o)
}

/// Opens a dispute at `now` whose summary names a child; returns its reference.
fn dispute(env: &[(&str, &str)], dir: &std::path::Path, now: &str) -> String {
    let mut data: Value =
        serde_json::from_str(&std::fs::read_to_string("examples/dispute.json").unwrap()).unwrap();
    data["summary"] = json!(format!("{CHILD} has missed school for three weeks."));
    let file = dir.join(format!("{now}.json"));
    std::fs::write(&file, data.to_string()).unwrap();
    let out = ok(
        env,
        &[
            "case",
            "open",
            "--workflow",
            "dispute",
            "--data",
            file.to_str().unwrap(),
            "--by",
            RAISER,
            "--now",
            now,
        ],
    );
    out.split_whitespace().next().unwrap().to_string()
}

/// September 2026: one dispute opened (Mon 7th) and resolved (Tue 8th, before its stage-1
/// deadline). October 2026: three opened (5th, 6th, 7th), none closed. So the 12-month series
/// to October: opened Sep 1, Oct 3; resolved Sep 1; open at month end Sep 0, Oct 3; every
/// other month 0.
fn seed(env: &[(&str, &str)], dir: &std::path::Path) {
    let a = dispute(env, dir, "2026-09-07T09:00:00Z");
    ok(
        env,
        &[
            "case",
            "event",
            &a,
            "resolve",
            "--by",
            RAISER,
            "--reason",
            "Agreed",
            "--field",
            "outcome=resolved",
            "--now",
            "2026-09-08T10:00:00Z",
        ],
    );
    for day in ["05", "06", "07"] {
        dispute(env, dir, &format!("2026-10-{day}T09:00:00Z"));
    }
}

/// The report mails the server accepted, by recipient.
fn report_mails(server: &SmtpServer) -> Vec<String> {
    server
        .messages()
        .into_iter()
        .filter(|m| m.contains(SUBJECT))
        .collect()
}

/// Each bar of colour `rgb` in the chart, left to right, as (its left column, its height in
/// pixels): runs of columns whose lowest pixel of that colour sits on the baseline (the
/// lowest such pixel anywhere), so the legend's swatch is not taken for a bar.
fn bars(png_bytes: &[u8], rgb: (u8, u8, u8)) -> Vec<(u32, u32)> {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    let (w, h) = (info.width, info.height);
    let pixel = |x: u32, y: u32| {
        let i = ((y * w + x) * 3) as usize;
        (buf[i], buf[i + 1], buf[i + 2])
    };
    // Per column: the topmost and lowest pixel of the colour.
    let columns: Vec<Option<(u32, u32)>> = (0..w)
        .map(|x| {
            let ys: Vec<u32> = (0..h).filter(|&y| pixel(x, y) == rgb).collect();
            Some((*ys.first()?, *ys.last()?))
        })
        .collect();
    let Some(baseline) = columns.iter().flatten().map(|c| c.1).max() else {
        return Vec::new();
    };
    let mut out: Vec<(u32, u32)> = Vec::new();
    let mut previous = false;
    for (x, c) in columns.iter().enumerate() {
        match c {
            Some((top, bottom)) if *bottom == baseline => {
                let height = baseline + 1 - top;
                match out.last_mut() {
                    Some(bar) if previous => bar.1 = bar.1.max(height),
                    _ => out.push((x as u32, height)),
                }
                previous = true;
            }
            _ => previous = false,
        }
    }
    out
}

fn part<'a>(parts: &'a [MimePart], content_type: &str) -> &'a MimePart {
    parts
        .iter()
        .find(|p| p.content_type == content_type)
        .unwrap_or_else(|| panic!("no {content_type} part"))
}

#[test]
fn the_report_mail_carries_the_chart_the_csv_and_the_checkpoint_root_and_no_child() {
    for db in TestDb::all() {
        let server = SmtpServer::start();
        let smtp = server.url();
        let env = [
            ("ESCALATE_DATABASE_URL", db.url.as_str()),
            ("ESCALATE_SMTP_URL", smtp.as_str()),
            ("ESCALATE_REPORT__RECIPIENTS", RECIPIENTS),
        ];
        let dir = tempfile::tempdir().unwrap();
        seed(&env, dir.path());
        let checkpoint = ok(&env, &["audit", "checkpoint"]);
        let root = checkpoint.trim().rsplit(' ').next().unwrap().to_string();
        assert!(root.starts_with("sha256:"), "{checkpoint}");
        let csv = ok(
            &env,
            &["report", "monthly", "--month", "2026-10", "--format", "csv"],
        );

        let sent = ok(&env, &["report", "monthly", "--month", "2026-10", "--send"]);
        assert!(
            sent.contains("queued report 2026-10 to board@partnership.example.org (#"),
            "{sent}"
        );
        // Addresses are compared in lower case, so this is the same person once.
        assert!(
            sent.contains("queued report 2026-10 to chair@partnership.example.org (#"),
            "{sent}"
        );
        // Nothing changed since `audit checkpoint`: its root is the one carried.
        assert!(sent.contains(&format!("root {root}")), "{sent}");
        // The tick delivers (and fires the seeded cases' overdue deadlines, whose mail is
        // not the report's).
        ok(&env, &["tick"]);

        let mails = report_mails(&server);
        assert_eq!(mails.len(), 2, "{}", db.url);
        let mut to: Vec<&str> = mails
            .iter()
            .map(|m| {
                m.lines()
                    .find_map(|l| l.strip_prefix("To: "))
                    .unwrap()
                    .trim()
            })
            .collect();
        to.sort();
        assert_eq!(
            to,
            [
                "board@partnership.example.org",
                "chair@partnership.example.org"
            ]
        );
        for mail in &mails {
            assert!(
                !mail.contains(CHILD) && !mail.contains("Okafor"),
                "a child's name"
            );
            assert!(!mail.contains("Sam Example") && !mail.contains("LCS-204417"));
            assert!(!mail.contains("missed school"), "free text");
            let parts = mime_parts(mail);
            let kinds: Vec<&str> = parts.iter().map(|p| p.content_type.as_str()).collect();
            assert_eq!(kinds, ["text/plain", "text/html", "image/png", "text/csv"]);
            let html = String::from_utf8(part(&parts, "text/html").body.clone()).unwrap();
            let text = String::from_utf8(part(&parts, "text/plain").body.clone()).unwrap();
            for body in [&html, &text] {
                assert!(body.contains(&root), "the root is carried");
                assert!(!body.contains(CHILD));
            }
            // The image is inside the message, referred to by its Content-ID.
            let png = part(&parts, "image/png");
            let cid = png.content_id.as_deref().unwrap();
            let cid = cid.trim_start_matches('<').trim_end_matches('>');
            assert!(html.contains(&format!("src=\"cid:{cid}\"")), "{html}");
            assert!(!html.contains("src=\"http"));
            // The tables: agency pairs under 5 suppressed, as in the CSV.
            assert!(html.contains("fewer than 5"), "{html}");
            let attached = part(&parts, "text/csv");
            assert_eq!(
                attached.filename.as_deref(),
                Some("escalations-2026-10.csv")
            );
            assert_eq!(String::from_utf8(attached.body.clone()).unwrap(), csv);

            // The chart shows the series: opened, resolved, open at month end.
            let opened = bars(&png.body, (0x1d, 0x70, 0xb8));
            let resolved = bars(&png.body, (0x00, 0x70, 0x3c));
            let open = bars(&png.body, (0x4c, 0x2c, 0x92));
            assert_eq!(opened.len(), 2, "September and October: {opened:?}");
            assert_eq!(resolved.len(), 1, "September: {resolved:?}");
            assert_eq!(open.len(), 1, "October: {open:?}");
            let ((sep_x, sep), (oct_x, oct)) = (opened[0], opened[1]);
            assert!(sep_x < oct_x);
            // October's 3 stands three times as high as September's 1 (to a pixel or two).
            assert!(oct > sep, "{opened:?}");
            assert!((oct as i64 - 3 * sep as i64).abs() <= 3, "{opened:?}");
            // September's resolved bar stands beside its opened bar, as high; October's
            // open-at-end bar beside October's opened one, as high (3 each).
            assert!(
                sep_x < resolved[0].0 && resolved[0].0 < oct_x,
                "{resolved:?}"
            );
            assert!((resolved[0].1 as i64 - sep as i64).abs() <= 1);
            assert!(open[0].0 > oct_x);
            assert!((open[0].1 as i64 - oct as i64).abs() <= 1);
        }
        // The rows say what they are: about no case, sent.
        let rows = json(&escalate(
            &["outbox", "list", "--limit", "1000", "--json"],
            &env,
        ));
        let report_rows: Vec<&Value> = rows
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["template"] == "monthly_report")
            .collect();
        assert_eq!(report_rows.len(), 2);
        for r in report_rows {
            assert_eq!(r["case_id"], Value::Null);
            assert_eq!(r["status"], "sent");
        }
    }
}

#[test]
fn sending_twice_queues_once_and_says_what_was_already_sent() {
    for db in TestDb::all() {
        let mail = tempfile::tempdir().unwrap();
        let smtp = format!("file://{}", mail.path().display());
        let env = [
            ("ESCALATE_DATABASE_URL", db.url.as_str()),
            ("ESCALATE_SMTP_URL", smtp.as_str()),
            ("ESCALATE_REPORT__RECIPIENTS", RECIPIENTS),
        ];
        let dir = tempfile::tempdir().unwrap();
        dispute(&env, dir.path(), "2026-10-05T09:00:00Z");
        let args = ["report", "monthly", "--month", "2026-10", "--send"];
        let first = ok(&env, &args);
        let queued = |out: &str| {
            out.lines()
                .filter(|l| l.starts_with("queued report"))
                .count()
        };
        assert_eq!(queued(&first), 2, "{first}");
        let second = ok(&env, &args);
        assert_eq!(queued(&second), 0, "{second}");
        assert_eq!(
            second.matches("already queued report 2026-10 to ").count(),
            2,
            "{second}"
        );
        assert!(
            second.contains("queued to 0 recipient(s); 2 already queued before"),
            "{second}"
        );
        ok(&env, &["tick"]);
        let third = ok(&env, &args);
        assert_eq!(
            third.matches("already sent report 2026-10 to ").count(),
            2,
            "{third}"
        );
        // Another month is another report.
        let november = ok(&env, &["report", "monthly", "--month", "2026-11", "--send"]);
        assert_eq!(queued(&november), 2, "{november}");
        let rows = json(&escalate(&["outbox", "list", "--json"], &env));
        let keys: Vec<&str> = rows
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["template"] == "monthly_report")
            .map(|r| r["idempotency_key"].as_str().unwrap())
            .collect();
        assert_eq!(keys.len(), 4, "{keys:?}");
        assert!(keys.contains(&"report:2026-10:chair@partnership.example.org"));
    }
}

#[test]
fn without_recipients_the_job_says_so_and_send_is_refused() {
    for db in TestDb::all() {
        let env = [("ESCALATE_DATABASE_URL", db.url.as_str())];
        // The schedule starts (the 1 November occurrence is recorded, not run) ...
        ok(&env, &["tick", "--now", "2026-11-02T09:00:00Z"]);
        // ... and 1 December's runs: October's report is November's job, November's now.
        let o = json(&escalate(
            &["tick", "--json", "--now", "2026-12-01T08:00:30Z"],
            &env,
        ));
        let job = o["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["job"] == "monthly_report")
            .cloned()
            .unwrap();
        assert_eq!(job["outcome"], "ok", "{job}");
        let message = job["message"].as_str().unwrap();
        assert!(message.starts_with("report 2026-11: "), "{message}");
        assert!(
            message.ends_with("not emailed: [report] recipients is empty"),
            "{message}"
        );
        let o = escalate(&["report", "monthly", "--month", "2026-10", "--send"], &env);
        common::assert_one_line_error(&o, "report.recipients is empty");
    }
}

#[test]
fn hostile_recipients_are_refused_at_start_in_one_line_naming_the_key() {
    let db = TestDb::sqlite();
    for (recipients, wanted) in [
        (
            "board@partnership.example.org,\u{7}evil@example.org",
            "report.recipients[1] contains a control character (U+0007)",
        ),
        (
            "board@partnership.example.org\r\nBcc: all@example.org",
            "report.recipients[0] contains a line break",
        ),
        (
            "the board",
            "report.recipients[0] 'the board' is not an email address",
        ),
    ] {
        let env = [
            ("ESCALATE_DATABASE_URL", db.url.as_str()),
            ("ESCALATE_REPORT__RECIPIENTS", recipients),
        ];
        for args in [
            &["jobs", "list"][..],
            &["report", "monthly", "--month", "2026-10", "--send"],
            &["serve"],
        ] {
            let o = escalate(args, &env);
            common::assert_one_line_error(&o, wanted);
        }
    }
    // From the file too.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("escalate.toml");
    std::fs::write(
        &file,
        "[report]\nrecipients = [\"board@partnership.example.org\", \"bcc\\u0007@x.org\"]\n",
    )
    .unwrap();
    let o = escalate(
        &["--config", file.to_str().unwrap(), "jobs", "list"],
        &[("ESCALATE_DATABASE_URL", db.url.as_str())],
    );
    common::assert_one_line_error(&o, "report.recipients[1] contains a control character");
}

/// Starts `escalate serve` as `common::escalate` runs commands, its log to `log`.
fn serve(env: &[(&str, &str)], log: &std::fs::File) -> std::process::Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_escalate"));
    cmd.args(["serve", "--addr", "127.0.0.1:0"])
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("ESCALATE_")) {
        cmd.env_remove(k);
    }
    cmd.envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log.try_clone().unwrap()));
    cmd.spawn().unwrap()
}

#[test]
fn two_serves_on_postgresql_racing_the_monthly_job_send_the_report_once_to_each() {
    let Some(db) = TestDb::postgres() else {
        return;
    };
    let server = SmtpServer::start();
    let smtp = server.url();
    let env = [
        ("ESCALATE_DATABASE_URL", db.url.as_str()),
        ("ESCALATE_SMTP_URL", smtp.as_str()),
        ("ESCALATE_REPORT__RECIPIENTS", RECIPIENTS),
        // Daily at 08:00, so an occurrence is always due on the real clock serve runs on.
        ("ESCALATE_JOBS__MONTHLY_REPORT", "0 8 * * *"),
        ("ESCALATE_JOBS__AUDIT_CHECKPOINT", "off"),
        ("ESCALATE_SERVE__INTERVAL_SECONDS", "1"),
    ];
    // The schedule started three days ago; both replicas have been down since, so each
    // finds the latest occurrence due at start-up and they race for it.
    let then = (Utc::now() - TimeDelta::days(3)).to_rfc3339();
    ok(&env, &["tick", "--now", &then]);
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut replicas = [serve(&env, log.as_file()), serve(&env, log.as_file())];
    // Polled (bounded): the job runs at start-up, the mail loops deliver what it queued.
    let started = Instant::now();
    let outcome = loop {
        let jobs = json(&escalate(&["jobs", "list", "--json"], &env));
        let last = jobs
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["job"] == "monthly_report")
            .unwrap()["last"]
            .clone();
        let rows = json(&escalate(&["outbox", "list", "--json"], &env));
        let sent = rows
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["template"] == "monthly_report" && r["status"] == "sent")
            .count();
        if last["outcome"] == "ok" && sent == 2 {
            break last;
        }
        if started.elapsed() > Duration::from_secs(90)
            || replicas.iter_mut().any(|r| r.try_wait().unwrap().is_some())
        {
            for r in &mut replicas {
                let _ = r.kill();
            }
            panic!(
                "the report was not sent: {last} {rows}\n{}",
                std::fs::read_to_string(log.path()).unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    for r in &mut replicas {
        let kill = Command::new("kill")
            .args(["-TERM", &r.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
    }
    for r in &mut replicas {
        assert!(r.wait().unwrap().success());
    }
    let out = std::fs::read_to_string(log.path()).unwrap();
    // One replica ran the occurrence; the report went to each recipient once.
    assert_eq!(out.matches("job runs late").count(), 1, "{out}");
    let message = outcome["message"].as_str().unwrap();
    assert!(message.contains("queued to 2 recipient(s)"), "{message}");
    // The month is the one before today's occurrence, whichever that is.
    let all: Vec<String> = server
        .messages()
        .into_iter()
        .filter(|m| m.contains("Subject: Professional disagreements: monthly report for "))
        .collect();
    assert_eq!(all.len(), 2, "{out}");
    let mut to: Vec<String> = all
        .iter()
        .map(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("To: "))
                .unwrap()
                .trim()
                .to_string()
        })
        .collect();
    to.sort();
    assert_eq!(
        to,
        [
            "board@partnership.example.org",
            "chair@partnership.example.org"
        ]
    );
}
