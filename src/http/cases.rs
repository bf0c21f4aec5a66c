//! `/api/v1/cases`: reading cases, as the access policy allows, each read in the access log.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;
use serde_json::Value;

use super::AppState;
use super::auth::Caller;
use super::error::ApiError;
use crate::access::policy::{self, CaseAction, Verdict};
use crate::ids::{CaseRef, UserEmail};
use crate::store::{AccessEntry, CaseRecord};
use crate::text;
use crate::workflow::EventFields;

/// The longest reason an administrator may give.
const MAX_REASON: usize = 500;

/// Query of `GET /api/v1/cases/{reference}`.
#[derive(Debug, Deserialize)]
pub struct ReadQuery {
    /// Why an administrator reads the case (required of them, recorded).
    pub reason: Option<String>,
}

/// Records one access; a log that cannot be written fails the request (503): an unrecorded
/// read of a child's case must not happen.
async fn log(
    state: &AppState,
    caller: &Caller,
    reference: &str,
    action: &str,
    status: StatusCode,
    reason: Option<String>,
) -> Result<(), ApiError> {
    state
        .engine
        .store()
        .log_access(&AccessEntry {
            at: Utc::now(),
            email: caller.user.email.clone(),
            reference: reference.to_string(),
            action: action.to_string(),
            status: status.as_u16(),
            address: caller.address.clone(),
            reason,
        })
        .await?;
    Ok(())
}

/// The verdict on `action` for `caller` on `case`.
async fn verdict(
    state: &AppState,
    caller: &Caller,
    case: &CaseRecord,
    action: CaseAction,
) -> Result<Verdict, ApiError> {
    let engine = &state.engine;
    let def = engine
        .definition(&case.workflow, &case.workflow_hash)
        .await?;
    let directory = engine.store().directory().await?;
    let relation = policy::relation(
        &caller.user.email,
        caller.user.agency.as_deref(),
        &def,
        &case.data,
        &directory,
    );
    Ok(policy::case_verdict(caller.user.role, relation, action))
}

/// `GET /api/v1/cases/{reference}`: the case with its history, deadlines (with their
/// explanations), messages and links; `ETag` is its sequence number.
pub async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path(reference): Path<String>,
    Query(query): Query<ReadQuery>,
) -> Result<Response, ApiError> {
    let shown = text::for_terminal(&reference)
        .chars()
        .take(80)
        .collect::<String>();
    let Ok(reference) = CaseRef::parse(&reference) else {
        return Err(ApiError::bad_request(format!(
            "'{shown}' is not a case reference (e.g. DSP-2026-000042)"
        )));
    };
    let reference = reference.as_str();
    let case = match state.engine.store().case_by_reference(reference).await? {
        Some(case) => case,
        None => {
            log(
                &state,
                &caller,
                reference,
                "read",
                StatusCode::NOT_FOUND,
                None,
            )
            .await?;
            return Err(ApiError::no_case(reference));
        }
    };
    let mut reason = None;
    match verdict(&state, &caller, &case, CaseAction::Read).await? {
        Verdict::Allow => {}
        Verdict::WithReason => {
            let given = query.reason.as_deref().map(str::trim).unwrap_or_default();
            if given.is_empty() || text::single_line(given, MAX_REASON).is_err() {
                log(
                    &state,
                    &caller,
                    reference,
                    "read",
                    StatusCode::FORBIDDEN,
                    None,
                )
                .await?;
                return Err(ApiError::forbidden(format!(
                    "an administrator reads a case only with a reason of one line (at most {MAX_REASON} characters): add ?reason=…"
                )));
            }
            reason = Some(given.to_string());
        }
        Verdict::Forbidden => {
            log(
                &state,
                &caller,
                reference,
                "read",
                StatusCode::FORBIDDEN,
                None,
            )
            .await?;
            return Err(ApiError::forbidden("you may not read this case"));
        }
        Verdict::Hidden => {
            log(
                &state,
                &caller,
                reference,
                "read",
                StatusCode::NOT_FOUND,
                None,
            )
            .await?;
            return Err(ApiError::no_case(reference));
        }
    }
    let view = state.engine.show(reference).await?;
    log(&state, &caller, reference, "read", StatusCode::OK, reason).await?;
    let mut headers = HeaderMap::new();
    if let Ok(tag) = HeaderValue::from_str(&format!("\"{}\"", view.case.seq)) {
        headers.insert(header::ETAG, tag);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok((StatusCode::OK, headers, Json(view)).into_response())
}

/// Body of `POST /api/v1/cases/{reference}/events`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventRequest {
    /// The event, e.g. `escalate`.
    pub event: String,
    /// Its fields (text; numbers and booleans are taken as their text).
    #[serde(default)]
    pub fields: BTreeMap<String, Value>,
    /// Why (the `reason` field).
    pub reason: Option<String>,
}

/// The version an `If-Match` header names: `"7"` (or `W/"7"`); `*` or none, any version.
fn if_match(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default().trim();
    if text == "*" {
        return Ok(None);
    }
    text.trim_start_matches("W/")
        .trim_matches('"')
        .parse::<i64>()
        .map(Some)
        .map_err(|_| ApiError::bad_request("If-Match must be the case's ETag, e.g. \"7\""))
}

/// The event's fields as the engine takes them: text, each once, `reason` included.
fn event_fields(request: &EventRequest) -> Result<EventFields, ApiError> {
    let mut fields = EventFields::new();
    for (name, value) in &request.fields {
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "field '{}' must be text, a number or true/false",
                    text::for_terminal(name)
                        .chars()
                        .take(80)
                        .collect::<String>()
                )));
            }
        };
        fields.insert(name.clone(), text);
    }
    if let Some(reason) = &request.reason
        && fields.insert("reason".into(), reason.clone()).is_some()
    {
        return Err(ApiError::bad_request(
            "the reason is given twice (as reason and as fields.reason)",
        ));
    }
    Ok(fields)
}

/// `POST /api/v1/cases/{reference}/events`: records an event as the signed-in user, only if
/// the case is still at the version `If-Match` names (409 otherwise, nothing written).
pub async fn act(
    State(state): State<AppState>,
    caller: Caller,
    Path(reference): Path<String>,
    headers: HeaderMap,
    body: Result<Json<EventRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(request) = body.map_err(|e| ApiError::bad_request(one_line(&e.body_text())))?;
    let shown = text::for_terminal(&reference)
        .chars()
        .take(80)
        .collect::<String>();
    let Ok(reference) = CaseRef::parse(&reference) else {
        return Err(ApiError::bad_request(format!(
            "'{shown}' is not a case reference (e.g. DSP-2026-000042)"
        )));
    };
    let expected = if_match(&headers)?;
    let fields = event_fields(&request)?;
    let action = format!(
        "act:{}",
        text::for_terminal(&request.event)
            .chars()
            .take(64)
            .collect::<String>()
    );
    let r = reference.as_str();
    let Some(case) = state.engine.store().case_by_reference(r).await? else {
        log(&state, &caller, r, &action, StatusCode::NOT_FOUND, None).await?;
        return Err(ApiError::no_case(r));
    };
    match verdict(&state, &caller, &case, CaseAction::Act).await? {
        Verdict::Allow => {}
        Verdict::Hidden => {
            log(&state, &caller, r, &action, StatusCode::NOT_FOUND, None).await?;
            return Err(ApiError::no_case(r));
        }
        Verdict::Forbidden | Verdict::WithReason => {
            log(&state, &caller, r, &action, StatusCode::FORBIDDEN, None).await?;
            return Err(ApiError::forbidden("you may not act on this case"));
        }
    }
    let by = UserEmail::parse(&caller.user.email)
        .map_err(|_| ApiError::forbidden("this account has no usable email address"))?;
    // Dated by the clock as the engine writes it (not as the request arrived), so a writer
    // that loses a race to a later entry is decided again, not refused as back-dated.
    let recorded = state
        .engine
        .record_if(&reference, expected, &request.event, &fields, &by, None)
        .await;
    let view = match recorded {
        Ok(_) => state.engine.show(r).await.map_err(ApiError::from),
        Err(e) => Err(ApiError::from(e)),
    };
    let status = match &view {
        Ok(_) => StatusCode::OK,
        Err(e) => e.status,
    };
    log(&state, &caller, r, &action, status, None).await?;
    let view = view?;
    let mut headers = HeaderMap::new();
    if let Ok(tag) = HeaderValue::from_str(&format!("\"{}\"", view.case.seq)) {
        headers.insert(header::ETAG, tag);
    }
    Ok((StatusCode::OK, headers, Json(view)).into_response())
}

/// A rejection's text on one line.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
