//! The report as an A4 PDF: the chart, then every table of [`super::sections`], laid out with
//! the monitoring form's page machinery (`crate::pdf`).

use super::render::month_title;
use super::{MonthlyReport, ReportError, chart, sections};
use crate::pdf::{self, BODY, CONTENT_W, Col, Face, MARGIN, Pager};

/// The document's title.
const TITLE: &str = "Professional disagreements: monthly report";

/// What every page's foot says.
const NOTE: &str = "Aggregates only: no child identifiers and no free text. Agency pairs under 5 \
                    are shown as \"fewer than 5\".";

/// `r` as an A4 PDF.
pub(super) fn pdf(r: &MonthlyReport) -> Result<Vec<u8>, ReportError> {
    let month = month_title(r.month);
    let mut p = Pager::new(
        format!("{TITLE} \u{b7} {month} (continued)"),
        vec![format!("{TITLE}, {month}")],
        NOTE.to_string(),
    );
    p.text(MARGIN, p.y + 17.0, Face::Bold, 17.0, 0.0, TITLE);
    p.y += 24.0;
    p.text(MARGIN, p.y + 12.0, Face::Regular, 12.0, 0.3, &month);
    p.y += 20.0;
    p.hline(MARGIN, MARGIN + CONTENT_W, p.y, 1.5, 0.1);
    p.y += 12.0;
    let drawn = chart::draw(&r.series)?;
    p.image(
        drawn.rgb,
        drawn.width as usize,
        drawn.height as usize,
        CONTENT_W,
    );
    let cols = [
        Col {
            title: "",
            frac: 0.62,
            face: Face::Regular,
        },
        Col {
            title: "",
            frac: 0.38,
            face: Face::Regular,
        },
    ];
    for section in sections(r) {
        p.heading(&capitalised(&section.title), 2.0 * BODY);
        let rows: Vec<Vec<String>> = section
            .rows
            .into_iter()
            .map(|row| vec![row.key, row.value])
            .collect();
        p.table(&cols, false, &rows, 0);
    }
    pdf::save(&format!("{TITLE} {}", r.month), p.finish()).map_err(ReportError::Render)
}

/// `by stage reached` → `By stage reached`.
fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}
