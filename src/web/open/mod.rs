//! Opening a case in the web UI. `GET`/`POST /cases/new`: what to open (each workflow);
//! `GET`/`POST /cases/new/{workflow}`: the form generated from the workflow's data
//! ([`fields`]); `GET`/`POST /cases/new/{workflow}/check`: check your answers, with the stage
//! the case starts at and its first deadlines as the engine would set them now, then open.
//!
//! No draft table: between the steps the answers wait in the session (for the Change links),
//! and the check page's form carries them as hidden fields, read and checked again when
//! confirmed, with an idempotency key made when the page was drawn, so that a double submit
//! opens one case. Previewing and opening are the API's own functions
//! ([`preview_case`], [`open_case`]), under the same policy and access log.

pub mod fields;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::SecondsFormat;
use minijinja::{Value, context};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use super::csrf::CsrfForm;
use super::session::SessionFault;
use super::{Layout, local_time, role_layout};
use crate::access::policy;
use crate::directory::Directory;
use crate::engine::{OpenPreview, PreviewDeadline};
use crate::http::AppState;
use crate::http::auth::{Caller, ClientIp};
use crate::http::cases::{OpenRequest, open_case, parse_key, preview_case};
use crate::http::error::ApiError;
use crate::workflow::{Definition, TimerKind, lookup};
use fields::{Answers, Input, OpenForm, Problem, START, START_REASON, Widget};

/// Where the session keeps the answers between the form and the check page.
const DRAFT: &str = "open_case_draft";
/// The check page's hidden idempotency key.
const KEY: &str = "key";
/// The navigation item of these pages.
const NAV: &str = "/cases/new";

/// Answers waiting for the check page, and for the Change links back to the form.
#[derive(Debug, Serialize, Deserialize)]
struct Draft {
    workflow: String,
    answers: Answers,
}

/// The layout and the caller of a page that opens cases, or the page that refuses them:
/// signed out, to sign in; a role that opens no cases, 403.
async fn opener(
    state: &AppState,
    session: &Session,
    ip: Option<std::net::IpAddr>,
) -> Result<(Layout, Caller), Response> {
    let (layout, user) = role_layout(
        state,
        session,
        NAV,
        policy::may_open,
        "Practitioners, managers and the partnership open cases.",
    )
    .await?;
    let address = ip.map(|ip| ip.to_string());
    Ok((layout, Caller { user, address }))
}

/// The page for a workflow that does not exist.
fn no_workflow(state: &AppState, layout: &Layout) -> Response {
    state.web.api_error(
        ApiError::new(StatusCode::NOT_FOUND, "not_found", ""),
        layout,
    )
}

/// One workflow's form for one request: who opens the case, the workflow, its form, and the
/// directory its agencies come from.
struct Opening<'a> {
    state: &'a AppState,
    layout: Layout,
    caller: Caller,
    def: &'a Definition,
    form: OpenForm,
    directory: Directory,
}

impl<'a> Opening<'a> {
    /// Workflow `name` opened by the signed-in user, or the page that refuses it (signed out,
    /// a role that opens nothing, no such workflow).
    async fn start(
        state: &'a AppState,
        session: &Session,
        ip: Option<std::net::IpAddr>,
        name: &str,
    ) -> Result<Opening<'a>, Response> {
        let (layout, caller) = opener(state, session, ip).await?;
        let Some(def) = state.engine.workflows().get(name) else {
            return Err(no_workflow(state, &layout));
        };
        let directory = match state.engine.store().directory().await {
            Ok(directory) => directory,
            Err(e) => return Err(state.web.api_error(e.into(), &layout)),
        };
        Ok(Opening {
            form: OpenForm::new(def, &directory),
            state,
            layout,
            caller,
            def,
            directory,
        })
    }

    /// The request `answers` make, or their problems.
    fn read(&self, answers: &Answers) -> Result<OpenRequest, Vec<Problem>> {
        self.form
            .read(&self.def.id, self.def, &self.directory, answers)
    }

    /// The form again with the engine's refusal of `request` on it, or the page of any other
    /// error.
    fn refused(&self, request: &OpenRequest, answers: &Answers, e: ApiError) -> Response {
        match refusal(&self.form, request, e) {
            Ok(problems) => self.page(answers, &problems),
            Err(e) => self.state.web.api_error(e, &self.layout),
        }
    }
}

/// The chooser, with `error` when nothing was chosen.
fn chooser(state: &AppState, layout: &Layout, error: Option<&str>) -> Response {
    let items: Vec<Value> = state
        .engine
        .workflows()
        .iter()
        .map(|d| {
            context! {
                value => d.id,
                text => d.title,
                hint => context! { text => d.description.trim() },
            }
        })
        .collect();
    let errors: Vec<Value> = error
        .map(|text| context! { text, href => "#workflow" })
        .into_iter()
        .collect();
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    state.web.render(
        status,
        "web/cases/new.html",
        layout,
        context! { title => "What do you want to open?", items, errors },
    )
}

/// `GET /cases/new`: what to open, each workflow with its description.
pub async fn choose(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    session: Session,
) -> Response {
    match opener(&state, &session, ip).await {
        Ok((layout, _)) => chooser(&state, &layout, None),
        Err(page) => page,
    }
}

/// What the chooser sends.
#[derive(Debug, Deserialize)]
pub struct Chosen {
    #[serde(default)]
    workflow: String,
}

/// `POST /cases/new`: 303 to the chosen workflow's form, or the chooser again with an error.
pub async fn chosen(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    session: Session,
    CsrfForm(form): CsrfForm<Chosen>,
) -> Response {
    let (layout, _) = match opener(&state, &session, ip).await {
        Ok(both) => both,
        Err(page) => return page,
    };
    match state.engine.workflows().get(form.workflow.trim()) {
        Some(def) => Redirect::to(&format!("/cases/new/{}", def.id)).into_response(),
        None => chooser(&state, &layout, Some("Select what you want to open")),
    }
}

/// The query of the form page: `?change=1` from a Change link keeps the answers given.
#[derive(Debug, Deserialize)]
pub struct FormQuery {
    change: Option<String>,
}

/// The session's answers for `workflow`, if it holds some.
async fn draft(session: &Session, workflow: &str) -> Result<Option<Answers>, SessionFault> {
    Ok(session
        .get::<Draft>(DRAFT)
        .await?
        .filter(|d| d.workflow == workflow)
        .map(|d| d.answers))
}

/// `GET /cases/new/{workflow}`: the form, the opener's own details filled in; from a Change
/// link, the answers given.
pub async fn form(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    session: Session,
    Path(name): Path<String>,
    query: Result<Query<FormQuery>, QueryRejection>,
) -> Response {
    let op = match Opening::start(&state, &session, ip, &name).await {
        Ok(op) => op,
        Err(page) => return page,
    };
    let change = query.is_ok_and(|Query(q)| q.change.is_some());
    let kept = if change {
        match draft(&session, &op.def.id).await {
            Ok(kept) => kept,
            Err(e) => return e.page(&state),
        }
    } else {
        None
    };
    let user = &op.caller.user;
    let answers = kept.unwrap_or_else(|| {
        op.form.prefilled(
            &user.name,
            &user.email,
            user.agency.as_deref(),
            &op.directory,
        )
    });
    op.page(&answers, &[])
}

/// An input as the form template draws it: with its value (a date's parts), its options
/// (a select's first one empty), and `error` beside it.
fn input_view(input: &Input, answers: &Answers, error: Option<String>) -> Value {
    let value = |name: &str| answers.get(name).cloned().unwrap_or_default();
    let chosen = value(&input.name);
    let choices = input.choices.iter();
    let options: Vec<Value> = if input.widget == Widget::Select {
        let none = context! { value => "", text => "Select one", selected => chosen.is_empty() };
        std::iter::once(none)
            .chain(choices.map(|c| {
                context! { value => c.value, text => c.text, selected => c.value == chosen }
            }))
            .collect()
    } else {
        choices
            .map(|c| context! { value => c.value, text => c.text })
            .collect()
    };
    let parts: Vec<Value> = ["day", "month", "year"]
        .iter()
        .map(|part| {
            let width = if *part == "year" { 4 } else { 2 };
            context! {
                name => part,
                value => value(&format!("{}-{part}", input.name)),
                classes => format!("govuk-input--width-{width}"),
            }
        })
        .collect();
    context! { value => chosen, options, parts, error, ..Value::from_serialize(input) }
}

impl Opening<'_> {
    /// The form with `answers` in its inputs and `problems` above and beside them (422 then).
    fn page(&self, answers: &Answers, problems: &[Problem]) -> Response {
        let (state, layout, def, form) = (self.state, &self.layout, self.def, &self.form);
        let error_at = |id: &str| {
            problems
                .iter()
                .find(|p| p.href == format!("#{id}") || p.href == format!("#{id}-day"))
                .map(|p| p.text.clone())
        };
        let groups: Vec<Value> = form
            .groups
            .iter()
            .map(|group| {
                let inputs: Vec<Value> = group
                    .inputs
                    .iter()
                    .map(|input| input_view(input, answers, error_at(&input.id)))
                    .collect();
                context! { legend => group.legend, inputs }
            })
            .collect();
        let starts: Vec<Value> = form
            .starts
            .iter()
            .map(|s| {
                context! {
                    value => s.value, text => s.text,
                    hint => s.hint.as_ref().map(|text| context! { text }),
                }
            })
            .collect();
        let status = if problems.is_empty() {
            StatusCode::OK
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        };
        state.web.render(
            status,
            "web/cases/form.html",
            layout,
            context! {
                title => def.title,
                action => format!("/cases/new/{}", def.id),
                groups,
                starts,
                start => answers.get(START).cloned().unwrap_or_else(|| {
                    form.starts.first().map(|s| s.value.clone()).unwrap_or_default()
                }),
                start_error => error_at(START),
                start_reason => answers.get(START_REASON),
                reason_error => error_at(START_REASON),
                errors => problems,
            },
        )
    }
}

/// Why the engine refused a request the form found sound, as a problem on the form: who
/// opens it (not a party or a contact of a party's agency) at the opener's email address,
/// anything else the workflow refuses at the starting stage. Other errors stay errors.
fn refusal(form: &OpenForm, request: &OpenRequest, e: ApiError) -> Result<Vec<Problem>, ApiError> {
    if e.status == StatusCode::FORBIDDEN {
        Ok(vec![Problem {
            href: form.opener_href(),
            text: e.message,
        }])
    } else if e.status == StatusCode::UNPROCESSABLE_ENTITY && e.code == "refused" {
        Ok(vec![Problem {
            href: form.start_href(request),
            text: e.message,
        }])
    } else {
        Err(e)
    }
}

/// `POST /cases/new/{workflow}`: the form again with every problem, or (the answers kept in
/// the session) 303 to check them.
pub async fn submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    session: Session,
    Path(name): Path<String>,
    CsrfForm(answers): CsrfForm<Answers>,
) -> Response {
    let op = match Opening::start(&state, &session, ip, &name).await {
        Ok(op) => op,
        Err(page) => return page,
    };
    let answers = op.form.kept(&answers);
    let request = match op.read(&answers) {
        Ok(request) => request,
        Err(problems) => return op.page(&answers, &problems),
    };
    // What the engine would refuse (who may open it, the stage's conditions) shows here, on
    // the form, rather than after the check page.
    if let Err(e) = preview_case(&state, &op.caller, request.clone()).await {
        return op.refused(&request, &answers, e);
    }
    let draft = Draft {
        workflow: op.def.id.clone(),
        answers,
    };
    if let Err(e) = session.insert(DRAFT, draft).await {
        return SessionFault::from(e).page(&state);
    }
    Redirect::to(&format!("/cases/new/{}/check", op.def.id)).into_response()
}

/// `GET /cases/new/{workflow}/check`: the answers kept in the session, checked again, with
/// the stage the case would start at and its deadlines as opening it now would set them;
/// a form carrying the answers and a new idempotency key to confirm. With no answers kept,
/// 303 to the form.
pub async fn check(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    session: Session,
    Path(name): Path<String>,
) -> Response {
    let op = match Opening::start(&state, &session, ip, &name).await {
        Ok(op) => op,
        Err(page) => return page,
    };
    let answers = match draft(&session, &op.def.id).await {
        Ok(Some(answers)) => answers,
        Ok(None) => return Redirect::to(&format!("/cases/new/{}", op.def.id)).into_response(),
        Err(e) => return e.page(&state),
    };
    let request = match op.read(&answers) {
        Ok(request) => request,
        Err(problems) => return op.page(&answers, &problems),
    };
    match preview_case(&state, &op.caller, request.clone()).await {
        Ok(preview) => op.check_page(&answers, &request, preview),
        Err(e) => op.refused(&request, &answers, e),
    }
}

impl Opening<'_> {
    /// Check your answers: `request` (read from `answers`) as people read it, with Change
    /// links, what opening it would do (`preview`), and the form that confirms it.
    fn check_page(
        &self,
        answers: &Answers,
        request: &OpenRequest,
        preview: OpenPreview,
    ) -> Response {
        let def = self.def;
        let change = format!("/cases/new/{}?change=1", def.id);
        let row = |key: &str, lines: Vec<String>, anchor: &str, what: &str| {
            context! {
                key => context! { text => key },
                lines,
                actions => context! { items => vec![context! {
                    href => format!("{change}#{anchor}"),
                    text => "Change",
                    visuallyHiddenText => what,
                }]},
            }
        };
        let sections: Vec<Value> = self
            .form
            .groups
            .iter()
            .map(|group| {
                let rows: Vec<Value> = group
                    .inputs
                    .iter()
                    .map(|input| {
                        let shown = lookup(&request.data, &input.path)
                            .map_or_else(|| "Not given".to_string(), |v| input.show(v));
                        let anchor = if input.widget == Widget::Date {
                            format!("{}-day", input.id)
                        } else {
                            input.id.clone()
                        };
                        row(
                            &input.label,
                            shown.lines().map(str::to_string).collect(),
                            &anchor,
                            &input.full,
                        )
                    })
                    .collect();
                context! { heading => group.legend.as_deref().unwrap_or("The case"), rows }
            })
            .collect();
        let mut start_rows = Vec::new();
        if !self.form.starts.is_empty() {
            start_rows.push(row(
                "Starting stage",
                vec![self.form.start_title(def, request.start.as_deref())],
                START,
                "the starting stage",
            ));
            if let Some(reason) = &request.reason {
                start_rows.push(row(
                    "Why it starts there",
                    reason.lines().map(str::to_string).collect(),
                    START_REASON,
                    "why it starts there",
                ));
            }
        }
        let deadlines = deadline_items(def, preview.deadlines);
        let hidden: Vec<Value> = self
            .form
            .names()
            .into_iter()
            .filter_map(|name| {
                answers
                    .get(&name)
                    .filter(|v| !v.is_empty())
                    .map(|value| context! { name, value })
            })
            .collect();
        let starts_at = def
            .state(&preview.state)
            .map_or(preview.state.as_str(), |s| s.title.as_str());
        self.state.web.render(
            StatusCode::OK,
            "web/cases/check.html",
            &self.layout,
            context! {
                title => "Check your answers before opening the case",
                workflow => def.title,
                action => format!("/cases/new/{}/check", def.id),
                sections,
                start_rows,
                starts_at,
                deadlines,
                hidden,
                key => crate::access::credentials::random_hex(16),
            },
        )
    }
}

/// The deadlines opening a case would set, soonest first, as the check page shows them: each
/// with when it falls, why, and the reminder that goes out before it (a reminder's
/// explanation is its deadline's, so it is not repeated).
fn deadline_items(def: &Definition, mut deadlines: Vec<PreviewDeadline>) -> Vec<Value> {
    deadlines.sort_by_key(|d| d.due_at);
    let when = |d: &PreviewDeadline| {
        context! {
            due => local_time(d.due_at, def.time_zone),
            datetime => d.due_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        }
    };
    let has_lapse = |d: &PreviewDeadline| {
        deadlines
            .iter()
            .any(|l| l.kind == TimerKind::Lapse && l.slot == d.slot)
    };
    deadlines
        .iter()
        .filter(|d| d.kind == TimerKind::Lapse || !has_lapse(d))
        .map(|d| {
            let reminders: Vec<Value> = deadlines
                .iter()
                .filter(|r| {
                    d.kind == TimerKind::Lapse && r.kind == TimerKind::Warning && r.slot == d.slot
                })
                .map(when)
                .collect();
            context! {
                what => if d.kind == TimerKind::Lapse { "Deadline" } else { "Reminder" },
                slot => def.slot_title(&d.slot),
                explanation => d.explanation.lines().collect::<Vec<_>>(),
                reminders,
                ..when(d)
            }
        })
        .collect()
}

/// `POST /cases/new/{workflow}/check`: opens the case the carried answers (checked again)
/// describe, once per idempotency key, as the signed-in user; 303 to the case. Answers the
/// engine now refuses go back to the form with the problem.
pub async fn confirm(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    session: Session,
    Path(name): Path<String>,
    CsrfForm(mut answers): CsrfForm<Answers>,
) -> Response {
    let op = match Opening::start(&state, &session, ip, &name).await {
        Ok(op) => op,
        Err(page) => return page,
    };
    let key = answers.remove(KEY).unwrap_or_default();
    let Ok(key) = parse_key(key.as_bytes()) else {
        return state.web.error(
            StatusCode::BAD_REQUEST,
            &op.layout,
            "Sorry, this form could not be read",
            &["Go back to the form, check your answers and try again."],
        );
    };
    let answers = op.form.kept(&answers);
    let request = match op.read(&answers) {
        Ok(request) => request,
        Err(problems) => return op.page(&answers, &problems),
    };
    let opened = match open_case(&state, &op.caller, &request, Some(key)).await {
        Ok((view, _replayed)) => view,
        Err(e) if e.code == "idempotency_key_reused" => {
            return state.web.error(
                StatusCode::UNPROCESSABLE_ENTITY,
                &op.layout,
                "This form has already been used",
                &[
                    "A case was opened from it with other answers.",
                    "Check My cases before you open another.",
                ],
            );
        }
        Err(e) => return op.refused(&request, &answers, e),
    };
    // The case is open: a session that cannot forget the answers must not make it look
    // otherwise (they go when the session ends).
    if let Err(e) = session.remove::<Draft>(DRAFT).await {
        tracing::error!("a case was opened but its answers stay in the session: {e}");
    }
    Redirect::to(&format!("/cases/{}", opened.case.reference)).into_response()
}
