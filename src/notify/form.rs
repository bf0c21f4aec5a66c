//! The stage-3 monitoring form: a printable A4 PDF and a matching self-contained HTML page.
//!
//! Both renderings are pure functions of [`MonitoringForm`], so they can be tested without a
//! mail transport and re-rendered byte-for-byte from the stored case. The form is meant to be
//! printed and filled in by hand where the case history has nothing yet, so every section is
//! always drawn, with ruled blank space when it is empty.

use std::fmt::Write as _;

use crate::pdf::{
    self, BLANK_ROW, BODY, CONTENT_W, Col, Face, LEAD, Layout, MARGIN, PAD_X, Pager, RULE_GAP,
    clean, fit, text_width, wrap,
};

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

/// The form's title, on the first page and in the HTML (and the web UI's view of it).
pub const TITLE: &str = "Professional disagreement: monitoring form";
/// The line under every footer: the form is safe to email and file, and where it belongs.
const NO_IDENTIFIERS: &str =
    "This form contains no child identifiers. Record the completed form on the case page:";

/// Bounds on the input, so a runaway case history cannot make an enormous attachment.
const MAX_BYTES: usize = 2_000_000;
/// Bounds the attachment size; a real dispute's form is a few pages.
const MAX_PAGES: usize = 500;

/// The section headings, numbered as on the printed form (shared by the PDF, the HTML and
/// the web UI's view of the form).
pub const SECTIONS: [&str; 10] = [
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
    let layout = layout(form);
    if layout.pages.len() > MAX_PAGES {
        return Err(FormError::TooManyPages {
            pages: layout.pages.len(),
            max: MAX_PAGES,
        });
    }
    let title = format!("{TITLE} {}", clean(&form.reference));
    pdf::save(&title, layout).map_err(FormError::Pdf)
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

/// Lays the form out into pages of drawing ops, footers included.
fn layout(form: &MonitoringForm) -> Layout {
    let reference = clean(&form.reference);
    let link = clean(form.link.trim());
    let note = if link.is_empty() {
        NO_IDENTIFIERS.trim_end_matches(':').to_string() + "."
    } else {
        format!("{NO_IDENTIFIERS} {link}")
    };
    let generated = clean(&form.generated);
    let generated = if generated.trim().is_empty() {
        String::new()
    } else {
        format!("Generated {generated}")
    };
    let mut p = Pager::new(
        format!("{TITLE} \u{b7} {reference} (continued)"),
        vec![generated, reference],
        note,
    );
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

    p.finish()
}

/// Three regular-text columns.
fn three_cols(a: (&'static str, f32), b: (&'static str, f32), c: (&'static str, f32)) -> [Col; 3] {
    [a, b, c].map(|(title, frac)| Col {
        title,
        frac,
        face: Face::Regular,
    })
}

impl Pager {
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
