//! `GET /`: My cases, the signed-in user's cases nearest deadline first, from the same list
//! as the API's `GET /api/v1/cases` ([`case_list`]), with filters by workflow and stage, a
//! search by reference, and pages.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Days, Utc};
use chrono_tz::Tz;
use minijinja::{Value, context};
use serde::Serialize;
use tower_sessions::Session;

use super::signed_in_layout;
use crate::http::AppState;
use crate::http::auth::{Caller, ClientIp};
use crate::http::lists::{CaseItem, CasesQuery, case_list};

/// A case as the table shows it.
#[derive(Debug, Serialize)]
struct Row {
    reference: String,
    href: String,
    workflow: String,
    state: String,
    due: Option<String>,
    tag: Option<Tag>,
}

/// A GOV.UK tag: its text and colour class.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tag {
    /// What it says.
    pub text: &'static str,
    /// E.g. `govuk-tag--red`.
    pub classes: &'static str,
}

/// How urgent a case's next deadline is: red when a deadline has passed unmet, orange when
/// the next one falls today and yellow tomorrow (dates in `zone`, the workflow's).
pub fn deadline_tag(
    overdue: bool,
    next_due: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    zone: Tz,
) -> Option<Tag> {
    if overdue {
        return Some(Tag {
            text: "Overdue",
            classes: "govuk-tag--red",
        });
    }
    let day = next_due?.with_timezone(&zone).date_naive();
    let today = now.with_timezone(&zone).date_naive();
    if day == today {
        Some(Tag {
            text: "Due today",
            classes: "govuk-tag--orange",
        })
    } else if Some(day) == today.checked_add_days(Days::new(1)) {
        Some(Tag {
            text: "Due tomorrow",
            classes: "govuk-tag--yellow",
        })
    } else {
        None
    }
}

/// `govukPagination`'s parameters for page `page` of `pages`, each link keeping `filters`;
/// none for a single page. Shows the first, the last, and the pages either side of this one.
pub fn pagination(page: i64, pages: i64, filters: &[(&str, &str)]) -> Option<Value> {
    if pages <= 1 {
        return None;
    }
    let href = |n: i64| {
        let mut pairs: Vec<(&str, String)> = filters
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (*k, v.to_string()))
            .collect();
        pairs.push(("page", n.to_string()));
        format!(
            "/?{}",
            serde_urlencoded::to_string(&pairs).unwrap_or_default()
        )
    };
    let mut items = Vec::new();
    let mut last_shown = 0;
    for n in 1..=pages {
        if n == 1 || n == pages || (n - page).abs() <= 1 {
            if n > last_shown + 1 {
                items.push(context! { ellipsis => true });
            }
            items.push(context! { number => n, href => href(n), current => n == page });
            last_shown = n;
        }
    }
    let previous = (page > 1).then(|| context! { href => href(page - 1) });
    let next = (page < pages).then(|| context! { href => href(page + 1) });
    Some(context! { items, previous, next })
}

/// A select's options: "all" first, then each (value, text), the chosen one selected.
fn options(all: &str, choices: Vec<(String, String)>, chosen: &str) -> Vec<Value> {
    std::iter::once(context! { value => "", text => all, selected => chosen.is_empty() })
        .chain(
            choices
                .into_iter()
                .map(|(value, text)| context! { selected => value == chosen, value, text }),
        )
        .collect()
}

/// `GET /?workflow&state&q&page`: My cases; signed out, 303 to the sign-in page, and for a
/// role without cases, 303 to its own start page.
pub async fn my_cases(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    session: Session,
    query: Result<Query<CasesQuery>, QueryRejection>,
) -> Response {
    let (layout, user) = match signed_in_layout(&state, &session, "/").await {
        Ok(both) => both,
        Err(page) => return page,
    };
    // A role with no cases (a board member, an administrator) starts on its own page.
    if !crate::access::policy::lists_cases(user.role) {
        return axum::response::Redirect::to(super::home(user.role)).into_response();
    }
    let Ok(Query(mut query)) = query else {
        return state.web.error(
            StatusCode::BAD_REQUEST,
            &layout,
            "There is a problem with the filters",
            &["Choose the filters again."],
        );
    };
    query.overdue = None;
    query.per_page = None;
    let caller = Caller {
        user,
        address: ip.map(|ip| ip.to_string()),
    };
    let now = Utc::now();
    let list = match case_list(&state, &caller, &query, now).await {
        Ok(list) => list,
        Err(e) => return state.web.api_error(e, &layout),
    };
    let workflows = state.engine.workflows();
    let chosen_workflow = query.workflow.as_deref().unwrap_or("").trim();
    let chosen_state = query.state.as_deref().unwrap_or("").trim();
    let q = query.q.as_deref().unwrap_or("").trim();
    let mut stages: Vec<(String, String)> = Vec::new();
    for def in workflows
        .iter()
        .filter(|d| chosen_workflow.is_empty() || d.id == chosen_workflow)
    {
        for s in &def.states {
            if !stages.iter().any(|(name, _)| *name == s.name) {
                stages.push((s.name.clone(), s.title.clone()));
            }
        }
    }
    let rows: Vec<Row> = list
        .cases
        .iter()
        .map(|c: &CaseItem| {
            let def = workflows.get(&c.workflow);
            let zone = def.map_or(chrono_tz::Europe::London, |d| d.time_zone);
            let due = c.next_deadline.as_ref().map(|d| d.due_at);
            Row {
                reference: c.reference.clone(),
                href: format!("/cases/{}", c.reference),
                workflow: def.map_or_else(|| c.workflow.clone(), |d| d.title.clone()),
                state: def
                    .and_then(|d| d.states.iter().find(|s| s.name == c.state))
                    .map_or_else(|| c.state.clone(), |s| s.title.clone()),
                due: due.map(|t| super::local_time(t, zone)),
                tag: deadline_tag(c.overdue, due, now, zone),
            }
        })
        .collect();
    let first = (list.paging.page - 1) * list.paging.per_page + 1;
    let summary = match list.paging.total {
        1 => "1 case".to_string(),
        total => format!(
            "Showing {first} to {} of {total} cases",
            first + rows.len() as i64 - 1
        ),
    };
    let filters = [
        ("workflow", chosen_workflow),
        ("state", chosen_state),
        ("q", q),
    ];
    let page = context! {
        title => "My cases",
        workflows => options(
            "All workflows",
            workflows.iter().map(|d| (d.id.clone(), d.title.clone())).collect(),
            chosen_workflow,
        ),
        states => options("All stages", stages, chosen_state),
        q,
        cases => rows,
        summary,
        filtered => filters.iter().any(|(_, v)| !v.is_empty()),
        pagination => pagination(list.paging.page, list.paging.pages, &filters),
    };
    state
        .web
        .render(StatusCode::OK, "web/cases/index.html", &layout, page)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn tags_say_overdue_today_and_tomorrow_in_the_workflows_zone() {
        let london = chrono_tz::Europe::London;
        // 23:30 UTC on 30 June is 00:30 on 1 July in London (BST).
        let now = at("2026-06-30T23:30:00Z");
        let tag = |due: &str| deadline_tag(false, Some(at(due)), now, london).map(|t| t.text);
        assert_eq!(tag("2026-07-01T16:00:00Z"), Some("Due today"));
        assert_eq!(
            tag("2026-06-30T22:59:00Z"),
            None,
            "30 June in London: passed"
        );
        assert_eq!(tag("2026-07-01T23:30:00Z"), Some("Due tomorrow"));
        assert_eq!(tag("2026-07-02T23:30:00Z"), None);
        let red = deadline_tag(true, None, now, london).unwrap();
        assert_eq!(red.classes, "govuk-tag--red");
        assert_eq!(deadline_tag(false, None, now, london), None);
    }

    #[test]
    fn pages_keep_the_filters_and_elide_the_middle() {
        assert!(pagination(1, 1, &[]).is_none());
        let p = pagination(
            5,
            9,
            &[("workflow", "dispute"), ("q", "a b"), ("state", "")],
        )
        .unwrap();
        let items: Vec<String> = p
            .get_attr("items")
            .unwrap()
            .try_iter()
            .unwrap()
            .map(|i| {
                if i.get_attr("ellipsis").unwrap().is_true() {
                    "…".to_string()
                } else {
                    i.get_attr("number").unwrap().to_string()
                }
            })
            .collect();
        assert_eq!(items, ["1", "…", "4", "5", "6", "…", "9"]);
        let next = p.get_attr("next").unwrap().get_attr("href").unwrap();
        assert_eq!(next.to_string(), "/?workflow=dispute&q=a+b&page=6");
        let first = pagination(1, 2, &[]).unwrap();
        assert!(first.get_attr("previous").unwrap().is_none());
    }
}
