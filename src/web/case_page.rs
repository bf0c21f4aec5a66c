//! `GET /cases/{reference}`: a case's page. What it shows comes from the API's read
//! ([`case_view`], the read logged) and the events the reader may take now
//! ([`allowed_events`]): the next deadline first with why it falls then, a summary, one button
//! per event, the stage timeline, every deadline, the full history, linked cases and the
//! messages sent. An administrator first says why they read it (`?reason=`), and the access
//! log keeps it.

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use minijinja::{Value, context};
use serde_json::Value as Json;
use tower_sessions::Session;

use super::{Layout, local_time, signed_in_layout, take_notice, words};
use crate::access::policy::{self, CaseAction};
use crate::engine::CaseView;
use crate::http::AppState;
use crate::http::auth::{Caller, ClientIp};
use crate::http::cases::{ReadQuery, allowed_events, case_view};
use crate::http::error::ApiError;
use crate::ids::CaseRef;
use crate::store::{DeadlineRecord, DeadlineStatus};
use crate::workflow::describe::EventInfo;
use crate::workflow::{
    ActionKind, Definition, ENGINE, OPEN_EVENT, RoleKind, Slot, TimerKind, Workflows, lookup,
};

/// A dotted path of case data as words: `raised_by.agency` → `Raised by agency`.
fn path_words(path: &str) -> String {
    words(&path.replace('.', " "))
}

/// A state's title, or its name when this version of the workflow does not have it.
pub fn state_title(def: &Definition, name: &str) -> String {
    def.state(name)
        .map_or_else(|| name.to_string(), |s| s.title.clone())
}

/// Text as lines, for pages that keep what people typed on separate lines (no inline styles:
/// the CSP allows none).
pub fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::to_string).collect()
}

/// Who did something, as a page names them: the engine by what it is.
fn who(actor: &str) -> String {
    if actor == ENGINE {
        "escalate (automatically)".to_string()
    } else {
        actor.to_string()
    }
}

/// Whether the monitoring form applies to a case: it has entered a state that sends one.
pub fn form_applies(def: &Definition, view: &CaseView) -> bool {
    view.history.iter().any(|e| {
        def.state(&e.to_state).is_some_and(|s| {
            s.on_entry
                .iter()
                .any(|a| matches!(a.kind, ActionKind::Form))
        })
    })
}

/// A deadline's name: the stage's (or task's) title, a warning named as the one ahead of it.
fn deadline_label(def: &Definition, d: &DeadlineRecord) -> String {
    let title = match &d.slot {
        Slot::State(name) => state_title(def, name),
        Slot::Task(name) => def
            .task(name)
            .map_or_else(|| words(name), |t| t.title.clone()),
    };
    match d.kind {
        TimerKind::Lapse => title,
        TimerKind::Warning => format!("Warning ahead of: {title}"),
    }
}

/// Where a deadline stands, in words and a tag colour: a lapse that fired is lapsed.
fn deadline_status(d: &DeadlineRecord) -> (&'static str, &'static str) {
    match (d.status, d.kind) {
        (DeadlineStatus::Pending, _) => ("Pending", "govuk-tag--blue"),
        (DeadlineStatus::Met, _) => ("Met", "govuk-tag--green"),
        (DeadlineStatus::Fired, TimerKind::Lapse) => ("Lapsed", "govuk-tag--red"),
        (DeadlineStatus::Fired, TimerKind::Warning) => ("Warning sent", "govuk-tag--grey"),
        (DeadlineStatus::Cancelled, _) => ("Cancelled", "govuk-tag--grey"),
    }
}

/// The next deadline: the soonest pending lapse.
fn next_deadline(view: &CaseView) -> Option<&DeadlineRecord> {
    view.deadlines
        .iter()
        .filter(|d| d.status == DeadlineStatus::Pending && d.kind == TimerKind::Lapse)
        .min_by_key(|d| d.due_at)
}

/// One value of the opening data as text: yes/no for booleans, a choice as words.
fn data_value(def: &Definition, path: &str, value: &Json) -> String {
    match value {
        Json::String(s) if def.data.choices.contains_key(path) => words(s),
        Json::String(s) => s.clone(),
        Json::Bool(true) => "Yes".into(),
        Json::Bool(false) => "No".into(),
        Json::Null => String::new(),
        other => other.to_string(),
    }
}

/// The opening data as (label, lines) rows, dotted paths flattened, leaving out the parties
/// (shown with their roles).
fn data_rows(def: &Definition, data: &Json) -> Vec<Value> {
    let parties: Vec<&str> = def
        .roles
        .iter()
        .filter_map(|r| match &r.kind {
            RoleKind::Party { path } => Some(path.as_str()),
            RoleKind::Contact { .. } => None,
        })
        .collect();
    let mut rows = Vec::new();
    let mut stack: Vec<(String, &Json)> = vec![(String::new(), data)];
    while let Some((path, value)) = stack.pop() {
        match value {
            Json::Object(map) => {
                // Reversed onto the stack, so that they come out in order.
                for (k, v) in map.iter().rev() {
                    let inner = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    if !parties.contains(&inner.as_str()) {
                        stack.push((inner, v));
                    }
                }
            }
            value => rows.push(context! {
                key => path_words(&path),
                lines => lines(&data_value(def, &path, value)),
            }),
        }
    }
    rows
}

/// The parties the case names: each role's title, the person and their agency as the data
/// gives them.
fn party_rows(def: &Definition, data: &Json) -> Vec<Value> {
    def.roles
        .iter()
        .filter_map(|r| match &r.kind {
            RoleKind::Party { path } => {
                let get = |key: &str| {
                    lookup(data, &format!("{path}.{key}"))
                        .and_then(Json::as_str)
                        .unwrap_or_default()
                        .to_string()
                };
                let lines: Vec<String> = ["name", "agency", "email"]
                    .into_iter()
                    .map(get)
                    .filter(|v| !v.is_empty())
                    .collect();
                Some(context! { role => r.title.clone(), lines })
            }
            RoleKind::Contact { .. } => None,
        })
        .collect()
}

/// An entry's fields but its reason (shown apart), each a key and its lines.
fn entry_fields(e: &crate::store::EventRecord) -> Vec<Value> {
    let given = e.fields.iter().filter(|(k, _)| k.as_str() != "reason");
    given
        .map(|(k, v)| context! { key => words(k), lines => lines(v) })
        .collect()
}

/// The notice that a case changed while someone was looking, with the stage it is at now and
/// what to do `then`: nothing was recorded.
pub fn changed_notice(stage: &str, then: &str) -> Value {
    context! {
        success => false,
        heading => "This case changed while you were looking",
        text => format!("It is now at {stage}. Nothing was recorded: {then}."),
    }
}

/// What the page says of a message that failed, in place of why.
pub const NOT_DELIVERED: &str = "Not delivered; the service's operator can see why.";

/// What the page shows of a case, for `web/cases/show.html`.
pub struct CasePage<'a> {
    /// The workflow version the case runs on.
    pub def: &'a Definition,
    /// The case as read.
    pub view: &'a CaseView,
    /// The current workflows, for linked cases' titles.
    pub workflows: &'a Workflows,
    /// The events the reader may take now (none for a role that takes none).
    pub events: &'a [EventInfo],
    /// A notice to show once (kept by the form that led here).
    pub notice: Option<String>,
    /// Whether to say the case changed while the reader was looking (their form was for an
    /// earlier version, or an event it no longer takes).
    pub changed: bool,
    /// The time the page is drawn, for the deadline's tag.
    pub now: DateTime<Utc>,
    /// Appended to links that read the case again (an administrator's `?reason=`).
    pub read_query: String,
}

impl CasePage<'_> {
    /// The page's values.
    pub fn values(&self) -> Value {
        let (def, view) = (self.def, self.view);
        let case = &view.case;
        let zone: Tz = def.time_zone;
        let when = |t: DateTime<Utc>| local_time(t, zone);
        let reference = case.reference.as_str();
        let stage = state_title(def, &case.state);
        let next = next_deadline(view).map(|d| {
            let overdue = d.due_at <= self.now;
            context! {
                label => deadline_label(def, d),
                due => when(d.due_at),
                tag => super::cases::deadline_tag(overdue, Some(d.due_at), self.now, zone),
                explanation => lines(&d.explanation),
            }
        });
        let deadlines: Vec<Value> = view
            .deadlines
            .iter()
            .map(|d| {
                let (status, classes) = deadline_status(d);
                context! {
                    label => deadline_label(def, d),
                    due => when(d.due_at),
                    status,
                    classes,
                    late => d.late,
                    // A warning's explanation is its deadline's.
                    warning => d.kind == TimerKind::Warning,
                    ended => d.ended_at.map(when),
                    explanation => lines(&d.explanation),
                }
            })
            .collect();
        let timeline: Vec<Value> = view
            .history
            .iter()
            .filter(|e| e.event == OPEN_EVENT || e.from_state != e.to_state)
            .map(|e| {
                context! {
                    stage => state_title(def, &e.to_state),
                    when => when(e.at),
                    by => who(&e.actor),
                    event => def.event_title(&e.from_state, &e.event),
                    reason => e.reason.as_deref().map(lines),
                }
            })
            .collect();
        let history: Vec<Value> = view
            .history
            .iter()
            .map(|e| {
                context! {
                    seq => e.seq,
                    when => when(e.at),
                    written => (e.recorded_at - e.at > chrono::TimeDelta::minutes(1))
                        .then(|| when(e.recorded_at)),
                    by => who(&e.actor),
                    event => def.event_title(&e.from_state, &e.event),
                    from => (!e.from_state.is_empty() && e.from_state != e.to_state)
                        .then(|| state_title(def, &e.from_state)),
                    to => state_title(def, &e.to_state),
                    moved => e.from_state != e.to_state,
                    fields => entry_fields(e),
                    reason => e.reason.as_deref().map(lines),
                }
            })
            .collect();
        // A linked case's titles from its workflow's current version: a list needs no more.
        let other = |id: &str| self.workflows.get(id);
        let links: Vec<Value> = view
            .links
            .iter()
            .map(|l| {
                context! {
                    href => format!("/cases/{}{}", l.reference, self.read_query),
                    reference => l.reference.clone(),
                    relation => if l.relation == "opened" {
                        "Opened from this case"
                    } else {
                        "This case was opened from it"
                    },
                    workflow => other(&l.workflow).map_or_else(|| words(&l.workflow), |d| d.title.clone()),
                    state => other(&l.workflow).map_or_else(|| words(&l.state), |d| state_title(d, &l.state)),
                    closed => l.closed,
                    when => when(l.at),
                }
            })
            .collect();
        let messages: Vec<Value> = view
            .outbox
            .iter()
            .map(|m| {
                let to = match &m.recipient.missing {
                    Some(why) => format!("Nobody: {why}"),
                    None if m.recipient.name.is_empty() => m.recipient.email.clone(),
                    None => format!("{} ({})", m.recipient.name, m.recipient.email),
                };
                let status = match m.status.as_str() {
                    "sent" => "sent",
                    "failed" => "failed",
                    _ => "queued",
                };
                let kind = if m.kind == "form" {
                    "form, PDF attached"
                } else {
                    "email"
                };
                let mut detail = format!(
                    "To {}: {to}. {} {}.",
                    m.recipient.title,
                    words(status),
                    when(m.sent_at.unwrap_or(m.created_at))
                );
                // The delivery error itself (a database's error, a mail server's reply naming
                // hosts, a file's path) is for the operator, who sees it in `outbox list`.
                if m.status == "failed" {
                    detail.push_str(&format!(" {NOT_DELIVERED}"));
                }
                context! {
                    text => format!("{} ({kind})", words(&m.template)),
                    detail,
                }
            })
            .collect();
        let base = case_path(reference);
        let buttons: Vec<Value> = self
            .events
            .iter()
            .map(|e| {
                context! {
                    href => format!("{base}/events/{}", e.name),
                    text => e.title.clone(),
                }
            })
            .collect();
        let form = form_applies(def, view).then(|| {
            context! {
                href => format!("{base}/monitoring-form{}", self.read_query),
                record => self.events.iter().any(|e| e.name == "record_form")
                    .then(|| format!("{base}/events/record_form")),
            }
        });
        let notice = if self.changed {
            Some(changed_notice(
                &stage,
                "read what changed below, then act again if you still need to",
            ))
        } else {
            self.notice
                .as_ref()
                .map(|text| context! { success => true, heading => text })
        };
        let opened = view.history.first();
        context! {
            // The <title> carries no child details: the reference, workflow and stage only.
            title => format!("{reference}: {}, {stage}", def.title),
            reference,
            workflow => def.title.clone(),
            stage,
            closed => case.closed_at.map(when),
            outcome => case.outcome.as_deref().map(words),
            opened => when(case.opened_at),
            opened_by => opened.map(|e| who(&e.actor)),
            entered => when(case.entered_at),
            parties => party_rows(def, &case.data),
            details => data_rows(def, &case.data),
            next,
            deadlines,
            timeline,
            history,
            links,
            messages,
            buttons,
            form,
            notice,
        }
    }
}

/// The path of a case's page: where its event forms send the reader, and the page their
/// notices are kept for.
pub fn case_path(reference: &str) -> String {
    format!("/cases/{reference}")
}

/// The 404 page, for a reference that cannot be a case's: as for one that does not exist.
pub fn not_found(state: &AppState, layout: &Layout, reference: &str) -> Response {
    state.web.api_error(ApiError::no_case(reference), layout)
}

/// `?reason=…` for links that read the case again as an administrator; empty otherwise.
pub fn read_query(reason: Option<&str>) -> String {
    match reason {
        Some(r) if !r.trim().is_empty() => {
            format!(
                "?{}",
                serde_urlencoded::to_string([("reason", r.trim())]).unwrap_or_default()
            )
        }
        _ => String::new(),
    }
}

/// The read of a case by someone who must say why (an administrator): the form asking, with
/// `problem` when what they gave would not do.
pub fn reason_form(
    state: &AppState,
    layout: &Layout,
    action: &str,
    reference: &str,
    problem: Option<&str>,
) -> Response {
    let errors: Vec<Value> = problem
        .map(|text| context! { text, href => "#reason" })
        .into_iter()
        .collect();
    state.web.render(
        StatusCode::OK,
        "web/cases/reason.html",
        layout,
        context! {
            title => "Why are you reading this case?",
            action,
            reference,
            errors,
        },
    )
}

/// What an administrator's reason must be, said when it is blank or will not do.
pub const REASON_PROBLEM: &str =
    "Enter why you are reading this case, in one line of at most 500 characters";

/// Reads case `reference` for a page: the view, or the page to answer instead (the reason
/// form, a 404, an error). Shared by the case page and the monitoring form.
pub async fn read_for_page(
    state: &AppState,
    layout: &Layout,
    caller: &Caller,
    reference: &CaseRef,
    reason: Option<&str>,
    action: &str,
) -> Result<CaseView, Response> {
    let must_say_why = policy::reason_required(caller.user.role, CaseAction::Read);
    if must_say_why && reason.is_none() {
        return Err(reason_form(state, layout, action, reference.as_str(), None));
    }
    match case_view(state, caller, reference.as_str(), reason).await {
        Ok(view) => Ok(view),
        // For an administrator, a refusal before the case is looked up is the reason's.
        Err(e) if must_say_why && e.status == StatusCode::FORBIDDEN => Err(reason_form(
            state,
            layout,
            action,
            reference.as_str(),
            Some(REASON_PROBLEM),
        )),
        Err(e) => Err(state.web.api_error(e, layout)),
    }
}

/// A request for one of a case's pages (the case page, the monitoring form): the client's
/// address, the session, the reference in the path (`None` when it cannot be a case's) and an
/// administrator's `?reason=`.
pub struct CaseRequest {
    ip: Option<std::net::IpAddr>,
    /// The session.
    pub session: Session,
    reference: Option<CaseRef>,
    reason: Option<String>,
}

impl FromRequestParts<AppState> for CaseRequest {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Ok(ClientIp(ip)) = ClientIp::from_request_parts(parts, state).await;
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let path = Path::<String>::from_request_parts(parts, state).await;
        let query = Query::<ReadQuery>::from_request_parts(parts, state).await;
        Ok(CaseRequest {
            ip,
            session,
            reference: path.ok().and_then(|Path(text)| CaseRef::parse(&text).ok()),
            reason: query.ok().and_then(|Query(q)| q.reason),
        })
    }
}

/// A case read for one of its pages: who reads it, as what layout, and the administrator's
/// reason they gave.
pub struct ReadPage {
    /// The page's layout.
    pub layout: Layout,
    /// Who reads it.
    pub caller: Caller,
    /// The case.
    pub view: CaseView,
    /// The reason given (an administrator's), for links that read the case again.
    pub reason: Option<String>,
    /// The workflow version the case runs on.
    pub def: std::sync::Arc<Definition>,
}

impl ReadPage {
    /// Reads `reference` for `caller`, for a page: the case and its workflow version, or the
    /// page to answer instead (the reason form for `action`, a 404).
    pub async fn load(
        state: &AppState,
        layout: Layout,
        caller: Caller,
        reference: &CaseRef,
        reason: Option<&str>,
        action: &str,
    ) -> Result<ReadPage, Response> {
        let view = read_for_page(state, &layout, &caller, reference, reason, action).await?;
        let def = state
            .engine
            .definition(&view.case.workflow, &view.case.workflow_hash)
            .await
            .map_err(|e| state.web.api_error(e.into(), &layout))?;
        Ok(ReadPage {
            layout,
            caller,
            view,
            reason: reason.map(str::to_string),
            def,
        })
    }
}

impl CaseRequest {
    /// Reads the case for its page at `/cases/{reference}{suffix}`: the case, or the page to
    /// answer instead (sign in, the reason form, a 404).
    pub async fn read(&self, state: &AppState, suffix: &str) -> Result<ReadPage, Response> {
        let (layout, user) = signed_in_layout(state, &self.session, "/").await?;
        let Some(reference) = &self.reference else {
            return Err(not_found(state, &layout, ""));
        };
        let caller = super::caller(user, self.ip);
        let action = format!("/cases/{}{suffix}", reference.as_str());
        let reason = self.reason.as_deref();
        ReadPage::load(state, layout, caller, reference, reason, &action).await
    }
}

/// `GET /cases/{reference}?reason`: the case page; signed out, 303 to sign in.
pub async fn show(State(state): State<AppState>, request: CaseRequest) -> Response {
    match request.read(&state, "").await {
        Ok(read) => page(&state, &request.session, read, false).await,
        Err(page) => page,
    }
}

/// The case page of a case read, with the events the reader may take now: saying the case
/// `changed` while they were looking (409: their form was for an earlier version), or else
/// showing the notice a form kept for it.
pub async fn page(state: &AppState, session: &Session, read: ReadPage, changed: bool) -> Response {
    let ReadPage {
        layout,
        caller,
        view,
        reason,
        def,
    } = read;
    let (layout, caller, reason) = (&layout, &caller, reason.as_deref());
    // A role that takes no events is not asked (its refusal would be logged as an attempt).
    let events = if policy::acts_on_cases(caller.user.role) {
        match allowed_events(state, caller, &view.case.reference).await {
            Ok((allowed, _)) => allowed.events,
            Err(e) => return state.web.api_error(e, layout),
        }
    } else {
        Vec::new()
    };
    // A notice that cannot be read is only lost: the page matters more.
    let notice = if changed {
        None
    } else {
        take_notice(session, &case_path(&view.case.reference))
            .await
            .ok()
            .flatten()
    };
    let page = CasePage {
        def: &def,
        view: &view,
        workflows: state.engine.workflows(),
        events: &events,
        notice,
        changed,
        now: Utc::now(),
        read_query: read_query(reason),
    };
    let status = if changed {
        StatusCode::CONFLICT
    } else {
        StatusCode::OK
    };
    state
        .web
        .render(status, "web/cases/show.html", layout, page.values())
}
