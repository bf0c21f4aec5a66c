//! `GET` and `POST /cases/{reference}/events/{event}`: the form for one event the signed-in
//! user may take now, drawn from its [`EventInfo`] (what `allowed_events` gives the API), and
//! recording it through the API's own [`record_event`]: only at the version of the case the
//! person saw (`seq`), once per form (`idempotency_key`), as the signed-in user. Success is a
//! 303 to the case page with a notice; a refusal is the form again with an error summary; a
//! case that moved on meanwhile is said so, with nothing recorded.

use std::collections::BTreeMap;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::{Value, context};
use serde::Deserialize;
use tower_sessions::Session;

use super::case_page::{ReadPage, case_path, changed_notice, state_title};
use super::csrf::CsrfForm;
use super::session::SessionFault;
use super::{Layout, set_notice, signed_in_layout, words};
use crate::access::credentials::random_hex;
use crate::http::AppState;
use crate::http::auth::{Caller, ClientIp};
use crate::http::cases::{EventRequest, allowed_events, parse_key, record_event};
use crate::http::error::ApiError;
use crate::ids::CaseRef;
use crate::workflow::describe::{EventInfo, FieldInfo};

/// The longest event name a URL may carry (workflow names are short identifiers).
const MAX_EVENT: usize = 64;

/// What an event form sends besides its CSRF token: the version of the case it was drawn
/// for, its idempotency key, and the event's fields by name.
#[derive(Debug, Deserialize)]
pub struct EventForm {
    /// The case's version (its latest entry's number) when the form was drawn.
    #[serde(default)]
    seq: String,
    /// Fresh for each form drawn: a second send of the same form records nothing again.
    #[serde(default)]
    idempotency_key: String,
    /// The event's fields.
    #[serde(flatten)]
    values: BTreeMap<String, String>,
}

/// The case and event a path names, or `None` for a path that cannot name one.
fn target(path: Result<Path<(String, String)>, PathRejection>) -> Option<(CaseRef, String)> {
    let Ok(Path((reference, event))) = path else {
        return None;
    };
    let reference = CaseRef::parse(&reference).ok()?;
    let plausible = !event.is_empty()
        && event.len() <= MAX_EVENT
        && event.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    plausible.then_some((reference, event))
}

/// A field's label: its name in words, "(optional)" when it may be left out.
fn label(field: &FieldInfo) -> String {
    let words = words(&field.name);
    if field.required {
        words
    } else {
        format!("{words} (optional)")
    }
}

/// How a field is drawn: radios for choices and yes/no, a text area for long text, else a
/// one-line input (an email or a date given as text, with a hint).
fn widget(field: &FieldInfo) -> &'static str {
    match field.kind.as_str() {
        "choice" | "boolean" => "radios",
        k if k.starts_with("long text") => "textarea",
        _ => "input",
    }
}

/// The largest length the field's type allows, from its description (`long text max 2000`).
fn max_length(field: &FieldInfo) -> Option<usize> {
    field
        .kind
        .rsplit_once("max ")
        .and_then(|(_, n)| n.trim().parse().ok())
}

/// A field's error message: what to do when it was left blank, else the workflow's words.
fn field_message(field: &FieldInfo, given: Option<&str>, workflow_says: &str) -> String {
    if given.is_none_or(|v| v.trim().is_empty()) {
        let what = words(&field.name).to_lowercase();
        if widget(field) == "radios" {
            format!("Select the {what}")
        } else {
            format!("Enter the {what}")
        }
    } else {
        workflow_says.to_string()
    }
}

/// One event's form as the template draws it.
struct FormPage<'a> {
    reference: &'a str,
    event: &'a EventInfo,
    stage: String,
    seq: i64,
    values: &'a BTreeMap<String, String>,
    error: Option<&'a ApiError>,
    notice: Option<Value>,
}

impl FormPage<'_> {
    fn values(&self) -> Value {
        let error_field = self.error.and_then(|e| {
            let name = e.field.as_deref()?;
            self.event.fields.iter().find(|f| f.name == name)
        });
        let mut errors = Vec::new();
        let mut description = None;
        if let Some(e) = self.error {
            match error_field {
                Some(f) => {
                    let text =
                        field_message(f, self.values.get(&f.name).map(String::as_str), &e.message);
                    if text != e.message {
                        // The workflow's own words too, since they may say more.
                        description = Some(format!("The workflow says: {}", e.message));
                    }
                    errors.push(context! { text, href => format!("#{}", f.name) });
                }
                None => errors.push(context! { text => e.message.clone() }),
            }
        }
        let fields: Vec<Value> = self
            .event
            .fields
            .iter()
            .map(|f| {
                let value = self.values.get(&f.name).cloned().unwrap_or_default();
                let error = (error_field.map(|e| &e.name) == Some(&f.name))
                    .then(|| errors.first().and_then(|e| e.get_attr("text").ok()))
                    .flatten();
                let items: Vec<Value> = match (f.kind.as_str(), &f.choices) {
                    (_, Some(choices)) => choices
                        .iter()
                        .map(|c| context! { value => c, text => words(c) })
                        .collect(),
                    ("boolean", None) => vec![
                        context! { value => "true", text => "Yes" },
                        context! { value => "false", text => "No" },
                    ],
                    _ => Vec::new(),
                };
                let hint = match f.kind.as_str() {
                    "date" => Some("For example, 2026-11-30 (year, month, day)".to_string()),
                    "email" => Some("An email address".to_string()),
                    _ if widget(f) == "textarea" => {
                        max_length(f).map(|n| format!("At most {n} characters."))
                    }
                    _ => None,
                };
                context! {
                    name => f.name.clone(),
                    label => label(f),
                    widget => widget(f),
                    input_type => if f.kind == "email" { "email" } else { "text" },
                    date => f.kind == "date",
                    hint,
                    items,
                    value,
                    error,
                }
            })
            .collect();
        context! {
            title => format!("{} – {}", self.event.title, self.reference),
            reference => self.reference,
            event => self.event.title.clone(),
            stage => self.stage.clone(),
            action => format!("/cases/{}/events/{}", self.reference, self.event.name),
            back => case_path(self.reference),
            seq => self.seq,
            // 128 random bits, new each time the form is drawn.
            idempotency_key => random_hex(16),
            fields,
            errors,
            description,
            notice => self.notice.clone(),
        }
    }
}

/// The events `caller` may take on `reference` now, with the case's version and its stage's
/// title; or the page to answer instead.
async fn allowed(
    state: &AppState,
    layout: &Layout,
    caller: &Caller,
    reference: &CaseRef,
) -> Result<(Vec<EventInfo>, i64, String), Response> {
    let (allowed, seq) = allowed_events(state, caller, reference.as_str())
        .await
        .map_err(|e| state.web.api_error(e, layout))?;
    // The case is this caller's to act on (asked above): its stage's title for the form.
    let case = state
        .engine
        .case(&allowed.reference)
        .await
        .map_err(|e| state.web.api_error(e.into(), layout))?;
    let def = state
        .engine
        .definition(&case.workflow, &case.workflow_hash)
        .await
        .map_err(|e| state.web.api_error(e.into(), layout))?;
    Ok((allowed.events, seq, state_title(&def, &allowed.state)))
}

/// What both of a form's handlers start from: the signed-in user's layout, who they are, and
/// the case and event the path names; or the page to answer instead.
async fn start(
    state: &AppState,
    ip: Option<std::net::IpAddr>,
    session: &Session,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<(Layout, Caller, CaseRef, String), Response> {
    let (layout, user) = signed_in_layout(state, session, "/").await?;
    let Some((reference, event)) = target(path) else {
        return Err(super::case_page::not_found(state, &layout, ""));
    };
    Ok((layout, super::caller(user, ip), reference, event))
}

/// The case page, saying the case moved on while the person was looking (their form is for an
/// event it no longer takes) and that nothing was recorded.
async fn moved_on(
    state: &AppState,
    session: &Session,
    layout: &Layout,
    caller: &Caller,
    reference: &CaseRef,
) -> Response {
    let read = ReadPage::load(state, layout.clone(), caller.clone(), reference, None, "").await;
    match read {
        Ok(read) => super::case_page::page(state, session, read, true).await,
        Err(page) => page,
    }
}

/// The 404 page for an event the person may not take on the case now (one its stage does
/// not take, or not by their roles), the case unchanged since their form.
fn not_theirs(state: &AppState, layout: &Layout) -> Response {
    state.web.error(
        StatusCode::NOT_FOUND,
        layout,
        "Page not found",
        &[
            "This is not something you can do on this case now.",
            "Go back to the case to see what you can do.",
        ],
    )
}

fn render(state: &AppState, layout: &Layout, status: StatusCode, page: &FormPage) -> Response {
    state
        .web
        .render(status, "web/cases/event.html", layout, page.values())
}

/// `GET /cases/{reference}/events/{event}`: the event's form; an event the user may not take
/// now is the 404 page.
pub async fn form(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    session: Session,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Response {
    let (layout, caller, reference, event) = match start(&state, ip, &session, path).await {
        Ok(all) => all,
        Err(page) => return page,
    };
    let (events, seq, stage) = match allowed(&state, &layout, &caller, &reference).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    // Nothing says the case changed (no version was sent): not an event of theirs now.
    let Some(info) = events.iter().find(|e| e.name == event) else {
        return not_theirs(&state, &layout);
    };
    let page = FormPage {
        reference: reference.as_str(),
        event: info,
        stage,
        seq,
        values: &BTreeMap::new(),
        error: None,
        notice: None,
    };
    render(&state, &layout, StatusCode::OK, &page)
}

/// The 400 page for a form whose hidden fields were not the ones drawn.
fn unreadable(state: &AppState, layout: &Layout) -> Response {
    state.web.error(
        StatusCode::BAD_REQUEST,
        layout,
        "Sorry, this form could not be read",
        &[
            "Nothing was recorded.",
            "Go back to the case, open the form again and try again.",
        ],
    )
}

/// `POST /cases/{reference}/events/{event}`: records the event; 303 to the case page.
pub async fn record(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    session: Session,
    path: Result<Path<(String, String)>, PathRejection>,
    CsrfForm(form): CsrfForm<EventForm>,
) -> Response {
    let (layout, caller, reference, event) = match start(&state, ip, &session, path).await {
        Ok(all) => all,
        Err(page) => return page,
    };
    let seq = form.seq.trim();
    let Some(seq) = (!seq.is_empty() && seq.len() <= 18 && seq.bytes().all(|b| b.is_ascii_digit()))
        .then(|| seq.parse::<i64>().ok())
        .flatten()
    else {
        return unreadable(&state, &layout);
    };
    let Ok(key) = parse_key(form.idempotency_key.as_bytes()) else {
        return unreadable(&state, &layout);
    };
    // Browsers send a text area's line breaks as CRLF; the case keeps them as typed lines.
    let values: BTreeMap<String, String> = form
        .values
        .into_iter()
        .map(|(k, v)| (k, v.replace("\r\n", "\n")))
        .collect();
    // A field left blank is not given: an optional one is then absent from the entry, and a
    // required one is refused by the workflow as missing.
    let request = EventRequest {
        event: event.clone(),
        fields: values
            .iter()
            .filter(|(_, v)| !v.trim().is_empty())
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect(),
        reason: None,
    };
    let recorded = record_event(
        &state,
        &caller,
        reference.as_str(),
        Some(seq),
        &request,
        Some(key),
    )
    .await;
    let error = match recorded {
        Ok(outcome) => {
            let done = recorded_notice(&state, &outcome, &caller, &event).await;
            let page = case_path(&outcome.reference);
            let kept = set_notice(&session, &page, &done).await;
            return to_case_page(&page, kept);
        }
        Err(e) => e,
    };
    let stale = error.code == "stale";
    // Refusals of what was typed (the workflow's, or a request it cannot take) come back on
    // the form; anything else (not found, not allowed, a conflict, the database) is a page.
    let on_the_form = stale
        || error.status == StatusCode::UNPROCESSABLE_ENTITY
        || error.status == StatusCode::BAD_REQUEST;
    if !on_the_form {
        return state.web.api_error(error, &layout);
    }
    let (events, current, stage) = match allowed(&state, &layout, &caller, &reference).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let Some(info) = events.iter().find(|e| e.name == event) else {
        // Only a form drawn for an earlier version was sent while the case moved on.
        if seq < current {
            return moved_on(&state, &session, &layout, &caller, &reference).await;
        }
        return not_theirs(&state, &layout);
    };
    if stale {
        // The same form again, with what was typed, for the version now current: the person
        // reads the notice (and the case) before sending it again.
        let notice = changed_notice(
            &stage,
            "check the case, then send this form again if it still applies",
        );
        let page = FormPage {
            reference: reference.as_str(),
            event: info,
            stage,
            seq: current,
            values: &values,
            error: None,
            notice: Some(notice),
        };
        return render(&state, &layout, StatusCode::CONFLICT, &page);
    }
    // Still the version the person saw: what they sent is what needs changing.
    let page = FormPage {
        reference: reference.as_str(),
        event: info,
        stage,
        seq,
        values: &values,
        error: Some(&error),
        notice: None,
    };
    render(&state, &layout, StatusCode::UNPROCESSABLE_ENTITY, &page)
}

/// The answer once an event is recorded: 303 to the case's `page`, whether or not its notice
/// was `kept`. A notice lost is only a notice lost; an error page would invite sending the
/// event again.
fn to_case_page(page: &str, kept: Result<(), SessionFault>) -> Response {
    if let Err(e) = kept {
        tracing::error!(
            page,
            "an event was recorded but its notice was not kept: {e}"
        );
    }
    Redirect::to(page).into_response()
}

/// What a case page says once an event is recorded: its title as the workflow gives it where
/// it was taken (the caller's latest entry of that event), and the stage the case is at now;
/// the event's name in words when the case was not read back.
async fn recorded_notice(
    state: &AppState,
    outcome: &crate::http::cases::EventOutcome,
    caller: &Caller,
    event: &str,
) -> String {
    let plain = format!("{}: recorded.", words(event));
    let Some(view) = &outcome.view else {
        return plain;
    };
    let Ok(def) = state
        .engine
        .definition(&view.case.workflow, &view.case.workflow_hash)
        .await
    else {
        return plain;
    };
    let title = view
        .history
        .iter()
        .rev()
        .find(|e| e.event == event && crate::workflow::same_email(&e.actor, &caller.user.email))
        .map_or_else(|| words(event), |e| def.event_title(&e.from_state, event));
    let stage = state_title(&def, &view.case.state);
    format!("{title}: recorded. The case is now at {stage}.")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, kind: &str, required: bool) -> FieldInfo {
        FieldInfo {
            name: name.into(),
            required,
            kind: kind.into(),
            choices: None,
        }
    }

    #[test]
    fn a_recorded_event_goes_to_its_case_page_even_when_its_notice_is_lost() {
        let page = case_path("DSP-2026-000001");
        for kept in [
            Ok(()),
            Err(SessionFault::Store(crate::store::StoreError::Damaged(
                "session data".into(),
            ))),
        ] {
            let response = to_case_page(&page, kept);
            assert_eq!(response.status(), StatusCode::SEE_OTHER);
            assert_eq!(
                response.headers()[axum::http::header::LOCATION],
                "/cases/DSP-2026-000001"
            );
        }
    }

    #[test]
    fn an_administrators_reason_goes_on_in_links() {
        use super::super::case_page::read_query;
        assert_eq!(read_query(None), "");
        assert_eq!(read_query(Some("  ")), "");
        assert_eq!(read_query(Some("audit & check")), "?reason=audit+%26+check");
    }

    #[test]
    fn fields_are_drawn_by_their_type() {
        assert_eq!(widget(&field("outcome", "choice", true)), "radios");
        assert_eq!(widget(&field("x", "boolean", false)), "radios");
        assert_eq!(
            widget(&field("reason", "long text max 10000", true)),
            "textarea"
        );
        assert_eq!(widget(&field("owner", "text max 200", true)), "input");
        assert_eq!(widget(&field("due", "date", false)), "input");
        assert_eq!(
            max_length(&field("a", "long text max 2000", true)),
            Some(2000)
        );
        assert_eq!(max_length(&field("due", "date", true)), None);
        assert_eq!(
            label(&field("child_at_risk", "choice", false)),
            "Child at risk (optional)"
        );
        assert_eq!(
            label(&field("reason", "long text max 10000", true)),
            "Reason"
        );
    }

    #[test]
    fn a_blank_field_is_asked_for_and_a_bad_one_gets_the_workflows_words() {
        let reason = field("reason", "long text max 10000", true);
        assert_eq!(field_message(&reason, None, "x"), "Enter the reason");
        assert_eq!(field_message(&reason, Some("  "), "x"), "Enter the reason");
        assert_eq!(field_message(&reason, Some("a\u{7}"), "bad"), "bad");
        let outcome = field("outcome", "choice", true);
        assert_eq!(field_message(&outcome, None, "x"), "Select the outcome");
    }

    #[test]
    fn only_a_case_reference_and_an_event_name_make_a_target() {
        let path = |r: &str, e: &str| Ok(Path((r.to_string(), e.to_string())));
        let (r, e) = target(path("dsp-2026-000001", "escalate")).unwrap();
        assert_eq!((r.as_str(), e.as_str()), ("DSP-2026-000001", "escalate"));
        assert!(target(path("DSP-2026-000001", "esc-alate")).is_none());
        assert!(target(path("DSP-2026-000001", "")).is_none());
        assert!(target(path("DSP-2026-000001", &"a".repeat(65))).is_none());
        assert!(target(path("nothing", "escalate")).is_none());
    }
}
