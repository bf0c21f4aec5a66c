//! The weekly digest over a real SMTP server, on each backend: each person named on open cases
//! (a party, or an owner of the stage a case is at) gets one message of their open cases,
//! once per week however often the scheduler runs, and no child is named in it.

mod common;

use common::{SmtpServer, TestDb, escalate, json, mime_parts, stderr};

fn ok(env: &[(&str, &str)], args: &[&str]) -> String {
    let o = escalate(args, env);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    String::from_utf8(o.stdout).unwrap()
}

/// The recipient and the decoded text part of each message.
fn digests(server: &SmtpServer) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = server
        .messages()
        .iter()
        .map(|m| {
            // The address alone: names may be encoded words.
            let to = m
                .lines()
                .find_map(|l| l.strip_prefix("To: "))
                .and_then(|l| l.rsplit_once('<'))
                .map(|(_, a)| a.trim_end_matches('>').to_string())
                .unwrap();
            let text = mime_parts(m)
                .into_iter()
                .find(|p| p.content_type == "text/plain")
                .map(|p| String::from_utf8(p.body).unwrap())
                .unwrap();
            let html = mime_parts(m)
                .into_iter()
                .find(|p| p.content_type == "text/html")
                .map(|p| String::from_utf8(p.body).unwrap())
                .unwrap();
            // The HTML part names no child either.
            assert!(
                !html.contains("Sam Example") && !html.contains("LCS-204417"),
                "{html}"
            );
            assert!(!html.contains("neglect"), "{html}");
            let subject = m.lines().find_map(|l| l.strip_prefix("Subject: ")).unwrap();
            (to, format!("{subject}\n{text}"))
        })
        .collect();
    out.sort();
    out
}

#[test]
fn each_person_gets_their_open_cases_once_a_week() {
    for db in TestDb::all() {
        let server = SmtpServer::start();
        let smtp = server.url();
        let env = [
            ("ESCALATE_DATABASE_URL", db.url.as_str()),
            ("ESCALATE_SMTP_URL", smtp.as_str()),
            ("ESCALATE_JOBS__WEEKLY_DIGEST", "0 8 * * 1"),
            ("ESCALATE_MAIL__BASE_URL", "https://escalate.example.org/"),
        ];
        ok(&env, &["agencies", "import", "config/agencies.yaml"]);
        // Friday 20 November 2026: A stays at stage 1 (due Tuesday 24th), B moves to stage 2
        // (due Friday 27th), C is resolved the same day.
        let a = common::open_dispute(&env, Some("2026-11-20T09:00:00Z"));
        let b = common::open_dispute(&env, Some("2026-11-20T09:05:00Z"));
        ok(
            &env,
            &[
                "case",
                "event",
                &b,
                "escalate",
                "--by",
                "priya.shah@school.example.org",
                "--reason",
                "No reply",
                "--now",
                "2026-11-20T10:00:00Z",
            ],
        );
        let c = common::open_dispute(&env, Some("2026-11-20T09:10:00Z"));
        ok(
            &env,
            &[
                "case",
                "event",
                &c,
                "resolve",
                "--by",
                "priya.shah@school.example.org",
                "--field",
                "outcome=resolved",
                "--reason",
                "Agreed",
                "--now",
                "2026-11-20T11:00:00Z",
            ],
        );
        // The schedule starts at the first tick; the stage-2 notice goes out now.
        ok(&env, &["tick", "--now", "2026-11-20T12:00:00Z"]);
        let before = server.messages().len();

        let ran = json(&escalate(
            &["tick", "--json", "--now", "2026-11-23T08:00:20Z"],
            &env,
        ));
        let digest_run = ran["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["job"] == "weekly_digest")
            .unwrap_or_else(|| panic!("{ran}"));
        assert_eq!(digest_run["outcome"], "ok", "{ran}");
        let all = server.messages();
        let sent = digests(&server);
        let sent: Vec<_> = sent
            .into_iter()
            .filter(|(_, text)| text.starts_with("Your open cases"))
            .collect();
        assert_eq!(all.len() - before, sent.len(), "only digests went out");
        let to: Vec<&str> = sent.iter().map(|(to, _)| to.as_str()).collect();
        // Parties of both open cases; the line managers of both agencies own B's stage 2.
        assert_eq!(
            to,
            [
                "dsl@school.example.org",
                "priya.shah@school.example.org",
                "team.manager@council.example.gov.uk",
                "tom.hughes@council.example.gov.uk",
            ],
            "{sent:#?}"
        );
        let priya = &sent[1].1;
        assert!(
            priya.starts_with("Your open cases, week of Mon 23 Nov 2026: 2 open\n"),
            "{priya}"
        );
        // Soonest deadline first: A (Tuesday) before B (Friday); C is closed.
        let (at_a, at_b) = (priya.find(&a).unwrap(), priya.find(&b).unwrap());
        assert!(at_a < at_b, "{priya}");
        assert!(!priya.contains(&c));
        assert!(priya.contains("Due: Tue 24 Nov 2026 17:00 GMT"), "{priya}");
        assert!(
            priya.contains(&format!("https://escalate.example.org/cases/{a}")),
            "{priya}"
        );
        let dsl = &sent[0].1;
        assert!(dsl.contains(&b) && !dsl.contains(&a), "{dsl}");
        assert!(
            dsl.contains("You: Line managers or designated safeguarding leads"),
            "{dsl}"
        );
        for (_, text) in &sent {
            assert!(
                !text.contains("Sam Example") && !text.contains("LCS-204417"),
                "{text}"
            );
            assert!(!text.contains("neglect"), "no summary text: {text}");
        }

        // Later the same week, and a second tick at the same minute: nothing more.
        ok(&env, &["tick", "--now", "2026-11-23T08:00:40Z"]);
        ok(&env, &["tick", "--now", "2026-11-23T15:00:00Z"]);
        assert_eq!(server.messages().len(), all.len());
        let listed = json(&escalate(
            &["jobs", "list", "--json", "--now", "2026-11-23T15:00:00Z"],
            &env,
        ));
        let job = listed
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["job"] == "weekly_digest")
            .unwrap();
        assert_eq!(job["next_run"], "2026-11-30T08:00:00Z");
        assert!(
            job["last"]["message"]
                .as_str()
                .unwrap()
                .starts_with("weekly digest of 2 open case(s) for 4 person(s): 4 queued"),
            "{job}"
        );
    }
}

#[test]
fn serve_refuses_the_digest_without_its_template() {
    let db = TestDb::sqlite();
    // Every template but the digest's.
    let dir = tempfile::tempdir().unwrap();
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/templates");
    for entry in std::fs::read_dir(shipped).unwrap() {
        let entry = entry.unwrap();
        if !entry
            .file_name()
            .to_string_lossy()
            .starts_with("weekly_digest")
        {
            std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
        }
    }
    let templates = dir.path().to_str().unwrap();
    let o = escalate(
        &["serve", "--addr", "127.0.0.1:0"],
        &[
            ("ESCALATE_DATABASE_URL", db.url.as_str()),
            ("ESCALATE_JOBS__WEEKLY_DIGEST", "0 8 * * 1"),
            ("ESCALATE_TEMPLATES_DIR", templates),
        ],
    );
    common::assert_one_line_error(
        &o,
        "weekly_digest.txt is missing: jobs.weekly_digest is on, and the digest is sent with it",
    );
}
