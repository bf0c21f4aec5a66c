//! Reference data for clients: the workflows (what a UI needs to draw forms and buttons) and
//! the agency directory's agencies. Any signed-in user may read them: they hold no case data.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ErrorBody};
use super::extract::{Path, Query};
use super::openapi::{BadRequest, Forbidden, Internal, NeedsToken, NotFound};
use crate::calendar::DueAnswer;
use crate::report::MonthlyReport;
use crate::workflow::describe::{self, WorkflowInfo, WorkflowSummary};

/// `GET /api/v1/workflows`: each current workflow's summary.
#[utoipa::path(
    get,
    path = "/api/v1/workflows",
    tag = "reference",
    operation_id = "list_workflows",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Each current workflow's summary.", body = Vec<WorkflowSummary>),
        NeedsToken
    )
)]
pub async fn workflows(
    State(state): State<AppState>,
    _caller: Caller,
) -> Json<Vec<WorkflowSummary>> {
    Json(
        state
            .engine
            .workflows()
            .iter()
            .map(describe::summary)
            .collect(),
    )
}

/// The `{name}` path parameter.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct WorkflowPath {
    /// The workflow's id, e.g. `dispute`.
    #[param(example = "dispute")]
    pub name: String,
}

/// `GET /api/v1/workflows/{name}`: one workflow whole.
#[utoipa::path(
    get,
    path = "/api/v1/workflows/{name}",
    tag = "reference",
    operation_id = "read_workflow",
    params(WorkflowPath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The current version of the workflow: its roles, opening \
            data, starting states, states with their deadlines and events.", body = WorkflowInfo),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        NeedsToken
    )
)]
pub async fn workflow(
    State(state): State<AppState>,
    _caller: Caller,
    Path(WorkflowPath { name }): Path<WorkflowPath>,
) -> Result<Json<WorkflowInfo>, ApiError> {
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

/// An agency of the directory.
#[derive(Debug, Serialize, ToSchema)]
pub struct Agency {
    /// Its id, e.g. `riverside-primary`: what case data names.
    pub id: String,
    /// Its name.
    pub name: String,
}

/// `GET /api/v1/agencies`: the directory's agencies by id and name (not its contacts'
/// addresses, which only the engine needs).
#[utoipa::path(
    get,
    path = "/api/v1/agencies",
    tag = "reference",
    operation_id = "list_agencies",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The directory's agencies.", body = Vec<Agency>),
        NeedsToken
    )
)]
pub async fn agencies(
    State(state): State<AppState>,
    _caller: Caller,
) -> Result<Json<Vec<Agency>>, ApiError> {
    let directory = state.engine.store().directory().await?;
    Ok(Json(
        directory
            .agencies
            .iter()
            .map(|a| Agency {
                id: a.id.clone(),
                name: a.name.clone(),
            })
            .collect(),
    ))
}

/// Query of `GET /api/v1/calendar/due`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DueQuery {
    /// Receipt time, RFC 3339.
    #[param(format = DateTime, example = "2024-12-24T18:00:00Z")]
    pub from: String,
    /// `N working days`, `N calendar days` or `N hours` (N from 1).
    #[param(
        pattern = "^0*[1-9][0-9]{0,8} (working days?|calendar days?|hours?)$",
        example = "1 working day"
    )]
    pub after: String,
    /// `england-and-wales`, `scotland` or `northern-ireland` [default: the server's].
    #[param(value_type = crate::calendar::Division, required = false)]
    pub division: Option<String>,
}

/// `GET /api/v1/calendar/due?from&after&division`: when a deadline falls, and why, on the
/// server's calendar (its bank holidays and closures).
#[utoipa::path(
    get,
    path = "/api/v1/calendar/due",
    tag = "reference",
    operation_id = "calendar_due",
    params(DueQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "When the deadline falls, and why.", body = DueAnswer),
        (status = 400, response = BadRequest),
        (status = 422, description = "A deadline the calendar cannot count: one that falls outside \
            the years it knows (1990 to 2099).", body = ErrorBody),
        NeedsToken
    )
)]
pub async fn due(
    State(state): State<AppState>,
    _caller: Caller,
    Query(q): Query<DueQuery>,
) -> Result<Json<DueAnswer>, ApiError> {
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
    // Well formed, but beyond the calendar's years.
    let deadline = calendar.due(from, after, division).map_err(|e| {
        ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "out_of_range",
            e.to_string(),
        )
    })?;
    Ok(Json(calendar.answer(&deadline, from, after, division)))
}

/// The `{month}` path parameter.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct MonthPath {
    /// The month, `YYYY-MM`, from 1900-01 to 9998-12.
    #[param(
        pattern = "^(19[0-9]{2}|[2-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])-(0[1-9]|1[0-2])$",
        example = "2026-10"
    )]
    pub month: String,
}

/// `GET /api/v1/reports/monthly/{YYYY-MM}`: the board's report of a month (JSON, exact
/// figures), for the board, the partnership and administrators.
#[utoipa::path(
    get,
    path = "/api/v1/reports/monthly/{month}",
    tag = "reports",
    operation_id = "monthly_report",
    params(MonthPath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The month's report, exact figures (nothing suppressed).",
            body = MonthlyReport),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 500, response = Internal),
        NeedsToken
    )
)]
pub async fn monthly_report(
    State(state): State<AppState>,
    caller: Caller,
    Path(MonthPath { month }): Path<MonthPath>,
) -> Result<Json<MonthlyReport>, ApiError> {
    if !crate::access::policy::may_read_reports(caller.user.role) {
        return Err(report_forbidden());
    }
    let month: crate::report::Month = month
        .parse()
        .map_err(|e: crate::report::ReportError| ApiError::bad_request(e.to_string()))?;
    monthly(&state, &caller.user, month).await.map(Json)
}

fn report_forbidden() -> ApiError {
    ApiError::forbidden("the monthly report is for the board, the partnership and administrators")
}

/// `month`'s report for `user`, if their role may read reports: what the API's and the web
/// UI's report pages show.
pub async fn monthly(
    state: &AppState,
    user: &crate::store::UserRecord,
    month: crate::report::Month,
) -> Result<MonthlyReport, ApiError> {
    if !crate::access::policy::may_read_reports(user.role) {
        return Err(report_forbidden());
    }
    crate::report::monthly_job(&state.engine, month)
        .await
        .map_err(|e| match e {
            crate::report::ReportError::Store(e) => ApiError::from(e),
            crate::report::ReportError::BadMonth(_) => ApiError::bad_request(e.to_string()),
            crate::report::ReportError::Render(_) => {
                tracing::error!("{e}");
                ApiError::new(
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the report cannot be made now; the operator has been told",
                )
            }
        })
}
