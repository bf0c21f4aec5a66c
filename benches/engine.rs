//! Committed transitions per second on SQLite and PostgreSQL, beside the same database's raw
//! single-row insert-and-commit rate measured in the same run (the machine's physical limit).
//!
//! `cargo bench --bench engine` (PostgreSQL from ESCALATE_TEST_POSTGRES_URL, else
//! postgres://postgres@127.0.0.1:5432/test if it answers; each run uses a database of its own).
//! `ESCALATE_BENCH_N` sets how many transitions (default 2000).

use escalate::ids::{CaseRef, UserEmail};
use std::path::Path;
use std::time::Instant;

use chrono::{DateTime, TimeDelta, Utc};
use escalate::calendar::Calendar;
use escalate::engine::Engine;
use escalate::store;
use escalate::workflow::{EventFields, Workflows};

#[path = "support/raw_commits.rs"]
mod raw_commits;
use raw_commits::raw_rate;

fn example() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string("examples/dispute.json").unwrap()).unwrap()
}

/// Opens `n` disputes (timed separately), then escalates each from stage 1 to stage 2, from
/// `clients` concurrent tasks: every transition writes the case, an event-log entry, meets two
/// deadlines, starts two and queues one email, in one transaction.
async fn transition_rates(url: &str, n: usize, clients: usize) -> (f64, f64) {
    let store = store::connect(url).await.unwrap();
    store.migrate().await.unwrap();
    let workflows =
        Workflows::load_dir(Path::new("workflows"), Path::new("config/templates")).unwrap();
    let engine =
        std::sync::Arc::new(Engine::new(store, workflows, Calendar::official()).allow_future(true));
    let t0: DateTime<Utc> = "2026-11-02T09:00:00Z".parse().unwrap();
    let start = Instant::now();
    let opens: Vec<_> = (0..clients)
        .map(|c| {
            let engine = engine.clone();
            tokio::spawn(async move {
                let mut refs = Vec::new();
                for i in (c..n).step_by(clients) {
                    let at = t0 + TimeDelta::milliseconds(i as i64);
                    let lead = &UserEmail::parse("priya.shah@school.example.org").unwrap();
                    let case = engine
                        .open("dispute", example(), None, &EventFields::new(), lead, at)
                        .await
                        .unwrap();
                    refs.push(case.reference);
                }
                refs
            })
        })
        .collect();
    let mut groups = Vec::new();
    for o in opens {
        groups.push(o.await.unwrap());
    }
    let open_rate = n as f64 / start.elapsed().as_secs_f64();
    let at = t0 + TimeDelta::hours(2);
    let start = Instant::now();
    let escalations: Vec<_> = groups
        .into_iter()
        .map(|refs| {
            let engine = engine.clone();
            tokio::spawn(async move {
                let reason = EventFields::from([("reason".to_string(), "No reply".to_string())]);
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
            })
        })
        .collect();
    for e in escalations {
        e.await.unwrap();
    }
    (open_rate, n as f64 / start.elapsed().as_secs_f64())
}

fn postgres_admin() -> Option<String> {
    let url = std::env::var("ESCALATE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    std::process::Command::new("psql")
        .args([url.as_str(), "-Atqc", "SELECT 1"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|_| url)
}

fn psql(url: &str, sql: &str) {
    let ok = std::process::Command::new("psql")
        .args([url, "-qc", sql])
        .status()
        .unwrap()
        .success();
    assert!(ok, "{sql}");
}

fn main() {
    // `cargo test --benches` runs bench targets with --bench absent: do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let n: usize = std::env::var("ESCALATE_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut backends = vec![(
        "sqlite".to_string(),
        format!("sqlite://{}", dir.path().join("bench.db").display()),
        format!("sqlite://{}?mode=rwc", dir.path().join("raw.db").display()),
        None,
    )];
    if let Some(admin) = postgres_admin() {
        let base = admin.rsplit_once('/').unwrap().0.to_string();
        let (db, raw) = (
            format!("escalate_bench_{}", std::process::id()),
            format!("escalate_bench_raw_{}", std::process::id()),
        );
        psql(&admin, &format!("CREATE DATABASE {db}"));
        psql(&admin, &format!("CREATE DATABASE {raw}"));
        backends.push((
            "postgres".into(),
            format!("{base}/{db}"),
            format!("{base}/{raw}"),
            Some((admin, db, raw)),
        ));
    } else {
        println!("notice: no PostgreSQL answers; measuring SQLite only");
    }
    println!("{n} operations each, each its own committed transaction, from 1 or 8 clients");
    println!(
        "{:<10} {:>8} {:>14} {:>10} {:>14} {:>8}",
        "backend", "clients", "raw insert/s", "open/s", "transition/s", "of raw"
    );
    // ESCALATE_BENCH_ONLY=postgres/8 measures one backend, or one backend and client count.
    let only = std::env::var("ESCALATE_BENCH_ONLY").unwrap_or_default();
    for (name, url, raw_url, cleanup) in backends {
        for clients in [1, 8] {
            let label = format!("{name}/{clients}");
            if !only.is_empty() && !label.starts_with(&only) {
                continue;
            }
            let raw = rt.block_on(raw_rate(&raw_url, n, clients));
            let (open, transition) = rt.block_on(transition_rates(&url, n, clients));
            println!(
                "{name:<10} {clients:>8} {raw:>14.0} {open:>10.0} {transition:>14.0} {:>7.0}%",
                100.0 * transition / raw
            );
        }
        if let Some((admin, db, raw)) = cleanup {
            psql(&admin, &format!("DROP DATABASE {db} WITH (FORCE)"));
            psql(&admin, &format!("DROP DATABASE {raw} WITH (FORCE)"));
        }
    }
}
