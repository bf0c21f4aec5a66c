//! Linked cases: a case opened by another's event is linked both ways (and its opening entry
//! names its source), a second open dispute for the same case is refused, and closing a case
//! tells the parties of its open linked cases without closing them.

mod common;

use common::{TestDb, escalate, json, stderr, stdout};
use serde_json::Value;

const ORIGINATING: &str = "ruth.evans@northshire.example.gov.uk";
const RECEIVING: &str = "daniel.okafor@southborough.example.gov.uk";

fn run(env: &[(&str, &str)], args: &[&str]) -> std::process::Output {
    escalate(args, env)
}

fn ok(o: std::process::Output) -> String {
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o)
}

fn show(env: &[(&str, &str)], reference: &str) -> Value {
    json(&run(env, &["case", "show", reference, "--json"]))
}

#[test]
fn a_transfer_and_its_dispute_are_linked_once_and_told_of_each_other_closing() {
    for db in TestDb::all() {
        let env = [("ESCALATE_DATABASE_URL", db.url.as_str())];
        let opened = ok(run(
            &env,
            &[
                "case",
                "open",
                "--workflow",
                "transfer",
                "--data",
                "examples/transfer.json",
                "--by",
                ORIGINATING,
                "--now",
                "2026-11-02T09:00:00Z",
            ],
        ));
        let transfer = opened.split_whitespace().next().unwrap().to_string();
        let raise = |now: &str| {
            run(
                &env,
                &[
                    "case",
                    "event",
                    &transfer,
                    "raise_dispute",
                    "--by",
                    ORIGINATING,
                    "--reason",
                    "No decision yet",
                    "--now",
                    now,
                ],
            )
        };
        let out = ok(raise("2026-11-20T10:00:00Z"));
        assert!(out.contains("opened linked case DSP-2026-000001"), "{out}");

        // Linked both ways, in text and JSON; the dispute's opening entry names its source.
        let t = show(&env, &transfer);
        assert_eq!(t["links"][0]["relation"], "opened");
        assert_eq!(t["links"][0]["reference"], "DSP-2026-000001");
        assert_eq!(t["links"][0]["event"], "raise_dispute");
        let d = show(&env, "DSP-2026-000001");
        assert_eq!(d["links"][0]["relation"], "opened_by");
        assert_eq!(d["links"][0]["reference"], transfer.as_str());
        assert_eq!(d["history"][0]["fields"]["opened_from"], transfer.as_str());
        let text = ok(run(&env, &["case", "show", &transfer]));
        assert!(
            text.contains("links:\n  opened DSP-2026-000001 (dispute, stage1) by 'raise_dispute'"),
            "{text}"
        );

        // A second dispute while the first is open: refused, nothing written.
        let entries = show(&env, &transfer)["history"].as_array().unwrap().len();
        let o = raise("2026-11-20T11:00:00Z");
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert_eq!(
            stderr(&o),
            format!(
                "escalate: {transfer} already has DSP-2026-000001 open; it takes no second one until that one closes\n"
            )
        );
        assert_eq!(
            show(&env, &transfer)["history"].as_array().unwrap().len(),
            entries
        );
        let disputes = json(&run(
            &env,
            &["case", "list", "--workflow", "dispute", "--json"],
        ));
        assert_eq!(disputes.as_array().unwrap().len(), 1);

        // The transfer closes (the receiving authority decides): the dispute stays open, and
        // its parties are told, in its history and by mail.
        ok(run(
            &env,
            &[
                "case",
                "event",
                &transfer,
                "decide",
                "--by",
                RECEIVING,
                "--field",
                "level_of_need=child_in_need",
                "--reason",
                "Assessed",
                "--now",
                "2026-11-20T12:00:00Z",
            ],
        ));
        let d = show(&env, "DSP-2026-000001");
        assert_eq!(d["state"], "stage1");
        assert_eq!(d["closed_at"], Value::Null);
        let last = d["history"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["event"], "linked_case_closed");
        assert_eq!(last["actor"], "engine");
        assert_eq!(last["fields"]["linked"], transfer.as_str());
        let told: Vec<&str> = d["outbox"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["template"] == "linked_closed")
            .map(|m| m["recipient"]["email"].as_str().unwrap())
            .collect();
        assert_eq!(told, [ORIGINATING, RECEIVING]);
        // The notice renders and goes out, naming no child.
        let mail = tempfile::tempdir().unwrap();
        let smtp = format!("file://{}", mail.path().display());
        let with_mail = [
            ("ESCALATE_DATABASE_URL", db.url.as_str()),
            ("ESCALATE_SMTP_URL", smtp.as_str()),
        ];
        ok(run(&with_mail, &["tick", "--now", "2026-11-20T12:01:00Z"]));
        let d = show(&env, "DSP-2026-000001");
        for m in d["outbox"].as_array().unwrap() {
            if m["template"] == "linked_closed" {
                assert_eq!(m["status"], "sent", "{m}");
            }
        }
        let notices: Vec<String> = std::fs::read_dir(mail.path())
            .unwrap()
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .filter(|m| m.contains("A linked case has closed"))
            .collect();
        assert_eq!(notices.len(), 2);
        for m in &notices {
            assert!(
                m.contains(&format!("The linked case {transfer} has closed")),
                "{m}"
            );
            assert!(!m.contains("Jamie") && !m.contains("LCS-118230"), "{m}");
        }
        assert!(
            ok(run(&env, &["audit", "verify"])).starts_with("audit log intact"),
            "the notices are chained like any entry"
        );
        one_read_is_the_separate_reads(&db.url, &[&transfer, "DSP-2026-000001"]);
    }
}

/// A case's file read in one statement (`Store::case_file`, what `case show` and the API
/// answer with) is exactly what the separate reads of its parts give: here cases with links
/// both ways, entries with fields, deadlines met, cancelled and pending, messages sent.
fn one_read_is_the_separate_reads(url: &str, references: &[&str]) {
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let store = escalate::store::connect(url).await.unwrap();
        for reference in references {
            let file = store.case_file(reference).await.unwrap().unwrap();
            let case = store.case_by_reference(reference).await.unwrap().unwrap();
            assert_eq!(file.events, store.events(case.id).await.unwrap());
            assert_eq!(file.deadlines, store.deadlines(case.id).await.unwrap());
            assert_eq!(file.outbox, store.outbox(case.id).await.unwrap());
            assert_eq!(file.links, store.links(case.id).await.unwrap());
            assert_eq!(file.case, case);
            assert!(file.events.len() > 1 && !file.links.is_empty() && !file.outbox.is_empty());
        }
        assert_eq!(store.case_file("DSP-2026-999999").await.unwrap(), None);
    });
}

#[test]
fn a_referral_escalated_into_a_dispute_is_linked() {
    for db in TestDb::all() {
        let env = [("ESCALATE_DATABASE_URL", db.url.as_str())];
        let referrer = "jo.patel@nursery.example.org";
        let social = "frontdoor@council.example.gov.uk";
        ok(run(
            &env,
            &[
                "case",
                "open",
                "--workflow",
                "referral",
                "--data",
                "examples/referral.json",
                "--by",
                referrer,
                "--now",
                "2026-11-23T09:00:00Z",
            ],
        ));
        let referral = "REF-2026-000001";
        for (event, by, extra, at) in [
            (
                "decline",
                social,
                "--reason=Threshold not met",
                "2026-11-23T10:00:00Z",
            ),
            ("give_feedback", social, "", "2026-11-23T11:00:00Z"),
            (
                "escalate",
                referrer,
                "--reason=Bruising",
                "2026-11-23T12:00:00Z",
            ),
        ] {
            let mut args = vec!["case", "event", referral, event, "--by", by, "--now", at];
            if !extra.is_empty() {
                args.push(extra);
            }
            ok(run(&env, &args));
        }
        let r = show(&env, referral);
        assert_eq!(r["links"][0]["relation"], "opened");
        let dispute = r["links"][0]["reference"].as_str().unwrap().to_string();
        assert!(dispute.starts_with("DSP-2026-"), "{dispute}");
        let d = show(&env, &dispute);
        assert_eq!(d["links"][0]["reference"], referral);
        assert_eq!(d["links"][0]["relation"], "opened_by");
    }
}
