//! Time per deadline: our constant-time working-day offset and whole `due()` against
//! `bdays::HolidayCalendarCache::advance_bdays` (which walks day by day) on the same holidays.

use std::hint::black_box;

use bdays::{HolidayCalendar, HolidayCalendarCache};
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use escalate::calendar::{Calendar, Division, Duration};

/// 4096 receipt times spread over 2015-2027 (every 26h 13m), so no single answer is cached.
fn receipts() -> Vec<DateTime<Utc>> {
    let start: DateTime<Utc> = "2015-01-01T08:00:00Z".parse().unwrap();
    (0..4096)
        .map(|i| start + TimeDelta::minutes(i * (26 * 60 + 13)))
        .collect()
}

fn bench(c: &mut Criterion) {
    let calendar = Calendar::official();
    let table = calendar.division(Division::EnglandAndWales);
    let cache = HolidayCalendarCache::new(
        table.clone(),
        NaiveDate::from_ymd_opt(2012, 1, 1).unwrap(),
        NaiveDate::from_ymd_opt(2028, 12, 31).unwrap(),
    );
    let times = receipts();
    let dates: Vec<NaiveDate> = times.iter().map(|t| t.date_naive()).collect();

    let mut offset = c.benchmark_group("working_day_offset");
    for n in [1u32, 15, 45] {
        let mut i = 0;
        offset.bench_with_input(BenchmarkId::new("escalate", n), &n, |b, &n| {
            b.iter(|| {
                i = (i + 1) & 4095;
                table.add_working_days(black_box(dates[i]), black_box(n))
            })
        });
        let mut i = 0;
        offset.bench_with_input(BenchmarkId::new("bdays_cache", n), &n, |b, &n| {
            b.iter(|| {
                i = (i + 1) & 4095;
                cache.advance_bdays(black_box(dates[i]), black_box(n as i32))
            })
        });
    }
    offset.finish();

    let mut due = c.benchmark_group("due");
    for n in [1u32, 15, 45] {
        let mut i = 0;
        due.bench_with_input(BenchmarkId::new("working_days", n), &n, |b, &n| {
            b.iter(|| {
                i = (i + 1) & 4095;
                calendar.due(
                    black_box(times[i]),
                    black_box(Duration::WorkingDays(n)),
                    Division::EnglandAndWales,
                )
            })
        });
    }
    let mut i = 0;
    due.bench_function("explain_45_working_days", |b| {
        b.iter(|| {
            i = (i + 1) & 4095;
            let d = calendar
                .due(
                    times[i],
                    Duration::WorkingDays(45),
                    Division::EnglandAndWales,
                )
                .unwrap();
            calendar.explain(black_box(&d))
        })
    });
    due.finish();

    c.bench_function("calendar_build", |b| b.iter(Calendar::official));
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
