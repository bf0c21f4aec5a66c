//! Email through a real SMTP server process: reminders once per recipient however often `tick`
//! runs, retries while the server refuses or is down, permanent failures shown, the stage-3
//! monitoring form, and no child identifiers in any message.

mod common;

use std::collections::BTreeSet;

use common::{SmtpServer, TestDb, escalate, json, stderr, stdout};
use serde_json::Value;

const RAISER: &str = "priya.shah@school.example.org";
/// The child's name and reference in examples/dispute.json: never in a message.
const CHILD: [&str; 2] = ["Sam Example", "LCS-204417"];

/// A message's text with quoted-printable soft breaks and escapes undone.
fn decoded(message: &str) -> String {
    let joined = message.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&joined[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The value of header `name` in a message, unfolded.
fn header(message: &str, name: &str) -> String {
    let head = message.split("\r\n\r\n").next().unwrap_or_default();
    let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
    unfolded
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .unwrap_or_default()
        .trim()
        .to_string()
}

struct Setup {
    db: TestDb,
    env: Vec<(&'static str, String)>,
}

impl Setup {
    fn new(db: TestDb, smtp_url: &str) -> Setup {
        let env = vec![
            ("ESCALATE_DATABASE_URL", db.url.clone()),
            ("ESCALATE_SMTP_URL", smtp_url.to_string()),
            ("ESCALATE_MAIL__FIRST_RETRY_SECONDS", "60".to_string()),
        ];
        let s = Setup { db, env };
        let o = s.run(&["agencies", "import", "config/agencies.yaml"]);
        assert!(o.status.success(), "{}", stderr(&o));
        s
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        let env: Vec<(&str, &str)> = self.env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        escalate(args, &env)
    }

    fn open_dispute(&self) -> String {
        let o = self.run(&[
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
        ]);
        json(&o)["reference"].as_str().unwrap().to_string()
    }

    /// Records `escalate` on the case, which must succeed.
    fn escalate(&self, reference: &str, by: &str, reason: &str, at: &str) {
        let o = self.run(&[
            "case", "event", reference, "escalate", "--by", by, "--reason", reason, "--now", at,
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
    }

    /// Ticks; the exit code is 3 exactly when a message failed for good, said on stderr.
    fn tick(&self, now: &str) -> Value {
        let o = self.run(&["tick", "--now", now, "--json"]);
        let report: Value = serde_json::from_slice(&o.stdout).expect("a JSON report");
        let failed = report["mail"]["failed"].as_u64().unwrap();
        if failed == 0 {
            assert!(o.status.success(), "{}", stderr(&o));
        } else {
            assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
            assert_eq!(
                stderr(&o),
                format!(
                    "escalate: {failed} message(s) failed for good (escalate outbox list --status failed)\n"
                )
            );
        }
        report
    }

    fn outbox(&self) -> Vec<Value> {
        json(&self.run(&["outbox", "list", "--limit", "1000", "--json"]))
            .as_array()
            .unwrap()
            .clone()
    }
}

/// (envelope recipient, Message-ID) of each message the server holds.
fn received(server: &SmtpServer) -> Vec<(String, String)> {
    server
        .messages()
        .iter()
        .map(|m| (header(m, "X-Envelope-To"), header(m, "Message-ID")))
        .collect()
}

/// (recipient, Message-ID) of each outbox row with the given status.
fn rows(outbox: &[Value], status: &str) -> BTreeSet<(String, String)> {
    outbox
        .iter()
        .filter(|m| m["status"] == status)
        .map(|m| {
            (
                m["recipient"]["email"].as_str().unwrap().to_string(),
                m["message_id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_lapse_reaches_each_recipient_once_however_often_tick_runs() {
    for db in TestDb::all() {
        let server = SmtpServer::start();
        let s = Setup::new(db, &server.url());
        let reference = s.open_dispute();
        // Stage 1's warning (Tue 3 Nov) and lapse (Wed 4 Nov) are due; the lapse escalates.
        for _ in 0..3 {
            let report = s.tick("2026-11-05T09:00:00Z");
            assert_eq!(report["failed"], serde_json::json!([]));
        }
        let got = received(&server);
        let outbox = s.outbox();
        let sent = rows(&outbox, "sent");
        // Everything queued went, once: the server holds exactly the sent rows, no repeats.
        assert_eq!(got.len(), outbox.len(), "{}: {got:?}", s.db.url);
        assert_eq!(got.iter().cloned().collect::<BTreeSet<_>>(), sent);
        let to = |who: &str| got.iter().filter(|(r, _)| r == who).count();
        // The raiser: stage 1's warning and the escalation notice; each line manager: the notice.
        assert_eq!(to(RAISER), 2, "{got:?}");
        assert_eq!(to("tom.hughes@council.example.gov.uk"), 2);
        assert_eq!(to("dsl@school.example.org"), 1);
        assert_eq!(to("team.manager@council.example.gov.uk"), 1);
        let messages = server.messages();
        let subjects: BTreeSet<String> = messages.iter().map(|m| header(m, "Subject")).collect();
        assert_eq!(
            subjects,
            BTreeSet::from([
                format!("[{reference}] Stage 1 deadline in one working day (due Wed 4 Nov 17:00)"),
                format!("[{reference}] Escalated to Stage 2 (due Thu 12 Nov 17:00)"),
            ])
        );
        for m in &messages {
            let text = decoded(m);
            for child in CHILD {
                assert!(!text.contains(child), "{child} in:\n{text}");
            }
            assert!(text.contains("Content-Type: text/plain"), "{text}");
            assert!(text.contains("Content-Type: text/html"), "{text}");
            assert!(text.contains(&format!("/cases/{reference}")), "{text}");
        }
    }
}

#[test]
fn a_refusing_or_absent_server_leaves_mail_queued_until_it_returns() {
    for db in TestDb::all() {
        let mut server = SmtpServer::down();
        let s = Setup::new(db, &server.url());
        let reference = s.open_dispute();
        s.escalate(&reference, RAISER, "No reply", "2026-11-02T10:00:00Z");

        // Down: nothing goes, everything stays queued with the reason and a later attempt.
        let report = s.tick("2026-11-02T10:00:00Z");
        let queued = report["mail"]["retrying"].as_u64().unwrap();
        assert_eq!(queued, 4, "{report}");
        assert_eq!(report["mail"]["sent"], 0);
        let outbox = s.outbox();
        assert!(
            outbox
                .iter()
                .all(|m| m["status"] == "queued" && m["attempts"] == 1)
        );
        assert!(
            outbox
                .iter()
                .all(|m| m["last_error"].as_str().unwrap().contains("onnect")),
            "{outbox:?}"
        );

        // Up but refusing for now (451): still queued; not retried before the backoff.
        server.run();
        server.set_mode("tempfail");
        let early = s.tick("2026-11-02T10:00:30Z");
        assert_eq!(
            early["mail"]["retrying"], 0,
            "retried before its backoff: {early}"
        );
        let refused = s.tick("2026-11-02T11:00:00Z");
        assert_eq!(
            refused["mail"]["retrying"].as_u64(),
            Some(queued),
            "{refused}"
        );
        assert!(server.messages().is_empty());
        let shown = stdout(&s.run(&["case", "show", &reference]));
        assert!(shown.contains("451"), "{shown}");

        // Back: each message is delivered once, with the Message-ID it was queued with.
        server.set_mode("accept");
        let back = s.tick("2026-11-02T14:00:00Z");
        assert_eq!(back["mail"]["sent"].as_u64(), Some(queued), "{back}");
        let again = s.tick("2026-11-02T18:00:00Z");
        assert_eq!(again["mail"]["sent"], 0);
        let got = received(&server);
        assert_eq!(got.len() as u64, queued);
        assert_eq!(
            got.into_iter().collect::<BTreeSet<_>>(),
            rows(&s.outbox(), "sent")
        );
    }
}

#[test]
fn a_permanent_refusal_is_recorded_and_can_be_retried() {
    for db in TestDb::all() {
        let server = SmtpServer::start();
        server.set_mode("permfail");
        let s = Setup::new(db, &server.url());
        let reference = s.open_dispute();
        s.escalate(&reference, RAISER, "No reply", "2026-11-02T10:00:00Z");
        let report = s.tick("2026-11-02T10:00:00Z");
        assert_eq!(report["mail"]["failed"], 4, "{report}");
        let failed = s.run(&["outbox", "list", "--status", "failed"]);
        let listing = stdout(&failed);
        assert_eq!(listing.lines().count(), 4, "{listing}");
        assert!(
            listing
                .lines()
                .all(|l| l.contains("[failed, 1 attempt(s)]: ") && l.contains("550")),
            "{listing}"
        );
        // Once the address is fixed, `outbox retry` sends it, once.
        server.set_mode("accept");
        let id = s.outbox()[0]["id"].as_i64().unwrap().to_string();
        let retry = s.run(&["outbox", "retry", &id, "--now", "2026-11-02T11:00:00Z"]);
        assert!(
            stdout(&retry).starts_with(&format!("queued again: #{id} ")),
            "{}",
            stderr(&retry)
        );
        let report = s.tick("2026-11-02T11:00:00Z");
        assert_eq!(report["mail"]["sent"], 1, "{report}");
        assert_eq!(server.messages().len(), 1);
        let unknown = s.run(&["outbox", "retry", "999999"]);
        assert_eq!(unknown.status.code(), Some(2));
        assert_eq!(stderr(&unknown), "escalate: no message #999999\n");
        let sent = s.run(&["outbox", "retry", &id]);
        assert_eq!(
            stderr(&sent),
            format!(
                "escalate: message #{id} is sent, not failed: only a failed message is retried\n"
            )
        );
    }
}

#[test]
fn a_missing_contact_is_a_warning_on_the_case_not_a_silent_drop() {
    let db = TestDb::sqlite();
    let server = SmtpServer::start();
    let s = Setup::new(db, &server.url());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("agencies.yaml");
    std::fs::write(
        &file,
        "partnership:\n  name: P\n  business_unit:\n    - {name: BU, email: bu@p.example.org}\n\
         agencies:\n  - name: Riverside Primary School\n    line_manager:\n      - {name: DSL, email: dsl@school.example.org}\n",
    )
    .unwrap();
    assert!(
        s.run(&["agencies", "import", file.to_str().unwrap()])
            .status
            .success()
    );
    let reference = s.open_dispute();
    s.escalate(&reference, RAISER, "No reply", "2026-11-02T10:00:00Z");
    let shown = stdout(&s.run(&["case", "show", &reference]));
    assert!(
        shown.contains(
            "to nobody as line_manager (agency 'Children's Social Care' is not in the directory) [failed]"
        ),
        "{shown}"
    );
    s.tick("2026-11-02T10:00:00Z");
    assert_eq!(server.messages().len(), 3);

    // The directory gains the contact: retrying that message finds them now.
    let failed = json(&s.run(&["outbox", "list", "--status", "failed", "--json"]));
    let id = failed[0]["id"].as_i64().unwrap().to_string();
    let o = s.run(&["outbox", "retry", &id]);
    assert_eq!(o.status.code(), Some(2), "nobody yet: {}", stderr(&o));
    assert!(
        stderr(&o).contains("still has nobody to go to"),
        "{}",
        stderr(&o)
    );
    std::fs::write(
        &file,
        "partnership:\n  name: P\n  business_unit:\n    - {name: BU, email: bu@p.example.org}\n\
         agencies:\n  - name: Riverside Primary School\n    line_manager:\n      - {name: DSL, email: dsl@school.example.org}\n\
         \x20 - name: Children's Social Care\n    line_manager:\n      - {name: Team Manager, email: tm@council.example.gov.uk}\n",
    )
    .unwrap();
    assert!(
        s.run(&["agencies", "import", file.to_str().unwrap()])
            .status
            .success()
    );
    let o = s.run(&["outbox", "retry", &id, "--now", "2026-11-02T10:05:00Z"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with("queued again, to the directory's contact now"),
        "{}",
        stdout(&o)
    );
    s.tick("2026-11-02T10:05:00Z");
    let messages = server.messages();
    assert_eq!(messages.len(), 4);
    assert!(
        messages[3].contains("tm@council.example.gov.uk"),
        "{}",
        messages[3]
    );
}

/// Every template every shipped workflow uses, for each of its states: it renders (subject
/// with the reference, a text and an HTML part) and carries nothing of the child's.
#[tokio::test]
async fn every_template_of_every_shipped_workflow_renders_without_child_details() {
    use escalate::directory::{Directory, Recipient};
    use escalate::notify::{Dispatcher, MailSettings, Mailer, Templates};
    use escalate::workflow::{ActionKind, EventFields, Workflows};
    use std::path::Path;

    let db = TestDb::sqlite();
    let store = escalate::store::connect(&db.url).await.unwrap();
    store.migrate().await.unwrap();
    let text = std::fs::read_to_string("config/agencies.yaml").unwrap();
    let directory = Directory::parse(Path::new("config/agencies.yaml"), &text).unwrap();
    let now = "2026-11-02T09:00:00Z".parse().unwrap();
    store
        .replace_directory(&directory, now, None)
        .await
        .unwrap();
    let workflows =
        Workflows::load_dir(Path::new("workflows"), Path::new("config/templates")).unwrap();
    let engine = escalate::engine::Engine::new(
        store.clone(),
        workflows.clone(),
        escalate::calendar::Calendar::official(),
    );
    let mail_dir = tempfile::tempdir().unwrap();
    let mailer =
        Mailer::from_url(&format!("file://{}", mail_dir.path().display()), None, 1).unwrap();
    let settings = MailSettings {
        from: "Escalations <escalate@partnership.example.org>"
            .parse()
            .unwrap(),
        base_url: "https://escalate.example.org".into(),
        retry_for: chrono::TimeDelta::hours(72),
        first_backoff: chrono::TimeDelta::seconds(30),
        max_backoff: chrono::TimeDelta::hours(1),
        lease: chrono::TimeDelta::seconds(60),
        in_flight: 8,
        send_timeout: std::time::Duration::from_secs(30),
        form_free_text: false,
    };
    let templates = Templates::load(Path::new("config/templates")).unwrap();
    let dispatcher = Dispatcher::new(&engine, mailer, templates, settings);
    let mut rendered = 0;
    for def in workflows.iter() {
        let data: Value = serde_json::from_str(
            &std::fs::read_to_string(format!("examples/{}.json", def.id)).unwrap(),
        )
        .unwrap();
        let child: Vec<String> = ["child.name", "child.reference", "child.date_of_birth"]
            .iter()
            .filter_map(|p| escalate::workflow::lookup(&data, p))
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        assert!(!child.is_empty(), "{} example names a child", def.id);
        // Opened by the first party the example names (only a party or a contact may open).
        let opener = def
            .roles
            .iter()
            .find_map(|r| match &r.kind {
                escalate::workflow::RoleKind::Party { path } => {
                    escalate::workflow::lookup(&data, &format!("{path}.email"))
                        .and_then(Value::as_str)
                        .map(str::to_string)
                }
                _ => None,
            })
            .unwrap();
        let case = engine
            .open(
                &def.id,
                data,
                None,
                &EventFields::new(),
                &escalate::ids::UserEmail::parse(&opener).unwrap(),
                now,
            )
            .await
            .unwrap();
        // Each template in the context of each state that sends it.
        let mut uses: Vec<(String, &str, String)> = Vec::new();
        for state in &def.states {
            for action in &state.on_entry {
                let kind = match action.kind {
                    ActionKind::Email => "email",
                    ActionKind::Form => "form",
                };
                uses.push((state.name.clone(), kind, action.template.clone()));
            }
            if let Some(deadline) = &state.deadline {
                uses.push((state.name.clone(), "email", deadline.warn_template.clone()));
                if let Some(t) = &deadline.on_lapse.template {
                    uses.push((state.name.clone(), "email", t.clone()));
                }
            }
        }
        for task in &def.tasks {
            uses.push((
                def.states[0].name.clone(),
                "email",
                task.deadline.warn_template.clone(),
            ));
            if let Some(t) = &task.deadline.on_lapse.template {
                uses.push((def.states[0].name.clone(), "email", t.clone()));
            }
        }
        for (state, kind, template) in uses {
            let row = escalate::store::OutboxRecord {
                id: 1,
                case_id: Some(case.id),
                idempotency_key: format!("{}/1/1", case.reference),
                message_id: Some(format!("<{}.1.1@escalate>", case.reference)),
                kind: kind.into(),
                template: template.clone(),
                recipient: Recipient {
                    role: "raiser".into(),
                    title: "Professional who raised it".into(),
                    name: "Priya Shah".into(),
                    email: "priya.shah@school.example.org".into(),
                    agency: None,
                    missing: None,
                },
                payload: serde_json::json!({
                    "workflow": def.title, "state": state, "entered": true,
                    "event": "escalate", "event_title": "Escalate", "by": "lead@example.org",
                    "reason": "No reply", "outcome": null, "slot": null,
                }),
                status: "queued".into(),
                attempts: 0,
                next_attempt_at: now,
                last_error: None,
                reply: None,
                created_at: now,
                sent_at: None,
                queued_at: None,
            };
            let message = dispatcher
                .compose(&row, now)
                .await
                .unwrap_or_else(|e| panic!("{} {template} in {state}: {e}", def.id));
            let formatted = String::from_utf8(message.formatted()).unwrap();
            let subject = header(&formatted, "Subject");
            assert!(
                subject.starts_with(&format!("[{}] ", case.reference)),
                "{template}: {subject}"
            );
            let text = decoded(&formatted);
            assert!(text.contains("Content-Type: text/plain"), "{template}");
            assert!(text.contains("Content-Type: text/html"), "{template}");
            for c in &child {
                assert!(
                    !text.contains(c.as_str()),
                    "{template} in {state} names {c}"
                );
            }
            if kind == "form" {
                assert!(text.contains("Content-Type: application/pdf"), "{template}");
            }
            rendered += 1;
        }
    }
    assert!(rendered >= 20, "only {rendered} renderings");
}

/// Each leaf part of a message: its content type and decoded bytes.
fn parts(message: &str) -> Vec<(String, Vec<u8>)> {
    common::mime_parts(message)
        .into_iter()
        .map(|p| (p.content_type, p.body))
        .collect()
}

#[test]
fn stage_3_sends_the_monitoring_form_as_a_pdf_and_html_without_child_details() {
    for db in TestDb::all() {
        let server = SmtpServer::start();
        let s = Setup::new(db, &server.url());
        let reference = s.open_dispute();
        for (by, at) in [
            (RAISER, "2026-11-02T10:00:00Z"),
            ("dsl@school.example.org", "2026-11-03T10:00:00Z"),
        ] {
            s.escalate(&reference, by, "No agreement", at);
        }
        let report = s.tick("2026-11-03T10:05:00Z");
        assert_eq!(report["mail"]["failed"], 0, "{report}");
        let forms: Vec<String> = server
            .messages()
            .into_iter()
            .filter(|m| header(m, "Subject") == format!("[{reference}] Stage 3 monitoring form"))
            .collect();
        // The raiser, the respondent, both senior managers and the business unit.
        let to: BTreeSet<String> = forms.iter().map(|m| header(m, "X-Envelope-To")).collect();
        assert_eq!(
            to,
            BTreeSet::from([
                RAISER.to_string(),
                "tom.hughes@council.example.gov.uk".to_string(),
                "head@school.example.org".to_string(),
                "head.of.service@council.example.gov.uk".to_string(),
                "business.unit@partnership.example.org".to_string(),
            ])
        );
        let form = parts(&forms[0]);
        let kinds: Vec<&str> = form.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(kinds, ["text/plain", "text/html", "application/pdf"]);
        let html = String::from_utf8(form[1].1.clone()).unwrap();
        assert!(
            html.contains(&reference) && html.contains("Decisions made"),
            "{html}"
        );
        let pdf = &form[2].1;
        assert!(pdf.starts_with(b"%PDF-"));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("form.pdf");
        std::fs::write(&file, pdf).unwrap();
        let text = std::process::Command::new("pdftotext")
            .args([file.to_str().unwrap(), "-"])
            .output()
            .unwrap();
        assert!(text.status.success(), "the PDF does not parse");
        let text = String::from_utf8_lossy(&text.stdout).into_owned();
        assert!(text.contains(&reference), "{text}");
        assert!(text.contains("Riverside Primary School") && text.contains("Escalate to stage"));
        for part in [html.as_str(), text.as_str(), &decoded(&forms[0])] {
            for child in CHILD {
                assert!(!part.contains(child), "{child} in the form");
            }
        }
    }
}

#[test]
fn the_completed_form_is_recorded_back_on_the_case() {
    let db = TestDb::sqlite();
    let s = Setup::new(db, "file:///dev/null/unused");
    let reference = s.open_dispute();
    for (by, at) in [
        (RAISER, "2026-11-02T10:00:00Z"),
        ("dsl@school.example.org", "2026-11-03T10:00:00Z"),
    ] {
        s.escalate(&reference, by, "x", at);
    }
    let o = s.run(&[
        "case",
        "event",
        &reference,
        "record_form",
        "--by",
        "head@school.example.org",
        "--field",
        "decisions=Assessment to start",
        "--field",
        "child_at_risk=no",
        "--field",
        "learning=Share thresholds guidance",
        "--now",
        "2026-11-04T10:00:00Z",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let shown = json(&s.run(&["case", "show", &reference, "--json"]));
    let last = shown["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["event"], "record_form");
    assert_eq!(last["actor"], "head@school.example.org");
    assert_eq!(last["fields"]["decisions"], "Assessment to start");
    assert_eq!(last["fields"]["learning"], "Share thresholds guidance");
}

#[test]
fn three_ticks_at_once_deliver_each_message_once() {
    for db in TestDb::all() {
        let server = SmtpServer::start();
        let s = Setup::new(db, &server.url());
        for _ in 0..15 {
            let reference = s.open_dispute();
            s.escalate(&reference, RAISER, "No reply", "2026-11-02T10:00:00Z");
        }
        let env: Vec<(&str, &str)> = s.env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let ticks: Vec<_> = (0..3)
            .map(|_| {
                let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_escalate"));
                cmd.args(["tick", "--now", "2026-11-02T10:00:00Z", "--json"])
                    .current_dir(env!("CARGO_MANIFEST_DIR"))
                    .envs(env.iter().copied())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped());
                cmd.spawn().unwrap()
            })
            .collect();
        let mut sent = 0;
        for t in ticks {
            let out = t.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let report: Value = serde_json::from_slice(&out.stdout).unwrap();
            sent += report["mail"]["sent"].as_u64().unwrap();
        }
        let got = received(&server);
        // 15 escalations, four messages each: every one sent by exactly one of the ticks.
        assert_eq!(got.len(), 60, "{}", s.db.url);
        assert_eq!(sent, 60);
        let unique: BTreeSet<_> = got.iter().cloned().collect();
        assert_eq!(unique.len(), 60);
        assert_eq!(unique, rows(&s.outbox(), "sent"));
    }
}

/// The PDF's text, by pdftotext.
fn pdf_text(pdf: &[u8]) -> String {
    assert!(pdf.starts_with(b"%PDF-"));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("form.pdf");
    std::fs::write(&file, pdf).unwrap();
    let text = std::process::Command::new("pdftotext")
        .args([file.to_str().unwrap(), "-"])
        .output()
        .unwrap();
    assert!(text.status.success(), "the PDF does not parse");
    String::from_utf8_lossy(&text.stdout).into_owned()
}

#[test]
fn the_emailed_form_carries_free_text_only_when_the_partnership_turns_it_on() {
    // Typed text that may name a child: the summary, a reason, an agreed action.
    const SUMMARY: &str = "Referral about neglect concerns";
    const REASON: &str = "Mother of the child did not attend";
    const ACTION: &str = "Strategy discussion with the family";
    for free_text in [false, true] {
        let server = SmtpServer::start();
        let mut s = Setup::new(TestDb::sqlite(), &server.url());
        if free_text {
            s.env
                .push(("ESCALATE_MAIL__FORM_FREE_TEXT", "true".to_string()));
        }
        let reference = s.open_dispute();
        let o = s.run(&[
            "case",
            "event",
            &reference,
            "agree_action",
            "--by",
            RAISER,
            "--field",
            &format!("action={ACTION}"),
            "--field",
            "owner=tom.hughes@council.example.gov.uk",
            "--now",
            "2026-11-02T09:30:00Z",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        s.escalate(&reference, RAISER, REASON, "2026-11-02T10:00:00Z");
        s.escalate(
            &reference,
            "dsl@school.example.org",
            REASON,
            "2026-11-03T10:00:00Z",
        );
        let report = s.tick("2026-11-03T10:05:00Z");
        assert_eq!(report["mail"]["failed"], 0, "{report}");
        let form = server
            .messages()
            .into_iter()
            .find(|m| header(m, "Subject") == format!("[{reference}] Stage 3 monitoring form"))
            .unwrap();
        let parts = parts(&form);
        let html = String::from_utf8(parts[1].1.clone()).unwrap();
        let pdf = pdf_text(&parts[2].1);
        let text = String::from_utf8(parts[0].1.clone()).unwrap();
        // pdftotext may break long lines anywhere: compare without line breaks.
        let pdf_flat = pdf.split_whitespace().collect::<Vec<_>>().join(" ");
        for typed in [SUMMARY, REASON, ACTION] {
            for (what, part) in [("PDF", &pdf_flat), ("HTML", &html), ("text", &text)] {
                if free_text && what != "text" {
                    assert!(
                        part.contains(typed),
                        "{typed} missing from the {what}: {part}"
                    );
                } else if !free_text {
                    assert!(!part.contains(typed), "{typed} in the {what}: {part}");
                }
            }
        }
        if !free_text {
            assert!(pdf_flat.contains("read it on the case page"), "{pdf}");
            assert!(html.contains("read it on the case page"), "{html}");
        }
        // Who agreed what with whom, and when, is on the form either way.
        assert!(pdf_flat.contains("Record an action agreed"), "{pdf}");
        assert!(
            pdf_flat.contains("tom.hughes@council.example.gov.uk"),
            "{pdf}"
        );
    }
}

/// A back-dated event's messages get their full retry window, counted on the real clock from
/// when they were queued, not from the event's date: with the server down, today's tick keeps
/// retrying a message about an event entered as of three weeks ago.
#[test]
fn a_back_dated_events_messages_get_their_full_retry_window() {
    let db = TestDb::sqlite();
    let server = SmtpServer::down();
    let s = Setup::new(db, &server.url());
    let reference = s.open_dispute();
    s.escalate(&reference, RAISER, "No reply", "2026-11-02T10:00:00Z");
    let report = s.tick(&chrono::Utc::now().to_rfc3339());
    assert_eq!(report["mail"]["failed"], 0, "{report}");
    assert!(report["mail"]["retrying"].as_u64().unwrap() > 0, "{report}");
    assert!(
        s.outbox()
            .iter()
            .filter(|m| m["recipient"]["missing"].is_null())
            .all(|m| m["status"] == "queued"),
        "{:?}",
        s.outbox()
    );
}
