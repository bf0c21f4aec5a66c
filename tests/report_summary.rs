//! The report from the report summary equals the report from every case's full event log, for
//! every month of random histories driven through the engine (seeded, on SQLite and PostgreSQL);
//! the summary the engine writes entry by entry equals the one rebuilt from the log, also when a
//! database is upgraded to it; and `audit verify` catches a summary that differs from the log.
//!
//! `ESCALATE_TEST_SEEDS=N` runs N seeds instead of 3.

mod common;

use std::path::Path;

use chrono::{DateTime, TimeDelta, Utc};
use common::{TestDb, cref, user};
use escalate::calendar::Calendar;
use escalate::directory::Directory;
use escalate::engine::{Engine, EngineError};
use escalate::report::{self, Month, MonthlyReport};
use escalate::store::{self, summary};
use escalate::workflow::{EventFields, Refusal, Workflows};
use serde_json::{Value, json};

/// Everyone who may act on the example cases, as a party or a directory contact.
const PEOPLE: &[&str] = &[
    "priya.shah@school.example.org",
    "tom.hughes@council.example.gov.uk",
    "dsl@school.example.org",
    "head@school.example.org",
    "team.manager@council.example.gov.uk",
    "head.of.service@council.example.gov.uk",
    "business.unit@partnership.example.org",
    "frontdoor@council.example.gov.uk",
    "jo.patel@nursery.example.org",
    "ruth.evans@northshire.example.gov.uk",
    "daniel.okafor@southborough.example.gov.uk",
];

/// Events to try on each workflow's cases, with the fields they need.
fn events(workflow: &str) -> &'static [(&'static str, &'static [(&'static str, &'static str)])] {
    const R: (&str, &str) = ("reason", "Discussed");
    match workflow {
        "dispute" => &[
            ("escalate", &[R]),
            ("escalate", &[R]),
            ("resolve", &[("outcome", "resolved"), R]),
            ("resolve", &[("outcome", "partly_resolved"), R]),
            ("withdraw", &[R]),
            ("close_unresolved", &[R]),
            ("note", &[("text", "Called")]),
            ("record_form", &[]),
        ],
        "referral" => &[
            ("accept", &[("response", "early_help"), R]),
            ("decline", &[R]),
            ("give_feedback", &[]),
            ("give_feedback", &[]),
            ("re_refer", &[R]),
            ("close", &[R]),
            ("escalate", &[R]),
            ("acknowledge", &[]),
        ],
        _ => &[
            ("decide", &[("level_of_need", "child_in_need"), R]),
            ("refuse", &[R]),
            ("raise_dispute", &[R]),
            ("accept_refusal", &[R]),
            ("withdraw", &[R]),
            ("inform_agencies", &[]),
        ],
    }
}

fn example(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(format!("examples/{name}.json")).unwrap())
        .unwrap()
}

async fn engine(db: &TestDb) -> Engine {
    let store = store::connect(&db.url).await.unwrap();
    store.migrate().await.unwrap();
    let path = Path::new("config/agencies.yaml");
    let directory = Directory::parse(path, &std::fs::read_to_string(path).unwrap()).unwrap();
    store
        .replace_directory(&directory, Utc::now(), None)
        .await
        .unwrap();
    let workflows =
        Workflows::load_dir(Path::new("workflows"), Path::new("config/templates")).unwrap();
    Engine::new(store, workflows, Calendar::official()).allow_future(true)
}

/// Opens a random case at `now`; returns its reference and workflow.
async fn open_one(engine: &Engine, rng: &mut fastrand::Rng, now: DateTime<Utc>) -> String {
    fn pick(rng: &mut fastrand::Rng, options: &[&'static str]) -> &'static str {
        options[rng.usize(..options.len())]
    }
    let (workflow, mut data, by) = match rng.u8(..10) {
        0..=5 => ("dispute", example("dispute"), PEOPLE[0]),
        6..=8 => ("referral", example("referral"), PEOPLE[7]),
        _ => ("transfer", example("transfer"), PEOPLE[9]),
    };
    let mut start = None;
    let mut fields = EventFields::new();
    if workflow == "dispute" {
        data["category"] = json!(pick(
            rng,
            &["threshold", "information_sharing", "case_progress"]
        ));
        data["raised_by"]["agency"] = json!(pick(
            rng,
            &[
                "Riverside Primary School",
                "riverside-primary",
                "Northshire Police"
            ]
        ));
        data["respondent"]["agency"] =
            json!(pick(rng, &["Children's Social Care", "riverside-health"]));
        if rng.u8(..8) == 0 {
            data["immediate_risk"] = json!(true);
            start = Some(pick(rng, &["stage2", "stage3"]));
            fields.insert("reason".into(), "Child at risk".into());
        }
    }
    if rng.u8(..6) == 0 {
        data["division"] = json!(pick(rng, &["scotland", "northern-ireland"]));
    }
    engine
        .open(workflow, data, start, &fields, &user(by), now)
        .await
        .unwrap_or_else(|e| panic!("open {workflow}: {e}"))
        .reference
}

/// Tries a random event on case `reference` at `now`, by whoever may record it; returns whether
/// the case is closed afterwards.
async fn act(
    engine: &Engine,
    rng: &mut fastrand::Rng,
    reference: &str,
    now: DateTime<Utc>,
) -> bool {
    let case = engine.case(reference).await.unwrap();
    if case.closed_at.is_some() {
        return true;
    }
    let choices = events(&case.workflow);
    let (event, given) = choices[rng.usize(..choices.len())];
    let fields: EventFields = given
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut people = PEOPLE.to_vec();
    rng.shuffle(&mut people);
    for by in people {
        match engine
            .record(&cref(reference), event, &fields, &user(by), now)
            .await
        {
            Ok(recorded) => return recorded.closed,
            Err(EngineError::Refused(Refusal::NotAllowed { .. })) => continue,
            // Not an event of the case's state now, a linked case still open, …: another time.
            Err(EngineError::Refused(_) | EngineError::LinkedStillOpen { .. }) => break,
            Err(e) => panic!("{reference} {event}: {e}"),
        }
    }
    engine.case(reference).await.unwrap().closed_at.is_some()
}

/// A random history of `steps` actions from `start`: openings, events, ticks. Returns the time
/// it ends.
async fn history(engine: &Engine, seed: u64, steps: usize, start: DateTime<Utc>) -> DateTime<Utc> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut now = start;
    let mut open: Vec<String> = Vec::new();
    for _ in 0..steps {
        now += TimeDelta::minutes(rng.i64(10..60 * 30));
        match rng.u8(..10) {
            0..=2 => open.push(open_one(engine, &mut rng, now).await),
            3 => {
                engine.tick(now).await.unwrap();
            }
            _ if !open.is_empty() => {
                let i = rng.usize(..open.len());
                if act(engine, &mut rng, &open[i].clone(), now).await {
                    open.swap_remove(i);
                }
            }
            _ => {}
        }
    }
    engine.tick(now).await.unwrap();
    now
}

/// Every month from `from` to `until`'s month, and one after.
fn months(from: DateTime<Utc>, until: DateTime<Utc>) -> Vec<Month> {
    let first: Month = from.format("%Y-%m").to_string().parse().unwrap();
    let last: Month = until.format("%Y-%m").to_string().parse().unwrap();
    let mut out = vec![first];
    while *out.last().unwrap() <= last {
        out.push(out.last().unwrap().next());
    }
    out
}

#[tokio::test]
async fn the_summary_gives_the_report_the_event_log_gives() {
    let seeds: u64 = std::env::var("ESCALATE_TEST_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    for db in TestDb::all() {
        let engine = engine(&db).await;
        let store = engine.store().clone();
        // Each seed's history after the one before, on the same database: later histories are
        // "later events" for the earlier months, which must not change.
        let mut start: DateTime<Utc> = "2025-01-06T09:00:00Z".parse().unwrap();
        let mut earlier: Vec<(Month, MonthlyReport)> = Vec::new();
        // What the histories exercise, so a report of zeros cannot pass for equality.
        let mut seen = [0u64; 6];
        for seed in 0..seeds {
            let end = history(&engine, seed, 400, start).await;
            for (month, report) in &earlier {
                let again = report::monthly_job(&engine, *month).await.unwrap();
                assert_eq!(
                    &again, report,
                    "{month} changed after later events ({})",
                    db.url
                );
            }
            for month in months(start, end) {
                let from_summary = report::monthly_job(&engine, month).await.unwrap();
                let from_log = report::monthly_from_log(&engine, month).await.unwrap();
                assert_eq!(from_summary, from_log, "{month}, seed {seed}, {}", db.url);
                seen[0] += from_log.resolved + from_log.withdrawn + from_log.unresolved;
                seen[1] += from_log.deadlines_missed;
                seen[2] += from_log
                    .median_working_days_in_stage
                    .values()
                    .filter(|m| m.is_some())
                    .count() as u64;
                seen[3] += from_log.referrals_feedback_in_time.decided;
                seen[4] += from_log.transfers_decided_within_deadline.decided;
                seen[5] += from_log.by_stage_reached["4"];
                // Final once the month is over and the sweep has fired what fell due in it.
                if month.end() <= end {
                    earlier.push((month, from_summary));
                }
            }
            start = end + TimeDelta::days(40);
        }
        assert!(seen.iter().all(|n| *n > 0), "{seen:?} ({})", db.url);

        // The summary written entry by entry is the one the log gives.
        assert_eq!(
            summary::verify(store.as_ref()).await.unwrap(),
            Vec::<String>::new()
        );
        let written = store.stored_summaries(0..i64::MAX).await.unwrap();
        assert_eq!(
            store.rebuild_summary(true).await.unwrap(),
            Some(written.len() as u64)
        );
        assert_eq!(store.stored_summaries(0..i64::MAX).await.unwrap(), written);

        // An upgrade: as if migration 0009 had never run, then `migrate` runs it and rebuilds
        // the summary from the log.
        let changed_case = written
            .iter()
            .find(|s| s.moves.matches(';').count() > 2)
            .unwrap()
            .case_id;
        let sql = [
            "DELETE FROM _sqlx_migrations WHERE version = 9",
            "DROP TABLE case_summary",
            "DROP TABLE summary_rebuild",
        ];
        common::sql(&db.url, &sql).await;
        assert_eq!(store.migrate().await.unwrap(), vec![9]);
        assert_eq!(store.stored_summaries(0..i64::MAX).await.unwrap(), written);
        assert!(!store.migrate().await.unwrap().contains(&9));

        // A summary changed behind the engine's back is found, and a rebuild puts it right.
        common::sql(
            &db.url,
            &[&format!(
                "UPDATE case_summary SET moves = moves || moves WHERE case_id = {changed_case}"
            )],
        )
        .await;
        let audit = engine.verify_audit().await.unwrap();
        assert_eq!(
            audit.problems,
            vec![format!(
                "case {changed_case}: its report summary differs from its history (escalate report rebuild rewrites it)"
            )]
        );
        store.rebuild_summary(true).await.unwrap();
        assert!(engine.verify_audit().await.unwrap().problems.is_empty());
    }
}
