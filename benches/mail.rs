//! Messages per second delivered through the outbox to a real local SMTP server (aiosmtpd,
//! `tests/support/smtp_server.py`) with lettre's connection pool, on SQLite.
//!
//! `cargo bench --bench mail` (needs python3 with aiosmtpd: `scripts/ensure-test-tools`).
//! `ESCALATE_BENCH_CASES` sets how many disputes are escalated (4 messages each; default 250).

use escalate::ids::{CaseRef, UserEmail};
use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use chrono::{DateTime, TimeDelta, Utc};
use escalate::calendar::Calendar;
use escalate::directory::Directory;
use escalate::engine::Engine;
use escalate::notify::{Dispatcher, MailSettings, Mailer, Templates};
use escalate::store;
use escalate::workflow::{EventFields, Workflows};

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let cases: usize = std::env::var("ESCALATE_BENCH_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(250);
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    std::fs::create_dir(&spool).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = Command::new("python3")
        .arg(
            std::env::var("ESCALATE_BENCH_SMTP_SCRIPT")
                .unwrap_or("tests/support/smtp_server.py".into()),
        )
        .arg(port.to_string())
        .arg(&spool)
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 with aiosmtpd");
    let mut line = String::new();
    std::io::BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready");

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let url = format!("sqlite://{}", dir.path().join("bench.db").display());
        let store = store::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        let text = std::fs::read_to_string("config/agencies.yaml").unwrap();
        let directory = Directory::parse(Path::new("config/agencies.yaml"), &text).unwrap();
        let t0: DateTime<Utc> = "2026-11-02T09:00:00Z".parse().unwrap();
        store.replace_directory(&directory, t0, None).await.unwrap();
        let workflows =
            Workflows::load_dir(Path::new("workflows"), Path::new("config/templates")).unwrap();
        let engine = Engine::new(store, workflows, Calendar::official()).allow_future(true);
        let data: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string("examples/dispute.json").unwrap())
                .unwrap();
        let reason = EventFields::from([("reason".to_string(), "No reply".to_string())]);
        let at = t0 + TimeDelta::hours(1);
        for pool in [1u32, 8, 16, 32] {
            // Fresh messages for each run: `cases` disputes escalated, 4 messages each.
            let opened: Vec<(serde_json::Value, DateTime<Utc>)> = (0..cases)
                .map(|i| (data.clone(), t0 + TimeDelta::milliseconds(i as i64)))
                .collect();
            let refs = engine
                .open_batch(
                    "dispute",
                    &opened,
                    &UserEmail::parse("priya.shah@school.example.org").unwrap(),
                )
                .await
                .unwrap();
            for r in &refs {
                engine
                    .record(
                        &CaseRef::parse(r).unwrap(),
                        "escalate",
                        &reason,
                        &UserEmail::parse("priya.shah@school.example.org").unwrap(),
                        at,
                    )
                    .await
                    .unwrap();
            }
            let target = std::env::var("ESCALATE_BENCH_MAIL_URL")
                .unwrap_or(format!("smtp://127.0.0.1:{port}"));
            let mailer = Mailer::from_url(&target, None, pool).unwrap();
            let settings = MailSettings {
                from: "Escalations <escalate@partnership.example.org>"
                    .parse()
                    .unwrap(),
                base_url: "https://escalate.example.org".into(),
                retry_for: TimeDelta::hours(72),
                first_backoff: TimeDelta::seconds(30),
                max_backoff: TimeDelta::hours(1),
                lease: TimeDelta::seconds(60),
                in_flight: pool as usize,
                send_timeout: std::time::Duration::from_secs(30),
                form_free_text: false,
            };
            let templates = Templates::load(Path::new("config/templates")).unwrap();
            let dispatcher = Dispatcher::new(&engine, mailer, templates, settings);
            let start = Instant::now();
            let report = dispatcher.deliver_due(at).await.unwrap();
            let secs = start.elapsed().as_secs_f64();
            assert_eq!(report.failed + report.retrying, 0, "{report:?}");
            println!(
                "pool {pool}: {} messages in {secs:.2} s: {:.0} messages/s",
                report.sent,
                report.sent as f64 / secs
            );
        }
    });
    let _ = server.kill();
    let _ = server.wait();
}
