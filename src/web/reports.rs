//! `GET /reports`: the board's monthly resolution report for those who may read it (board,
//! partnership, administrators), the last complete month unless another is picked, with its
//! chart and every figure in tables; `GET /reports/{YYYY-MM}.csv`: the same figures as the
//! CSV the monthly mail attaches. The figures come from the same function as the API's
//! `GET /api/v1/reports/monthly/{month}` ([`monthly`]) and the rows from the report's own
//! [`sections`] (small agency-pair cells suppressed, as in every download): aggregates only.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use minijinja::context;
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use super::{role_layout, words};
use crate::access::policy;
use crate::http::AppState;
use crate::http::reference::monthly;
use crate::report::{Format, Month, MonthlyReport, chart, month_title, render, sections};

/// Who the report pages are for, as the 403 page says.
const FOR_WHOM: &str =
    "The monthly report is for board members, the partnership and administrators.";

/// The layout of a report page; the 403 page for a role that may not read reports.
async fn reader_layout(
    state: &AppState,
    session: &Session,
) -> Result<(super::Layout, crate::store::UserRecord), Response> {
    role_layout(
        state,
        session,
        "/reports",
        policy::may_read_reports,
        FOR_WHOM,
    )
    .await
}

/// The month picker's fields, as typed (text, so that anything typed gets a message).
#[derive(Debug, Default, Deserialize)]
pub struct MonthFields {
    /// The month's number, 1 to 12.
    #[serde(default)]
    month: Option<String>,
    /// The year, four digits.
    #[serde(default)]
    year: Option<String>,
}

/// A problem with the picked month: the field it is about (`period-month` or
/// `period-year`) and what to do.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldError {
    /// The input's id, which the error summary links to.
    pub field: &'static str,
    /// The message.
    pub text: String,
}

fn problem(field: &'static str, text: &str) -> Vec<FieldError> {
    vec![FieldError {
        field,
        text: text.to_string(),
    }]
}

/// The month the fields pick, given `this` (the month now): the one before `this` when both
/// are blank, else the month typed if it has begun.
pub fn picked(fields: &MonthFields, this: Month) -> Result<Month, Vec<FieldError>> {
    let text = |v: &Option<String>| v.as_deref().unwrap_or("").trim().to_string();
    let (month, year) = (text(&fields.month), text(&fields.year));
    match (month.is_empty(), year.is_empty()) {
        (true, true) => return Ok(this.minus(1)),
        (true, false) => return Err(problem("period-month", "The month must include a month")),
        (false, true) => return Err(problem("period-year", "The month must include a year")),
        (false, false) => {}
    }
    let number = month
        .parse::<u32>()
        .ok()
        .filter(|m| (1..=12).contains(m) && month.len() <= 2);
    let Some(number) = number else {
        return Err(problem(
            "period-month",
            "Month must be a number from 1 to 12",
        ));
    };
    if year.len() != 4 || !year.bytes().all(|b| b.is_ascii_digit()) {
        return Err(problem("period-year", "Year must include 4 numbers"));
    }
    let Some(picked) = year.parse().ok().and_then(|y| Month::new(y, number)) else {
        return Err(problem("period-year", "Year must be 1900 or later"));
    };
    if picked > this {
        return Err(problem(
            "period-month",
            "The month must be this month or earlier",
        ));
    }
    Ok(picked)
}

/// One figure as a table row: `figure` is `section.key`, as in the CSV.
#[derive(Debug, Serialize)]
struct Figure {
    figure: String,
    label: String,
    value: String,
}

/// One table of figures.
#[derive(Debug, Serialize)]
struct Table {
    name: &'static str,
    title: String,
    rows: Vec<Figure>,
}

/// One month of the 12-month series, beside the chart.
#[derive(Debug, Serialize)]
struct SeriesRow {
    month: String,
    key: String,
    opened: u64,
    resolved: u64,
    open_at_end: u64,
}

/// A table's title for the board (the CSV keeps the section's own name).
fn section_title(name: &str) -> String {
    match name {
        "headline" => "This month",
        "median_working_days_in_stage" => "Median working days spent in each stage",
        "by_stage_reached" => "Disputes active this month, by the highest stage reached",
        "by_outcome" => "Disputes closed this month, by outcome",
        "by_category" => "Disputes opened this month, by category",
        "by_agency_pair" => "Disputes opened this month, by raising and receiving agency",
        "by_raising_agency" => "Disputes opened this month, by raising agency",
        "previous_month" => "The month before",
        "same_month_last_year" => "The same month a year before",
        "referrals_decided_within_one_working_day" => "Referrals decided within one working day",
        "referrals_feedback_in_time" => "Feedback on referrals given within one working day",
        "transfers_decided_within_deadline" => "Transfers decided within their deadline",
        other => return words(other),
    }
    .to_string()
}

/// A figure's label for the board.
fn figure_label(section: &str, key: &str) -> String {
    match (section, key) {
        ("median_working_days_in_stage" | "by_stage_reached", stage) => format!("Stage {stage}"),
        ("by_agency_pair" | "by_raising_agency", agency) => agency.to_string(),
        (_, "opened") => "Disputes opened".into(),
        (_, "resolved") => "Resolved in full or in part".into(),
        (_, "unresolved") => "Closed unresolved".into(),
        (_, "open_at_end") => "Open at the month's end".into(),
        (_, "deadlines_missed") => "Stage deadlines missed".into(),
        (_, "median_working_days_to_resolve") => "Median working days to resolve".into(),
        (_, "decided") => "Decisions".into(),
        (_, "in_time") => "Made in time".into(),
        (_, "share") => "Share made in time".into(),
        (_, key) => words(key),
    }
}

/// The report's tables as the page shows them: every row of [`sections`] but the series,
/// which has its own table beside the chart.
fn tables(report: &MonthlyReport) -> Vec<Table> {
    sections(report)
        .into_iter()
        .filter(|s| s.name != "series")
        .map(|s| Table {
            name: s.name,
            title: section_title(s.name),
            rows: s
                .rows
                .into_iter()
                .map(|r| Figure {
                    figure: format!("{}.{}", s.name, r.key),
                    label: figure_label(s.name, &r.key),
                    value: r.value,
                })
                .collect(),
        })
        .collect()
}

fn page(
    state: &AppState,
    layout: &super::Layout,
    status: StatusCode,
    fields: &MonthFields,
    errors: Vec<FieldError>,
    report: Option<(&MonthlyReport, Month)>,
) -> Response {
    let this_month = report.is_some_and(|(r, this)| r.month == this);
    let errors: Vec<_> = errors
        .iter()
        .map(|e| context! { text => e.text, href => format!("#{}", e.field), field => e.field })
        .collect();
    let title = report.map_or_else(
        || "Monthly report".to_string(),
        |(r, _)| format!("Monthly report: {}", month_title(r.month)),
    );
    let body = report.map(|(r, _)| {
        let series_title = match (r.series.first(), r.series.last()) {
            (Some(first), Some(last)) => format!(
                "Disputes opened, resolved and open at the month's end, {} to {}",
                month_title(first.month),
                month_title(last.month)
            ),
            _ => "Disputes by month".to_string(),
        };
        context! {
            month => month_title(r.month),
            csv => format!("/reports/{}.csv", r.month),
            chart => chart::svg(&r.series, "chart-title", &series_title),
            series_title,
            series => r.series.iter().map(|p| SeriesRow {
                month: month_title(p.month),
                key: p.month.to_string(),
                opened: p.opened,
                resolved: p.resolved,
                open_at_end: p.open_at_end,
            }).collect::<Vec<_>>(),
            tables => tables(r),
        }
    });
    let value = |v: &Option<String>| v.as_deref().unwrap_or("").to_string();
    let (month_value, year_value) = match (report, fields.month.is_none() && fields.year.is_none())
    {
        (Some((r, _)), true) => (
            r.month.first_day().format("%-m").to_string(),
            r.month.first_day().format("%Y").to_string(),
        ),
        _ => (value(&fields.month), value(&fields.year)),
    };
    state.web.render(
        status,
        "web/reports/index.html",
        layout,
        context! {
            title,
            errors,
            month_value,
            year_value,
            this_month,
            report => body,
        },
    )
}

/// `GET /reports?month&year`: the report of the month picked, the last complete one by
/// default (months in London time, as the report counts them).
pub async fn report_page(
    State(state): State<AppState>,
    session: Session,
    query: Result<Query<MonthFields>, QueryRejection>,
) -> Response {
    let (layout, user) = match reader_layout(&state, &session).await {
        Ok(both) => both,
        Err(page) => return page,
    };
    let this = Month::containing(Utc::now());
    // A query that does not parse (a field given twice) gets the same answer as a bad month.
    let (fields, chosen) = match query {
        Ok(Query(fields)) => {
            let chosen = picked(&fields, this);
            (fields, chosen)
        }
        Err(_) => (
            MonthFields::default(),
            Err(problem(
                "period-month",
                "Enter the month as numbers, for example 10 and 2026",
            )),
        ),
    };
    let month = match chosen {
        Ok(m) => m,
        Err(errors) => {
            return page(
                &state,
                &layout,
                StatusCode::BAD_REQUEST,
                &fields,
                errors,
                None,
            );
        }
    };
    match monthly(&state, &user, month).await {
        Ok(report) => page(
            &state,
            &layout,
            StatusCode::OK,
            &fields,
            Vec::new(),
            Some((&report, this)),
        ),
        Err(e) => state.web.api_error(e, &layout),
    }
}

/// `GET /reports/{YYYY-MM}.csv`: the month's figures as CSV (`report monthly --format csv`),
/// as a download.
pub async fn report_csv(
    State(state): State<AppState>,
    session: Session,
    Path(file): Path<String>,
) -> Response {
    let (layout, user) = match reader_layout(&state, &session).await {
        Ok(both) => both,
        Err(page) => return page,
    };
    let Some(month) = file
        .strip_suffix(".csv")
        .and_then(|m| m.parse::<Month>().ok())
    else {
        return state.web.error(
            StatusCode::NOT_FOUND,
            &layout,
            "Page not found",
            &["The address of a month's figures is /reports/YYYY-MM.csv, e.g. /reports/2026-10.csv."],
        );
    };
    let report = match monthly(&state, &user, month).await {
        Ok(r) => r,
        Err(e) => return state.web.api_error(e, &layout),
    };
    let csv = match render(&report, Format::Csv) {
        Ok(bytes) => bytes,
        Err(e) => {
            tracing::error!("{e}");
            return state.web.error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &layout,
                "Sorry, there is a problem with the service",
                &["Try again later."],
            );
        }
    };
    let disposition = format!("attachment; filename=\"escalate-report-{month}.csv\"");
    let mut response = csv.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(month: &str, year: &str) -> MonthFields {
        MonthFields {
            month: Some(month.into()),
            year: Some(year.into()),
        }
    }

    #[test]
    fn the_picker_defaults_to_the_last_complete_month_and_explains_bad_input() {
        let this: Month = "2026-11".parse().unwrap();
        assert_eq!(
            picked(&MonthFields::default(), this).unwrap().to_string(),
            "2026-10"
        );
        assert_eq!(
            picked(&fields(" ", ""), this).unwrap().to_string(),
            "2026-10"
        );
        assert_eq!(
            picked(&fields("3", "2025"), this).unwrap().to_string(),
            "2025-03"
        );
        assert_eq!(
            picked(&fields("11", "2026"), this).unwrap().to_string(),
            "2026-11"
        );
        for (month, year, field, text) in [
            (
                "13",
                "2026",
                "period-month",
                "Month must be a number from 1 to 12",
            ),
            (
                "0",
                "2026",
                "period-month",
                "Month must be a number from 1 to 12",
            ),
            (
                "-1",
                "2026",
                "period-month",
                "Month must be a number from 1 to 12",
            ),
            (
                "001",
                "2026",
                "period-month",
                "Month must be a number from 1 to 12",
            ),
            (
                "March",
                "2026",
                "period-month",
                "Month must be a number from 1 to 12",
            ),
            ("", "2026", "period-month", "The month must include a month"),
            ("3", "", "period-year", "The month must include a year"),
            ("3", "26", "period-year", "Year must include 4 numbers"),
            ("3", "+202", "period-year", "Year must include 4 numbers"),
            ("3", "1899", "period-year", "Year must be 1900 or later"),
            (
                "12",
                "2026",
                "period-month",
                "The month must be this month or earlier",
            ),
            (
                "1",
                "9998",
                "period-month",
                "The month must be this month or earlier",
            ),
        ] {
            let errors = picked(&fields(month, year), this).unwrap_err();
            assert_eq!(errors, problem(field, text), "{month} {year}");
        }
    }

    #[test]
    fn labels_read_as_words() {
        assert_eq!(figure_label("by_stage_reached", "3"), "Stage 3");
        assert_eq!(figure_label("by_raising_agency", "=cmd"), "=cmd");
        assert_eq!(
            figure_label("previous_month", "open_at_end"),
            "Open at the month's end"
        );
        assert_eq!(section_title("headline"), "This month");
        assert_eq!(section_title("something_new"), "Something new");
    }
}
