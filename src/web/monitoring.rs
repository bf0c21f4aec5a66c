//! `GET /cases/{reference}/monitoring-form`: the monitoring form of a case that has reached a
//! stage that sends one, as a page: the same form the emailed PDF carries (built by the same
//! [`monitoring_form`]), for anyone who may read the case, with a link to record the
//! completed form back when they may. Read (and logged) as the case page is.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;
use minijinja::{Value, context};

use super::case_page::{CaseRequest, form_applies, lines, not_found, read_query};
use crate::access::policy;
use crate::http::AppState;
use crate::http::cases::allowed_events;
use crate::notify::form::{SECTIONS, TITLE};
use crate::notify::monitoring_form;

/// `GET /cases/{reference}/monitoring-form?reason`: the form as a page; 404 for a case it does
/// not apply to, as for one that cannot be seen.
pub async fn show(State(state): State<AppState>, request: CaseRequest) -> Response {
    let read = match request.read(&state, "/monitoring-form").await {
        Ok(read) => read,
        Err(page) => return page,
    };
    let (layout, caller, view, reason) = (&read.layout, &read.caller, &read.view, &read.reason);
    let def = &read.def;
    if !form_applies(def, view) {
        return not_found(&state, layout, &view.case.reference);
    }
    let case_page = format!("/cases/{}", view.case.reference);
    let link = format!("{}{case_page}", state.base_url);
    // The reader may read the whole case, so what was typed into it is shown, not withheld
    // as in emailed copies.
    let form = monitoring_form(def, &view.case, &view.history, &link, Utc::now(), true);
    let record = if policy::acts_on_cases(caller.user.role) {
        match allowed_events(&state, caller, &view.case.reference).await {
            Ok((allowed, _)) => allowed
                .events
                .iter()
                .any(|e| e.name == "record_form")
                .then(|| format!("{case_page}/events/record_form")),
            Err(e) => return state.web.api_error(e, layout),
        }
    } else {
        None
    };
    let at_risk = match form.child_at_risk.as_deref().map(str::trim) {
        None | Some("") => "Not recorded yet".to_string(),
        Some(v) if v.eq_ignore_ascii_case("yes") => "Yes".into(),
        Some(v) if v.eq_ignore_ascii_case("no") => "No".into(),
        Some(other) => other.to_string(),
    };
    // Each a line and a smaller line under it, as the PDF's tables give them.
    let stages: Vec<Value> = form
        .stages
        .iter()
        .map(|s| {
            let left = s
                .exited
                .as_ref()
                .map_or_else(|| "current".to_string(), |t| format!("left {t}"));
            context! { text => s.stage.clone(), detail => format!("Entered {}, {left}", s.entered) }
        })
        .collect();
    let actions: Vec<Value> = form
        .actions
        .iter()
        .map(|a| {
            let by_when = if a.by_when.is_empty() {
                String::new()
            } else {
                format!(", by {}", a.by_when)
            };
            context! { text => a.action.clone(), detail => format!("By {}{by_when}", a.by_whom) }
        })
        .collect();
    let decisions: Vec<Value> = form
        .decisions
        .iter()
        .map(|d| context! { text => d.what.clone(), detail => format!("{}, {}", d.when, d.who) })
        .collect();
    let page = context! {
        stages,
        actions,
        decisions,
        title => format!("Monitoring form: {}", view.case.reference),
        heading => TITLE,
        sections => SECTIONS,
        summary => lines(&form.summary),
        learning => form.learning.as_deref().map(lines),
        at_risk,
        back => format!("{case_page}{}", read_query(reason.as_deref())),
        record,
        form,
    };
    state.web.render(
        StatusCode::OK,
        "web/cases/monitoring_form.html",
        layout,
        page,
    )
}
