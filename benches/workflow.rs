//! Time per state-machine step on the shipped dispute workflow, deadline computation included.

use std::hint::black_box;
use std::path::Path;

use chrono::{DateTime, TimeDelta, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use escalate::calendar::Calendar;
use escalate::workflow::{
    Actor, Catalog, EventFields, Slot, TimerKind, Workflows, apply, fire, open, parse,
};

fn bench(c: &mut Criterion) {
    let workflows = Workflows::load_dir(Path::new("workflows"), Path::new("config/templates"))
        .expect("shipped workflows load");
    let def = workflows.get("dispute").expect("dispute");
    let calendar = Calendar::official();
    let data: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string("examples/dispute.json").unwrap()).unwrap();
    let start: DateTime<Utc> = "2026-11-02T09:00:00Z".parse().unwrap();
    let lead = Actor {
        id: "lead@example.org".into(),
        roles: vec![],
    };
    let (case, _) = open(
        def,
        data.clone(),
        None,
        &EventFields::new(),
        &lead,
        start,
        &calendar,
    )
    .expect("opens");
    let raiser = Actor {
        id: "priya.shah@school.example.org".into(),
        roles: vec!["raiser".into()],
    };
    let reason = EventFields::from([("reason".to_string(), "No reply".to_string())]);
    let note = EventFields::from([("text".to_string(), "Called again".to_string())]);
    // Event times spread over a year so no answer repeats.
    let times: Vec<DateTime<Utc>> = (0..1024)
        .map(|i| start + TimeDelta::minutes(i * 517))
        .collect();

    let mut g = c.benchmark_group("apply");
    let mut i = 0;
    g.bench_function("escalate_stage1_to_stage2", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            apply(
                def,
                &case,
                "escalate",
                &raiser,
                &reason,
                black_box(times[i]),
                &calendar,
            )
            .expect("allowed")
        })
    });
    let mut i = 0;
    g.bench_function("note_record_only", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            apply(
                def,
                &case,
                "note",
                &raiser,
                &note,
                black_box(times[i]),
                &calendar,
            )
            .expect("allowed")
        })
    });
    let mut i = 0;
    g.bench_function("refused_missing_field", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            apply(
                def,
                &case,
                "escalate",
                &raiser,
                &EventFields::new(),
                black_box(times[i]),
                &calendar,
            )
            .expect_err("refused")
        })
    });
    let slot = Slot::State("stage1".into());
    let mut i = 0;
    g.bench_function("fire_stage1_lapse_escalates", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            fire(
                def,
                &case,
                &slot,
                TimerKind::Lapse,
                black_box(times[i]),
                &calendar,
            )
            .expect("fires")
        })
    });
    let mut i = 0;
    g.bench_function("open_dispute", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            open(
                def,
                data.clone(),
                None,
                &EventFields::new(),
                &lead,
                black_box(times[i]),
                &calendar,
            )
            .expect("opens")
        })
    });
    g.finish();

    let text = std::fs::read_to_string("workflows/dispute.yaml").unwrap();
    let catalog = Catalog::scan(Path::new("workflows"), Path::new("config/templates"));
    c.bench_function("load/parse_and_check_dispute_yaml", |b| {
        b.iter(|| {
            parse(
                Path::new("workflows/dispute.yaml"),
                black_box(&text),
                &catalog,
            )
            .expect("valid")
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
