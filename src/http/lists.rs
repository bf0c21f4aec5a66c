//! The caller's lists: `GET /api/v1/cases` (their cases, nearest deadline first) and
//! `GET /api/v1/deadlines` (the deadlines of those cases, soonest first). Which cases a list
//! may hold is [`policy::case_scope`]: exactly the cases [`policy::case_verdict`] lets the
//! caller read, each checked again before it is shown. Every case a list shows is recorded in
//! the access log, as a read is.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::Caller;
use super::error::ApiError;
use super::extract::Query;
use super::openapi::{BadRequest, Forbidden, NeedsToken};
use crate::access::policy::{self, CaseAction, Verdict};
use crate::directory::Directory;
use crate::store::{
    AccessEntry, CaseQuery, CaseScope, DeadlineQuery, DeadlineRecord, ListedCase, StoreError,
    overdue,
};

/// Rows a page holds unless `per_page` says otherwise.
pub const PER_PAGE: i64 = 20;
/// The most rows one page may hold.
pub const MAX_PER_PAGE: i64 = 100;
/// The longest search text accepted.
const MAX_SEARCH: usize = 200;

/// Query of `GET /api/v1/cases`. Every value arrives as text so that a bad one is answered
/// with what is wrong with it; the document gives each its type.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CasesQuery {
    /// Only this workflow (one `GET /api/v1/workflows` lists; another is 400).
    #[param(value_type = String, required = false, example = "dispute")]
    pub workflow: Option<String>,
    /// Only cases in this state; blank, any.
    #[param(value_type = String, required = false, schema_with = filter_100)]
    pub state: Option<String>,
    /// `true`: only open cases with a deadline passed and not met.
    #[param(value_type = bool, required = false)]
    pub overdue: Option<String>,
    /// Only cases whose reference, or a party's email or agency, contains this; blank, any.
    #[param(value_type = String, required = false, schema_with = search)]
    pub q: Option<String>,
    /// Page number, from 1.
    #[param(value_type = i64, required = false, minimum = 1, maximum = 1000000)]
    pub page: Option<String>,
    /// Rows per page, 1 to 100 (default 20).
    #[param(value_type = i64, required = false, minimum = 1, maximum = 100)]
    pub per_page: Option<String>,
}

/// Query of `GET /api/v1/deadlines`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeadlinesQuery {
    /// Only deadlines due before this time (RFC 3339); blank, any.
    #[param(value_type = String, required = false, schema_with = blank_or_time)]
    pub due_before: Option<String>,
    /// `true`: only lapses passed and not met.
    #[param(value_type = bool, required = false)]
    pub overdue: Option<String>,
    /// Page number, from 1.
    #[param(value_type = i64, required = false, minimum = 1, maximum = 1000000)]
    pub page: Option<String>,
    /// Rows per page, 1 to 100 (default 20).
    #[param(value_type = i64, required = false, minimum = 1, maximum = 100)]
    pub per_page: Option<String>,
}

/// The schema of a filter of at most 100 characters.
fn filter_100() -> utoipa::openapi::Object {
    super::openapi::one_line(0, 100)
}

/// The schema of the search text.
fn search() -> utoipa::openapi::Object {
    super::openapi::one_line(0, MAX_SEARCH)
}

/// The schema of an optional time: RFC 3339, or blank.
fn blank_or_time() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{
        AnyOfBuilder, KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type,
    };
    Schema::AnyOf(
        AnyOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))),
            )
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(crate::text::blank_pattern())),
            )
            .build(),
    )
}

/// Where a page stands among all the rows.
#[derive(Debug, Serialize, ToSchema)]
pub struct Paging {
    /// This page's number, from 1.
    pub page: i64,
    /// Rows a page holds.
    pub per_page: i64,
    /// Rows on every page together.
    pub total: i64,
    /// How many pages there are.
    pub pages: i64,
}

/// A case as a list shows it: no opening data, only what finds and orders it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CaseItem {
    /// E.g. `DSP-2026-000042`.
    pub reference: String,
    /// Its workflow.
    pub workflow: String,
    /// Its state.
    pub state: String,
    /// The raising party's agency.
    pub agency: Option<String>,
    /// Opened.
    pub opened_at: DateTime<Utc>,
    /// Closed, if so.
    pub closed_at: Option<DateTime<Utc>>,
    /// A closed case's outcome.
    pub outcome: Option<String>,
    /// Its nearest pending deadline, if any.
    pub next_deadline: Option<DeadlineRecord>,
    /// Whether a deadline of it has passed and not been met.
    pub overdue: bool,
    /// The case: `/api/v1/cases/{reference}`.
    pub href: String,
}

/// A page of `GET /api/v1/cases`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CasePage {
    /// Where the page stands.
    #[serde(flatten)]
    pub paging: Paging,
    /// The cases, nearest deadline first.
    pub cases: Vec<CaseItem>,
}

/// A deadline as `GET /api/v1/deadlines` shows it, with its case.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeadlineItem {
    /// The case's reference.
    pub reference: String,
    /// Its workflow.
    pub workflow: String,
    /// Its state.
    pub state: String,
    /// The deadline.
    pub deadline: DeadlineRecord,
    /// Whether it has passed and not been met.
    pub overdue: bool,
    /// The case: `/api/v1/cases/{reference}`.
    pub href: String,
}

/// A page of `GET /api/v1/deadlines`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeadlinePage {
    /// Where the page stands.
    #[serde(flatten)]
    pub paging: Paging,
    /// The deadlines, soonest first.
    pub deadlines: Vec<DeadlineItem>,
}

/// The page asked for: its number, its size and the rows it skips.
struct PageAsk {
    page: i64,
    per_page: i64,
}

impl PageAsk {
    fn parse(page: Option<&str>, per_page: Option<&str>) -> Result<Self, ApiError> {
        let number = |name: &str, text: Option<&str>, default: i64, max: i64| match text {
            None => Ok(default),
            Some(t) => t
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| {
                    ApiError::bad_request(format!("{name} must be a whole number from 1 to {max}"))
                }),
        };
        Ok(PageAsk {
            page: number("page", page, 1, 1_000_000)?,
            per_page: number("per_page", per_page, PER_PAGE, MAX_PER_PAGE)?,
        })
    }

    fn offset(&self) -> i64 {
        (self.page - 1) * self.per_page
    }

    /// The paging part of an answer.
    fn answer(&self, total: i64) -> Paging {
        Paging {
            page: self.page,
            per_page: self.per_page,
            total,
            pages: (total + self.per_page - 1) / self.per_page,
        }
    }
}

/// `true` or `false`.
fn flag(name: &str, text: Option<&str>) -> Result<bool, ApiError> {
    match text.map(str::trim) {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(ApiError::bad_request(format!(
            "{name} must be true or false"
        ))),
    }
}

/// A filter's text: one line, at most `max` characters, blank meaning none.
fn filter_text(name: &str, text: Option<&str>, max: usize) -> Result<Option<String>, ApiError> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    crate::text::single_line(text, max)
        .map_err(|e| ApiError::bad_request(format!("{name}: {e}")))?;
    Ok(Some(text.to_string()))
}

/// The cases the caller's lists may hold, or 403 for a role that reads no case in a list.
pub(crate) async fn scope(state: &AppState, caller: &Caller) -> Result<CaseScope, ApiError> {
    Ok(scope_by_directory(state, caller).await?.0)
}

/// [`scope`], with the directory it was decided by.
async fn scope_by_directory(
    state: &AppState,
    caller: &Caller,
) -> Result<(CaseScope, Directory), ApiError> {
    let directory = state.engine.store().directory().await?;
    let workflows: Vec<_> = state.engine.workflows().iter().collect();
    let scope = policy::case_scope(
        caller.user.role,
        &caller.user.email,
        caller.user.agency.as_deref(),
        &workflows,
        &directory,
    )
    .ok_or_else(|| {
        ApiError::forbidden(
            "your role lists no cases: board members read the monthly reports; administrators read one case at a time, with a reason",
        )
    })?;
    Ok((scope, directory))
}

/// The cases of `ids` the caller may read by `directory`, as a check on the scope the list was
/// drawn with (a case on an older workflow version may give other roles), in the order of
/// `ids`, overdue decided at `now`; each recorded in the access log as `action`.
async fn readable(
    state: &AppState,
    caller: &Caller,
    ids: &[i64],
    action: &str,
    directory: &Directory,
    now: DateTime<Utc>,
) -> Result<Vec<ListedCase>, ApiError> {
    let store = state.engine.store();
    let mut shown = Vec::with_capacity(ids.len());
    let by_role = policy::role_verdict(caller.user.role, CaseAction::Read);
    for case in store.listed_cases(ids, now, by_role.is_none()).await? {
        let verdict = match by_role {
            Some(verdict) => verdict,
            None => {
                let damaged = |what: String| {
                    StoreError::Damaged(format!("case {}'s opening data: {what}", case.reference))
                };
                let text = case
                    .data
                    .as_deref()
                    .ok_or_else(|| damaged("not read".into()))?;
                let data = serde_json::from_str(text).map_err(|e| damaged(e.to_string()))?;
                let (verdict, _, _) = super::cases::verdict_on(
                    state,
                    caller,
                    (&case.workflow, &case.workflow_hash, &data),
                    directory,
                    CaseAction::Read,
                )
                .await?;
                verdict
            }
        };
        if verdict == Verdict::Allow {
            shown.push(case);
        } else {
            tracing::warn!(
                case_id = case.id,
                "a list's scope held a case its reader may not see"
            );
        }
    }
    // When they were shown (`now` may be earlier: it decides what is overdue).
    let shown_at = Utc::now();
    let entries: Vec<AccessEntry> = shown
        .iter()
        .map(|c| AccessEntry {
            at: shown_at,
            user_id: Some(caller.user.id),
            email: caller.user.email.clone(),
            reference: c.reference.clone(),
            action: action.into(),
            status: StatusCode::OK.as_u16(),
            address: caller.address.clone(),
            reason: None,
        })
        .collect();
    // Nothing is shown unless its showing is recorded.
    store.log_access(&entries).await?;
    Ok(shown)
}

/// A case as a list shows it: no opening data, only what finds and orders it.
fn case_item(case: ListedCase) -> CaseItem {
    CaseItem {
        href: format!("/api/v1/cases/{}", case.reference),
        reference: case.reference,
        workflow: case.workflow,
        state: case.state,
        agency: case.agency,
        opened_at: case.opened_at,
        closed_at: case.closed_at,
        outcome: case.outcome,
        next_deadline: case.next,
        overdue: case.overdue,
    }
}

/// `GET /api/v1/cases?workflow&state&overdue&q&page&per_page`: the caller's cases, the
/// nearest pending deadline first (cases with none last), with the total.
#[utoipa::path(
    get,
    path = "/api/v1/cases",
    tag = "cases",
    operation_id = "list_cases",
    params(CasesQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of the caller's cases, the nearest pending \
            deadline first (cases with none last), with the total. Each case shown is recorded \
            in its access log.", body = CasePage),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        NeedsToken
    )
)]
pub async fn cases(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<CasesQuery>,
) -> Result<Json<CasePage>, ApiError> {
    Ok(Json(case_list(&state, &caller, &query, Utc::now()).await?))
}

/// The caller's cases as `query` filters them, the nearest pending deadline first (cases with
/// none last), each recorded in the access log: the one list behind `GET /api/v1/cases` and
/// the web UI's My cases. `now` decides what is overdue.
pub async fn case_list(
    state: &AppState,
    caller: &Caller,
    query: &CasesQuery,
    now: DateTime<Utc>,
) -> Result<CasePage, ApiError> {
    let ask = PageAsk::parse(query.page.as_deref(), query.per_page.as_deref())?;
    let workflow = filter_text("workflow", query.workflow.as_deref(), 100)?;
    if let Some(w) = &workflow
        && state.engine.workflows().get(w).is_none()
    {
        let known: Vec<&str> = state
            .engine
            .workflows()
            .iter()
            .map(|d| d.id.as_str())
            .collect();
        return Err(ApiError::bad_request(format!(
            "no workflow '{}'; there are: {}",
            crate::text::for_terminal(w),
            known.join(", ")
        )));
    }
    // The directory that decides the scope also checks each case shown: one read of it.
    let (scope, directory) = scope_by_directory(state, caller).await?;
    let page = state
        .engine
        .store()
        .case_page(&CaseQuery {
            scope,
            workflow,
            state: filter_text("state", query.state.as_deref(), 100)?,
            overdue_at: flag("overdue", query.overdue.as_deref())?.then_some(now),
            text: filter_text("q", query.q.as_deref(), MAX_SEARCH)?,
            offset: ask.offset(),
            limit: ask.per_page,
        })
        .await?;
    let cases = readable(state, caller, &page.items, "list", &directory, now)
        .await?
        .into_iter()
        .map(case_item)
        .collect();
    Ok(CasePage {
        paging: ask.answer(page.total),
        cases,
    })
}

/// `GET /api/v1/deadlines?due_before&overdue&page&per_page`: the pending deadlines of the
/// caller's open cases (or with `overdue=true`, the lapses passed and not met), soonest first.
#[utoipa::path(
    get,
    path = "/api/v1/deadlines",
    tag = "cases",
    operation_id = "list_deadlines",
    params(DeadlinesQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of the deadlines of the caller's cases, soonest \
            first, with the total. Each case shown is recorded in its access log.",
            body = DeadlinePage),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        NeedsToken
    )
)]
pub async fn deadlines(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<DeadlinesQuery>,
) -> Result<Json<DeadlinePage>, ApiError> {
    let ask = PageAsk::parse(query.page.as_deref(), query.per_page.as_deref())?;
    let due_before = match query.due_before.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(t) => Some(
            DateTime::parse_from_rfc3339(t)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| {
                    ApiError::bad_request(format!(
                        "due_before is not an RFC 3339 time ({e}); write e.g. 2026-12-01T17:00:00Z"
                    ))
                })?,
        ),
    };
    let now = Utc::now();
    let scope = scope(&state, &caller).await?;
    let (rows, total) = deadline_rows(
        &state,
        &caller,
        &DeadlineQuery {
            scope,
            due_before,
            overdue_at: flag("overdue", query.overdue.as_deref())?.then_some(now),
            offset: ask.offset(),
            limit: ask.per_page,
        },
        "list",
        now,
    )
    .await?;
    let deadlines = rows
        .into_iter()
        .map(|(d, case)| {
            let open = case.closed_at.is_none().then_some(case.state.as_str());
            DeadlineItem {
                overdue: overdue(&d, open, now),
                href: format!("/api/v1/cases/{}", case.reference),
                reference: case.reference.clone(),
                workflow: case.workflow.clone(),
                state: case.state.clone(),
                deadline: d,
            }
        })
        .collect();
    Ok(Json(DeadlinePage {
        paging: ask.answer(total),
        deadlines,
    }))
}

/// The deadlines `query` asks for, each with its case, soonest first, and how many the whole
/// list holds (a case with several deadlines shared between them), overdue decided at `now`;
/// each case shown is recorded in the access log as `action`.
pub(crate) async fn deadline_rows(
    state: &AppState,
    caller: &Caller,
    query: &DeadlineQuery,
    action: &str,
    now: DateTime<Utc>,
) -> Result<(Vec<(DeadlineRecord, Arc<ListedCase>)>, i64), ApiError> {
    let store = state.engine.store();
    let page = store.deadline_page(query).await?;
    let mut deadlines = store.deadlines_by_id(&page.items).await?;
    let order: HashMap<i64, usize> = page
        .items
        .iter()
        .enumerate()
        .map(|(i, id)| (*id, i))
        .collect();
    deadlines.sort_by_key(|d| order.get(&d.id).copied());
    let mut case_ids: Vec<i64> = deadlines.iter().map(|d| d.case_id).collect();
    case_ids.sort_unstable();
    case_ids.dedup();
    let directory = store.directory().await?;
    let cases: HashMap<i64, Arc<ListedCase>> =
        readable(state, caller, &case_ids, action, &directory, now)
            .await?
            .into_iter()
            .map(|c| (c.id, Arc::new(c)))
            .collect();
    let rows = deadlines
        .into_iter()
        .filter_map(|d| cases.get(&d.case_id).map(|c| (d, Arc::clone(c))))
        .collect();
    Ok((rows, page.total))
}
