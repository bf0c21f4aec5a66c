//! Each person's iCalendar feed of their deadlines: `GET /calendar/{token}.ics`, fetched by a
//! calendar program without signing in (the token in the address is the credential, and it
//! signs in nowhere else), and `POST`/`DELETE /api/v1/calendar/feed` to make or revoke it.
//! The feed holds what `GET /api/v1/deadlines` would show its owner, recorded in the access
//! log as `calendar`; the events name the case and the stage, never the child.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::{Caller, ClientIp};
use super::error::{ApiError, ErrorBody};
use super::extract::Path;
use super::lists::{deadline_rows, scope};
use super::openapi::{Forbidden, NeedsToken, Unavailable};
use crate::access::credentials::{self, token_hash};
use crate::ics::{self, FeedEvent};
use crate::store::{DeadlineQuery, DeadlineRecord};
use crate::workflow::TimerKind;

/// The most deadlines a feed holds (the soonest).
pub const FEED_LIMIT: i64 = 500;

/// What `POST /api/v1/calendar/feed` answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct FeedAddress {
    /// The feed's address, shown only now: `{base_url}/calendar/{token}.ics`.
    pub url: String,
}

/// `POST /api/v1/calendar/feed`: a new feed address for the caller, replacing the one they
/// had (which stops working). 201 with `url`, shown once.
#[utoipa::path(
    post,
    path = "/api/v1/calendar/feed",
    tag = "calendar feed",
    operation_id = "create_feed",
    security(("bearer" = [])),
    responses(
        (status = 201, description = "A new feed address, replacing the caller's last one.",
            body = FeedAddress,
            headers(("Location" = String, description = "The feed's address."))),
        (status = 403, response = Forbidden),
        NeedsToken
    )
)]
pub async fn create(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let url = make_feed(&state, &caller).await?;
    let location = HeaderValue::from_str(&url);
    let mut response = (StatusCode::CREATED, Json(FeedAddress { url })).into_response();
    if let Ok(location) = location {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// A new feed for `caller`, replacing the one they had (which stops working): its address,
/// which only this answer holds. Shared by the API and the web UI's My page.
pub async fn make_feed(state: &AppState, caller: &Caller) -> Result<String, ApiError> {
    // Only someone whose lists hold cases has deadlines to feed.
    scope(state, caller).await?;
    let token = credentials::new_feed_token();
    state
        .engine
        .store()
        .replace_feed(caller.user.id, &token.hash, Utc::now())
        .await?;
    Ok(format!(
        "{}/calendar/{}.ics",
        state.base_url.trim_end_matches('/'),
        token.secret
    ))
}

/// Revokes `caller`'s feed: its address answers 404 from now on; 404 when they had none.
/// Shared by the API and the web UI's My page.
pub async fn revoke_feed(state: &AppState, caller: &Caller) -> Result<(), ApiError> {
    if state
        .engine
        .store()
        .revoke_feed(caller.user.id, Utc::now())
        .await?
    {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "you have no calendar feed",
        ))
    }
}

/// `DELETE /api/v1/calendar/feed`: revokes the caller's feed; 204, or 404 when they had none.
#[utoipa::path(
    delete,
    path = "/api/v1/calendar/feed",
    tag = "calendar feed",
    operation_id = "revoke_feed",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Revoked: its address answers 404 from now on."),
        (status = 404, description = "The caller has no feed.", body = ErrorBody),
        NeedsToken
    )
)]
pub async fn revoke(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    revoke_feed(&state, &caller).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The `{file}` path parameter of a feed.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct FeedPath {
    /// `{token}.ics`, from `POST /api/v1/calendar/feed`: the address is the credential.
    pub file: String,
}

/// `GET /calendar/{token}.ics`: the feed. An unknown or revoked address is 404.
#[utoipa::path(
    get,
    path = "/calendar/{file}",
    tag = "calendar feed",
    operation_id = "calendar_feed",
    params(FeedPath),
    responses(
        (status = 200, description = "The owner's deadlines as iCalendar (RFC 5545), soonest \
            first; never the child's name.", body = String, content_type = "text/calendar"),
        (status = 404, description = "No such feed (unknown or revoked).", body = ErrorBody),
        (status = 503, response = Unavailable)
    )
)]
pub async fn feed(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path(FeedPath { file }): Path<FeedPath>,
) -> Result<Response, ApiError> {
    // No failure count here: a feed's address is 256 random bits, nothing to guess, and a
    // revoked one is still fetched for a while by calendar services from addresses many
    // people share, which a count would lock out.
    let unknown = || ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such calendar");
    let token = file
        .strip_suffix(".ics")
        .filter(|t| credentials::is_feed_token(t))
        .ok_or_else(unknown)?;
    let user = state
        .engine
        .store()
        .feed_user(&token_hash(token), Utc::now())
        .await?
        .ok_or_else(unknown)?;
    let caller = Caller {
        user,
        address: ip.map(|ip| ip.to_string()),
    };
    let events = match scope(&state, &caller).await {
        // Their role no longer lists cases: an empty calendar, not an error a program retries.
        // Anything else (the database down) is an error: an empty calendar would make calendar
        // programs delete every deadline.
        Err(e) if e.status == StatusCode::FORBIDDEN => Vec::new(),
        Err(e) => return Err(e),
        Ok(scope) => {
            let query = DeadlineQuery {
                scope,
                due_before: None,
                overdue_at: None,
                offset: 0,
                limit: FEED_LIMIT,
            };
            let (rows, _) = deadline_rows(&state, &caller, &query, "calendar", Utc::now()).await?;
            let mut events = Vec::with_capacity(rows.len());
            for (deadline, case) in rows {
                let def = state
                    .engine
                    .definition(&case.workflow, &case.workflow_hash)
                    .await?;
                events.push(event(&state.base_url, &deadline, &case.reference, &def));
            }
            events
        }
    };
    let body = ics::calendar("escalate: my deadlines", &events, Utc::now());
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/calendar; charset=utf-8"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("inline; filename=\"escalate.ics\""),
            ),
        ],
        body,
    )
        .into_response())
}

/// A deadline as an event: its case, its stage or task, what falls due, and why then.
fn event(
    base_url: &str,
    deadline: &DeadlineRecord,
    reference: &str,
    def: &crate::workflow::Definition,
) -> FeedEvent {
    let slot = def.slot_title(&deadline.slot);
    let what = match deadline.kind {
        TimerKind::Warning => "deadline near",
        TimerKind::Lapse => "deadline",
    };
    let url = format!("{}/cases/{reference}", base_url.trim_end_matches('/'));
    FeedEvent {
        uid: format!("deadline-{}@escalate", deadline.id),
        start: deadline.due_at,
        summary: format!("{reference}: {what}, {slot}"),
        description: format!("{}\n{url}", deadline.explanation),
        url,
    }
}
