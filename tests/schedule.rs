//! Scheduled jobs: each occurrence runs once across processes, DST changes neither repeat nor
//! skip one, and downtime gives one late run, not one per missed period.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use chrono::{DateTime, TimeDelta, Utc};
use common::{TestDb, escalate, json, stderr, stdout};
use escalate::calendar::Calendar;
use escalate::engine::Engine;
use escalate::schedule::{self, JobsSettings, Ran, Schedule};
use escalate::store;
use escalate::workflow::Workflows;
use serde_json::Value;

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

async fn engine(url: &str) -> Engine {
    let store = store::connect(url).await.unwrap();
    store.migrate().await.unwrap();
    let workflows =
        Workflows::load_dir(Path::new("workflows"), Path::new("config/templates")).unwrap();
    Engine::new(store, workflows, Calendar::official()).allow_future(true)
}

/// Only the audit checkpoint, at `expr`; the report off so that it does not run beside it.
fn checkpoint_at(expr: &str) -> Schedule {
    Schedule::from_settings(&JobsSettings {
        audit_checkpoint: expr.into(),
        monthly_report: "off".into(),
        ..JobsSettings::default()
    })
    .unwrap()
}

fn runs(ran: &[Ran], outcome: &str) -> Vec<DateTime<Utc>> {
    ran.iter()
        .filter(|r| r.outcome == outcome)
        .map(|r| r.scheduled_for)
        .collect()
}

#[tokio::test]
async fn a_dst_weekend_never_runs_a_job_twice_or_skips_it() {
    // A job at 01:30 London time every day, the scheduler woken every 5 minutes from Friday
    // noon to Monday noon (UTC) across each 2026 change.
    let weekends = [
        // 29 March: 01:00 GMT -> 02:00 BST. Saturday 01:30 GMT; Sunday's 01:30 does not exist
        // and runs at the end of the gap, 02:00 BST = 01:00Z; Monday 01:30 BST = 00:30Z.
        (
            "2026-03-27T12:00:00Z",
            vec![
                "2026-03-28T01:30:00Z",
                "2026-03-29T01:00:00Z",
                "2026-03-30T00:30:00Z",
            ],
        ),
        // 25 October: 02:00 BST -> 01:00 GMT. Saturday 01:30 BST = 00:30Z; Sunday's 01:30
        // happens twice (00:30Z and 01:30Z) and runs at the first only; Monday 01:30 GMT.
        (
            "2026-10-23T12:00:00Z",
            vec![
                "2026-10-24T00:30:00Z",
                "2026-10-25T00:30:00Z",
                "2026-10-26T01:30:00Z",
            ],
        ),
    ];
    let schedule = checkpoint_at("30 1 * * *");
    for (start, expected) in weekends {
        let expected: Vec<DateTime<Utc>> = expected.into_iter().map(t).collect();
        for db in TestDb::all() {
            let engine = engine(&db.url).await;
            let mut ran = Vec::new();
            let mut now = t(start);
            while now <= t(start) + TimeDelta::days(3) {
                let pass = schedule::run_due(&engine, &schedule, now).await.unwrap();
                assert!(pass.iter().all(|r| !r.late), "{pass:?} at {now}");
                ran.extend(pass);
                now += TimeDelta::minutes(5);
            }
            // The first pass starts the schedule at Friday's occurrence without running it.
            assert_eq!(runs(&ran, "skipped").len(), 1, "{}: {ran:?}", db.url);
            assert_eq!(runs(&ran, "ok"), expected, "{}", db.url);
            assert_eq!(engine.store().checkpoints().await.unwrap().len(), 3);
        }
    }
}

#[tokio::test]
async fn two_engines_racing_run_each_occurrence_once() {
    let schedule = checkpoint_at("0 * * * *");
    for db in TestDb::all() {
        let (a, b) = (engine(&db.url).await, engine(&db.url).await);
        let start = t("2026-06-01T00:00:00Z");
        schedule::run_due(&a, &schedule, start).await.unwrap();
        let mut ok = Vec::new();
        for hour in 1..=12 {
            let now = start + TimeDelta::hours(hour);
            let (ra, rb) = tokio::join!(
                schedule::run_due(&a, &schedule, now),
                schedule::run_due(&b, &schedule, now)
            );
            let (ra, rb) = (ra.unwrap(), rb.unwrap());
            ok.extend(runs(&ra, "ok"));
            ok.extend(runs(&rb, "ok"));
            assert!(runs(&ra, "failed").is_empty() && runs(&rb, "failed").is_empty());
        }
        let expected: Vec<DateTime<Utc>> = (1..=12).map(|h| start + TimeDelta::hours(h)).collect();
        ok.sort();
        assert_eq!(ok, expected, "{}", db.url);
        assert_eq!(a.store().checkpoints().await.unwrap().len(), 12);
    }
}

/// Starts `escalate` without waiting, as `common::escalate` runs it.
fn spawn(args: &[&str], env: &[(&str, &str)]) -> std::process::Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_escalate"));
    cmd.args(args).current_dir(env!("CARGO_MANIFEST_DIR"));
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("ESCALATE_")) {
        cmd.env_remove(k);
    }
    cmd.env("ESCALATE_ENGINE__ALLOW_FUTURE", "true");
    cmd.envs(env.iter().copied());
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.spawn().unwrap()
}

#[test]
fn two_tick_processes_racing_run_the_occurrence_once() {
    for db in TestDb::all() {
        let env = [
            ("ESCALATE_DATABASE_URL", db.url.as_str()),
            ("ESCALATE_JOBS__AUDIT_CHECKPOINT", "0 8 * * *"),
        ];
        let o = escalate(&["tick", "--now", "2026-06-01T09:00:00Z"], &env);
        assert!(o.status.success(), "{}", stderr(&o));
        for round in 0..3 {
            let now = format!("2026-06-0{}T07:00:30Z", round + 2);
            let children: Vec<_> = (0..2)
                .map(|_| spawn(&["tick", "--json", "--now", &now], &env))
                .collect();
            let mut ran = 0;
            for child in children {
                let o = child.wait_with_output().unwrap();
                let value = json(&o);
                ran += value["jobs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|r| r["job"] == "audit_checkpoint" && r["outcome"] == "ok")
                    .count();
            }
            assert_eq!(ran, 1, "{} round {round}", db.url);
        }
        let o = escalate(&["audit", "verify"], &env);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(stdout(&o).contains("3 checkpoint(s)"), "{}", stdout(&o));
    }
}

#[test]
fn after_downtime_a_missed_occurrence_runs_once_late() {
    for db in TestDb::all() {
        let env = [
            ("ESCALATE_DATABASE_URL", db.url.as_str()),
            ("ESCALATE_JOBS__AUDIT_CHECKPOINT", "0 8 * * *"),
        ];
        // The first tick starts the schedule at Monday's 08:00 without running it.
        let o = escalate(&["tick", "--json", "--now", "2026-06-01T09:00:00Z"], &env);
        let first = json(&o);
        assert_eq!(first["jobs"][0]["job"], "audit_checkpoint");
        assert_eq!(first["jobs"][0]["scheduled_for"], "2026-06-01T07:00:00Z");
        assert_eq!(first["jobs"][0]["outcome"], "skipped");
        // Down from Monday to Friday noon: Tuesday's, Wednesday's, Thursday's and Friday's
        // 08:00 were missed; Friday's runs, once, late.
        let o = escalate(&["tick", "--now", "2026-06-05T12:00:00Z"], &env);
        assert!(o.status.success(), "{}", stderr(&o));
        let out = stdout(&o);
        let lines: Vec<&str> = out.lines().filter(|l| l.starts_with("job ")).collect();
        assert_eq!(lines.len(), 1, "{out}");
        assert!(
            lines[0].starts_with(
                "job audit_checkpoint for 2026-06-05T07:00:00Z: ok late, once for 4 missed occurrence(s); checkpoint 1 over 0 case(s), root "
            ),
            "{out}"
        );
        let o = escalate(&["tick", "--json", "--now", "2026-06-05T12:05:00Z"], &env);
        assert_eq!(json(&o)["jobs"], Value::Array(vec![]));
    }
}

#[test]
fn jobs_list_shows_schedule_next_run_and_last_outcome() {
    for db in TestDb::all() {
        let env = [("ESCALATE_DATABASE_URL", db.url.as_str())];
        let o = escalate(&["jobs", "list", "--now", "2026-06-15T12:00:00Z"], &env);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(
            stdout(&o),
            "sweep: \"* * * * *\" (Europe/London), next 2026-06-15T12:01:00Z; runs in every tick and serve sweep\n\
             outbox: \"* * * * *\" (Europe/London), next 2026-06-15T12:01:00Z; runs in every tick and serve sweep\n\
             audit_checkpoint: \"0 8 1 * *\" (Europe/London), next 2026-07-01T07:00:00Z; never run\n\
             monthly_report: \"0 8 1 * *\" (Europe/London), next 2026-07-01T07:00:00Z; never run\n\
             weekly_digest: off\n"
        );
        escalate(&["tick", "--now", "2026-06-15T12:00:00Z"], &env);
        // 1 July 08:00 BST: the checkpoint first, then the report that carries it (nothing
        // changed in between, so no second checkpoint).
        let o = escalate(&["tick", "--now", "2026-07-01T07:00:10Z"], &env);
        assert!(o.status.success(), "{}", stderr(&o));
        let o = escalate(
            &["jobs", "list", "--json", "--now", "2026-07-01T07:01:00Z"],
            &env,
        );
        let jobs = json(&o);
        let jobs = jobs.as_array().unwrap();
        assert_eq!(jobs.len(), 5);
        let report = &jobs[3];
        assert_eq!(report["job"], "monthly_report");
        assert_eq!(report["next_run"], "2026-08-01T07:00:00Z");
        assert_eq!(report["last"]["outcome"], "ok");
        assert_eq!(report["last"]["scheduled_for"], "2026-07-01T07:00:00Z");
        let root = jobs[2]["last"]["message"].as_str().unwrap();
        let root = root.rsplit(' ').next().unwrap();
        assert_eq!(
            report["last"]["message"],
            format!(
                "report 2026-06: 0 opened, 0 resolved, 0 open at the end; checkpoint 1 root {root}; not emailed: [report] recipients is empty"
            )
        );
        assert_eq!(jobs[4]["schedule"], Value::Null);
    }
}

#[test]
fn a_bad_schedule_is_one_line_naming_the_key() {
    let db = TestDb::sqlite();
    for (key, value, wanted) in [
        (
            "ESCALATE_JOBS__MONTHLY_REPORT",
            "0 8 32 * *",
            "jobs.monthly_report '0 8 32 * *' is not a 5-field cron expression",
        ),
        (
            "ESCALATE_JOBS__TIME_ZONE",
            "Europe/Londres",
            "jobs.time_zone 'Europe/Londres' is not an IANA time zone",
        ),
        (
            "ESCALATE_SERVE__INTERVAL_SECONDS",
            "0",
            "serve.interval_seconds 0 must be 1 to 3600 seconds",
        ),
        (
            "ESCALATE_SERVE__INTERVAL_SECONDS",
            "86400",
            "serve.interval_seconds 86400 must be 1 to 3600 seconds",
        ),
        (
            "ESCALATE_JOBS__WEEKLY_DIGEST",
            "0 8 * * 9",
            "jobs.weekly_digest '0 8 * * 9' is not a 5-field cron expression",
        ),
    ] {
        let env = [("ESCALATE_DATABASE_URL", db.url.as_str()), (key, value)];
        let o = escalate(&["jobs", "list"], &env);
        common::assert_one_line_error(&o, wanted);
    }
}

#[test]
fn serve_runs_a_job_missed_while_down_once_late_and_stops_on_sigterm() {
    for db in TestDb::all() {
        let env = [
            ("ESCALATE_DATABASE_URL", db.url.as_str()),
            ("ESCALATE_JOBS__AUDIT_CHECKPOINT", "0 8 * * *"),
        ];
        // The schedule started three days ago; serve has been down since.
        let then = (Utc::now() - TimeDelta::days(3)).to_rfc3339();
        let o = escalate(&["tick", "--now", &then], &env);
        assert!(o.status.success(), "{}", stderr(&o));
        let log = tempfile::NamedTempFile::new().unwrap();
        let mut serve = Command::new(env!("CARGO_BIN_EXE_escalate"))
            .args(["serve", "--addr", "127.0.0.1:0"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("ESCALATE_DATABASE_URL", &db.url)
            .env("ESCALATE_JOBS__AUDIT_CHECKPOINT", "0 8 * * *")
            .env("ESCALATE_SMTP_URL", "file://target/schedule-test-mail")
            .stderr(Stdio::from(log.reopen().unwrap()))
            .spawn()
            .unwrap();
        // Polled (bounded): the first scheduler pass runs at start-up.
        let started = std::time::Instant::now();
        let last = loop {
            let jobs = json(&escalate(&["jobs", "list", "--json"], &env));
            let last = jobs[2]["last"].clone();
            if last["outcome"] == "ok" {
                break last;
            }
            if started.elapsed() > std::time::Duration::from_secs(60)
                || serve.try_wait().unwrap().is_some()
            {
                let _ = serve.kill();
                panic!(
                    "the missed job did not run: {}",
                    std::fs::read_to_string(log.path()).unwrap()
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        };
        let kill = Command::new("kill")
            .args(["-TERM", &serve.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
        let exit = serve.wait().unwrap();
        let out = std::fs::read_to_string(log.path()).unwrap();
        assert!(exit.success(), "{out}");
        assert_eq!(out.matches("job runs late").count(), 1, "{out}");
        assert!(
            out.contains("missed=2") || out.contains("missed=3"),
            "{out}"
        );
        assert!(out.contains("escalate serve stopped"), "{out}");
        assert_eq!(engine_checkpoints(&db.url), 1, "{last}");
    }
}

fn engine_checkpoints(url: &str) -> usize {
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let store = store::connect(url).await.unwrap();
        store.checkpoints().await.unwrap().len()
    })
}

/// An occurrence whose process died mid-run (claimed, never finished) is run again once its
/// claim is old; one claimed a moment ago by a live process is left to it.
#[tokio::test]
async fn a_job_whose_process_died_is_run_again_once_its_claim_is_stale() {
    let schedule = checkpoint_at("0 * * * *");
    for db in TestDb::all() {
        let e = engine(&db.url).await;
        let start = t("2026-06-01T00:00:00Z");
        schedule::run_due(&e, &schedule, start).await.unwrap();
        let due = start + TimeDelta::hours(1);
        // A live process claimed the 01:00 occurrence just now and is still running it.
        assert!(
            e.store()
                .claim_job_run(
                    "audit_checkpoint",
                    due,
                    Utc::now(),
                    Utc::now() - TimeDelta::minutes(30)
                )
                .await
                .unwrap()
        );
        let ran = schedule::run_due(&e, &schedule, due).await.unwrap();
        assert!(runs(&ran, "ok").is_empty(), "{db:?}", db = db.url);
        assert_eq!(e.store().checkpoints().await.unwrap().len(), 0);
        // That process died: an hour later its claim is stale, and the occurrence runs once.
        let dead = Utc::now() - TimeDelta::hours(1);
        let stale = schedule::run_due(&e, &schedule, due).await.unwrap();
        assert!(runs(&stale, "ok").is_empty(), "still fresh");
        sqlx_backdate(&db.url, dead).await;
        let ran = schedule::run_due(&e, &schedule, due).await.unwrap();
        assert_eq!(runs(&ran, "ok"), [due], "{}", db.url);
        let again = schedule::run_due(&e, &schedule, due).await.unwrap();
        assert!(runs(&again, "ok").is_empty());
        assert_eq!(e.store().checkpoints().await.unwrap().len(), 1);
    }
}

/// Makes every unfinished job claim look as if it was taken at `at`.
async fn sqlx_backdate(url: &str, at: DateTime<Utc>) {
    use sqlx::Connection;
    if url.starts_with("sqlite") {
        let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query("UPDATE job_runs SET started_at = ? WHERE finished_at IS NULL")
            .bind(at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
            .execute(&mut c)
            .await
            .unwrap();
    } else {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query("UPDATE job_runs SET started_at = $1 WHERE finished_at IS NULL")
            .bind(at)
            .execute(&mut c)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn the_monthly_job_fires_the_months_due_deadlines_before_it_counts() {
    for db in TestDb::all() {
        let engine = engine(&db.url).await;
        let data: Value =
            serde_json::from_str(&std::fs::read_to_string("examples/dispute.json").unwrap())
                .unwrap();
        // Wednesday 28 October: stage 1 falls due on Friday 30 October at 17:00, and no sweep
        // runs before the report's occurrence (serve was down over the weekend).
        let case = engine
            .open(
                "dispute",
                data,
                None,
                &Default::default(),
                &common::user("priya.shah@school.example.org"),
                t("2026-10-28T10:00:00Z"),
            )
            .await
            .unwrap();
        let only_report = Schedule::from_settings(&JobsSettings {
            audit_checkpoint: "off".into(),
            ..JobsSettings::default()
        })
        .unwrap();
        // The schedule starts here (October's occurrence is recorded as skipped).
        schedule::run_due(&engine, &only_report, t("2026-10-20T09:00:00Z"))
            .await
            .unwrap();
        let ran = schedule::run_due(&engine, &only_report, t("2026-11-01T08:00:30Z"))
            .await
            .unwrap();
        assert_eq!(runs(&ran, "ok"), [t("2026-11-01T08:00:00Z")], "{ran:?}");
        // The lapse fired, dated at its due time, before the report was counted: a report
        // made now, or any time later, says October's deadline was missed.
        let shown = engine.show(&case.reference).await.unwrap();
        assert_eq!(shown.case.state, "stage2");
        let october = escalate::report::Month::new(2026, 10).unwrap();
        let report = escalate::report::monthly_job(&engine, october)
            .await
            .unwrap();
        assert_eq!(report.deadlines_missed, 1);
        assert_eq!(report.by_stage_reached["2"], 1);
    }
}
