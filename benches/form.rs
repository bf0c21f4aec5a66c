//! Time to render one typical stage-3 monitoring form as PDF (layout, font subsetting and
//! serialisation) and as HTML; also the first PDF in a process, which reads the fonts.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use escalate::notify::form::{self, ActionRow, DecisionRow, MonitoringForm, Party, StageRow};

/// A two-page form like the one a real dispute sends at stage 3 (invented professionals).
fn typical() -> MonitoringForm {
    let stage = |stage: &str, entered: &str, exited: Option<&str>| StageRow {
        stage: stage.into(),
        entered: entered.into(),
        exited: exited.map(Into::into),
    };
    MonitoringForm {
        reference: "DSP-2026-000042".into(),
        workflow: "Professional disagreement".into(),
        partnership: "Example Safeguarding Children Partnership".into(),
        raising: Party {
            agency: "Northfield Primary School".into(),
            name: "Siân Llŷr".into(),
            role: "Designated Safeguarding Lead".into(),
            email: "sian.llyr@northfield.example.org".into(),
        },
        receiving: Party {
            agency: "Example Council Children's Social Care (Front Door)".into(),
            name: "Łukasz Żółkiewski".into(),
            role: "Team Manager, MASH".into(),
            email: "lukasz.zolkiewski@example.gov.uk".into(),
        },
        first_raised: "Mon 2 Nov 2026 09:00".into(),
        category: "Threshold / level of need".into(),
        summary: "The school referred concerns about neglect after repeated absences and \
                  unexplained injuries. The Front Door decided the threshold for a statutory \
                  assessment was not met and stepped the case down to early help. The school \
                  disagrees: the early help plan has not been engaged with for six weeks."
            .into(),
        stages: vec![
            stage(
                "Stage 1: practitioner discussion",
                "Mon 2 Nov 2026 09:00",
                Some("Wed 4 Nov 2026 16:30"),
            ),
            stage(
                "Stage 2: manager discussion",
                "Wed 4 Nov 2026 16:30",
                Some("Tue 10 Nov 2026 12:00"),
            ),
            stage(
                "Stage 3: senior manager review",
                "Tue 10 Nov 2026 12:00",
                None,
            ),
        ],
        actions: vec![ActionRow {
            action: "Hold a multi-agency meeting to review the early help plan".into(),
            by_whom: "Łukasz Żółkiewski".into(),
            by_when: "Fri 13 Nov 2026".into(),
        }],
        decisions: vec![DecisionRow {
            when: "Tue 10 Nov 2026 12:00".into(),
            who: "Siân Llŷr".into(),
            what: "Escalated to stage 3: managers could not agree on threshold".into(),
        }],
        generated: "Tue 10 Nov 2026 12:05".into(),
        link: "https://escalate.example.org/cases/DSP-2026-000042".into(),
        ..MonitoringForm::default()
    }
}

fn bench(c: &mut Criterion) {
    let form = typical();
    // The first form in a process also reads the compiled-in fonts' metrics: time it once.
    let start = std::time::Instant::now();
    let bytes = form::pdf(&form).expect("render");
    println!(
        "form/pdf first in process: {:.2} ms, {} bytes",
        start.elapsed().as_secs_f64() * 1000.0,
        bytes.len()
    );
    let mut g = c.benchmark_group("form");
    g.sample_size(30);
    g.bench_function("pdf", |b| b.iter(|| form::pdf(black_box(&form))));
    g.bench_function("html", |b| b.iter(|| form::html(black_box(&form))));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
