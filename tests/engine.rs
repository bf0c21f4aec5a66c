//! The durable engine on SQLite and PostgreSQL, through the library and the binary.

mod common;

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use common::{TestDb, cref, escalate, json, stderr, stdout, user};
use escalate::calendar::Calendar;
use escalate::engine::{Engine, EngineError};
use escalate::store::{self, DeadlineStatus, chain};
use escalate::workflow::{EventFields, Refusal, Slot, TimerKind, Workflows};
use serde_json::Value;

const RAISER: &str = "priya.shah@school.example.org";
/// Opens cases: the raiser (only a party or a directory contact may open one).
const LEAD: &str = RAISER;

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn example(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(format!("examples/{name}.json")).unwrap())
        .unwrap()
}

fn reason(text: &str) -> EventFields {
    EventFields::from([("reason".to_string(), text.to_string())])
}

async fn engine(db: &TestDb) -> Engine {
    let store = store::connect(&db.url).await.unwrap();
    store.migrate().await.unwrap();
    let workflows =
        Workflows::load_dir(Path::new("workflows"), Path::new("config/templates")).unwrap();
    Engine::new(store, workflows, Calendar::official()).allow_future(true)
}

#[tokio::test]
async fn open_and_record_keep_state_history_deadlines_and_outbox_together() {
    for db in TestDb::all() {
        let engine = engine(&db).await;
        let case = engine
            .open(
                "dispute",
                example("dispute"),
                None,
                &EventFields::new(),
                &user(LEAD),
                t("2026-11-02T09:00:00Z"),
            )
            .await
            .unwrap();
        assert_eq!(case.reference, "DSP-2026-000001", "{}", db.url);
        let second = engine
            .open(
                "dispute",
                example("dispute"),
                None,
                &EventFields::new(),
                &user(LEAD),
                t("2026-11-02T09:05:00Z"),
            )
            .await
            .unwrap();
        assert_eq!(second.reference, "DSP-2026-000002");

        let recorded = engine
            .record(
                &cref(&case.reference),
                "escalate",
                &reason("No reply"),
                &user(RAISER),
                t("2026-11-03T10:00:00Z"),
            )
            .await
            .unwrap();
        assert_eq!(recorded.state, "stage2");
        assert_eq!(recorded.fired_first, 0);
        let view = engine.show(&case.reference).await.unwrap();
        let history: Vec<(i64, &str, &str, &str)> = view
            .history
            .iter()
            .map(|e| {
                (
                    e.seq,
                    e.event.as_str(),
                    e.actor.as_str(),
                    e.to_state.as_str(),
                )
            })
            .collect();
        assert_eq!(
            history,
            [
                (1, "open", LEAD, "stage1"),
                (2, "escalate", RAISER, "stage2")
            ]
        );
        assert_eq!(view.history[1].reason.as_deref(), Some("No reply"));
        let deadlines: Vec<(Slot, TimerKind, DeadlineStatus, String)> = view
            .deadlines
            .iter()
            .map(|d| (d.slot.clone(), d.kind, d.status, d.due_at.to_rfc3339()))
            .collect();
        let stage = |s: &str| Slot::State(s.into());
        assert_eq!(
            deadlines,
            [
                (
                    stage("stage1"),
                    TimerKind::Warning,
                    DeadlineStatus::Met,
                    "2026-11-03T17:00:00+00:00".into()
                ),
                (
                    stage("stage1"),
                    TimerKind::Lapse,
                    DeadlineStatus::Met,
                    "2026-11-04T17:00:00+00:00".into()
                ),
                (
                    stage("stage2"),
                    TimerKind::Warning,
                    DeadlineStatus::Pending,
                    "2026-11-09T17:00:00+00:00".into()
                ),
                (
                    stage("stage2"),
                    TimerKind::Lapse,
                    DeadlineStatus::Pending,
                    "2026-11-10T17:00:00+00:00".into()
                ),
            ]
        );
        assert!(
            view.deadlines[3]
                .explanation
                .starts_with("Due Tue 10 Nov 2026 17:00 GMT")
        );
        // One message per person: the two parties, and for the line managers (no directory
        // imported here) a failed row that says why, so the gap shows on the case.
        let sent: Vec<(&str, &str, &str, &str)> = view
            .outbox
            .iter()
            .map(|m| {
                (
                    m.idempotency_key.as_str(),
                    m.recipient.role.as_str(),
                    m.recipient.email.as_str(),
                    m.status.as_str(),
                )
            })
            .collect();
        assert_eq!(
            sent,
            [
                ("DSP-2026-000001/2/1", "raiser", RAISER, "queued"),
                (
                    "DSP-2026-000001/2/2",
                    "respondent",
                    "tom.hughes@council.example.gov.uk",
                    "queued"
                ),
                ("DSP-2026-000001/2/3", "line_manager", "", "failed"),
                ("DSP-2026-000001/2/4", "line_manager", "", "failed"),
            ]
        );
        assert!(
            view.outbox
                .iter()
                .all(|m| m.template == "escalation_notice")
        );
        assert_eq!(
            view.outbox[2].last_error.as_deref(),
            Some("agency 'Riverside Primary School' is not in the directory")
        );
        assert_eq!(
            view.outbox[3].last_error.as_deref(),
            Some("agency 'Children's Social Care' is not in the directory")
        );
        let id = view.outbox[0].message_id.as_deref().unwrap();
        assert!(
            id.starts_with("<DSP-2026-000001.2.1.") && id.ends_with("@escalate>"),
            "{id}"
        );
        assert_ne!(view.outbox[0].message_id, view.outbox[1].message_id);
        let payload = view.outbox[0].payload.to_string();
        assert!(
            !payload.contains("Sam Example") && !payload.contains("LCS-204417"),
            "{payload}"
        );
    }
}

#[tokio::test]
async fn refusals_write_nothing() {
    for db in TestDb::all() {
        let engine = engine(&db).await;
        let case = engine
            .open(
                "dispute",
                example("dispute"),
                None,
                &EventFields::new(),
                &user(LEAD),
                t("2026-11-02T09:00:00Z"),
            )
            .await
            .unwrap();
        let before = engine.show(&case.reference).await.unwrap();
        let now = t("2026-11-02T10:00:00Z");
        let err = engine
            .record(
                &cref(&case.reference),
                "escalate",
                &EventFields::new(),
                &user(RAISER),
                now,
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, EngineError::Refused(Refusal::MissingField { .. })),
            "{err}"
        );
        let err = engine
            .record(
                &cref(&case.reference),
                "escalate",
                &reason("x"),
                &user("stranger@example.org"),
                now,
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, EngineError::Refused(Refusal::NotAllowed { .. })),
            "{err}"
        );
        let err = engine
            .record(
                &cref(&case.reference),
                "fly",
                &reason("x"),
                &user(RAISER),
                now,
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, EngineError::Refused(Refusal::UnknownEvent { .. })),
            "{err}"
        );
        let err = engine
            .record(
                &cref("DSP-2026-999999"),
                "escalate",
                &reason("x"),
                &user(RAISER),
                now,
            )
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "no case with reference 'DSP-2026-999999'");
        let err = engine
            .record(
                &cref(&case.reference),
                "escalate",
                &reason("x"),
                &user(RAISER),
                t("2026-11-01T10:00:00Z"),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, EngineError::Backdated { .. }), "{err}");
        let after = engine.show(&case.reference).await.unwrap();
        assert_eq!(before.history, after.history);
        assert_eq!(before.deadlines, after.deadlines);
        assert_eq!(before.outbox, after.outbox);
        assert_eq!(before.case, after.case);

        let mut bad = example("dispute");
        bad["raised_by"]["email"] = Value::String("not-an-email".into());
        let err = engine
            .open("dispute", bad, None, &EventFields::new(), &user(LEAD), now)
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "case data: raised_by.email: \"not-an-email\" is not an email address"
        );
        assert_eq!(engine.list(&Default::default()).await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn a_batch_that_fails_half_way_leaves_nothing_behind() {
    for db in TestDb::all() {
        let engine = engine(&db).await;
        let case = engine
            .open(
                "referral",
                example("referral"),
                None,
                &EventFields::new(),
                &user("jo.patel@nursery.example.org"),
                t("2026-11-23T09:00:00Z"),
            )
            .await
            .unwrap();
        // Move it to not_accepted, then escalate: a write of the referral and a new dispute.
        let social = "frontdoor@council.example.gov.uk";
        for (event, fields, at) in [
            (
                "decline",
                reason("Threshold not met"),
                "2026-11-23T10:00:00Z",
            ),
            ("give_feedback", EventFields::new(), "2026-11-23T11:00:00Z"),
        ] {
            engine
                .record(&cref(&case.reference), event, &fields, &user(social), t(at))
                .await
                .unwrap();
        }
        let store: &Arc<dyn store::Store> = engine.store();
        let before = engine.show(&case.reference).await.unwrap();
        // A second engine records something first, so the escalation's batch conflicts on its
        // first write; the second write (the new dispute) must not appear either.
        let referrer = "jo.patel@nursery.example.org";
        let stale = before.case.clone();
        engine
            .record(
                &cref(&case.reference),
                "note",
                &EventFields::from([("text".to_string(), "called".to_string())]),
                &user(referrer),
                t("2026-11-23T12:00:00Z"),
            )
            .await
            .unwrap();
        let err = escalate_with_stale_read(&engine, &stale).await.unwrap_err();
        assert!(
            err.to_string()
                .contains("changed while this was being recorded"),
            "{err}"
        );
        let disputes = store
            .list_cases(&store::CaseFilter {
                workflow: Some("dispute".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(disputes.is_empty(), "{} left a dispute behind", db.url);
        let after = engine.show(&case.reference).await.unwrap();
        assert_eq!(after.case.state, "not_accepted");
        assert_eq!(after.history.len(), before.history.len() + 1);

        // Done properly, the escalation writes both cases.
        let recorded = engine
            .record(
                &cref(&case.reference),
                "escalate",
                &reason("Bruising is a CP concern"),
                &user(referrer),
                t("2026-11-23T13:00:00Z"),
            )
            .await
            .unwrap();
        assert_eq!(recorded.state, "escalated");
        assert_eq!(recorded.opened, ["DSP-2026-000001"]);
        let dispute = engine.show("DSP-2026-000001").await.unwrap();
        assert_eq!(dispute.case.state, "stage1");
        assert_eq!(dispute.case.data["raised_by"]["email"], referrer);
    }
}

/// Writes an escalation computed from an out-of-date read of the case, as a racing replica would.
async fn escalate_with_stale_read(
    engine: &Engine,
    stale: &store::CaseRecord,
) -> Result<Vec<(i64, String)>, store::StoreError> {
    let write = store::CaseWrite {
        target: store::Target::Existing {
            id: stale.id,
            reference: stale.reference.clone(),
            expected_seq: stale.seq,
            prev_hash: stale.last_hash.clone(),
        },
        state: "escalated".into(),
        entered_at: t("2026-11-23T12:30:00Z"),
        closed_at: Some(t("2026-11-23T12:30:00Z")),
        outcome: Some("escalated".into()),
        event_times: stale.event_times.clone(),
        event: store::NewEvent {
            at: t("2026-11-23T12:30:00Z"),
            actor: "jo.patel@nursery.example.org".into(),
            event: "escalate".into(),
            from_state: "not_accepted".into(),
            to_state: "escalated".into(),
            fields: reason("stale"),
            reason: Some("stale".into()),
            recorded_at: Utc::now(),
        },
        meet: vec![Slot::State("not_accepted".into())],
        cancel: vec![],
        start: vec![],
        outbox: vec![],
        fired: None,
        opened_by: None,
        moved: vec![],
        idempotency: None,
        access: None,
    };
    let mut dispute = write.clone();
    dispute.opened_by = Some(0);
    dispute.target = store::Target::New {
        prefix: "DSP".into(),
        year: 2026,
        workflow: "dispute".into(),
        workflow_hash: engine_hash(engine).await,
        data: example("dispute"),
        division: "england-and-wales".into(),
        agency: None,
        data_salt: "salt".into(),
        parties: vec![],
    };
    // The new case first, so a half-done batch would leave it behind.
    engine
        .store()
        .write(&[dispute, write], t("2026-11-23T12:30:00Z"))
        .await
}

async fn engine_hash(engine: &Engine) -> String {
    let workflows =
        Workflows::load_dir(Path::new("workflows"), Path::new("config/templates")).unwrap();
    let dispute = workflows.get("dispute").unwrap();
    engine
        .store()
        .save_workflow_version(dispute, t("2026-11-23T00:00:00Z"))
        .await
        .unwrap();
    dispute.hash.clone()
}

#[tokio::test]
async fn lapsed_deadlines_fire_first_in_due_order_flagged_late() {
    for db in TestDb::all() {
        let engine = engine(&db).await;
        let case = engine
            .open(
                "dispute",
                example("dispute"),
                None,
                &EventFields::new(),
                &user(LEAD),
                t("2026-11-02T09:00:00Z"),
            )
            .await
            .unwrap();
        // Nothing ran for weeks; a note on 20 Nov first fires what lapsed before it.
        let note = EventFields::from([("text".to_string(), "still waiting".to_string())]);
        let recorded = engine
            .record(
                &cref(&case.reference),
                "note",
                &note,
                &user(RAISER),
                t("2026-11-20T10:00:00Z"),
            )
            .await
            .unwrap();
        assert_eq!(recorded.fired_first, 5);
        let view = engine.show(&case.reference).await.unwrap();
        let history: Vec<(String, &str, &str)> = view
            .history
            .iter()
            .map(|e| (e.at.to_rfc3339(), e.event.as_str(), e.to_state.as_str()))
            .collect();
        let expected = [
            ("2026-11-02T09:00:00+00:00", "open", "stage1"),
            ("2026-11-03T17:00:00+00:00", "deadline_warning", "stage1"),
            ("2026-11-04T17:00:00+00:00", "escalate", "stage2"),
            ("2026-11-11T17:00:00+00:00", "deadline_warning", "stage2"),
            ("2026-11-12T17:00:00+00:00", "escalate", "stage3"),
            ("2026-11-19T17:00:00+00:00", "deadline_warning", "stage3"),
            ("2026-11-20T10:00:00+00:00", "note", "stage3"),
        ];
        let expected: Vec<(String, &str, &str)> = expected
            .iter()
            .map(|(a, b, c)| (a.to_string(), *b, *c))
            .collect();
        assert_eq!(history, expected, "{}", db.url);
        assert!(
            view.deadlines
                .iter()
                .filter(|d| d.status == DeadlineStatus::Fired)
                .all(|d| d.late)
        );
        assert_eq!(view.history[2].actor, "engine");
        assert_eq!(
            view.history[2].reason.as_deref(),
            Some("Stage 1 timescale lapsed")
        );
    }
}

#[tokio::test]
async fn the_event_log_is_a_hash_chain() {
    for db in TestDb::all() {
        let engine = engine(&db).await;
        let case = engine
            .open(
                "dispute",
                example("dispute"),
                None,
                &EventFields::new(),
                &user(LEAD),
                t("2026-11-02T09:00:00Z"),
            )
            .await
            .unwrap();
        engine
            .record(
                &cref(&case.reference),
                "escalate",
                &reason("No reply"),
                &user(RAISER),
                t("2026-11-03T10:00:00Z"),
            )
            .await
            .unwrap();
        let view = engine.show(&case.reference).await.unwrap();
        let mut prev = chain::GENESIS.to_string();
        for e in &view.history {
            assert_eq!(e.prev_hash, prev);
            // The opening entry also covers the case row's fixed columns: verify_audit checks it.
            if e.seq > 1 {
                let recomputed =
                    chain::entry_hash(&prev, &case.reference, e.seq, &e.content(), None);
                assert_eq!(e.hash, recomputed);
            }
            prev = e.hash.clone();
        }
        assert_eq!(view.case.last_hash, prev);
        assert_eq!(
            engine.verify_audit().await.unwrap().problems,
            Vec::<String>::new()
        );
    }
}

#[test]
fn the_case_commands_work_end_to_end() {
    for db in TestDb::all() {
        let env = [("ESCALATE_DATABASE_URL", db.url.as_str())];
        let opened = json(&escalate(
            &[
                "case",
                "open",
                "--workflow",
                "dispute",
                "--data",
                "examples/dispute.json",
                "--by",
                LEAD,
                "--now",
                "2026-11-02T09:00:00Z",
                "--json",
            ],
            &env,
        ));
        assert_eq!(opened["reference"], "DSP-2026-000001");
        assert_eq!(opened["state"], "stage1");
        assert_eq!(opened["deadlines"][1]["due"], "2026-11-04T17:00:00Z");
        assert_eq!(opened["deadlines"][1]["kind"], "lapse");

        let o = escalate(
            &[
                "case",
                "event",
                "DSP-2026-000001",
                "escalate",
                "--by",
                RAISER,
                "--reason",
                "No reply",
                "--now",
                "2026-11-03T10:00:00Z",
            ],
            &env,
        );
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(
            stdout(&o).starts_with("DSP-2026-000001: escalate recorded; now stage2\n"),
            "{}",
            stdout(&o)
        );

        let o = escalate(
            &[
                "case",
                "event",
                "DSP-2026-000001",
                "resolve",
                "--by",
                RAISER,
                "--field",
                "outcome=maybe",
                "--reason",
                "x",
                "--now",
                "2026-11-03T11:00:00Z",
            ],
            &env,
        );
        assert_eq!(o.status.code(), Some(2), "a bad field value is bad input");
        assert_eq!(
            stderr(&o),
            "escalate: field 'outcome' must be one of resolved, partly_resolved, not 'maybe'\n"
        );
        let o = escalate(
            &[
                "case",
                "event",
                "DSP-2026-000099",
                "resolve",
                "--by",
                RAISER,
            ],
            &env,
        );
        assert_eq!(
            stderr(&o),
            "escalate: no case with reference 'DSP-2026-000099'\n"
        );

        let shown = json(&escalate(
            &["case", "show", "DSP-2026-000001", "--json"],
            &env,
        ));
        assert_eq!(shown["state"], "stage2");
        assert_eq!(shown["history"].as_array().unwrap().len(), 2);
        assert_eq!(shown["history"][1]["reason"], "No reply");
        let text = stdout(&escalate(&["case", "show", "DSP-2026-000001"], &env));
        assert!(
            text.contains("escalate by priya.shah@school.example.org"),
            "{text}"
        );
        assert!(text.contains("Due Tue 10 Nov 2026 17:00 GMT"), "{text}");

        let listed = json(&escalate(&["case", "list", "--json"], &env));
        assert_eq!(listed[0]["reference"], "DSP-2026-000001");
        let overdue = json(&escalate(
            &[
                "case",
                "list",
                "--overdue",
                "--now",
                "2026-11-05T09:00:00Z",
                "--json",
            ],
            &env,
        ));
        assert_eq!(
            overdue.as_array().unwrap().len(),
            0,
            "stage 2 is not due until 10 Nov"
        );
        let overdue = json(&escalate(
            &[
                "case",
                "list",
                "--overdue",
                "--now",
                "2026-11-11T09:00:00Z",
                "--json",
            ],
            &env,
        ));
        assert_eq!(overdue.as_array().unwrap().len(), 1);
        let none = json(&escalate(
            &["case", "list", "--workflow", "referral", "--json"],
            &env,
        ));
        assert_eq!(none, serde_json::json!([]));
    }
}

#[test]
fn bad_case_data_is_one_line_with_the_path() {
    let db = TestDb::sqlite();
    let env = [("ESCALATE_DATABASE_URL", db.url.as_str())];
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("d.json");
    let mut data = example("dispute");
    data["category"] = Value::String("vibes".into());
    std::fs::write(&file, data.to_string()).unwrap();
    let o = escalate(
        &[
            "case",
            "open",
            "--workflow",
            "dispute",
            "--data",
            file.to_str().unwrap(),
            "--by",
            LEAD,
        ],
        &env,
    );
    assert_eq!(o.status.code(), Some(2), "bad data is bad input");
    assert!(
        stderr(&o).starts_with("escalate: case data: category: must be one of threshold"),
        "{}",
        stderr(&o)
    );
    std::fs::write(&file, "{\"category\": ").unwrap();
    let o = escalate(
        &[
            "case",
            "open",
            "--workflow",
            "dispute",
            "--data",
            file.to_str().unwrap(),
            "--by",
            LEAD,
        ],
        &env,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("d.json:1:13: invalid JSON"),
        "{}",
        stderr(&o)
    );
}

#[tokio::test]
async fn racing_writers_on_one_case_are_serialised_not_lost() {
    for db in TestDb::all() {
        let first = Arc::new(engine(&db).await);
        let second = Arc::new(engine(&db).await);
        let case = first
            .open(
                "dispute",
                example("dispute"),
                None,
                &EventFields::new(),
                &user(LEAD),
                t("2026-11-02T09:00:00Z"),
            )
            .await
            .unwrap();
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let engine = if i % 2 == 0 {
                    first.clone()
                } else {
                    second.clone()
                };
                let reference = case.reference.clone();
                tokio::spawn(async move {
                    let note = EventFields::from([("text".to_string(), format!("note {i}"))]);
                    engine
                        .record(
                            &cref(&reference),
                            "note",
                            &note,
                            &user(RAISER),
                            t("2026-11-02T10:00:00Z"),
                        )
                        .await
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        let view = first.show(&case.reference).await.unwrap();
        let mut notes: Vec<&str> = view.history[1..]
            .iter()
            .map(|e| e.fields["text"].as_str())
            .collect();
        notes.sort();
        assert_eq!(
            notes,
            (0..8).map(|i| format!("note {i}")).collect::<Vec<_>>(),
            "{}",
            db.url
        );
        let audit = first.verify_audit().await.unwrap();
        assert_eq!((audit.cases, audit.entries), (1, 9));
        assert_eq!(audit.problems, Vec::<String>::new());
    }
}

/// A one-case write recording `event` on top of what `case` says (which may be out of date),
/// optionally as the firing of deadline `fired`.
fn write_on(case: &store::CaseRecord, event: &str, fired: Option<i64>) -> store::CaseWrite {
    let at = case.last_at + chrono::TimeDelta::minutes(1);
    store::CaseWrite {
        target: store::Target::Existing {
            id: case.id,
            reference: case.reference.clone(),
            expected_seq: case.seq,
            prev_hash: case.last_hash.clone(),
        },
        state: case.state.clone(),
        entered_at: case.entered_at,
        closed_at: None,
        outcome: None,
        event_times: case.event_times.clone(),
        event: store::NewEvent {
            at,
            actor: "engine".into(),
            event: event.into(),
            from_state: case.state.clone(),
            to_state: case.state.clone(),
            fields: EventFields::new(),
            reason: None,
            recorded_at: Utc::now(),
        },
        meet: vec![],
        cancel: vec![],
        start: vec![],
        outbox: vec![store::NewMessage {
            kind: "email".into(),
            template: "lapse_reminder".into(),
            recipient: escalate::directory::Recipient {
                role: "raiser".into(),
                title: "Professional who raised the disagreement".into(),
                name: "Priya Shah".into(),
                email: RAISER.into(),
                agency: None,
                missing: None,
            },
            payload: serde_json::json!({}),
        }],
        fired: fired.map(|id| (id, false)),
        opened_by: None,
        moved: vec![],
        idempotency: None,
        access: None,
    }
}

#[tokio::test]
async fn a_stale_write_or_a_second_firing_is_a_conflict_that_writes_nothing() {
    for db in TestDb::all() {
        let engine = engine(&db).await;
        let store = engine.store().clone();
        let opened = engine
            .open(
                "dispute",
                example("dispute"),
                None,
                &EventFields::new(),
                &user(LEAD),
                t("2026-11-02T09:00:00Z"),
            )
            .await
            .unwrap();
        let stale = engine.case(&opened.reference).await.unwrap();
        let note = EventFields::from([("text".to_string(), "called".to_string())]);
        engine
            .record(
                &cref(&opened.reference),
                "note",
                &note,
                &user(RAISER),
                t("2026-11-02T10:00:00Z"),
            )
            .await
            .unwrap();
        let before = engine.show(&opened.reference).await.unwrap();

        // Decided on the case as it was before the note: refused by the database, whole.
        let err = store
            .write(
                &[write_on(&stale, "remind", None)],
                t("2026-11-02T11:00:00Z"),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, store::StoreError::Conflict(_)),
            "{}: {err}",
            db.url
        );
        let after = engine.show(&opened.reference).await.unwrap();
        assert_eq!(after.history, before.history, "{}", db.url);
        assert_eq!(after.outbox, before.outbox, "{}", db.url);

        // The warning fires once; firing it again on a fresh read is refused, and the case
        // update and message that came with the second firing are rolled back with it.
        let warning = before
            .deadlines
            .iter()
            .find(|d| d.kind == TimerKind::Warning)
            .unwrap()
            .id;
        let current = engine.case(&opened.reference).await.unwrap();
        store
            .write(
                &[write_on(&current, "warn", Some(warning))],
                t("2026-11-02T11:00:00Z"),
            )
            .await
            .unwrap();
        let fired = engine.show(&opened.reference).await.unwrap();
        let current = fired.case.clone();
        let err = store
            .write(
                &[write_on(&current, "warn", Some(warning))],
                t("2026-11-02T11:05:00Z"),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, store::StoreError::Conflict(_)),
            "{}: {err}",
            db.url
        );
        let again = engine.show(&opened.reference).await.unwrap();
        assert_eq!(again.case.seq, fired.case.seq, "{}", db.url);
        assert_eq!(again.history, fired.history, "{}", db.url);
        assert_eq!(again.outbox, fired.outbox, "{}", db.url);
        assert_eq!(again.deadlines, fired.deadlines, "{}", db.url);
        let status = |view: &escalate::engine::CaseView| {
            view.deadlines
                .iter()
                .find(|d| d.id == warning)
                .unwrap()
                .status
        };
        assert_eq!(status(&again), DeadlineStatus::Fired);
        assert_eq!(status(&before), DeadlineStatus::Pending);
    }
}

/// A preview of an opening says what the opening then does (the state, and each deadline at
/// the same time with the same explanation), writes nothing, and refuses what it refuses.
#[tokio::test]
async fn a_preview_of_an_opening_matches_the_opening_and_writes_nothing() {
    for db in TestDb::all() {
        let engine = engine(&db).await;
        let at = t("2026-12-24T18:00:00Z");
        let preview = engine
            .preview_open(
                "dispute",
                example("dispute"),
                None,
                &EventFields::new(),
                &user(LEAD),
                at,
            )
            .await
            .unwrap();
        assert_eq!(engine.store().max_case_id().await.unwrap(), 0);
        assert!(preview.deadlines.len() >= 2, "{preview:?}");
        let case = engine
            .open(
                "dispute",
                example("dispute"),
                None,
                &EventFields::new(),
                &user(LEAD),
                at,
            )
            .await
            .unwrap();
        assert_eq!(preview.state, case.state);
        let opened = engine.store().deadlines(case.id).await.unwrap();
        let mut seen: Vec<_> = preview
            .deadlines
            .iter()
            .map(|d| (d.due_at, d.slot.clone(), d.kind, d.explanation.clone()))
            .collect();
        let mut kept: Vec<_> = opened
            .iter()
            .map(|d| (d.due_at, d.slot.clone(), d.kind, d.explanation.clone()))
            .collect();
        seen.sort();
        kept.sort();
        assert_eq!(seen, kept);
        // Christmas: the explanation says why the first deadline is after it.
        assert!(seen.iter().any(|d| d.3.contains("Christmas")), "{seen:?}");
        // Someone the data does not name may not open it, nor preview it.
        let err = engine
            .preview_open(
                "dispute",
                example("dispute"),
                None,
                &EventFields::new(),
                &user("stranger@example.org"),
                at,
            )
            .await
            .unwrap_err();
        assert!(matches!(err, EngineError::NotInvolved { .. }), "{err}");
        assert_eq!(engine.store().max_case_id().await.unwrap(), case.id);
    }
}
