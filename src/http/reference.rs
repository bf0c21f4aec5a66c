//! Reference data for clients: the workflows (what a UI needs to draw forms and buttons) and
//! the agency directory's agencies. Any signed-in user may read them: they hold no case data.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};

use super::AppState;
use super::auth::Caller;
use super::error::ApiError;
use crate::workflow::describe;

/// `GET /api/v1/workflows`: each current workflow's summary.
pub async fn workflows(State(state): State<AppState>, _caller: Caller) -> Json<Value> {
    Json(
        state
            .engine
            .workflows()
            .iter()
            .map(describe::summary)
            .collect(),
    )
}

/// `GET /api/v1/workflows/{name}`: one workflow whole.
pub async fn workflow(
    State(state): State<AppState>,
    _caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    state
        .engine
        .workflows()
        .get(&name)
        .map(|def| Json(describe::describe(def)))
        .ok_or_else(|| {
            ApiError::new(
                axum::http::StatusCode::NOT_FOUND,
                "not_found",
                format!(
                    "no workflow '{}'",
                    crate::text::for_terminal(&name)
                        .chars()
                        .take(80)
                        .collect::<String>()
                ),
            )
        })
}

/// `GET /api/v1/agencies`: the directory's agencies by id and name (not its contacts'
/// addresses, which only the engine needs).
pub async fn agencies(
    State(state): State<AppState>,
    _caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let directory = state.engine.store().directory().await?;
    Ok(Json(
        directory
            .agencies
            .iter()
            .map(|a| json!({ "id": a.id, "name": a.name }))
            .collect(),
    ))
}

/// Query of `GET /api/v1/calendar/due`.
#[derive(Debug, serde::Deserialize)]
pub struct DueQuery {
    /// Receipt time, RFC 3339.
    pub from: String,
    /// `N working days`, `N calendar days` or `N hours`.
    pub after: String,
    /// `england-and-wales`, `scotland` or `northern-ireland` [default: the configured one].
    pub division: Option<String>,
}

/// `GET /api/v1/calendar/due?from&after&division`: when a deadline falls, and why, on the
/// server's calendar (its bank holidays and closures).
pub async fn due(
    State(state): State<AppState>,
    _caller: Caller,
    q: Result<axum::extract::Query<DueQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let axum::extract::Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    use crate::calendar::{Division, Duration};
    let from = chrono::DateTime::parse_from_rfc3339(q.from.trim())
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| {
            ApiError::bad_request(format!(
                "from is not an RFC 3339 time ({e}); write e.g. 2024-12-24T18:00:00Z"
            ))
        })?;
    let after: Duration = q
        .after
        .parse()
        .map_err(|e: crate::calendar::DurationError| ApiError::bad_request(e.to_string()))?;
    let calendar = state.engine.calendar();
    let division = match &q.division {
        Some(d) => d
            .parse::<Division>()
            .map_err(|e| ApiError::bad_request(e.to_string()))?,
        None => state.division,
    };
    let deadline = calendar
        .due(from, after, division)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(Json(json!(
        calendar.answer(&deadline, from, after, division)
    )))
}

/// `GET /api/v1/reports/monthly/{YYYY-MM}`: the board's report of a month (JSON, exact
/// figures), for the board, the partnership and administrators.
pub async fn monthly_report(
    State(state): State<AppState>,
    caller: Caller,
    Path(month): Path<String>,
) -> Result<Json<Value>, ApiError> {
    if !crate::access::policy::may_read_reports(caller.user.role) {
        return Err(ApiError::forbidden(
            "the monthly report is for the board, the partnership and administrators",
        ));
    }
    let month: crate::report::Month = month
        .parse()
        .map_err(|e: crate::report::ReportError| ApiError::bad_request(e.to_string()))?;
    let report = crate::report::monthly_job(&state.engine, month)
        .await
        .map_err(|e| match e {
            crate::report::ReportError::Store(e) => ApiError::from(e),
            e => ApiError::bad_request(e.to_string()),
        })?;
    Ok(Json(json!(report)))
}
