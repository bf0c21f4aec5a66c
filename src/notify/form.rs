//! The stage-3 monitoring form: a printable A4 PDF and a matching self-contained HTML page.
//!
//! Both renderings are pure functions of [`MonitoringForm`], so they can be tested without a
//! mail transport and re-rendered byte-for-byte from the stored case. The form is meant to be
//! printed and filled in by hand where the case history has nothing yet, so every section is
//! always drawn, with ruled blank space when it is empty.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::LazyLock;

use printpdf::{
    Color, FontId, Greyscale, Line, LinePoint, Mm, Op, PaintMode, ParsedFont, PdfDocument, PdfFont,
    PdfFontHandle, PdfPage, PdfSaveOptions, Point, Pt, Rect, TextItem,
};
use sha2::{Digest, Sha256};

/// Everything printed on the form (already free of child identifiers: never add any).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct MonitoringForm {
    /// The dispute reference, e.g. "DSP-2026-000042".
    pub reference: String,
    /// The workflow's display name, e.g. "Professional disagreement".
    pub workflow: String,
    /// The safeguarding partnership's name (may be empty).
    pub partnership: String,
    /// The raising agency and professional.
    pub raising: Party,
    /// The receiving (respondent) agency and professional.
    pub receiving: Party,
    /// When the disagreement was first raised, as a formatted local date-time.
    pub first_raised: String,
    /// The category's human label, e.g. "Threshold / level of need".
    pub category: String,
    /// The disagreement in the raiser's words.
    pub summary: String,
    /// The stages reached, with entry and exit dates.
    pub stages: Vec<StageRow>,
    /// The actions agreed: what, by whom, by when.
    pub actions: Vec<ActionRow>,
    /// Decisions made and action taken, from the case history.
    pub decisions: Vec<DecisionRow>,
    /// The outcome, once there is one.
    pub outcome: Option<String>,
    /// When the dispute was resolved, formatted.
    pub resolution_date: Option<String>,
    /// "yes" or "no"; `None` leaves both boxes blank to fill in.
    pub child_at_risk: Option<String>,
    /// Learning for the partnership.
    pub learning: Option<String>,
    /// When the form was produced, formatted.
    pub generated: String,
    /// URL of the case page, where the completed form is recorded.
    pub link: String,
}

/// An agency and the professional acting for it.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Party {
    /// The agency, e.g. "Northshire Children's Social Care".
    pub agency: String,
    /// The professional's name.
    pub name: String,
    /// The professional's role.
    pub role: String,
    /// The professional's email address.
    pub email: String,
}

/// One stage reached, with the dates it was entered and left.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct StageRow {
    /// The stage's name.
    pub stage: String,
    /// When the stage was entered, formatted.
    pub entered: String,
    /// When the stage was left, formatted; `None` while it is current.
    pub exited: Option<String>,
}

/// One action agreed.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ActionRow {
    /// What is to be done.
    pub action: String,
    /// Who is to do it.
    pub by_whom: String,
    /// By when, formatted.
    pub by_when: String,
}

/// One decision made or action taken, from the case history.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct DecisionRow {
    /// When it happened, formatted.
    pub when: String,
    /// Who made or recorded it.
    pub who: String,
    /// The event's title with its reason or fields.
    pub what: String,
}

/// Why a form could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum FormError {
    /// The form's text is larger than any real case produces.
    #[error("the form holds {bytes} bytes of text, more than the {max} allowed")]
    TooLarge {
        /// Bytes of text in the form.
        bytes: usize,
        /// The most allowed.
        max: usize,
    },
    /// The laid-out form would run to more pages than allowed.
    #[error("the form would run to {pages} pages, more than the {max} allowed")]
    TooManyPages {
        /// Pages the form would need.
        pages: usize,
        /// The most allowed.
        max: usize,
    },
    /// The PDF library failed while writing the document.
    #[error("the PDF library failed while writing the form: {0}")]
    Pdf(String),
}

/// The form's title, on the first page and in the HTML.
const TITLE: &str = "Professional disagreement: monitoring form";
/// The line under every footer: the form is safe to email and file, and where it belongs.
const NO_IDENTIFIERS: &str =
    "This form contains no child identifiers. Record the completed form on the case page:";

/// Bounds on the input, so a runaway case history cannot make an enormous attachment.
const MAX_BYTES: usize = 2_000_000;
/// Bounds the attachment size; a real dispute's form is a few pages.
const MAX_PAGES: usize = 500;

/// The section headings, numbered as on the printed form (shared by the PDF and the HTML).
const SECTIONS: [&str; 10] = [
    "1. Reference & parties",
    "2. Date first raised",
    "3. Category",
    "4. Summary of the disagreement",
    "5. Stages reached",
    "6. Actions agreed",
    "7. Decisions made and action taken",
    "8. Outcome and resolution date",
    "9. Was the child at risk during the dispute?",
    "10. Learning for the partnership",
];

/// Renders the form as an A4 PDF.
pub fn pdf(form: &MonitoringForm) -> Result<Vec<u8>, FormError> {
    let bytes = text_len(form);
    if bytes > MAX_BYTES {
        return Err(FormError::TooLarge {
            bytes,
            max: MAX_BYTES,
        });
    }
    let Some(fonts) = FONTS.as_ref() else {
        return Err(FormError::Pdf("the embedded font could not be read".into()));
    };
    let Layout { pages, glyphs } = layout(form);
    if pages.len() > MAX_PAGES {
        return Err(FormError::TooManyPages {
            pages: pages.len(),
            max: MAX_PAGES,
        });
    }
    let title = format!("{TITLE} {}", clean(&form.reference));
    // printpdf and allsorts are large and not ours: a bug in them must cost one email its
    // attachment, not take down the dispatcher that called us.
    let bytes = catch_unwind(AssertUnwindSafe(|| -> Result<Vec<u8>, String> {
        let mut doc = PdfDocument::new(&title);
        for face in [Face::Regular, Face::Bold] {
            let used = &glyphs[face.index()];
            if !used.is_empty() {
                let font = subset(&fonts[face.index()], used)?;
                doc.resources
                    .fonts
                    .map
                    .insert(FontId(face.id().into()), PdfFont::new(font));
            }
        }
        let pages = pages
            .into_iter()
            .map(|ops| PdfPage::new(Mm(210.0), Mm(297.0), ops))
            .collect();
        Ok(doc
            .with_pages(pages)
            .save(&PdfSaveOptions::default(), &mut Vec::new()))
    }))
    .map_err(|panic| FormError::Pdf(panic_message(panic.as_ref())))?
    .map_err(FormError::Pdf)?;
    if !bytes.starts_with(b"%PDF-") {
        return Err(FormError::Pdf("the output is not a PDF".into()));
    }
    Ok(bytes)
}

/// Renders the form as a complete, self-contained HTML document with print CSS.
pub fn html(form: &MonitoringForm) -> String {
    let mut h = String::with_capacity(8 * 1024);
    let reference = esc(&form.reference);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en-GB\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{} {reference}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main class=\"form\">\n",
        esc(TITLE)
    );
    let _ = write!(
        h,
        "<header>\n<h1>{}</h1>\n<p class=\"reference\"><span>Reference</span> <strong>{reference}</strong></p>\n",
        esc(TITLE)
    );
    if !form.partnership.trim().is_empty() {
        let _ = writeln!(h, "<p class=\"partnership\">{}</p>", esc(&form.partnership));
    }
    h.push_str("</header>\n");

    section_open(&mut h, 0);
    h.push_str("<table class=\"kv\">\n");
    kv_row(&mut h, "Reference", &form.reference);
    kv_row(&mut h, "Workflow", &form.workflow);
    kv_row(&mut h, "Partnership", &form.partnership);
    h.push_str("</table>\n<table class=\"grid parties\">\n<thead><tr><th></th><th>Raising</th><th>Receiving (respondent)</th></tr></thead>\n<tbody>\n");
    for (label, a, b) in party_rows(form) {
        let _ = writeln!(
            h,
            "<tr><th scope=\"row\">{}</th>{}{}</tr>",
            esc(label),
            td(a),
            td(b)
        );
    }
    h.push_str("</tbody>\n</table>\n</section>\n");

    section_open(&mut h, 1);
    field(&mut h, &form.first_raised);
    h.push_str("</section>\n");

    section_open(&mut h, 2);
    field(&mut h, &form.category);
    h.push_str("</section>\n");

    section_open(&mut h, 3);
    para(&mut h, &form.summary, 6);
    h.push_str("</section>\n");

    section_open(&mut h, 4);
    let rows: Vec<[&str; 3]> = form
        .stages
        .iter()
        .map(|s| {
            [
                s.stage.as_str(),
                s.entered.as_str(),
                s.exited.as_deref().unwrap_or(""),
            ]
        })
        .collect();
    grid(&mut h, ["Stage", "Entered", "Exited"], &rows, 3);
    h.push_str("</section>\n");

    section_open(&mut h, 5);
    let rows: Vec<[&str; 3]> = form
        .actions
        .iter()
        .map(|a| [a.action.as_str(), a.by_whom.as_str(), a.by_when.as_str()])
        .collect();
    grid(&mut h, ["Action", "By whom", "By when"], &rows, 4);
    h.push_str("</section>\n");

    section_open(&mut h, 6);
    let rows: Vec<[&str; 3]> = form
        .decisions
        .iter()
        .map(|d| [d.when.as_str(), d.who.as_str(), d.what.as_str()])
        .collect();
    grid(&mut h, ["When", "Who", "What"], &rows, 4);
    h.push_str("</section>\n");

    section_open(&mut h, 7);
    h.push_str("<h3>Outcome</h3>\n");
    para(&mut h, form.outcome.as_deref().unwrap_or(""), 4);
    h.push_str("<h3>Resolution date</h3>\n");
    field(&mut h, form.resolution_date.as_deref().unwrap_or(""));
    h.push_str("</section>\n");

    section_open(&mut h, 8);
    let (yes, no, other) = at_risk(form.child_at_risk.as_deref());
    let tick = |on: bool| if on { "&#x2612;" } else { "&#x2610;" };
    let _ = writeln!(
        h,
        "<p class=\"choice\"><span>{} Yes</span> <span>{} No</span></p>",
        tick(yes),
        tick(no)
    );
    if let Some(other) = other {
        let _ = writeln!(h, "<p>Recorded: {}</p>", esc(other));
    }
    h.push_str("</section>\n");

    section_open(&mut h, 9);
    para(&mut h, form.learning.as_deref().unwrap_or(""), 5);
    h.push_str("</section>\n");

    let _ = write!(
        h,
        "<footer>\n<p>Generated {} &middot; {reference}</p>\n<p>{} {}</p>\n</footer>\n</main>\n</body>\n</html>\n",
        esc(&form.generated),
        esc(NO_IDENTIFIERS),
        link_html(&form.link)
    );
    h
}

// ---------------------------------------------------------------------------------------------
// HTML helpers

/// Print-first styling: A4 pages with the PDF's margins, and nothing fetched from elsewhere.
const CSS: &str = "\n\
@page { size: A4; margin: 18mm; }\n\
* { box-sizing: border-box; }\n\
body { font-family: Helvetica, Arial, sans-serif; font-size: 10pt; color: #111; margin: 0; }\n\
main.form { max-width: 174mm; margin: 0 auto; padding: 8mm 0; }\n\
header { display: flex; flex-wrap: wrap; align-items: flex-start; justify-content: space-between; gap: 4mm; border-bottom: 1.5pt solid #222; padding-bottom: 3mm; }\n\
h1 { font-size: 16pt; margin: 0; flex: 1 1 100mm; }\n\
.reference { border: 1pt solid #222; padding: 1.5mm 3mm; margin: 0; }\n\
.reference span { display: block; font-size: 7pt; text-transform: uppercase; color: #555; }\n\
.reference strong { font-size: 13pt; }\n\
.partnership { flex-basis: 100%; margin: 0; color: #444; }\n\
section { margin-top: 5mm; }\n\
h2 { font-size: 10.5pt; background: #e6e6e6; padding: 1mm 2mm; margin: 0 0 2mm; break-after: avoid; page-break-after: avoid; }\n\
h3 { font-size: 8.5pt; margin: 2mm 0 1mm; }\n\
table { width: 100%; border-collapse: collapse; }\n\
th, td { border: 0.5pt solid #666; padding: 1mm 1.5mm; text-align: left; vertical-align: top; }\n\
thead th { background: #f0f0f0; font-size: 8.5pt; }\n\
tbody th, .kv th { width: 30mm; font-size: 8.5pt; }\n\
tr { break-inside: avoid; page-break-inside: avoid; }\n\
td.blank { height: 7mm; }\n\
.field, .text { border: 0.5pt solid #666; padding: 1mm 1.5mm; min-height: 7mm; white-space: pre-wrap; overflow-wrap: anywhere; }\n\
.lines { border: 0.5pt solid #666; padding: 0 1.5mm; }\n\
.lines div { height: 7mm; border-bottom: 0.5pt solid #bbb; }\n\
.choice span { margin-right: 10mm; font-size: 11pt; }\n\
footer { margin-top: 8mm; border-top: 0.5pt solid #666; font-size: 7.5pt; color: #444; overflow-wrap: anywhere; }\n\
footer p { margin: 1mm 0; }\n\
table + table { margin-top: 2mm; }\n\
@media print { main.form { max-width: none; padding: 0; } }\n";

/// Escapes text for HTML element content and quoted attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Opens section `i` with its heading.
fn section_open(h: &mut String, i: usize) {
    let title = SECTIONS.get(i).copied().unwrap_or("");
    let _ = writeln!(h, "<section>\n<h2>{}</h2>", esc(title));
}

/// A key/value table row.
fn kv_row(h: &mut String, key: &str, value: &str) {
    let _ = writeln!(
        h,
        "<tr><th scope=\"row\">{}</th>{}</tr>",
        esc(key),
        td(value)
    );
}

/// A table cell; blank cells get room to write in.
fn td(value: &str) -> String {
    if value.trim().is_empty() {
        "<td class=\"blank\"></td>".into()
    } else {
        format!("<td>{}</td>", esc(value))
    }
}

/// A one-line field, blank to fill in when empty.
fn field(h: &mut String, value: &str) {
    let _ = writeln!(h, "<div class=\"field\">{}</div>", esc(value));
}

/// A block of free text, or `blank_lines` ruled lines when there is none.
fn para(h: &mut String, value: &str, blank_lines: usize) {
    if value.trim().is_empty() {
        h.push_str("<div class=\"lines\">");
        for _ in 0..blank_lines {
            h.push_str("<div></div>");
        }
        h.push_str("</div>\n");
    } else {
        let _ = writeln!(h, "<div class=\"text\">{}</div>", esc(value));
    }
}

/// A three-column table; `blank_rows` empty rows when there are no rows.
fn grid(h: &mut String, head: [&str; 3], rows: &[[&str; 3]], blank_rows: usize) {
    let _ = writeln!(
        h,
        "<table class=\"grid\">\n<thead><tr><th>{}</th><th>{}</th><th>{}</th></tr></thead>\n<tbody>",
        esc(head[0]),
        esc(head[1]),
        esc(head[2])
    );
    for row in rows {
        let _ = writeln!(h, "<tr>{}{}{}</tr>", td(row[0]), td(row[1]), td(row[2]));
    }
    if rows.is_empty() {
        for _ in 0..blank_rows {
            h.push_str("<tr><td class=\"blank\"></td><td class=\"blank\"></td><td class=\"blank\"></td></tr>\n");
        }
    }
    h.push_str("</tbody>\n</table>\n");
}

/// The case link: a hyperlink only for http(s), so a stored value can never become a
/// `javascript:` URL in someone's mail client.
fn link_html(link: &str) -> String {
    let t = link.trim();
    let lower = t.to_ascii_lowercase();
    if lower.starts_with("https://") || lower.starts_with("http://") {
        format!("<a href=\"{0}\">{0}</a>", esc(t))
    } else {
        esc(t)
    }
}

// ---------------------------------------------------------------------------------------------
// Shared helpers

/// The parties table's rows: label, raising, receiving.
fn party_rows(form: &MonitoringForm) -> [(&'static str, &str, &str); 4] {
    let (r, s) = (&form.raising, &form.receiving);
    [
        ("Agency", &r.agency, &s.agency),
        ("Name", &r.name, &s.name),
        ("Role", &r.role, &s.role),
        ("Email", &r.email, &s.email),
    ]
}

/// Reads the at-risk answer: (yes ticked, no ticked, some other recorded answer).
fn at_risk(value: Option<&str>) -> (bool, bool, Option<&str>) {
    match value.map(str::trim) {
        None | Some("") => (false, false, None),
        Some(v) if v.eq_ignore_ascii_case("yes") => (true, false, None),
        Some(v) if v.eq_ignore_ascii_case("no") => (false, true, None),
        Some(v) => (false, false, Some(v)),
    }
}

/// Bytes of text in the form, for the size bound.
fn text_len(f: &MonitoringForm) -> usize {
    let party = |p: &Party| p.agency.len() + p.name.len() + p.role.len() + p.email.len();
    let opt = |o: &Option<String>| o.as_ref().map_or(0, String::len);
    f.reference.len()
        + f.workflow.len()
        + f.partnership.len()
        + party(&f.raising)
        + party(&f.receiving)
        + f.first_raised.len()
        + f.category.len()
        + f.summary.len()
        + f.stages
            .iter()
            .map(|s| s.stage.len() + s.entered.len() + opt(&s.exited))
            .sum::<usize>()
        + f.actions
            .iter()
            .map(|a| a.action.len() + a.by_whom.len() + a.by_when.len())
            .sum::<usize>()
        + f.decisions
            .iter()
            .map(|d| d.when.len() + d.who.len() + d.what.len())
            .sum::<usize>()
        + opt(&f.outcome)
        + opt(&f.resolution_date)
        + opt(&f.child_at_risk)
        + opt(&f.learning)
        + f.generated.len()
        + f.link.len()
}

/// A readable message from a caught panic's payload.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".into()
    }
}

// ---------------------------------------------------------------------------------------------
// PDF layout. Units are points; `y` runs down from the top edge (PDF's runs up from the bottom,
// converted only when an op is emitted).

/// A4 in points (210 × 297 mm).
const PAGE_W: f32 = 595.2756;
/// A4 in points (210 × 297 mm).
const PAGE_H: f32 = 841.8898;
/// 18 mm, the margin on every side.
const MARGIN: f32 = 51.0236;
/// The width between the margins.
const CONTENT_W: f32 = PAGE_W - 2.0 * MARGIN;
/// Space kept at the foot of every page for the footer.
const FOOTER_H: f32 = 40.0;
/// Content stops here.
const BOTTOM: f32 = PAGE_H - MARGIN - FOOTER_H;

/// Body text size.
const BODY: f32 = 9.5;
/// Body line height.
const LEAD: f32 = 12.0;
/// Label and table-header size.
const LABEL: f32 = 8.5;
/// Cell padding, horizontal.
const PAD_X: f32 = 4.0;
/// Cell padding, vertical.
const PAD_Y: f32 = 3.5;
/// Height of a blank row or field: room to write by hand.
const BLANK_ROW: f32 = 22.0;
/// Spacing of ruled lines in empty free-text boxes.
const RULE_GAP: f32 = 20.0;
/// Grey of cell borders.
const BORDER: f32 = 0.45;

/// Regular or bold DejaVu Sans: the two faces embedded in every form.
#[derive(Clone, Copy)]
enum Face {
    Regular,
    Bold,
}

impl Face {
    /// Where the face sits in [`FONTS`] and in [`Layout::glyphs`].
    fn index(self) -> usize {
        match self {
            Face::Regular => 0,
            Face::Bold => 1,
        }
    }

    /// The face's resource name inside the PDF.
    fn id(self) -> &'static str {
        match self {
            Face::Regular => "F1",
            Face::Bold => "F2",
        }
    }

    /// The face's glyphs and widths (`None` only if the compiled-in font is unreadable,
    /// which [`pdf`] reports and a unit test rules out).
    fn font(self) -> Option<&'static FontFace> {
        FONTS.as_ref().map(|f| &f[self.index()])
    }
}

/// The laid-out form: each page's drawing ops, and the glyphs each face prints (what goes
/// into the embedded subsets).
struct Layout {
    pages: Vec<Vec<Op>>,
    glyphs: [BTreeSet<u16>; 2],
}

/// One table column: heading and share of the content width.
struct Col {
    title: &'static str,
    frac: f32,
    face: Face,
}

/// Lays the form out into pages of drawing ops, footers included.
fn layout(form: &MonitoringForm) -> Layout {
    let mut p = Pager::new(clean(&form.reference));
    p.title_block(form);

    p.heading(SECTIONS[0], 60.0);
    let kv = [
        Col {
            title: "",
            frac: 0.2,
            face: Face::Bold,
        },
        Col {
            title: "",
            frac: 0.8,
            face: Face::Regular,
        },
    ];
    let rows = vec![
        vec!["Reference".to_string(), form.reference.clone()],
        vec!["Workflow".to_string(), form.workflow.clone()],
        vec!["Partnership".to_string(), form.partnership.clone()],
    ];
    p.table(&kv, false, &rows, 0);
    p.y += 6.0;
    let parties = [
        Col {
            title: "",
            frac: 0.2,
            face: Face::Bold,
        },
        Col {
            title: "Raising",
            frac: 0.4,
            face: Face::Regular,
        },
        Col {
            title: "Receiving (respondent)",
            frac: 0.4,
            face: Face::Regular,
        },
    ];
    let rows: Vec<Vec<String>> = party_rows(form)
        .iter()
        .map(|(l, a, b)| vec![(*l).to_string(), (*a).to_string(), (*b).to_string()])
        .collect();
    p.table(&parties, true, &rows, 0);

    p.heading(SECTIONS[1], BLANK_ROW);
    p.text_box(&form.first_raised, 1);
    p.heading(SECTIONS[2], BLANK_ROW);
    p.text_box(&form.category, 1);
    p.heading(SECTIONS[3], 3.0 * RULE_GAP);
    p.text_box(&form.summary, 6);

    p.heading(SECTIONS[4], 2.0 * BLANK_ROW);
    let cols = three_cols(("Stage", 0.5), ("Entered", 0.25), ("Exited", 0.25));
    let rows: Vec<Vec<String>> = form
        .stages
        .iter()
        .map(|s| {
            vec![
                s.stage.clone(),
                s.entered.clone(),
                s.exited.clone().unwrap_or_default(),
            ]
        })
        .collect();
    p.table(&cols, true, &rows, 3);

    p.heading(SECTIONS[5], 2.0 * BLANK_ROW);
    let cols = three_cols(("Action", 0.56), ("By whom", 0.24), ("By when", 0.2));
    let rows: Vec<Vec<String>> = form
        .actions
        .iter()
        .map(|a| vec![a.action.clone(), a.by_whom.clone(), a.by_when.clone()])
        .collect();
    p.table(&cols, true, &rows, 4);

    p.heading(SECTIONS[6], 2.0 * BLANK_ROW);
    let cols = three_cols(("When", 0.23), ("Who", 0.2), ("What", 0.57));
    let rows: Vec<Vec<String>> = form
        .decisions
        .iter()
        .map(|d| vec![d.when.clone(), d.who.clone(), d.what.clone()])
        .collect();
    p.table(&cols, true, &rows, 4);

    p.heading(SECTIONS[7], 3.0 * RULE_GAP);
    p.label("Outcome");
    p.text_box(form.outcome.as_deref().unwrap_or(""), 4);
    p.y += 4.0;
    p.ensure(12.0 + BLANK_ROW);
    p.label("Resolution date");
    p.text_box(form.resolution_date.as_deref().unwrap_or(""), 1);

    p.heading(SECTIONS[8], BLANK_ROW);
    p.at_risk(form.child_at_risk.as_deref());

    p.heading(SECTIONS[9], 3.0 * RULE_GAP);
    p.text_box(form.learning.as_deref().unwrap_or(""), 5);

    p.finish(form)
}

/// Three regular-text columns.
fn three_cols(a: (&'static str, f32), b: (&'static str, f32), c: (&'static str, f32)) -> [Col; 3] {
    [a, b, c].map(|(title, frac)| Col {
        title,
        frac,
        face: Face::Regular,
    })
}

/// Places content on pages, starting a new one when the next piece does not fit.
struct Pager {
    /// Finished pages.
    done: Vec<Vec<Op>>,
    /// The page being filled.
    ops: Vec<Op>,
    /// Where the next content goes, from the top edge.
    y: f32,
    /// The cleaned reference, repeated at the top of continuation pages.
    reference: String,
    /// Glyph ids printed so far, per face.
    glyphs: [BTreeSet<u16>; 2],
}

impl Pager {
    fn new(reference: String) -> Self {
        Pager {
            done: Vec::new(),
            ops: Vec::new(),
            y: MARGIN,
            reference,
            glyphs: [BTreeSet::new(), BTreeSet::new()],
        }
    }

    /// Space left on this page.
    fn room(&self) -> f32 {
        BOTTOM - self.y
    }

    /// Starts a new page unless `h` points still fit on this one.
    fn ensure(&mut self, h: f32) {
        if self.room() < h {
            self.new_page();
        }
    }

    /// Ends this page and starts the next with a running head, so loose printed pages can
    /// be matched up again.
    fn new_page(&mut self) {
        let page = std::mem::take(&mut self.ops);
        self.done.push(page);
        self.y = MARGIN;
        let head = format!("{TITLE} \u{b7} {} (continued)", self.reference);
        let head = fit(&head, Face::Regular, LABEL, CONTENT_W);
        self.text(MARGIN, self.y + LABEL, Face::Regular, LABEL, 0.35, &head);
        self.y += 12.0;
        self.hline(MARGIN, MARGIN + CONTENT_W, self.y, 0.5, 0.6);
        self.y += 8.0;
    }

    /// Title, partnership and the reference box at the top of the first page.
    fn title_block(&mut self, form: &MonitoringForm) {
        let box_w = 165.0;
        let left_w = CONTENT_W - box_w - 12.0;
        let top = self.y;
        let mut y = top;
        for line in wrap(TITLE, Face::Bold, 17.0, left_w) {
            y += 20.0;
            self.text(MARGIN, y - 4.0, Face::Bold, 17.0, 0.0, &line);
        }
        let partnership = clean(&form.partnership);
        if !partnership.trim().is_empty() {
            y += 3.0;
            for line in wrap(&partnership, Face::Regular, 10.0, left_w) {
                y += 13.0;
                self.text(MARGIN, y - 3.0, Face::Regular, 10.0, 0.3, &line);
            }
        }

        // The reference is what people quote on the phone: make it the most visible thing.
        let bx = MARGIN + CONTENT_W - box_w;
        let reference = clean(&form.reference);
        let mut size: f32 = 14.0;
        while size > 7.0 && text_width(&reference, Face::Bold, size) > box_w - 2.0 * PAD_X {
            size -= 0.5;
        }
        let reference = fit(&reference, Face::Bold, size, box_w - 2.0 * PAD_X);
        let box_h = 40.0;
        self.rect(bx, top, box_w, box_h, None, Some((1.0, 0.1)));
        self.text(
            bx + PAD_X + 2.0,
            top + 12.0,
            Face::Bold,
            7.0,
            0.35,
            "REFERENCE",
        );
        self.text(
            bx + PAD_X + 2.0,
            top + 31.0,
            Face::Bold,
            size,
            0.0,
            &reference,
        );

        self.y = y.max(top + box_h) + 8.0;
        self.hline(MARGIN, MARGIN + CONTENT_W, self.y, 1.5, 0.1);
        self.y += 4.0;
    }

    /// A section heading on a grey band, kept with at least `keep` points of what follows.
    fn heading(&mut self, title: &str, keep: f32) {
        let band = 17.0;
        self.y += 10.0;
        self.ensure(band + 4.0 + keep);
        self.rect(MARGIN, self.y, CONTENT_W, band, Some(0.88), None);
        let title = fit(title, Face::Bold, 10.5, CONTENT_W - 2.0 * PAD_X);
        self.text(MARGIN + PAD_X, self.y + 12.0, Face::Bold, 10.5, 0.0, &title);
        self.y += band + 5.0;
    }

    /// A small bold label above a box.
    fn label(&mut self, text: &str) {
        self.ensure(12.0 + BLANK_ROW);
        self.text(MARGIN, self.y + LABEL, Face::Bold, LABEL, 0.2, text);
        self.y += 12.0;
    }

    /// Free text in a bordered box, split across pages as needed; when empty, a box with
    /// `blank_lines` ruled lines (one line: a plain box) to write in.
    fn text_box(&mut self, text: &str, blank_lines: usize) {
        let lines = wrap(&clean(text), Face::Regular, BODY, CONTENT_W - 2.0 * PAD_X);
        if lines.is_empty() {
            let h = if blank_lines <= 1 {
                BLANK_ROW
            } else {
                blank_lines as f32 * RULE_GAP + 4.0
            };
            self.ensure(h);
            self.rect(MARGIN, self.y, CONTENT_W, h, None, Some((0.5, BORDER)));
            if blank_lines > 1 {
                for i in 1..blank_lines {
                    let ly = self.y + i as f32 * RULE_GAP;
                    self.hline(MARGIN + PAD_X, MARGIN + CONTENT_W - PAD_X, ly, 0.4, 0.75);
                }
            }
            self.y += h;
            return;
        }
        let cols = [Col {
            title: "",
            frac: 1.0,
            face: Face::Regular,
        }];
        self.draw_rows(&cols, false, vec![vec![lines]]);
    }

    /// A table with optional header row; `blank_rows` empty rows when `rows` is empty.
    fn table(&mut self, cols: &[Col], header: bool, rows: &[Vec<String>], blank_rows: usize) {
        let wrapped: Vec<Vec<Vec<String>>> = rows
            .iter()
            .map(|row| {
                cols.iter()
                    .enumerate()
                    .map(|(i, col)| {
                        let text = row.get(i).map(String::as_str).unwrap_or("");
                        let size = cell_size(col.face);
                        wrap(&clean(text), col.face, size, col_width(col) - 2.0 * PAD_X)
                    })
                    .collect()
            })
            .collect();
        let blanks = if rows.is_empty() { blank_rows } else { 0 };
        let blank: Vec<Vec<Vec<String>>> = (0..blanks)
            .map(|_| cols.iter().map(|_| Vec::new()).collect())
            .collect();
        if header {
            self.ensure(header_height() + BLANK_ROW);
            self.header_row(cols);
        }
        self.draw_rows(cols, header, wrapped);
        self.draw_rows(cols, header, blank);
    }

    /// Draws wrapped rows, splitting a row across pages only when it is taller than what is
    /// left and repeating the header on each new page.
    fn draw_rows(&mut self, cols: &[Col], header: bool, rows: Vec<Vec<Vec<String>>>) {
        for row in rows {
            let mut start = 0usize;
            let total = row.iter().map(Vec::len).max().unwrap_or(0);
            // A row with an empty value cell is there to be written in: give it the room.
            let min = if row
                .iter()
                .zip(cols)
                .any(|(lines, col)| lines.is_empty() && matches!(col.face, Face::Regular))
            {
                BLANK_ROW
            } else {
                0.0
            };
            loop {
                let remaining = total - start;
                let fits = ((self.room() - 2.0 * PAD_Y) / LEAD).floor().max(0.0) as usize;
                let fresh_page = BOTTOM - MARGIN - 16.0 - header_height();
                let take = if row_height(remaining).max(min) <= self.room() {
                    remaining
                } else if fits >= 2
                    && (row_height(remaining).max(min) > fresh_page || remaining >= 6)
                {
                    // Split a long row rather than leave a large gap; a short one moves whole.
                    fits
                } else {
                    self.new_page();
                    if header {
                        self.header_row(cols);
                    }
                    continue;
                };
                self.draw_row(cols, &row, start, take, min);
                start += take;
                if start >= total {
                    break;
                }
                self.new_page();
                if header {
                    self.header_row(cols);
                }
            }
        }
    }

    /// One row (or the slice `start..start + n` of its lines), borders included.
    fn draw_row(&mut self, cols: &[Col], row: &[Vec<String>], start: usize, n: usize, min: f32) {
        let h = row_height(n).max(min);
        let mut x = MARGIN;
        for (col, lines) in cols.iter().zip(row) {
            let w = col_width(col);
            self.rect(x, self.y, w, h, None, Some((0.5, BORDER)));
            let size = cell_size(col.face);
            for (i, line) in lines.iter().skip(start).take(n).enumerate() {
                let base = self.y + PAD_Y + i as f32 * LEAD + size * 0.95;
                self.text(x + PAD_X, base, col.face, size, 0.0, line);
            }
            x += w;
        }
        self.y += h;
    }

    /// A table's header row.
    fn header_row(&mut self, cols: &[Col]) {
        let h = header_height();
        let mut x = MARGIN;
        for col in cols {
            let w = col_width(col);
            self.rect(x, self.y, w, h, Some(0.94), Some((0.5, BORDER)));
            let title = fit(col.title, Face::Bold, LABEL, w - 2.0 * PAD_X);
            self.text(x + PAD_X, self.y + 11.0, Face::Bold, LABEL, 0.15, &title);
            x += w;
        }
        self.y += h;
    }

    /// Yes/No tick boxes, ticked from the recorded answer.
    fn at_risk(&mut self, value: Option<&str>) {
        let (yes, no, other) = at_risk(value);
        let side = 11.0;
        let h = 22.0;
        self.ensure(h + 14.0);
        let mut x = MARGIN + 2.0;
        for (label, on) in [("Yes", yes), ("No", no)] {
            let top = self.y + (h - side) / 2.0;
            self.rect(x, top, side, side, None, Some((0.8, 0.1)));
            if on {
                self.text(x + 2.2, top + side - 2.2, Face::Bold, 10.0, 0.0, "X");
            }
            self.text(
                x + side + 5.0,
                top + side - 2.0,
                Face::Regular,
                10.0,
                0.0,
                label,
            );
            x += 70.0;
        }
        self.y += h;
        if let Some(other) = other {
            let text = format!("Recorded: {}", clean(other));
            for line in wrap(&text, Face::Regular, BODY, CONTENT_W) {
                self.ensure(LEAD);
                self.y += LEAD;
                self.text(MARGIN, self.y - 3.0, Face::Regular, BODY, 0.0, &line);
            }
        }
    }

    /// Closes the last page and adds every page's footer, now that the count is known.
    fn finish(mut self, form: &MonitoringForm) -> Layout {
        let last = std::mem::take(&mut self.ops);
        self.done.push(last);
        let total = self.done.len();
        let generated = clean(&form.generated);
        let link = clean(form.link.trim());
        let pages = std::mem::take(&mut self.done);
        let pages = pages
            .into_iter()
            .enumerate()
            .map(|(i, ops)| {
                self.ops = ops;
                self.footer(&generated, &link, i + 1, total);
                std::mem::take(&mut self.ops)
            })
            .collect();
        Layout {
            pages,
            glyphs: self.glyphs,
        }
    }

    /// The footer: when and what, page N of M, and the no-identifiers note with the link.
    fn footer(&mut self, generated: &str, link: &str, page: usize, total: usize) {
        let size = 7.5;
        let top = PAGE_H - MARGIN - FOOTER_H + 8.0;
        self.hline(MARGIN, MARGIN + CONTENT_W, top, 0.5, 0.5);
        // Empty parts are left out rather than printed as stray separators.
        let mut parts = Vec::new();
        if !generated.trim().is_empty() {
            parts.push(format!("Generated {generated}"));
        }
        if !self.reference.trim().is_empty() {
            parts.push(self.reference.clone());
        }
        parts.push(format!("page {page} of {total}"));
        let first = parts.join(" \u{b7} ");
        let first = fit(&first, Face::Regular, size, CONTENT_W);
        self.text(MARGIN, top + 10.0, Face::Regular, size, 0.25, &first);
        let note = if link.is_empty() {
            NO_IDENTIFIERS.trim_end_matches(':').to_string() + "."
        } else {
            format!("{NO_IDENTIFIERS} {link}")
        };
        // Two lines at most: a long link is cut rather than pushed into the margin.
        let mut lines = wrap(&note, Face::Regular, size, CONTENT_W);
        if lines.len() > 2 {
            lines.truncate(2);
            if let Some(l) = lines.last_mut() {
                *l = fit(&format!("{l}\u{2026}"), Face::Regular, size, CONTENT_W);
            }
        }
        for (i, line) in lines.iter().enumerate() {
            let base = top + 20.0 + i as f32 * 9.0;
            self.text(MARGIN, base, Face::Regular, size, 0.25, line);
        }
    }

    // Drawing primitives.

    /// Text with its baseline at `baseline` (from the top), in grey level `grey` (0 = black).
    /// A character the face has no glyph for prints as [`MISSING`], as [`char_width`]
    /// measured it.
    fn text(&mut self, x: f32, baseline: f32, face: Face, size: f32, grey: f32, s: &str) {
        let Some(font) = face.font() else {
            return;
        };
        if s.is_empty() {
            return;
        }
        let used = &mut self.glyphs[face.index()];
        let shown: String = visual_order(s)
            .into_iter()
            .map(|c| match font.glyph(c) {
                Some((gid, _)) => {
                    used.insert(gid);
                    c
                }
                None => {
                    used.insert(font.glyph(MISSING).map_or(0, |g| g.0));
                    MISSING
                }
            })
            .collect();
        self.ops.extend([
            Op::StartTextSection,
            Op::SetFillColor {
                col: grey_col(grey),
            },
            Op::SetFont {
                font: PdfFontHandle::External(FontId(face.id().into())),
                size: Pt(size),
            },
            Op::SetTextCursor {
                pos: Point {
                    x: Pt(x),
                    y: Pt(PAGE_H - baseline),
                },
            },
            Op::ShowText {
                items: vec![TextItem::Text(shown)],
            },
            Op::EndTextSection,
        ]);
    }

    /// A horizontal rule at `y` from the top.
    fn hline(&mut self, x1: f32, x2: f32, y: f32, width: f32, grey: f32) {
        let at = |x: f32| LinePoint {
            p: Point {
                x: Pt(x),
                y: Pt(PAGE_H - y),
            },
            bezier: false,
        };
        self.ops.extend([
            Op::SetOutlineColor {
                col: grey_col(grey),
            },
            Op::SetOutlineThickness { pt: Pt(width) },
            Op::DrawLine {
                line: Line {
                    points: vec![at(x1), at(x2)],
                    is_closed: false,
                },
            },
        ]);
    }

    /// A rectangle whose top-left corner is at (`x`, `y` from the top), optionally filled
    /// with a grey and/or stroked with (width, grey).
    fn rect(
        &mut self,
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        fill: Option<f32>,
        stroke: Option<(f32, f32)>,
    ) {
        let mode = match (fill, stroke) {
            (Some(_), Some(_)) => PaintMode::FillStroke,
            (Some(_), None) => PaintMode::Fill,
            (None, Some(_)) => PaintMode::Stroke,
            (None, None) => return,
        };
        if let Some(g) = fill {
            self.ops.push(Op::SetFillColor { col: grey_col(g) });
        }
        if let Some((width, g)) = stroke {
            self.ops.extend([
                Op::SetOutlineColor { col: grey_col(g) },
                Op::SetOutlineThickness { pt: Pt(width) },
            ]);
        }
        self.ops.push(Op::DrawRectangle {
            rectangle: Rect {
                x: Pt(x),
                y: Pt(PAGE_H - y - h),
                width: Pt(w),
                height: Pt(h),
                mode: Some(mode),
                winding_order: None,
            },
        });
    }
}

/// A grey level as a PDF colour (0 = black, 1 = white).
fn grey_col(level: f32) -> Color {
    Color::Greyscale(Greyscale {
        percent: level,
        icc_profile: None,
    })
}

/// A column's width in points.
fn col_width(col: &Col) -> f32 {
    CONTENT_W * col.frac
}

/// Text size in a table cell: labels are set a little smaller.
fn cell_size(face: Face) -> f32 {
    match face {
        Face::Regular => BODY,
        Face::Bold => LABEL,
    }
}

/// A table header row's height.
fn header_height() -> f32 {
    16.0
}

/// The height of a row showing `lines` lines (blank rows get room to write).
fn row_height(lines: usize) -> f32 {
    if lines == 0 {
        BLANK_ROW
    } else {
        (2.0 * PAD_Y + lines as f32 * LEAD).max(18.0)
    }
}

// ---------------------------------------------------------------------------------------------
// Text: the embedded font, what it can print, and how wide it is.

/// DejaVu Sans 2.37, regular (config/fonts/README.md says where it comes from). Compiled in,
/// so nothing is read at run time and a stored case always renders the same way.
const REGULAR_TTF: &[u8] = include_bytes!("../../config/fonts/DejaVuSans.ttf");
/// DejaVu Sans 2.37, bold.
const BOLD_TTF: &[u8] = include_bytes!("../../config/fonts/DejaVuSans-Bold.ttf");

/// Printed in place of a character the font has no glyph for (and of emoji), so a reader
/// sees that something was there.
const MISSING: char = '?';

/// Both faces, parsed on first use; `None` if the compiled-in font cannot be read.
static FONTS: LazyLock<Option<[FontFace; 2]>> = LazyLock::new(|| {
    Some([
        FontFace::parse(REGULAR_TTF, "DejaVuSans")?,
        FontFace::parse(BOLD_TTF, "DejaVuSans-Bold")?,
    ])
});

/// One face of the embedded font: its file, and the glyph and width of every character it has.
struct FontFace {
    /// The whole TrueType file, subset for each form.
    ttf: &'static [u8],
    /// The PostScript name, written (with a subset tag) into the PDF.
    name: &'static str,
    /// Character → (glyph id, advance width in 1/1000 em).
    glyphs: HashMap<char, (u16, f32)>,
}

impl FontFace {
    /// Reads the character map and advance widths out of a TrueType file.
    fn parse(ttf: &'static [u8], name: &'static str) -> Option<Self> {
        let parsed = ParsedFont::from_bytes(ttf, 0, &mut Vec::new())?;
        let units = f32::from(parsed.units_per_em);
        let glyphs: HashMap<char, (u16, f32)> = parsed
            .codepoint_to_glyph
            .iter()
            .filter_map(|(&cp, &gid)| {
                let c = char::from_u32(cp)?;
                let advance = parsed.get_glyph_width(gid)?;
                Some((c, (gid, f32::from(advance) * 1000.0 / units)))
            })
            .collect();
        glyphs
            .contains_key(&MISSING)
            .then_some(FontFace { ttf, name, glyphs })
    }

    /// The glyph id and width printing `c`, if the face has one.
    fn glyph(&self, c: char) -> Option<(u16, f32)> {
        self.glyphs.get(&c).copied()
    }
}

/// A copy of `face` holding only `glyphs` (and .notdef), for embedding: a form uses about a
/// hundred of the font's 6,000 glyphs, and the two whole faces would add ~730 KB (compressed)
/// to every PDF. The subset keeps the font's `name` table, about half of what is embedded,
/// because it carries the copyright notice the licence asks every copy to keep.
fn subset(face: &FontFace, glyphs: &BTreeSet<u16>) -> Result<ParsedFont, String> {
    use allsorts::binary::read::ReadScope;
    use allsorts::font_data::FontData;
    use allsorts::subset::{CmapTarget, SubsetProfile};

    let file = ReadScope::new(face.ttf)
        .read::<FontData<'_>>()
        .map_err(|e| format!("reading the embedded font: {e}"))?;
    let provider = file
        .table_provider(0)
        .map_err(|e| format!("reading the embedded font: {e}"))?;
    // .notdef must come first; the subset renumbers glyphs in this order and keeps a
    // Unicode cmap for them, so the text is still encoded by character.
    let ids: Vec<u16> = std::iter::once(0)
        .chain(glyphs.iter().copied().filter(|&g| g != 0))
        .collect();
    let bytes = allsorts::subset::subset(&provider, &ids, &SubsetProfile::Pdf, CmapTarget::Unicode)
        .map_err(|e| format!("subsetting the embedded font: {e}"))?;
    let mut font = ParsedFont::from_bytes(&bytes, 0, &mut Vec::new())
        .ok_or_else(|| "the subset of the embedded font could not be read".to_string())?;
    // A subset's name carries a six-letter tag (ISO 32000-1, 9.6.4); deriving it from the
    // glyph set keeps the output reproducible and distinct subsets distinct.
    let digest = Sha256::digest(ids.iter().flat_map(|g| g.to_be_bytes()).collect::<Vec<_>>());
    let tag: String = digest
        .iter()
        .take(6)
        .map(|b| char::from(b'A' + b % 26))
        .collect();
    font.font_name = Some(format!("{tag}+{}", face.name));
    Ok(font)
}

/// Makes text printable in the embedded font: tabs and other controls become spaces
/// (newlines are kept for [`wrap`]); characters the font has no glyph for, and emoji, become
/// [`MISSING`], so nothing is silently dropped.
fn clean(s: &str) -> String {
    s.replace("\r\n", "\n")
        .chars()
        .map(|c| match c {
            '\n' => '\n',
            c if c.is_control() => ' ',
            c if printable(c) => c,
            _ => MISSING,
        })
        .collect()
}

/// Whether the regular face prints `c` (the bold face, used for a few labels and the
/// reference, falls back to [`MISSING`] itself). Emoji are refused although DejaVu draws a
/// few dozen of them in black and white: a note would otherwise show some and lose others.
fn printable(c: char) -> bool {
    !matches!(c, '\u{1F000}'..='\u{1FAFF}')
        && Face::Regular.font().is_some_and(|f| f.glyph(c).is_some())
}

/// `line` in the order its characters are drawn, left to right: each run of right-to-left
/// text (Arabic, Hebrew) is reversed, keeping numbers in it left to right and combining marks
/// after their letter. The form itself runs left to right, so this is the part of the Unicode
/// bidirectional algorithm a name or a phrase in a line needs; letters are not joined.
fn visual_order(line: &str) -> Vec<char> {
    let chars: Vec<char> = line.chars().collect();
    if !chars.iter().copied().any(rtl) {
        return chars;
    }
    let mut out = Vec::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        if !rtl(chars[i]) {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        // The run goes on through neutrals and numbers up to the last right-to-left letter
        // before the next left-to-right one.
        let mut end = i + 1;
        let mut j = i + 1;
        while j < chars.len() && !ltr(chars[j]) {
            if rtl(chars[j]) || mark(chars[j]) && rtl(chars[j - 1]) {
                end = j + 1;
            }
            j += 1;
        }
        let mut clusters: Vec<Vec<char>> = Vec::new();
        for &c in &chars[i..end] {
            let joins = clusters.last().is_some_and(|last| {
                mark(c) || c.is_ascii_digit() && last.iter().all(char::is_ascii_digit)
            });
            match clusters.last_mut() {
                Some(last) if joins => last.push(c),
                _ => clusters.push(vec![c]),
            }
        }
        out.extend(clusters.into_iter().rev().flatten());
        i = end;
    }
    out
}

/// Whether `c` is a right-to-left letter (Hebrew, Arabic and their presentation forms).
fn rtl(c: char) -> bool {
    matches!(c,
        '\u{05D0}'..='\u{05FF}'
            | '\u{0600}'..='\u{06FF}'
            | '\u{0750}'..='\u{077F}'
            | '\u{08A0}'..='\u{08FF}'
            | '\u{FB1D}'..='\u{FDFF}'
            | '\u{FE70}'..='\u{FEFF}')
        && !mark(c)
        && !matches!(c, '\u{0660}'..='\u{0669}' | '\u{06F0}'..='\u{06F9}')
}

/// Whether `c` is a left-to-right letter (marks count as letters to Unicode, but follow
/// their base's direction).
fn ltr(c: char) -> bool {
    c.is_alphabetic() && !rtl(c) && !mark(c)
}

/// Whether `c` is a combining mark drawn over the letter before it.
fn mark(c: char) -> bool {
    matches!(c,
        '\u{0300}'..='\u{036F}'
            | '\u{0591}'..='\u{05C7}'
            | '\u{0610}'..='\u{061A}'
            | '\u{064B}'..='\u{065F}'
            | '\u{0670}'
            | '\u{06D6}'..='\u{06ED}')
}

/// The advance width of `c` in 1/1000 em, from the face's own metrics; a character the
/// face lacks is measured as the [`MISSING`] mark that replaces it.
fn char_width(c: char, face: Face) -> f32 {
    let Some(font) = face.font() else {
        return 1000.0;
    };
    font.glyph(c)
        .or_else(|| font.glyph(MISSING))
        .map_or(1000.0, |g| g.1)
}

/// The printed width of `s` in points.
fn text_width(s: &str, face: Face, size: f32) -> f32 {
    s.chars().map(|c| char_width(c, face)).sum::<f32>() * size / 1000.0
}

/// Breaks `text` into lines no wider than `max` points: at spaces where possible, inside a
/// word only when the word alone is too wide (long URLs, reference lists). Newlines start a
/// new line; empty text gives no lines.
fn wrap(text: &str, face: Face, size: f32, max: f32) -> Vec<String> {
    if text.trim().is_empty() {
        return Vec::new();
    }
    let space = text_width(" ", face, size);
    let mut out = Vec::new();
    for para in text.split('\n') {
        let mut line = String::new();
        let mut width = 0.0f32;
        for word in para.split(' ').filter(|w| !w.is_empty()) {
            let ww = text_width(word, face, size);
            if !line.is_empty() && width + space + ww <= max {
                line.push(' ');
                line.push_str(word);
                width += space + ww;
                continue;
            }
            if !line.is_empty() {
                out.push(std::mem::take(&mut line));
            }
            if ww <= max {
                line.push_str(word);
                width = ww;
                continue;
            }
            // A word wider than the line: break it between characters.
            width = 0.0;
            for c in word.chars() {
                let cw = char_width(c, face) * size / 1000.0;
                if !line.is_empty() && width + cw > max {
                    out.push(std::mem::take(&mut line));
                    width = 0.0;
                }
                line.push(c);
                width += cw;
            }
        }
        out.push(line);
    }
    // A trailing newline in the input should not print an empty last line.
    while out.last().is_some_and(|l| l.is_empty()) {
        out.pop();
    }
    out
}

/// `s` cut with an ellipsis so it fits in `max` points (used for one-line items only).
fn fit(s: &str, face: Face, size: f32, max: f32) -> String {
    if text_width(s, face, size) <= max {
        return s.to_string();
    }
    let ellipsis = '\u{2026}';
    let budget = max - text_width("\u{2026}", face, size);
    let mut out = String::new();
    let mut width = 0.0;
    for c in s.chars() {
        let cw = char_width(c, face) * size / 1000.0;
        if width + cw > budget {
            break;
        }
        out.push(c);
        width += cw;
    }
    out.push(ellipsis);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_are_the_embedded_fonts_own() {
        // Advance widths read independently with FreeType (font units / 2048 em, × 1000).
        // Wrapping measured against any other font would run lines past the margin.
        let expected = [
            (Face::Regular, ' ', 317.871),
            (Face::Regular, 'a', 612.793),
            (Face::Regular, 'W', 988.770),
            (Face::Regular, '\u{177}', 591.797),  // ŷ
            (Face::Regular, '\u{141}', 562.012),  // Ł
            (Face::Regular, '\u{645}', 619.141),  // م
            (Face::Regular, '\u{3A9}', 764.160),  // Ω
            (Face::Regular, '\u{416}', 1077.148), // Ж
            (Face::Bold, ' ', 348.145),
            (Face::Bold, 'a', 674.805),
            (Face::Bold, 'W', 1103.027),
            (Face::Bold, '\u{177}', 651.855),
            (Face::Bold, '\u{645}', 732.910),
            (Face::Bold, '\u{416}', 1224.121),
        ];
        for (face, c, width) in expected {
            let ours = char_width(c, face);
            assert!((ours - width).abs() < 0.01, "{c:?}: {ours} vs {width}");
        }
        // What the font lacks is measured as the mark printed instead.
        assert_eq!(
            char_width('\u{65E5}', Face::Regular),
            char_width('?', Face::Regular)
        );
    }

    #[test]
    fn both_faces_print_every_letter_of_the_names_we_meet() {
        let names = "Siân Llŷr Ŵŵ Ŷŷ âêîôû Zażółć Gęślą jaźń ĄĆĘŁŃÓŚŹŻ Łukasz Żółkiewski \
                     محمد الأحمد Νίκος Παπαδόπουλος Олена Шевченко Ёё Її Ґґ";
        for face in [Face::Regular, Face::Bold] {
            let font = face.font().expect("the embedded font reads");
            for c in names.chars() {
                assert!(font.glyph(c).is_some(), "face {} lacks {c:?}", face.id());
            }
        }
        assert_eq!(clean(names), names);
    }

    #[test]
    fn a_subset_keeps_the_glyphs_asked_for_and_is_small() {
        let font = Face::Regular.font().expect("the embedded font reads");
        let glyphs: BTreeSet<u16> = "Siân Llŷr محمد"
            .chars()
            .filter_map(|c| font.glyph(c).map(|g| g.0))
            .collect();
        let sub = subset(font, &glyphs).expect("subset");
        for c in "Siân Llŷr محمد".chars() {
            let gid = sub.lookup_glyph_index(c as u32).expect("mapped");
            assert_ne!(gid, 0, "{c:?} maps to .notdef");
            let width = f32::from(sub.get_glyph_width(gid).expect("width")) * 1000.0 / 2048.0;
            assert!((width - char_width(c, Face::Regular)).abs() < 0.01, "{c:?}");
        }
        assert!(
            sub.original_bytes.len() < 30_000,
            "{}",
            sub.original_bytes.len()
        );
        let name = sub.font_name.expect("named");
        assert!(
            name.ends_with("+DejaVuSans") && name.len() == 7 + 10,
            "{name}"
        );
    }

    #[test]
    fn wrap_keeps_lines_within_the_width_and_loses_no_words() {
        let text = "The receiving agency did not accept that the threshold for a strategy \
                    discussion was met, and asked for further information from school.";
        let lines = wrap(text, Face::Regular, BODY, 150.0);
        assert!(lines.len() > 2);
        for l in &lines {
            assert!(text_width(l, Face::Regular, BODY) <= 150.0, "{l}");
        }
        assert_eq!(
            lines.join(" "),
            text.split_whitespace().collect::<Vec<_>>().join(" ")
        );
    }

    #[test]
    fn wrap_breaks_a_word_wider_than_the_line() {
        let url = "https://escalate.example.org/cases/".to_string() + &"x".repeat(200);
        let lines = wrap(&url, Face::Regular, BODY, 100.0);
        assert!(lines.len() > 3);
        assert_eq!(lines.concat(), url);
        assert!(wrap("  \n ", Face::Regular, BODY, 100.0).is_empty());
        // Nothing fits: still terminates, one character a line.
        assert_eq!(wrap("abc", Face::Bold, BODY, 0.0).len(), 3);
    }

    #[test]
    fn clean_replaces_what_the_font_cannot_print() {
        assert_eq!(clean("Café – £5 \u{1F600}\tok\r\n"), "Café – £5 ? ok\n");
        assert_eq!(clean("日本"), "??");
        // Emoji the font happens to draw are replaced too, like the rest.
        assert!(
            Face::Regular
                .font()
                .is_some_and(|f| f.glyph('\u{1F600}').is_some())
        );
        assert_eq!(clean("\u{1F642}\u{1F600}"), "??");
    }

    #[test]
    fn right_to_left_runs_are_drawn_reversed_and_the_rest_is_left_alone() {
        let drawn = |s: &str| visual_order(s).into_iter().collect::<String>();
        assert_eq!(drawn("Siân Llŷr"), "Siân Llŷr");
        // محمد الأحمد: the whole name is one run, spaces included.
        assert_eq!(drawn("Who: محمد الأحمد."), "Who: دمحألا دمحم.");
        // A number inside keeps its order; a mark stays after its letter.
        assert_eq!(drawn("غرفة 12 ب"), "ب 12 ةفرغ");
        assert_eq!(drawn("مَن"), "نمَ");
        assert_eq!(drawn("שלום and سلام"), "םולש and مالس");
    }

    #[test]
    fn fit_cuts_with_an_ellipsis() {
        let s = fit(&"W".repeat(100), Face::Bold, 10.0, 50.0);
        assert!(s.ends_with('\u{2026}'));
        assert!(text_width(&s, Face::Bold, 10.0) <= 50.0);
        assert_eq!(fit("ok", Face::Bold, 10.0, 50.0), "ok");
    }

    #[test]
    fn oversized_input_is_refused_not_rendered() {
        let form = MonitoringForm {
            summary: "x ".repeat(MAX_BYTES),
            ..MonitoringForm::default()
        };
        assert!(matches!(pdf(&form), Err(FormError::TooLarge { .. })));
    }

    #[test]
    fn a_form_beyond_the_page_limit_is_refused() {
        let row = DecisionRow {
            when: "Mon 2 Nov 2026 09:00".into(),
            who: "Jo Clarke".into(),
            what: "Noted".into(),
        };
        let form = MonitoringForm {
            decisions: vec![row; 40 * MAX_PAGES],
            ..MonitoringForm::default()
        };
        assert!(matches!(pdf(&form), Err(FormError::TooManyPages { .. })));
    }

    #[test]
    fn html_escapes_all_five_characters() {
        assert_eq!(
            esc(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn only_http_links_become_hyperlinks() {
        assert!(link_html("https://example.org/cases/1").starts_with("<a href="));
        assert!(!link_html("javascript:alert(1)").contains("<a"));
    }

    #[test]
    fn at_risk_reads_yes_no_and_blank() {
        assert_eq!(at_risk(Some("Yes")), (true, false, None));
        assert_eq!(at_risk(Some("no")), (false, true, None));
        assert_eq!(at_risk(None), (false, false, None));
        assert_eq!(at_risk(Some("unclear")), (false, false, Some("unclear")));
    }

    #[test]
    fn an_empty_form_renders_every_section_blank() {
        // Every section is drawn with room to write, which takes two pages.
        let pages = layout(&MonitoringForm::default()).pages;
        assert_eq!(pages.len(), 2);
        assert!(pdf(&MonitoringForm::default()).is_ok());
    }
}
