//! `/api/v1/cases`: reading cases, as the access policy allows, each read in the access log.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;

use super::AppState;
use super::auth::Caller;
use super::error::ApiError;
use crate::access::policy::{self, CaseAction, Verdict};
use crate::ids::CaseRef;
use crate::store::{AccessEntry, CaseRecord};
use crate::text;

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
