//! The monitoring form, black box: render it and read it back with poppler's tools.

use std::path::Path;
use std::process::Command;

use escalate::notify::form::{self, ActionRow, DecisionRow, MonitoringForm, Party, StageRow};

/// Section headings every rendering must show.
const HEADINGS: [&str; 10] = [
    "Reference & parties",
    "Date first raised",
    "Category",
    "Summary of the disagreement",
    "Stages reached",
    "Actions agreed",
    "Decisions made and action taken",
    "Outcome and resolution date",
    "Was the child at risk during the dispute?",
    "Learning for the partnership",
];

/// A realistic stage-3 form (invented professionals; no child is named anywhere).
fn sample() -> MonitoringForm {
    MonitoringForm {
        reference: "DSP-2026-000042".into(),
        workflow: "Professional disagreement".into(),
        partnership: "Example Safeguarding Children Partnership".into(),
        raising: Party {
            agency: "Northfield Primary School".into(),
            name: "Alex Morgan".into(),
            role: "Designated Safeguarding Lead".into(),
            email: "alex.morgan@northfield.example.org".into(),
        },
        receiving: Party {
            agency: "Example Council Children's Social Care (Front Door)".into(),
            name: "Sam Patel".into(),
            role: "Team Manager, MASH".into(),
            email: "sam.patel@example.gov.uk".into(),
        },
        first_raised: "Mon 2 Nov 2026 09:00".into(),
        category: "Threshold / level of need".into(),
        summary: "The school referred concerns about neglect after repeated absences and \
                  unexplained injuries. The Front Door decided the threshold for a \
                  statutory assessment was not met and stepped the case down to early help. \
                  The school disagrees: the early help plan has not been engaged with for \
                  six weeks and the concerns have increased."
            .into(),
        stages: vec![
            StageRow {
                stage: "Stage 1: practitioner discussion".into(),
                entered: "Mon 2 Nov 2026 09:00".into(),
                exited: Some("Wed 4 Nov 2026 16:30".into()),
            },
            StageRow {
                stage: "Stage 2: manager discussion".into(),
                entered: "Wed 4 Nov 2026 16:30".into(),
                exited: Some("Tue 10 Nov 2026 12:00".into()),
            },
            StageRow {
                stage: "Stage 3: senior manager review".into(),
                entered: "Tue 10 Nov 2026 12:00".into(),
                exited: None,
            },
        ],
        actions: vec![ActionRow {
            action: "Hold a multi-agency meeting to review the early help plan".into(),
            by_whom: "Sam Patel".into(),
            by_when: "Fri 13 Nov 2026".into(),
        }],
        decisions: vec![
            DecisionRow {
                when: "Wed 4 Nov 2026 16:30".into(),
                who: "Alex Morgan".into(),
                what: "Escalated to stage 2: no agreement at practitioner level".into(),
            },
            DecisionRow {
                when: "Tue 10 Nov 2026 12:00".into(),
                who: "Jo Clarke".into(),
                what: "Escalated to stage 3: managers could not agree on threshold".into(),
            },
        ],
        outcome: None,
        resolution_date: None,
        child_at_risk: None,
        learning: None,
        generated: "Tue 10 Nov 2026 12:05".into(),
        link: "https://escalate.example.org/cases/DSP-2026-000042".into(),
    }
}

/// The sample with 40 decisions and a 3000-character summary.
fn long_sample() -> MonitoringForm {
    let mut f = sample();
    f.summary = "Concerns were shared again at the review and the partners disagree. "
        .repeat(45)
        .chars()
        .take(3000)
        .collect();
    f.decisions = (1..=40)
        .map(|i| DecisionRow {
            when: format!("Thu {} Nov 2026 10:{:02}", 12 + i / 10, i % 60),
            who: "Jo Clarke".into(),
            what: format!("Decision note {i:02} recorded"),
        })
        .collect();
    f.learning = Some("Check early help engagement before stepping down. 🙂".into());
    f.child_at_risk = Some("yes".into());
    f
}

/// Runs a poppler tool, failing the test with its stderr if it fails.
fn run(tool: &str, args: &[&str]) -> String {
    let out = Command::new(tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{tool} could not run (install poppler-utils): {e}"));
    assert!(
        out.status.success(),
        "{tool} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Writes the PDF to `dir` and returns its path as a string.
fn write_pdf(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write the PDF");
    // FORM_PDF_KEEP=dir keeps a copy to look at.
    if let Ok(keep) = std::env::var("FORM_PDF_KEEP") {
        let _ = std::fs::copy(&path, Path::new(&keep).join(name));
    }
    path.to_string_lossy().into_owned()
}

/// The number after "Pages:" in pdfinfo's output.
fn page_count(info: &str) -> usize {
    info.lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("pdfinfo reports the page count")
}

#[test]
fn pdf_is_a4_with_every_section_and_extractable_text() {
    let bytes = form::pdf(&sample()).expect("render");
    assert!(bytes.starts_with(b"%PDF-"));
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_pdf(dir.path(), "form.pdf", &bytes);

    let text = run("pdftotext", &["-layout", &path, "-"]);
    assert!(
        text.contains("Professional disagreement: monitoring form"),
        "{text}"
    );
    assert!(text.contains("DSP-2026-000042"), "{text}");
    for heading in HEADINGS {
        assert!(text.contains(heading), "missing {heading:?} in\n{text}");
    }
    assert!(
        text.contains("Escalated to stage 3: managers could not agree"),
        "{text}"
    );
    assert!(text.contains("Designated Safeguarding Lead"), "{text}");
    assert!(text.contains("Generated Tue 10 Nov 2026 12:05"), "{text}");
    assert!(text.contains("page 1 of 2"), "{text}");
    assert!(text.contains("contains no child identifiers"), "{text}");

    let info = run("pdfinfo", &[&path]);
    assert!(
        info.lines()
            .any(|l| l.starts_with("Page size:") && l.ends_with("595.276 x 841.89 pts (A4)")),
        "{info}"
    );
    // Section 7 onwards flows onto a second page.
    assert_eq!(page_count(&info), 2, "{info}");
}

#[test]
fn a_long_form_flows_onto_more_pages_and_loses_nothing() {
    let bytes = form::pdf(&long_sample()).expect("render");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_pdf(dir.path(), "long.pdf", &bytes);

    let info = run("pdfinfo", &[&path]);
    let pages = page_count(&info);
    assert!(pages >= 2, "{info}");

    let text = run("pdftotext", &["-layout", &path, "-"]);
    for i in 1..=40 {
        let note = format!("Decision note {i:02} recorded");
        assert!(text.contains(&note), "missing {note:?}");
    }
    assert!(text.contains(&format!("page {pages} of {pages}")), "{text}");
    // The emoji is replaced, not dropped with the rest of the line, and nothing panicked.
    assert!(text.contains("stepping down. ?"), "{text}");
    // Every word of the summary survives wrapping and page breaks.
    let plain = run("pdftotext", &[&path, "-"]);
    let words = plain.matches("disagree.").count();
    assert!(
        words >= 44,
        "only {words} sentences of the summary came out"
    );

    let out = dir.path().join("page");
    run(
        "pdftoppm",
        &["-r", "50", "-png", &path, &out.to_string_lossy()],
    );
    let pngs = std::fs::read_dir(dir.path())
        .expect("read tempdir")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".png"))
        })
        .count();
    assert_eq!(pngs, pages);
}

#[test]
fn an_empty_form_prints_blank_sections_to_fill_in() {
    let bytes = form::pdf(&MonitoringForm::default()).expect("render");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_pdf(dir.path(), "blank.pdf", &bytes);
    let text = run("pdftotext", &["-layout", &path, "-"]);
    for heading in HEADINGS {
        assert!(text.contains(heading), "missing {heading:?} in\n{text}");
    }
}

#[test]
fn html_has_the_sections_and_escapes_every_value() {
    let mut f = sample();
    f.summary = "<script>alert('x')</script> & more".into();
    f.raising.name = "O\"Brien".into();
    let page = form::html(&f);
    if let Ok(keep) = std::env::var("FORM_PDF_KEEP") {
        let _ = std::fs::write(Path::new(&keep).join("form.html"), &page);
    }
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.contains("DSP-2026-000042"));
    for heading in HEADINGS {
        assert!(
            page.contains(&heading.replace('&', "&amp;")),
            "missing {heading:?}"
        );
    }
    assert!(!page.contains("<script>"));
    assert!(page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more"));
    assert!(page.contains("O&quot;Brien"));
    assert!(page.contains("@page { size: A4; margin: 18mm; }"));
    // Self-contained: nothing fetched from elsewhere (the case link is an <a>, not a resource).
    assert!(!page.contains("src="));
    assert!(!page.contains("<link"));
    assert!(!page.contains("@import"));
}

#[test]
fn awkward_values_render_without_panicking() {
    let mut f = sample();
    f.child_at_risk = Some("Unclear at the time".into());
    f.link = format!("https://escalate.example.org/cases/{}", "x".repeat(2000));
    f.summary = format!("{}\n\n\t日本語 😀 end", "y".repeat(4000));
    f.raising.agency = "🚸".repeat(50);
    f.actions = vec![ActionRow {
        action: "Review\r\nthe plan".into(),
        by_whom: String::new(),
        by_when: String::new(),
    }];
    f.outcome = Some("Agreed a strategy discussion — held within 2 working days.".into());
    f.resolution_date = Some("Fri 13 Nov 2026".into());
    let bytes = form::pdf(&f).expect("render");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_pdf(dir.path(), "awkward.pdf", &bytes);
    let text = run("pdftotext", &["-layout", &path, "-"]);
    assert!(text.contains("Recorded: Unclear at the time"), "{text}");
    assert!(text.contains("??? ? end"), "{text}");
    assert!(text.contains("Agreed a strategy discussion — held within 2 working days."));
    assert!(text.contains("Fri 13 Nov 2026"));
}

/// Names in the scripts partnerships meet (invented people).
const WELSH: &str = "Siân Llŷr";
const POLISH: &str = "Zażółć Gęślą";
const POLISH_2: &str = "Łukasz Żółkiewski";
const ARABIC: &str = "محمد الأحمد";
const GREEK: &str = "Νίκος Παπαδόπουλος";
const CYRILLIC: &str = "Олена Шевченко";

/// The sample with those names in the parties, the actions and the decisions.
fn names_sample() -> MonitoringForm {
    let mut f = sample();
    f.raising.name = WELSH.into();
    f.receiving.name = POLISH_2.into();
    f.actions[0].by_whom = POLISH.into();
    f.decisions[0].who = ARABIC.into();
    f.decisions[1].who = GREEK.into();
    f.decisions.push(DecisionRow {
        when: "Wed 11 Nov 2026 09:30".into(),
        who: CYRILLIC.into(),
        what: format!("Noted: {WELSH} and {POLISH_2} agreed 🙂 to meet"),
    });
    f
}

#[test]
fn every_letter_of_every_name_comes_back_from_the_pdf() {
    let bytes = form::pdf(&names_sample()).expect("render");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_pdf(dir.path(), "names.pdf", &bytes);
    // A name may wrap inside its cell: compare with the line breaks made spaces.
    let text = run("pdftotext", &[&path, "-"]);
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    for name in [WELSH, POLISH, POLISH_2, GREEK, CYRILLIC] {
        assert!(text.contains(name), "missing {name:?} in\n{text}");
    }
    // Arabic is drawn right to left (letters unjoined), and pdftotext reads it back in
    // logical order, the name exactly as typed, wrapped in U+202B/U+202C embedding marks.
    assert!(
        text.contains(&format!("\u{202B}{ARABIC}\u{202C}")),
        "missing {ARABIC:?} in\n{text}"
    );
    // The emoji (the font has no glyph for it) is replaced visibly; its neighbours stay.
    assert!(text.contains("agreed ? to meet"), "{text}");
}

#[test]
fn the_html_form_keeps_every_name_as_typed() {
    let page = form::html(&names_sample());
    for name in [WELSH, POLISH, POLISH_2, ARABIC, GREEK, CYRILLIC] {
        assert!(page.contains(name), "missing {name:?}");
    }
    assert!(page.contains("agreed 🙂 to meet"));
    assert!(page.contains("<meta charset=\"utf-8\">"));
}

#[test]
fn text_in_other_scripts_never_crosses_the_right_margin() {
    // Wrapping is measured with the embedded font's own widths: if it measured narrower
    // than the font prints, the ends of lines would run past the margin.
    let mut f = names_sample();
    let words = [WELSH, POLISH, POLISH_2, GREEK, CYRILLIC, "WWWWMMMM", "ŴŶŵŷ"];
    f.summary = words
        .iter()
        .cycle()
        .take(140)
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    f.raising.agency = words.concat().repeat(3);
    let bytes = form::pdf(&f).expect("render");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_pdf(dir.path(), "margins.pdf", &bytes);
    let html = run("pdftotext", &["-bbox", &path, "-"]);
    // 18 mm from the right edge of A4, with half a point for rounding.
    let right = 595.2756 - 51.0236 + 0.5;
    let mut words_seen = 0;
    for line in html.lines().filter(|l| l.contains("<word ")) {
        let x_max: f32 = line
            .split("xMax=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .and_then(|s| s.parse().ok())
            .expect("xMax");
        assert!(
            x_max <= right,
            "past the margin ({x_max} > {right}): {line}"
        );
        words_seen += 1;
    }
    assert!(words_seen > 200, "only {words_seen} words");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

    /// Any text at all, in any script, with controls, marks and bidi overrides, renders.
    #[test]
    fn any_text_in_any_field_renders_without_panicking(
        name in "\\PC{0,40}",
        mixed in "[a-zŵŷ\u{0600}-\u{06FF}\u{0590}-\u{05FF}\u{0300}-\u{036F}\u{202A}-\u{202E} 0-9\t\r\n\u{1F600}-\u{1F64F}]{0,300}",
        anything in proptest::collection::vec(proptest::char::any(), 0..200),
    ) {
        let mut f = sample();
        f.raising.name = name.clone();
        f.reference = name;
        f.summary = mixed.clone();
        f.decisions[0].who = mixed;
        f.learning = Some(anything.into_iter().collect());
        let bytes = form::pdf(&f).expect("render");
        proptest::prop_assert!(bytes.starts_with(b"%PDF-"));
    }
}
