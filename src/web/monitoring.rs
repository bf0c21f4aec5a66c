//! `GET /cases/{reference}/monitoring-form`: the monitoring form of a case that has reached a
//! stage that sends one, as a page: the same form the emailed PDF carries (built by the same
//! [`monitoring_form`]), for anyone who may read the case, with a link to record the
//! completed form back when they may. Read (and logged) as the case page is.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;
use minijinja::context;
use tower_sessions::Session;

use super::case_page::{
    form_applies, lines, not_found, parse_reference, read_for_page, read_query,
};
use super::signed_in_layout;
use crate::access::policy;
use crate::http::AppState;
use crate::http::auth::{Caller, ClientIp};
use crate::http::cases::{ReadQuery, allowed_events};
use crate::notify::form::{SECTIONS, TITLE};
use crate::notify::monitoring_form;

/// `GET /cases/{reference}/monitoring-form?reason`: the form as a page; 404 for a case it does
/// not apply to, as for one that cannot be seen.
pub async fn show(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    session: Session,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<ReadQuery>, QueryRejection>,
) -> Response {
    let (layout, user) = match signed_in_layout(&state, &session, "/").await {
        Ok(both) => both,
        Err(page) => return page,
    };
    let Some(reference) = parse_reference(path) else {
        return not_found(&state, &layout, "");
    };
    let reason = query.ok().and_then(|Query(q)| q.reason);
    let caller = Caller {
        user,
        address: ip.map(|ip| ip.to_string()),
    };
    let action = format!("/cases/{}/monitoring-form", reference.as_str());
    let view = match read_for_page(
        &state,
        &layout,
        &caller,
        &reference,
        reason.as_deref(),
        &action,
    )
    .await
    {
        Ok(view) => view,
        Err(page) => return page,
    };
    let def = match state
        .engine
        .definition(&view.case.workflow, &view.case.workflow_hash)
        .await
    {
        Ok(def) => def,
        Err(e) => return state.web.api_error(e.into(), &layout),
    };
    if !form_applies(&def, &view) {
        return not_found(&state, &layout, reference.as_str());
    }
    let case_page = format!("/cases/{}", view.case.reference);
    let link = format!("{}{case_page}", state.base_url);
    // The reader may read the whole case, so what was typed into it is shown, not withheld
    // as in emailed copies.
    let form = monitoring_form(&def, &view.case, &view.history, &link, Utc::now(), true);
    let record = if policy::acts_on_cases(caller.user.role) {
        match allowed_events(&state, &caller, &view.case.reference).await {
            Ok((allowed, _)) => allowed
                .events
                .iter()
                .any(|e| e.name == "record_form")
                .then(|| format!("{case_page}/events/record_form")),
            Err(e) => return state.web.api_error(e, &layout),
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
    let page = context! {
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
        &layout,
        page,
    )
}
