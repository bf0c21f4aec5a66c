//! Hostile data already in the database (written straight into the outbox, past every boundary
//! check): `tick` and `serve` never panic, every good message goes exactly once, every message
//! that cannot be built is failed with its reason, and nothing injects a header.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{SmtpServer, TestDb, escalate, json, stderr};
use serde_json::{Value, json};

const RAISER: &str = "priya.shah@school.example.org";

fn run(db: &TestDb, smtp: &str, args: &[&str]) -> std::process::Output {
    escalate(
        args,
        &[
            ("ESCALATE_DATABASE_URL", db.url.as_str()),
            ("ESCALATE_SMTP_URL", smtp),
        ],
    )
}

fn outbox(db: &TestDb, smtp: &str) -> Vec<Value> {
    json(&run(
        db,
        smtp,
        &["outbox", "list", "--limit", "1000", "--json"],
    ))
    .as_array()
    .unwrap()
    .clone()
}

/// Sets a row's recipient and payload (JSON) directly, as an old or damaged database holds them.
async fn overwrite(db: &TestDb, id: i64, recipient: &Value, payload: &Value) {
    let (recipient, payload) = (recipient.to_string(), payload.to_string());
    if db.url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
        sqlx::query("UPDATE outbox SET recipients = ?, payload = ? WHERE id = ?")
            .bind(recipient)
            .bind(payload)
            .bind(id)
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
        sqlx::query("UPDATE outbox SET recipients = $1::jsonb, payload = $2::jsonb WHERE id = $3")
            .bind(recipient)
            .bind(payload)
            .bind(id)
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    }
}

/// Three escalated disputes (twelve queued messages), half of them made hostile in the
/// database. Returns the Message-IDs that must be delivered and the ids that must fail.
fn hostile_outbox(db: &TestDb, smtp: &str) -> (BTreeSet<String>, BTreeSet<i64>) {
    let o = run(db, smtp, &["agencies", "import", "config/agencies.yaml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    for _ in 0..3 {
        let opened = json(&run(
            db,
            smtp,
            &[
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
                "--json",
            ],
        ));
        let reference = opened["reference"].as_str().unwrap();
        let o = run(
            db,
            smtp,
            &[
                "case",
                "event",
                reference,
                "escalate",
                "--by",
                RAISER,
                "--reason",
                "No reply",
                "--now",
                "2026-11-02T10:00:00Z",
            ],
        );
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let mut rows = outbox(db, smtp);
    rows.sort_by_key(|m| m["id"].as_i64().unwrap());
    assert_eq!(rows.len(), 12);
    let megabyte = "A".repeat(1 << 20);
    let injection = "Name\r\nBcc: x@y.example";
    // (field, value, deliverable)
    let recipient_changes: [(&str, String, bool); 7] = [
        ("name", "Tom\nHughes".into(), false),
        ("name", injection.into(), false),
        ("email", "tom@example.org\r\nBcc: x@y.example".into(), false),
        ("name", "Alex \u{202E}nagroM".into(), false),
        ("name", megabyte.clone(), false),
        ("email", "\u{1}ctl@example.org".into(), false),
        ("name", "Priya 🙂 Shah".into(), true),
    ];
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut good = BTreeSet::new();
    let mut bad = BTreeSet::new();
    for (i, row) in rows.iter().enumerate() {
        let id = row["id"].as_i64().unwrap();
        let mut recipient = row["recipient"].clone();
        let mut payload = row["payload"].clone();
        let deliverable = match recipient_changes.get(i) {
            Some((field, value, ok)) => {
                recipient[*field] = json!(value);
                *ok
            }
            None if i == recipient_changes.len() => {
                // Free text in every field the templates print: it goes in the body, safely.
                let nasty = format!("x\r\nBcc: x@y.example\r\n\u{202E}😀\u{1b}[31m{megabyte}");
                for key in ["reason", "by", "event_title", "outcome", "workflow"] {
                    payload[key] = json!(nasty);
                }
                true
            }
            None => true,
        };
        runtime.block_on(overwrite(db, id, &recipient, &payload));
        if deliverable {
            good.insert(row["message_id"].as_str().unwrap().to_string());
        } else {
            bad.insert(id);
        }
    }
    (good, bad)
}

/// The header block of a message, unfolded, one header a line.
fn headers(message: &str) -> Vec<String> {
    let head = message.split("\r\n\r\n").next().unwrap_or_default();
    head.replace("\r\n ", " ")
        .replace("\r\n\t", " ")
        .split("\r\n")
        .map(str::to_string)
        .collect()
}

fn check(
    db: &TestDb,
    smtp: &str,
    server: &SmtpServer,
    good: &BTreeSet<String>,
    bad: &BTreeSet<i64>,
) {
    let messages = server.messages();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for m in &messages {
        let hs = headers(m);
        for h in &hs {
            assert!(
                !h.to_ascii_lowercase().starts_with("bcc:"),
                "{}: an injected header: {h}",
                db.url
            );
        }
        let envelope = hs
            .iter()
            .find_map(|h| h.strip_prefix("X-Envelope-To: "))
            .unwrap();
        assert!(!envelope.contains("y.example"), "{envelope}");
        let id = hs
            .iter()
            .find_map(|h| h.strip_prefix("Message-ID: "))
            .unwrap()
            .trim()
            .to_string();
        *seen.entry(id).or_default() += 1;
    }
    assert!(
        seen.values().all(|n| *n == 1),
        "{}: sent twice: {seen:?}",
        db.url
    );
    let rows = outbox(db, smtp);
    // Every row but the bad ones went (serve also fires what falls due meanwhile, and sends it).
    let delivered: BTreeSet<String> = rows
        .iter()
        .filter(|m| !bad.contains(&m["id"].as_i64().unwrap()))
        .map(|m| m["message_id"].as_str().unwrap().to_string())
        .collect();
    assert!(good.is_subset(&delivered), "{}", db.url);
    assert_eq!(
        seen.keys().cloned().collect::<BTreeSet<_>>(),
        delivered,
        "{}",
        db.url
    );
    for row in rows {
        let id = row["id"].as_i64().unwrap();
        if bad.contains(&id) {
            assert_eq!(row["status"], "failed", "{}: #{id}", db.url);
            let why = row["last_error"].as_str().unwrap();
            assert!(why.contains("recipient"), "#{id}: {why}");
            assert!(why.len() < 300 && !why.contains('\n'), "#{id}: {why:?}");
        } else {
            assert_eq!(
                row["status"], "sent",
                "{}: #{id} {}",
                db.url, row["last_error"]
            );
        }
    }
}

fn no_panic(o: &std::process::Output) {
    let err = stderr(o);
    assert!(!err.contains("panicked"), "{err}");
    assert_ne!(o.status.code(), Some(101), "{err}");
    assert!(o.status.code().is_some(), "killed by a signal: {err}");
}

#[test]
fn tick_over_hostile_outbox_rows_fails_only_those_rows_and_sends_the_rest_once() {
    for db in TestDb::all() {
        let server = SmtpServer::start();
        let smtp = server.url();
        let (good, bad) = hostile_outbox(&db, &smtp);
        for _ in 0..2 {
            let o = run(
                &db,
                &smtp,
                &["tick", "--now", "2026-11-02T10:00:00Z", "--json"],
            );
            no_panic(&o);
        }
        check(&db, &smtp, &server, &good, &bad);
    }
}

/// Stops the child if the test fails before it does.
struct Reaper(std::process::Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn serve_over_hostile_outbox_rows_fails_only_those_rows_and_sends_the_rest_once() {
    for db in TestDb::all() {
        let server = SmtpServer::start();
        let smtp = server.url();
        let (good, bad) = hostile_outbox(&db, &smtp);
        let log = tempfile::NamedTempFile::new().unwrap();
        let mut serve = Reaper(
            Command::new(env!("CARGO_BIN_EXE_escalate"))
                .args(["serve", "--addr", "127.0.0.1:0"])
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .env("ESCALATE_DATABASE_URL", &db.url)
                .env("ESCALATE_SMTP_URL", &smtp)
                .env("ESCALATE_SERVE__INTERVAL_SECONDS", "1")
                .stderr(Stdio::from(log.reopen().unwrap()))
                .spawn()
                .unwrap(),
        );
        // Wait (bounded) until nothing is queued any more, or serve has died.
        let start = Instant::now();
        loop {
            if let Some(status) = serve.0.try_wait().unwrap() {
                panic!(
                    "serve ended by itself ({status}): {}",
                    std::fs::read_to_string(log.path()).unwrap()
                );
            }
            if outbox(&db, &smtp).iter().all(|m| m["status"] != "queued") {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "still queued after a minute: {}",
                std::fs::read_to_string(log.path()).unwrap()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        let status = Command::new("kill")
            .args(["-TERM", &serve.0.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let exit = serve.0.wait().unwrap();
        let logged = std::fs::read_to_string(log.path()).unwrap();
        assert!(exit.success(), "{exit:?}: {logged}");
        assert!(!logged.contains("panicked"), "{logged}");
        check(&db, &smtp, &server, &good, &bad);
    }
}

#[test]
fn agencies_import_refuses_names_and_addresses_that_are_not_one_line() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let original = std::fs::read_to_string("config/agencies.yaml").unwrap();
    for (from, to, field) in [
        (
            "name: Sam Rivers (team manager)",
            r#"name: "Sam Rivers\r\nBcc: x@y.example""#,
            "agencies[1].line_manager[0].name: contains a line break (U+000D) at character 11",
        ),
        (
            "name: Casey Brooks (head of service)",
            "name: \"Casey \\u202Esk\"",
            "agencies[1].senior_manager[0].name: contains a bidirectional override character",
        ),
        (
            "email: dsl@school.example.org",
            r#"email: "dsl@school.example.org\u0007""#,
            "agencies[0].line_manager[0].email: contains a control character (U+0007)",
        ),
        (
            "name: Riverside Primary School",
            r#"name: "Riverside\nPrimary""#,
            "agencies[0].name: contains a line break (U+000A)",
        ),
    ] {
        assert!(original.contains(from), "{from}");
        let file = dir.path().join("agencies.yaml");
        std::fs::write(&file, original.replacen(from, to, 1)).unwrap();
        let o = run(
            &db,
            "file:///dev/null/unused",
            &["agencies", "import", file.to_str().unwrap()],
        );
        common::assert_one_line_error(&o, field);
    }
    // Nothing was imported.
    let listed = run(&db, "file:///dev/null/unused", &["agencies", "list"]);
    assert!(common::stdout(&listed).contains("the directory is empty"));
}

#[test]
fn a_from_name_that_is_not_one_line_is_a_configuration_error_not_a_panic() {
    let db = TestDb::sqlite();
    let server = SmtpServer::start();
    let (good, _) = hostile_outbox(&db, &server.url());
    assert!(!good.is_empty());
    let o = escalate(
        &["tick", "--now", "2026-11-02T10:00:00Z"],
        &[
            ("ESCALATE_DATABASE_URL", db.url.as_str()),
            ("ESCALATE_SMTP_URL", &server.url()),
            (
                "ESCALATE_MAIL__FROM_NAME",
                "Partnership\r\nBcc: x@y.example",
            ),
        ],
    );
    no_panic(&o);
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("mail.from_name contains a line break (U+000D) at character 12"),
        "{err}"
    );
    assert!(server.messages().is_empty());
}
