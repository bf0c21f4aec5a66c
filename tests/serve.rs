//! `escalate serve`: migrates on start, sweeps deadlines and delivers mail on its own, and
//! stops cleanly on SIGTERM; a bad setting stops the start with one line.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::{SmtpServer, TestDb, escalate, json, stderr, stdout};
use tempfile::NamedTempFile;

/// A child process, stopped if the test fails before it ends.
struct Reaper(std::process::Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls `done` until it holds, failing the test after `limit` or if serve ends by itself.
fn wait_for(
    serve: &mut Reaper,
    log: &NamedTempFile,
    limit: Duration,
    mut done: impl FnMut() -> bool,
) {
    let start = Instant::now();
    while !done() {
        if let Some(status) = serve.0.try_wait().unwrap() {
            panic!("serve ended by itself ({status}): {}", read(log));
        }
        assert!(
            start.elapsed() < limit,
            "not done within {limit:?}: {}",
            read(log)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn read(log: &NamedTempFile) -> String {
    std::fs::read_to_string(log.path()).unwrap()
}

/// Sends SIGTERM and waits for serve to end: its exit status and its log.
fn terminate(mut serve: Reaper, log: &NamedTempFile) -> (ExitStatus, String) {
    let status = Command::new("kill")
        .args(["-TERM", &serve.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = serve.0.wait().unwrap();
    (exit, read(log))
}

/// A mail server that accepts connections and never answers (`tests/support/black_hole.py`).
struct BlackHole {
    port: u16,
    _child: Reaper,
}

impl BlackHole {
    fn start() -> BlackHole {
        let mut child = Command::new("python3")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/support/black_hole.py"
            ))
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        BlackHole {
            port: line.trim().parse().expect("black_hole.py prints its port"),
            _child: Reaper(child),
        }
    }
}

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

        let log = tempfile::NamedTempFile::new().unwrap();
        let mut serve = Reaper(
            Command::new(env!("CARGO_BIN_EXE_escalate"))
                .args(["serve", "--addr", "127.0.0.1:0"])
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .env("ESCALATE_DATABASE_URL", &db.url)
                .env("ESCALATE_SMTP_URL", server.url())
                .env("ESCALATE_SERVE__INTERVAL_SECONDS", "1")
                // The first administrator's password, printed on an empty database.
                .stdout(Stdio::null())
                .stderr(Stdio::from(log.reopen().unwrap()))
                .spawn()
                .unwrap(),
        );
        // Wait (bounded) until the case has reached stage 4 and its mail has all gone.
        wait_for(&mut serve, &log, Duration::from_secs(60), || {
            let shown = json(&escalate(&["case", "show", &reference, "--json"], &env));
            let outbox = json(&escalate(&["outbox", "list", "--json"], &env));
            shown["state"] == "stage4"
                && outbox
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|m| m["status"] == "sent")
        });
        let (exit, logged) = terminate(serve, &log);
        assert!(exit.success(), "{exit:?}: {logged}");
        assert!(logged.contains("escalate serve started"), "{logged}");
        assert!(logged.contains("escalate serve stopped"), "{logged}");

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

fn open_dispute(env: &[(&str, &str)], at: &str) -> String {
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
            at,
            "--json",
        ],
        env,
    ));
    opened["reference"].as_str().unwrap().to_string()
}

#[test]
fn a_mail_server_that_never_answers_delays_no_deadline_and_no_shutdown() {
    for db in TestDb::all() {
        let hole = BlackHole::start();
        let smtp = format!("smtp://127.0.0.1:{}", hole.port);
        let env = [
            ("ESCALATE_DATABASE_URL", db.url.as_str()),
            ("ESCALATE_SMTP_URL", smtp.as_str()),
        ];
        let imported = escalate(&["agencies", "import", "config/agencies.yaml"], &env);
        assert!(imported.status.success(), "{}", stderr(&imported));
        // Ten disputes escalated a month ago: 40 messages queued at least, and every deadline
        // since lapsed. Two at a time, each cut off after 3 s: over a minute of mail.
        let month_ago = chrono::Utc::now() - chrono::TimeDelta::days(30);
        for _ in 0..10 {
            let reference = open_dispute(&env, &month_ago.to_rfc3339());
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
                    &(month_ago + chrono::TimeDelta::hours(1)).to_rfc3339(),
                ],
                &env,
            );
            assert!(o.status.success(), "{}", stderr(&o));
        }
        let log = NamedTempFile::new().unwrap();
        let mut serve = Reaper(
            Command::new(env!("CARGO_BIN_EXE_escalate"))
                .args(["serve", "--addr", "127.0.0.1:0"])
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .envs(env)
                .env("ESCALATE_SERVE__INTERVAL_SECONDS", "1")
                .env("ESCALATE_MAIL__POOL_SIZE", "2")
                .env("ESCALATE_MAIL__SEND_TIMEOUT_SECONDS", "3")
                .stdout(Stdio::null())
                .stderr(Stdio::from(log.reopen().unwrap()))
                .spawn()
                .unwrap(),
        );
        // Serve is stuck in the mail once a first attempt has timed out.
        wait_for(&mut serve, &log, Duration::from_secs(30), || {
            let outbox = json(&escalate(
                &["outbox", "list", "--limit", "1000", "--json"],
                &env,
            ));
            outbox
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["attempts"] != 0)
        });
        // A deadline falls due now (a case whose first deadline lapsed while nobody looked):
        // it fires within a sweep or two, not after the queue.
        let late = open_dispute(&env, &month_ago.to_rfc3339());
        let due = Instant::now();
        wait_for(&mut serve, &log, Duration::from_secs(5), || {
            let shown = json(&escalate(&["case", "show", &late, "--json"], &env));
            shown["state"] != "stage1"
        });
        let fired_after = due.elapsed();
        let queued = json(&escalate(
            &[
                "outbox", "list", "--status", "queued", "--limit", "1000", "--json",
            ],
            &env,
        ));
        assert!(
            queued.as_array().unwrap().len() > 10,
            "the queue should still be long: {queued}"
        );
        // SIGTERM ends serve after the messages in flight: within the send time-box.
        let asked = Instant::now();
        let (exit, logged) = terminate(serve, &log);
        let stopped_after = asked.elapsed();
        assert!(exit.success(), "{exit:?}: {logged}");
        assert!(logged.contains("escalate serve stopped"), "{logged}");
        assert!(
            stopped_after < Duration::from_secs(6),
            "stopped after {stopped_after:?}"
        );
        eprintln!(
            "{}: deadline fired {fired_after:?} after falling due; stopped {stopped_after:?} after SIGTERM",
            db.url
        );
    }
}

#[test]
fn tick_says_how_many_due_deadlines_another_process_still_holds_and_until_when() {
    for db in TestDb::all() {
        let mail = tempfile::tempdir().unwrap();
        let smtp = format!("file://{}", mail.path().display());
        let env = [
            ("ESCALATE_DATABASE_URL", db.url.as_str()),
            ("ESCALATE_SMTP_URL", smtp.as_str()),
        ];
        open_dispute(&env, "2026-11-02T09:00:00Z");
        // A tick that died holding both stage 1 deadlines (warning and lapse) for an hour.
        let until = chrono::Utc::now() + chrono::TimeDelta::hours(1);
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            if db.url.starts_with("sqlite:") {
                let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
                sqlx::query("UPDATE deadlines SET lease_owner = 'dead', lease_expires_at = ?")
                    .bind(until.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
                    .execute(&pool)
                    .await
                    .unwrap();
            } else {
                let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
                sqlx::query("UPDATE deadlines SET lease_owner = 'dead', lease_expires_at = $1")
                    .bind(until)
                    .execute(&pool)
                    .await
                    .unwrap();
            }
        });
        let o = escalate(&["tick", "--now", "2026-11-05T09:00:00Z"], &env);
        let out = stdout(&o);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(out.starts_with("fired 0 deadline(s)"), "{out}");
        let shown = until.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        assert!(
            out.contains(&format!(
                "2 due deadline(s) are held by another process, perhaps one that stopped, until {shown}"
            )),
            "{out}"
        );
        let report = json(&escalate(
            &["tick", "--now", "2026-11-05T09:00:00Z", "--json"],
            &env,
        ));
        assert_eq!(report["leased"]["count"], 2, "{report}");
        assert_eq!(report["leased"]["until"], shown, "{report}");
    }
}

#[test]
fn each_retry_waits_from_its_own_attempt_not_from_the_start_of_the_pass() {
    for db in TestDb::all() {
        let hole = BlackHole::start();
        let smtp = format!("smtp://127.0.0.1:{}", hole.port);
        let env = [
            ("ESCALATE_DATABASE_URL", db.url.as_str()),
            ("ESCALATE_SMTP_URL", smtp.as_str()),
            // One at a time, each cut off after a second; a retry a second after that.
            ("ESCALATE_MAIL__POOL_SIZE", "1"),
            ("ESCALATE_MAIL__SEND_TIMEOUT_SECONDS", "1"),
            ("ESCALATE_MAIL__FIRST_RETRY_SECONDS", "1"),
        ];
        let imported = escalate(&["agencies", "import", "config/agencies.yaml"], &env);
        assert!(imported.status.success(), "{}", stderr(&imported));
        let now = chrono::Utc::now();
        let reference = open_dispute(&env, &(now - chrono::TimeDelta::hours(2)).to_rfc3339());
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
                &(now - chrono::TimeDelta::hours(1)).to_rfc3339(),
            ],
            &env,
        );
        assert!(o.status.success(), "{}", stderr(&o));
        let start = chrono::Utc::now();
        let report = json(&escalate(&["tick", "--json"], &env));
        assert_eq!(report["mail"]["retrying"], 4, "{report}");
        let mut next: Vec<chrono::DateTime<chrono::Utc>> =
            json(&escalate(&["outbox", "list", "--json"], &env))
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["next_attempt_at"].as_str().unwrap().parse().unwrap())
                .collect();
        next.sort();
        // The fourth attempt ended four seconds into the pass; its retry waits from then
        // (at least 0.75 s, with jitter), not from the pass's start.
        let last = next[3] - start;
        assert!(
            last >= chrono::TimeDelta::milliseconds(4_500),
            "{next:?} from {start}"
        );
        assert!(
            next[3] - next[0] >= chrono::TimeDelta::milliseconds(2_000),
            "{next:?}"
        );
    }
}
