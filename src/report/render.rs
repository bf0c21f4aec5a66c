//! The report as JSON (exact figures, for the partnership), CSV, HTML and PDF (small
//! agency-pair cells suppressed, for what is mailed or downloaded). CSV, HTML, PDF and the
//! emailed report all show the same rows ([`sections`]), so a figure added there shows
//! everywhere.

use std::fmt::Write;

use serde::Serialize;

use super::{Headline, InTime, Month, MonthlyReport, ReportError};

/// Cells under this are shown as "fewer than 5" in CSV and HTML.
pub const SUPPRESS_UNDER: u64 = 5;

/// What small cells say instead of their figure.
pub const SUPPRESSED: &str = "fewer than 5";

/// An output format of `escalate report monthly`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Every figure exact, for the partnership.
    Json,
    /// One `section,key,value` row per figure; small agency-pair cells suppressed.
    Csv,
    /// A page of tables; small agency-pair cells suppressed.
    Html,
    /// An A4 document: the chart and the tables; small agency-pair cells suppressed.
    Pdf,
}

/// The report in `format`.
pub fn render(report: &MonthlyReport, format: Format) -> Result<Vec<u8>, ReportError> {
    Ok(match format {
        Format::Json => (serde_json::to_string_pretty(report)
            .map_err(|e| ReportError::Render(e.to_string()))?
            + "\n")
            .into_bytes(),
        Format::Csv => csv(report).into_bytes(),
        Format::Html => html(report).into_bytes(),
        Format::Pdf => super::pdf::pdf(report)?,
    })
}

/// `2026-10` → `October 2026`.
pub fn month_title(month: Month) -> String {
    month.first_day().format("%B %Y").to_string()
}

/// One table of the report: its section name, its title, and its rows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Section {
    /// The section, e.g. `by_agency_pair`.
    pub name: &'static str,
    /// Its title, e.g. `by agency pair`.
    pub title: String,
    /// Its rows, as shown (small agency-pair cells suppressed).
    pub rows: Vec<Row>,
}

/// One row of a [`Section`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// What the figure is.
    pub key: String,
    /// The figure, as shown.
    pub value: String,
}

/// The report's tables, in order: the rows of [`csv`] grouped by section.
pub fn sections(r: &MonthlyReport) -> Vec<Section> {
    let mut out: Vec<Section> = Vec::new();
    for (name, key, value) in rows(r) {
        match out.last_mut() {
            Some(section) if section.name == name => section.rows.push(Row { key, value }),
            _ => out.push(Section {
                name,
                title: name.replace('_', " "),
                rows: vec![Row { key, value }],
            }),
        }
    }
    out
}

fn cell(count: u64) -> String {
    if count < SUPPRESS_UNDER && count > 0 {
        SUPPRESSED.to_string()
    } else {
        count.to_string()
    }
}

fn share(s: &InTime) -> String {
    s.share
        .map_or_else(|| "-".to_string(), |v| format!("{:.0}%", v * 100.0))
}

fn median(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_string(), |m| format!("{m}"))
}

/// The rows of the report, `(section, key, value)`, as CSV and HTML show them.
fn rows(r: &MonthlyReport) -> Vec<(&'static str, String, String)> {
    let mut rows = vec![
        ("headline", "month".to_string(), r.month.to_string()),
        ("headline", "opened".into(), r.opened.to_string()),
        ("headline", "resolved".into(), r.resolved.to_string()),
        ("headline", "withdrawn".into(), r.withdrawn.to_string()),
        ("headline", "unresolved".into(), r.unresolved.to_string()),
        ("headline", "open_at_end".into(), r.open_at_end.to_string()),
        (
            "headline",
            "deadlines_missed".into(),
            r.deadlines_missed.to_string(),
        ),
        (
            "headline",
            "median_working_days_to_resolve".into(),
            median(r.median_working_days_to_resolve),
        ),
    ];
    for (stage, days) in &r.median_working_days_in_stage {
        rows.push(("median_working_days_in_stage", stage.clone(), median(*days)));
    }
    for (stage, n) in &r.by_stage_reached {
        rows.push(("by_stage_reached", stage.clone(), n.to_string()));
    }
    for (k, n) in &r.by_outcome {
        rows.push(("by_outcome", k.clone(), n.to_string()));
    }
    for (k, n) in &r.by_category {
        rows.push(("by_category", k.clone(), n.to_string()));
    }
    for p in &r.by_agency_pair {
        rows.push((
            "by_agency_pair",
            format!("{} -> {}", p.raising, p.receiving),
            cell(p.count),
        ));
    }
    for (k, n) in &r.by_raising_agency {
        // Small counts hidden as the pairs' are: else a raising agency's exact 1 would give
        // away the count its one pair hides.
        rows.push(("by_raising_agency", k.clone(), cell(*n)));
    }
    let mut headline = |section: &'static str, h: &Headline| {
        rows.push((section, "month".into(), h.month.to_string()));
        rows.push((section, "opened".into(), h.opened.to_string()));
        rows.push((section, "resolved".into(), h.resolved.to_string()));
        rows.push((section, "withdrawn".into(), h.withdrawn.to_string()));
        rows.push((section, "unresolved".into(), h.unresolved.to_string()));
        rows.push((section, "open_at_end".into(), h.open_at_end.to_string()));
    };
    headline("previous_month", &r.previous_month);
    headline("same_month_last_year", &r.same_month_last_year);
    for p in &r.series {
        let m = p.month.to_string();
        rows.push(("series", format!("{m} opened"), p.opened.to_string()));
        rows.push(("series", format!("{m} resolved"), p.resolved.to_string()));
        rows.push((
            "series",
            format!("{m} open_at_end"),
            p.open_at_end.to_string(),
        ));
    }
    for (section, s) in [
        (
            "referrals_decided_within_one_working_day",
            &r.referrals_decided_within_one_working_day,
        ),
        ("referrals_feedback_in_time", &r.referrals_feedback_in_time),
        (
            "transfers_decided_within_deadline",
            &r.transfers_decided_within_deadline,
        ),
    ] {
        rows.push((section, "decided".into(), s.decided.to_string()));
        rows.push((section, "in_time".into(), s.in_time.to_string()));
        rows.push((section, "share".into(), share(s)));
    }
    rows
}

fn csv_field(text: &str) -> String {
    // A leading =, +, - or @ would be a formula in a spreadsheet: agency names come from data.
    // A lone character is no formula (`-` is what the report shows for "none").
    let text = if text.len() > 1 && text.starts_with(['=', '+', '-', '@']) {
        format!("'{text}")
    } else {
        text.to_string()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

fn csv(r: &MonthlyReport) -> String {
    let mut out = String::from("section,key,value\n");
    for (section, key, value) in rows(r) {
        let _ = writeln!(
            out,
            "{},{},{}",
            csv_field(section),
            csv_field(&key),
            csv_field(&value)
        );
    }
    out
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn html(r: &MonthlyReport) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en-GB\">\n<head><meta charset=\"utf-8\">\
         <title>Escalations: monthly report {m}</title></head>\n<body>\n\
         <h1>Professional disagreements: {m}</h1>\n",
        m = r.month
    );
    for section in sections(r) {
        let _ = write!(
            out,
            "<h2>{}</h2>\n<table>\n<tbody>\n",
            escape(&section.title)
        );
        for row in &section.rows {
            let _ = writeln!(
                out,
                "<tr><th scope=\"row\">{}</th><td>{}</td></tr>",
                escape(&row.key),
                escape(&row.value)
            );
        }
        out.push_str("</tbody></table>\n");
    }
    out.push_str("</body>\n</html>\n");
    out
}
