//! `escalate serve`: migrates on start, sweeps deadlines and delivers mail on its own, and
//! stops cleanly on SIGTERM; a bad setting stops the start with one line.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::{SmtpServer, TestDb, escalate, json, stderr};

#[test]
fn serve_sweeps_and_delivers_then_stops_cleanly_on_sigterm() {
    for db in TestDb::all() {
        let server = SmtpServer::start();
        let env = [
            ("ESCALATE_DATABASE_URL", db.url.as_str()),
            ("ESCALATE_SMTP_URL", &server.url()),
        ];
        let imported = escalate(&["agencies", "import", "config/agencies.yaml"], &env);
        assert!(imported.status.success(), "{}", stderr(&imported));
        // Opened a month ago: stages 1 to 3 have lapsed since, so the first sweep has work.
        let opened_at = (chrono::Utc::now() - chrono::TimeDelta::days(30)).to_rfc3339();
        let opened = json(&escalate(
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
                &opened_at,
                "--json",
            ],
            &env,
        ));
        let reference = opened["reference"].as_str().unwrap().to_string();

        let mut serve = Command::new(env!("CARGO_BIN_EXE_escalate"))
            .arg("serve")
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("ESCALATE_DATABASE_URL", &db.url)
            .env("ESCALATE_SMTP_URL", server.url())
            .env("ESCALATE_SERVE__INTERVAL_SECONDS", "1")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Its log says when a sweep did something; read until then (no sleeping).
        let mut log = BufReader::new(serve.stderr.take().unwrap()).lines();
        let mut seen = Vec::new();
        for line in log.by_ref() {
            let line = line.unwrap();
            // A sweep that did something, or one that failed: either way, stop reading.
            let done = line.contains(" sweep");
            seen.push(line);
            if done {
                break;
            }
        }
        assert!(
            seen.iter().any(|l| l.contains("escalate serve started")),
            "{seen:#?}"
        );
        assert!(seen.last().unwrap().contains("sent="), "{seen:#?}");
        let status = Command::new("kill")
            .args(["-TERM", &serve.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let rest: Vec<String> = log.map(|l| l.unwrap()).collect();
        let exit = serve.wait().unwrap();
        assert!(exit.success(), "{exit:?}: {rest:#?}");
        assert!(
            rest.iter().any(|l| l.contains("escalate serve stopped")),
            "{rest:#?}"
        );

        // The case moved on by itself, and every message it queued was delivered once.
        let shown = json(&escalate(&["case", "show", &reference, "--json"], &env));
        assert_eq!(shown["state"], "stage4", "{}", db.url);
        let outbox = json(&escalate(&["outbox", "list", "--json"], &env));
        let rows = outbox.as_array().unwrap();
        assert!(rows.iter().all(|m| m["status"] == "sent"), "{outbox}");
        assert_eq!(server.messages().len(), rows.len());
        assert!(rows.iter().any(|m| m["template"] == "monitoring_form"));
    }
}

#[test]
fn serve_with_a_bad_setting_does_not_start() {
    let db = TestDb::sqlite();
    let o = escalate(
        &["serve"],
        &[
            ("ESCALATE_DATABASE_URL", db.url.as_str()),
            ("ESCALATE_SMTP_URL", "carrier-pigeon://loft"),
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("escalate: configuration: mail settings: smtp_url 'carrier-pigeon://loft'"),
        "{err}"
    );
}
