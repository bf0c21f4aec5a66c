//! `tick`: due deadlines fire exactly once, whenever and however many times the sweep runs.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use chrono::{DateTime, Utc};
use common::{TestDb, user};

use escalate::calendar::Calendar;
use escalate::engine::Engine;
use escalate::store::{self, DeadlineStatus};
use escalate::workflow::{EventFields, Workflows};
use serde_json::Value;

/// The tests here that run many processes or engines against PostgreSQL take turns, so that
/// together they stay under its connection limit.
static MANY_CONNECTIONS: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn example() -> Value {
    serde_json::from_str(&std::fs::read_to_string("examples/dispute.json").unwrap()).unwrap()
}

async fn engine(url: &str) -> Engine {
    let store = store::connect(url).await.unwrap();
    store.migrate().await.unwrap();
    let workflows =
        Workflows::load_dir(Path::new("workflows"), Path::new("config/templates")).unwrap();
    Engine::new(store, workflows, Calendar::official()).allow_future(true)
}

/// (time, event, state) of every entry of a case.
async fn history(engine: &Engine, reference: &str) -> Vec<(String, String, String)> {
    engine
        .show(reference)
        .await
        .unwrap()
        .history
        .into_iter()
        .map(|e| (e.at.to_rfc3339(), e.event, e.to_state))
        .collect()
}

#[tokio::test]
async fn history_does_not_depend_on_when_the_sweeps_ran() {
    for db in TestDb::all() {
        let engine = engine(&db.url).await;
        let open = |at: &'static str| {
            let engine = &engine;
            async move {
                engine
                    .open(
                        "dispute",
                        example(),
                        None,
                        &EventFields::new(),
                        &user("priya.shah@school.example.org"),
                        t(at),
                    )
                    .await
                    .unwrap()
                    .reference
            }
        };
        let swept_often = open("2026-11-02T09:00:00Z").await;
        let swept_once = open("2026-11-02T09:00:00Z").await;
        // Both cases share the sweeps below; only `swept_often` is looked at in between...
        for at in [
            "2026-11-03T17:00:00Z",
            "2026-11-03T17:00:00Z",
            "2026-11-05T08:00:00Z",
            "2026-11-13T12:00:00Z",
        ] {
            engine.tick(t(at)).await.unwrap();
        }
        let first = engine.tick(t("2026-12-24T09:00:00Z")).await.unwrap();
        let again = engine.tick(t("2026-12-24T09:00:00Z")).await.unwrap();
        assert_eq!(
            again.fired, 0,
            "a second sweep at the same time fires nothing"
        );
        assert!(first.fired > 0);
        let often = history(&engine, &swept_often).await;
        let once = history(&engine, &swept_once).await;
        assert_eq!(often, once);
        let events: Vec<&str> = often.iter().map(|(_, e, _)| e.as_str()).collect();
        assert_eq!(
            events,
            [
                "open",
                "deadline_warning",
                "escalate",
                "deadline_warning",
                "escalate",
                "deadline_warning",
                "escalate",
                "deadline_warning",
                "deadline_lapsed",
                // Stage 4 reminds again 5 working days after each lapse.
                "deadline_lapsed",
                "deadline_lapsed"
            ]
        );
        // ...and a third case opened late sweeps up its own time, not the sweep's.
        let late = open("2026-12-24T10:00:00Z").await;
        let report = engine.tick(t("2027-03-01T09:00:00Z")).await.unwrap();
        assert_eq!(report.late, report.fired);
        let late = history(&engine, &late).await;
        // 2 working days from Thu 24 Dec 2026: 25 and 28 Dec are holidays, so Tue 29, Wed 30.
        assert_eq!(
            late[1],
            (
                "2026-12-29T17:00:00+00:00".into(),
                "deadline_warning".into(),
                "stage1".into()
            )
        );
        assert_eq!(
            late[2],
            (
                "2026-12-30T17:00:00+00:00".into(),
                "escalate".into(),
                "stage2".into()
            )
        );
    }
}

#[test]
fn four_concurrent_ticks_fire_each_due_deadline_exactly_once() {
    let _turn = MANY_CONNECTIONS.lock().unwrap_or_else(|e| e.into_inner());
    let mut dbs = vec![(TestDb::sqlite(), 100)];
    dbs.extend(TestDb::postgres().map(|db| (db, 500)));
    let rt = tokio::runtime::Runtime::new().unwrap();
    for (db, cases) in dbs {
        let references: Vec<String> = rt.block_on(async {
            let engine = engine(&db.url).await;
            let mut refs = Vec::new();
            for i in 0..cases {
                let at = t("2026-11-02T09:00:00Z") + chrono::TimeDelta::seconds(i);
                let case = engine
                    .open(
                        "dispute",
                        example(),
                        None,
                        &EventFields::new(),
                        &user("priya.shah@school.example.org"),
                        at,
                    )
                    .await
                    .unwrap();
                refs.push(case.reference);
            }
            refs
        });
        // Each case has a warning (3 Nov) and a lapse (4 Nov) due: 2 × cases deadlines.
        let ticks: Vec<_> = (0..4)
            .map(|_| {
                Command::new(env!("CARGO_BIN_EXE_escalate"))
                    .args(["tick", "--now", "2026-11-05T09:00:00Z", "--json"])
                    .current_dir(env!("CARGO_MANIFEST_DIR"))
                    .env("ESCALATE_DATABASE_URL", &db.url)
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let mut fired = 0;
        for tick in ticks {
            let out = tick.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let report: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(report["failed"], serde_json::json!([]));
            fired += report["fired"].as_u64().unwrap();
        }
        assert_eq!(fired, 2 * cases as u64, "{}", db.url);
        rt.block_on(async {
            let engine = engine(&db.url).await;
            for reference in &references {
                let view = engine.show(reference).await.unwrap();
                let events: Vec<&str> = view.history.iter().map(|e| e.event.as_str()).collect();
                assert_eq!(
                    events,
                    ["open", "deadline_warning", "escalate"],
                    "{reference}"
                );
                let fired = view
                    .deadlines
                    .iter()
                    .filter(|d| d.status == DeadlineStatus::Fired)
                    .count();
                assert_eq!(fired, 2, "{reference}");
            }
        });
    }
}

#[test]
fn a_tick_killed_half_way_loses_nothing_and_the_next_finishes() {
    let _turn = MANY_CONNECTIONS.lock().unwrap_or_else(|e| e.into_inner());
    use std::io::{BufRead, BufReader};
    let mut dbs = vec![TestDb::sqlite()];
    dbs.extend(TestDb::postgres());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let cases = 150;
    for db in dbs {
        rt.block_on(async {
            let engine = engine(&db.url).await;
            for i in 0..cases {
                let at = t("2026-11-02T09:00:00Z") + chrono::TimeDelta::seconds(i);
                engine
                    .open(
                        "dispute",
                        example(),
                        None,
                        &EventFields::new(),
                        &user("priya.shah@school.example.org"),
                        at,
                    )
                    .await
                    .unwrap();
            }
        });
        let tick = |lease: &str| {
            Command::new(env!("CARGO_BIN_EXE_escalate"))
                .args(["tick", "--now", "2026-11-05T09:00:00Z", "--verbose"])
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .env("ESCALATE_DATABASE_URL", &db.url)
                // The killed process's claims must not hold up the next tick in this test.
                .env("ESCALATE_ENGINE__LEASE_SECONDS", lease)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let mut first = tick("0");
        let mut lines = BufReader::new(first.stdout.take().unwrap()).lines();
        for _ in 0..20 {
            lines.next().expect("the tick reports progress").unwrap();
        }
        first.kill().unwrap(); // SIGKILL: no chance to tidy up
        first.wait().unwrap();

        let out = tick("60").wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let finished = String::from_utf8_lossy(&out.stdout).lines().count();
        assert!(
            finished > 0,
            "the first tick was killed before it had swept everything"
        );
        rt.block_on(async {
            let engine = engine(&db.url).await;
            let all = engine.list(&Default::default()).await.unwrap();
            assert_eq!(all.len(), cases as usize);
            for case in all {
                let view = engine.show(&case.reference).await.unwrap();
                let events: Vec<&str> = view.history.iter().map(|e| e.event.as_str()).collect();
                assert_eq!(
                    events,
                    ["open", "deadline_warning", "escalate"],
                    "{}",
                    case.reference
                );
                assert_eq!(view.case.state, "stage2");
            }
            assert_eq!(
                engine.verify_audit().await.unwrap().entries,
                3 * cases as usize
            );
        });
    }
}

/// Ticks racing writers (who fire a case's due deadlines before their own event) never lose or
/// repeat a deadline, on both backends, round after round: every case ends with exactly the
/// history a case nobody acted on would have (by `workflow::simulate`), notes aside, and no
/// deadline is ever withdrawn. Rounds: `ESCALATE_RACE_ROUNDS` (default 100 per backend).
#[test]
fn ticks_racing_writers_fire_every_deadline_exactly_once() {
    let _turn = MANY_CONNECTIONS.lock().unwrap_or_else(|e| e.into_inner());
    let rounds: usize = std::env::var("ESCALATE_RACE_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(100);
    let cases_per_round = 4;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let workflows =
        Workflows::load_dir(Path::new("workflows"), Path::new("config/templates")).unwrap();
    let def = workflows.get("dispute").unwrap().clone();
    let calendar = Calendar::official();
    for db in TestDb::all() {
        rt.block_on(async {
            // Three tickers and three writers, each its own engine and connections, as processes.
            let mut engines = Vec::new();
            for _ in 0..6 {
                engines.push(std::sync::Arc::new(engine(&db.url).await));
            }
            let raiser = user("priya.shah@school.example.org");
            for round in 0..rounds {
                let t0 = t("2026-11-02T09:00:00Z") + chrono::TimeDelta::minutes(round as i64);
                let expected: Vec<(String, DateTime<Utc>, String)> =
                    escalate::workflow::simulate(&def, example(), t0, &calendar)
                        .unwrap()
                        .into_iter()
                        .map(|s| (s.transition.event, s.transition.at, s.transition.to))
                        .collect();
                let mut steps: Vec<DateTime<Utc>> = expected[1..].iter().map(|e| e.1).collect();
                steps.dedup();
                // Sweep several deadlines at once now and then: a case then moves through
                // stages within one sweep, which is where a stale read can meet a due deadline.
                let stride = 1 + round % 4;
                let last = *steps.last().unwrap();
                let mut steps: Vec<DateTime<Utc>> = steps.into_iter().step_by(stride).collect();
                if steps.last() != Some(&last) {
                    steps.push(last);
                }
                let mut refs = Vec::new();
                for i in 0..cases_per_round {
                    let case = engines[i % 6]
                        .open("dispute", example(), None, &EventFields::new(), &raiser, t0)
                        .await
                        .unwrap();
                    refs.push(common::cref(&case.reference));
                }
                for now in steps {
                    let mut tasks = Vec::new();
                    for e in &engines[..3] {
                        let e = e.clone();
                        tasks.push(tokio::spawn(async move {
                            let report = e.tick(now).await.unwrap();
                            assert!(report.failed.is_empty(), "{:?}", report.failed);
                        }));
                    }
                    for e in &engines[3..] {
                        let e = e.clone();
                        let target = refs[fastrand::usize(..refs.len())].clone();
                        let by = raiser.clone();
                        tasks.push(tokio::spawn(async move {
                            let note =
                                EventFields::from([("text".to_string(), "called".to_string())]);
                            e.record(&target, "note", &note, &by, now).await.unwrap();
                        }));
                    }
                    for task in tasks {
                        task.await.unwrap();
                    }
                }
                for reference in &refs {
                    let view = engines[0].show(reference.as_str()).await.unwrap();
                    let history: Vec<(String, DateTime<Utc>, String)> = view
                        .history
                        .iter()
                        .filter(|e| e.event != "note")
                        .map(|e| (e.event.clone(), e.at, e.to_state.clone()))
                        .collect();
                    assert_eq!(history, expected, "{reference} on {} round {round}", db.url);
                    assert!(
                        view.deadlines
                            .iter()
                            .all(|d| d.status != DeadlineStatus::Cancelled),
                        "{reference}: a deadline was cancelled"
                    );
                }
            }
            let audit = engines[0].verify_audit().await.unwrap();
            assert_eq!(audit.problems, Vec::<String>::new());
        });
    }
}
