//! `tick` over 100,000 open cases of which 5,000 have both their stage-1 deadlines due: 10,000
//! due deadlines, each fired in its own transaction. Prints the time and the process's peak
//! memory before and after. `cargo bench --bench tick` (PostgreSQL as for the engine bench).
//! `ESCALATE_BENCH_OPEN` and `ESCALATE_BENCH_DUE_CASES` change the sizes.

use escalate::ids::UserEmail;
use std::path::Path;
use std::time::Instant;

use chrono::{DateTime, TimeDelta, Utc};
use escalate::calendar::Calendar;
use escalate::engine::Engine;
use escalate::store;
use escalate::workflow::Workflows;

fn example() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string("examples/dispute.json").unwrap()).unwrap()
}

/// Peak resident memory of this process so far, in MiB (Linux `VmHWM`).
fn peak_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn run(name: &str, url: &str, open: usize, due_cases: usize) {
    let store = store::connect(url).await.unwrap();
    store.migrate().await.unwrap();
    let workflows =
        Workflows::load_dir(Path::new("workflows"), Path::new("config/templates")).unwrap();
    let engine = Engine::new(store, workflows, Calendar::official()).allow_future(true);
    let early: DateTime<Utc> = "2026-11-02T09:00:00Z".parse().unwrap();
    let now: DateTime<Utc> = "2026-11-05T09:00:00Z".parse().unwrap();
    let load = Instant::now();
    let data = example();
    for chunk in (0..open).collect::<Vec<_>>().chunks(1000) {
        let cases: Vec<_> = chunk
            .iter()
            .map(|&i| {
                // The first `due_cases` opened early (both deadlines due by `now`), the rest
                // an hour before `now` (nothing due).
                let at = if i < due_cases {
                    early
                } else {
                    now - TimeDelta::hours(1)
                };
                (data.clone(), at + TimeDelta::milliseconds(i as i64 % 1000))
            })
            .collect();
        engine
            .open_batch(
                "dispute",
                &cases,
                &UserEmail::parse("priya.shah@school.example.org").unwrap(),
            )
            .await
            .unwrap();
    }
    let loaded = load.elapsed();
    let before = peak_mib();
    let start = Instant::now();
    let report = engine.tick(now).await.unwrap();
    let took = start.elapsed();
    assert_eq!(report.fired, 2 * due_cases, "{report:?}");
    println!(
        "{name:<10} {open:>8} open, {:>6} due: tick {:>6.2} s ({:>5.0} deadlines/s); peak memory {before:.0} MiB before, {:.0} MiB after (load {:.1} s)",
        report.fired,
        took.as_secs_f64(),
        report.fired as f64 / took.as_secs_f64(),
        peak_mib(),
        loaded.as_secs_f64()
    );
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let open = env_usize("ESCALATE_BENCH_OPEN", 100_000);
    let due_cases = env_usize("ESCALATE_BENCH_DUE_CASES", 5_000);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let backend = std::env::var("ESCALATE_BENCH_BACKEND").unwrap_or_default();
    if backend != "postgres" {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("tick.db").display());
        rt.block_on(run("sqlite", &url, open, due_cases));
    }
    if backend != "sqlite" {
        let admin = std::env::var("ESCALATE_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let db = format!("escalate_tick_{}", std::process::id());
        let psql = |sql: &str| {
            std::process::Command::new("psql")
                .args([admin.as_str(), "-qc", sql])
                .status()
                .is_ok_and(|s| s.success())
        };
        if psql(&format!("CREATE DATABASE {db}")) {
            let url = format!("{}/{db}", admin.rsplit_once('/').unwrap().0);
            rt.block_on(run("postgres", &url, open, due_cases));
            psql(&format!("DROP DATABASE {db} WITH (FORCE)"));
        } else {
            println!("notice: no PostgreSQL answers; measured SQLite only");
        }
    }
}
