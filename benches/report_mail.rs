//! Time to compose the board's monthly report mail from its outbox row: the chart drawn and
//! encoded as PNG, the CSV, the templates rendered and the MIME message built (what the
//! dispatcher does per recipient before sending); its parts on their own; and the PDF.
//!
//! `cargo bench --bench report_mail`

use std::hint::black_box;
use std::path::Path;

use chrono::{DateTime, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use escalate::calendar::Calendar;
use escalate::directory::Directory;
use escalate::engine::Engine;
use escalate::notify::{Dispatcher, MailSettings, Mailer, Templates};
use escalate::report::mail::{ReportMail, Witness};
use escalate::report::{self, AgencyPair, Format, Month, MonthlyReport, chart};
use escalate::store::{self, OutboxRecord};
use escalate::workflow::Workflows;

/// A busy partnership's month: every directory agency raising disputes, 30 agency pairs,
/// a year of figures in the tens.
fn typical(directory: &Directory) -> MonthlyReport {
    let month: Month = "2026-10".parse().unwrap();
    let mut r = report::build(month, Vec::new(), &Calendar::official(), directory);
    for (i, p) in r.series.iter_mut().enumerate() {
        p.opened = 20 + (i as u64 * 7) % 15;
        p.resolved = 15 + (i as u64 * 5) % 12;
        p.open_at_end = 30 + (i as u64 * 3) % 10;
    }
    let names: Vec<String> = directory.agencies.iter().map(|a| a.name.clone()).collect();
    r.by_agency_pair = (0..30)
        .map(|i| AgencyPair {
            raising: names[i % names.len()].clone(),
            receiving: names[(i + 1) % names.len()].clone(),
            count: (i as u64 * 3) % 9,
        })
        .collect();
    for (i, n) in r.by_raising_agency.values_mut().enumerate() {
        *n = i as u64 % 6;
    }
    r.opened = 31;
    r.resolved = 22;
    r
}

fn bench(c: &mut Criterion) {
    let text = std::fs::read_to_string("config/agencies.yaml").unwrap();
    let directory = Directory::parse(Path::new("config/agencies.yaml"), &text).unwrap();
    let report = typical(&directory);
    let now: DateTime<Utc> = "2026-11-01T08:00:00Z".parse().unwrap();
    let mail = ReportMail {
        report: report.clone(),
        checkpoint: Some(Witness {
            id: 12,
            root: format!("sha256:{}", "ab".repeat(32)),
            created_at: now,
            cases: 1_000_000,
        }),
    };
    let message = mail
        .messages(&["board@partnership.example.org".to_string()])
        .remove(0);
    let row = OutboxRecord {
        id: 1,
        case_id: None,
        idempotency_key: message.key,
        message_id: Some("<report.bench@escalate>".into()),
        kind: message.message.kind,
        template: message.message.template,
        recipient: message.message.recipient,
        payload: message.message.payload,
        status: "queued".into(),
        attempts: 0,
        next_attempt_at: now,
        last_error: None,
        reply: None,
        created_at: now,
        sent_at: None,
        queued_at: Some(now),
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let engine = rt.block_on(async {
        let url = format!("sqlite://{}", dir.path().join("bench.db").display());
        let store = store::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        let workflows =
            Workflows::load_dir(Path::new("workflows"), Path::new("config/templates")).unwrap();
        Engine::new(store, workflows, Calendar::official())
    });
    let mailer = Mailer::from_url(&format!("file://{}", dir.path().display()), None, 1).unwrap();
    let settings = MailSettings {
        from: "escalate@localhost".parse().unwrap(),
        base_url: "http://localhost:8080".into(),
        retry_for: chrono::TimeDelta::hours(72),
        first_backoff: chrono::TimeDelta::seconds(30),
        max_backoff: chrono::TimeDelta::seconds(3600),
        lease: chrono::TimeDelta::seconds(60),
        in_flight: 1,
        send_timeout: std::time::Duration::from_secs(30),
        form_free_text: false,
    };
    let templates = Templates::load(Path::new("config/templates")).unwrap();
    let dispatcher = Dispatcher::new(&engine, mailer, templates, settings);

    let mut g = c.benchmark_group("report_mail");
    g.sample_size(30);
    g.bench_function("compose", |b| {
        b.iter(|| {
            let m = rt
                .block_on(dispatcher.compose(black_box(&row), now))
                .unwrap();
            black_box(m.formatted().len())
        })
    });
    g.bench_function("chart_draw", |b| {
        b.iter(|| chart::draw(black_box(&report.series)).unwrap())
    });
    let drawn = chart::draw(&report.series).unwrap();
    g.bench_function("chart_png", |b| b.iter(|| black_box(&drawn).png().unwrap()));
    g.bench_function("csv", |b| {
        b.iter(|| report::render(black_box(&report), Format::Csv).unwrap())
    });
    g.bench_function("pdf", |b| {
        b.iter(|| report::render(black_box(&report), Format::Pdf).unwrap())
    });
    g.finish();
    let size = rt
        .block_on(dispatcher.compose(&row, now))
        .unwrap()
        .formatted()
        .len();
    eprintln!(
        "report mail: {size} bytes; chart PNG {} bytes; PDF {} bytes",
        drawn.png().unwrap().len(),
        report::render(&report, Format::Pdf).unwrap().len()
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
