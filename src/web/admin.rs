//! `/admin`: the administrator's pages. Users (list, add, disable), API tokens (list, make one
//! shown once, revoke), the agency directory (list, replace from pasted YAML) and the
//! workflows with their kept versions. Only `admin` sees them ([`policy::may_administer`]);
//! every change goes through [`crate::access::admin`], as the command line's do, and so is in
//! the admin record that `/admin` lists.

use std::path::Path;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use minijinja::{Value, context};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use super::csrf::CsrfForm;
use super::{Layout, role_layout, set_notice, take_notice, words};
use crate::access::admin::{self, Actor, AdminError, Problem, UserInput};
use crate::access::{BadRole, MAX_NAME, Role, policy};
use crate::http::AppState;
use crate::http::auth::ClientIp;
use crate::store::UserRecord;
use crate::text::TextError;

/// The admin pages' routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin", get(index))
        .route("/admin/users", get(users))
        .route("/admin/users/new", get(new_user).post(add_user))
        .route("/admin/users/disable", post(disable_user))
        .route("/admin/tokens", get(tokens))
        .route("/admin/tokens/new", get(new_token).post(create_token))
        .route("/admin/tokens/revoke", post(revoke_token))
        .route("/admin/agencies", get(agencies))
        .route(
            "/admin/agencies/import",
            get(import_form).post(import_agencies),
        )
        .route("/admin/workflows", get(workflows))
}

/// The layout of an admin page; the 403 page for anyone but an administrator.
async fn admin_layout(
    state: &AppState,
    session: &Session,
) -> Result<(Layout, UserRecord), Response> {
    role_layout(
        state,
        session,
        "/admin",
        policy::may_administer,
        "These pages are for administrators.",
    )
    .await
}

/// Unwraps `Ok`, or returns the `Err` response from the handler.
macro_rules! page_or_return {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(page) => return page,
        }
    };
}

/// A time as the pages show it: London time, e.g. `26 Nov 2026, 09:14`.
fn when(t: DateTime<Utc>) -> String {
    t.with_timezone(&chrono_tz::Europe::London)
        .format("%-d %b %Y, %H:%M")
        .to_string()
}

/// `senior_manager` → `Senior manager`.
fn role_title(role: Role) -> String {
    words(role.as_str())
}

/// A name's problem in words, for the field called `what`.
fn name_problem(what: &str, e: &TextError) -> String {
    match e {
        TextError::TooLong { max, .. } => format!("{what} must be {max} characters or fewer"),
        e => format!("{what} {e}"),
    }
}

/// A problem as a form shows it: the id of the field it is about and what to do.
fn field_problem(p: &Problem) -> (&'static str, String) {
    match p {
        Problem::Email(_) => (
            "email",
            "Enter an email address in the correct format, like name@example.org".into(),
        ),
        Problem::Role(BadRole(word)) if word.is_empty() => ("role", "Select a role".into()),
        Problem::Role(_) => ("role", "Select a role from the list".into()),
        Problem::Name(e) => ("name", name_problem("Name", e)),
        Problem::Agency(_) => ("agency", "Select an agency from the directory".into()),
        Problem::Password(e) => ("password", words(&e.to_string())),
        Problem::Exists(_) => (
            "email",
            "A user with this email address exists already".into(),
        ),
        Problem::NoUser(_) => ("email", "There is no user with this email address".into()),
        Problem::AlreadyDisabled(_) => ("email", "This user is disabled already".into()),
        Problem::Disabled(_) => (
            "email",
            "This user is disabled: tokens are made only for users who may sign in".into(),
        ),
        Problem::Yourself => ("email", "You cannot disable your own account".into()),
        Problem::LastAdmin(_) => (
            "email",
            "This is the last administrator who can sign in: add another administrator before disabling them".into(),
        ),
        Problem::TokenName(e) => ("token_name", name_problem("The token's name", e)),
        Problem::TokenNameEmpty => ("token_name", "Enter a name for the token".into()),
        Problem::Expires(_) => (
            "expires",
            format!(
                "Enter a number of days from 1 to {}",
                crate::access::credentials::MAX_TOKEN_DAYS
            ),
        ),
        Problem::NoToken(_) => ("token", "There is no such token".into()),
        Problem::AlreadyRevoked(_) => ("token", "This token is revoked already".into()),
        Problem::Directory(message) => (
            "directory",
            format!("The directory cannot be imported: {message}"),
        ),
        // Not about one field: the summary links to the form's first.
        Problem::FormKey => (
            "email",
            "This form is out of date: check the details and make the token again".into(),
        ),
        Problem::Repeated(made) => (
            "email",
            format!("This form made {made} already: its secret was shown once"),
        ),
    }
}

/// The problems as an error summary's list and each field's message: `renamed` maps a
/// problem's field to this form's (the token form picks its user from a list).
fn form_errors(problems: &[Problem], renamed: &[(&str, &'static str)]) -> (Vec<Value>, Value) {
    let mut summary = Vec::new();
    let mut by_field = std::collections::BTreeMap::new();
    for p in problems {
        let (field, text) = field_problem(p);
        let field = renamed
            .iter()
            .find(|(from, _)| *from == field)
            .map_or(field, |(_, to)| to);
        summary.push(context! { text => text.clone(), href => format!("#{field}") });
        by_field
            .entry(field)
            .or_insert_with(|| context! { text => text });
    }
    (summary, Value::from_serialize(&by_field))
}

/// What an action's failure shows: the problems on the form (400), or the error page.
enum Failure {
    Problems(Vec<Problem>),
    Page(Response),
}

fn failure(state: &AppState, layout: &Layout, e: AdminError) -> Failure {
    match e {
        AdminError::Problems(problems) => Failure::Problems(problems),
        AdminError::Store(e) => Failure::Page(state.web.api_error(e.into(), layout)),
        AdminError::Hash(message) => {
            tracing::error!("hashing a password failed: {message}");
            Failure::Page(state.web.error(
                StatusCode::INTERNAL_SERVER_ERROR,
                layout,
                "Sorry, there is a problem with the service",
                &["Try again later."],
            ))
        }
    }
}

/// The page for a database failure.
fn store_failed(state: &AppState, layout: &Layout, e: crate::store::StoreError) -> Response {
    state.web.api_error(e.into(), layout)
}

/// The notice kept for the page at `page`, if any (a failure to read it only loses the notice).
async fn notice(session: &Session, page: &str) -> Option<String> {
    take_notice(session, page).await.ok().flatten()
}

/// 303 to `to`, with `text` shown there once.
async fn done(state: &AppState, session: &Session, to: &str, text: &str) -> Response {
    if let Err(e) = set_notice(session, to, text).await {
        return e.page(state);
    }
    Redirect::to(to).into_response()
}

/// One entry of the admin record as `/admin` lists it.
#[derive(Debug, Serialize)]
struct RecordRow {
    at: String,
    actor: String,
    action: &'static str,
    subject: String,
    detail: Option<String>,
    address: Option<String>,
}

fn action_words(action: &str) -> &'static str {
    match action {
        "add_user" => "added the user",
        "disable_user" => "disabled the user",
        "create_token" => "made",
        "revoke_token" => "revoked",
        "import_agencies" => "replaced the",
        _ => "changed",
    }
}

/// `GET /admin`: the sections, and the admin record's latest entries.
async fn index(State(state): State<AppState>, session: Session) -> Response {
    let (layout, _) = page_or_return!(admin_layout(&state, &session).await);
    let record = match state.engine.store().admin_log(20).await {
        Ok(r) => r,
        Err(e) => return store_failed(&state, &layout, e),
    };
    let record: Vec<RecordRow> = record
        .into_iter()
        .map(|e| RecordRow {
            at: when(e.at),
            action: action_words(&e.action),
            actor: e.actor,
            subject: e.subject,
            detail: e.detail,
            address: e.address,
        })
        .collect();
    state.web.render(
        StatusCode::OK,
        "web/admin/index.html",
        &layout,
        context! { title => "Admin", record },
    )
}

/// A user as the users page shows them.
#[derive(Debug, Serialize)]
struct UserCard {
    email: String,
    name: String,
    role: String,
    agency: Option<String>,
    password: bool,
    added: String,
    disabled: Option<String>,
    yourself: bool,
}

async fn users_page(
    state: &AppState,
    session: &Session,
    layout: &Layout,
    me: &UserRecord,
    status: StatusCode,
    problems: &[Problem],
) -> Response {
    let list = match state.engine.store().users().await {
        Ok(list) => list,
        Err(e) => return store_failed(state, layout, e),
    };
    let cards: Vec<UserCard> = list
        .into_iter()
        .map(|u| UserCard {
            yourself: u.id == me.id,
            role: role_title(u.role),
            added: when(u.created_at),
            disabled: u.disabled_at.map(when),
            password: u.has_password,
            email: u.email,
            name: u.name,
            agency: u.agency,
        })
        .collect();
    // The disable buttons have no field: a problem links to the list.
    let (errors, _) = form_errors(problems, &[("email", "users")]);
    state.web.render(
        status,
        "web/admin/users.html",
        layout,
        context! { title => "Users", users => cards, errors, notice => notice(session, "/admin/users").await },
    )
}

/// `GET /admin/users`: every user, each enabled one (but oneself) with a button to disable.
async fn users(State(state): State<AppState>, session: Session) -> Response {
    let (layout, me) = page_or_return!(admin_layout(&state, &session).await);
    users_page(&state, &session, &layout, &me, StatusCode::OK, &[]).await
}

/// What the add-a-user form sends. (No `Debug`: it holds a password.)
#[derive(Default, Deserialize)]
struct NewUserForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    agency: String,
    #[serde(default)]
    password: String,
}

/// The add-a-user form, with `form`'s values (never its password) and `problems`.
async fn user_form(
    state: &AppState,
    layout: &Layout,
    status: StatusCode,
    form: &NewUserForm,
    problems: &[Problem],
) -> Response {
    let directory = match state.engine.store().directory().await {
        Ok(d) => d,
        Err(e) => return store_failed(state, layout, e),
    };
    let roles: Vec<Value> = Role::ALL
        .iter()
        .map(|r| {
            context! {
                value => r.as_str(),
                text => role_title(*r),
                checked => form.role == r.as_str(),
                hint => context! { text => role_hint(*r) },
            }
        })
        .collect();
    let agencies: Vec<Value> = std::iter::once(context! {
        value => "", text => "None", selected => form.agency.is_empty()
    })
    .chain(directory.agencies.iter().map(|a| {
        context! {
            value => a.name.clone(),
            text => a.name.clone(),
            selected => form.agency == a.name || form.agency == a.id,
        }
    }))
    .collect();
    let (errors, field_errors) = form_errors(problems, &[]);
    state.web.render(
        status,
        "web/admin/user_new.html",
        layout,
        context! {
            title => "Add a user",
            email => form.email.clone(),
            name => form.name.clone(),
            roles,
            agencies,
            errors,
            field_errors,
            max_name => MAX_NAME,
        },
    )
}

/// What each role may do, in a line.
fn role_hint(role: Role) -> &'static str {
    match role {
        Role::Practitioner => "Raises and answers disagreements about a child.",
        Role::Manager => "A line manager or designated safeguarding lead.",
        Role::SeniorManager => "A senior manager or head of service.",
        Role::Partnership => "The partnership's chair or business unit: sees every case.",
        Role::Board => "Reads the monthly report only: never a case.",
        Role::Admin => "Manages users, tokens and the agency directory.",
    }
}

/// `GET /admin/users/new`: the form.
async fn new_user(State(state): State<AppState>, session: Session) -> Response {
    let (layout, _) = page_or_return!(admin_layout(&state, &session).await);
    user_form(
        &state,
        &layout,
        StatusCode::OK,
        &NewUserForm::default(),
        &[],
    )
    .await
}

/// `POST /admin/users/new`: adds the user (303 to the users page), or the form again with
/// every problem (400), nothing added.
async fn add_user(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    session: Session,
    CsrfForm(form): CsrfForm<NewUserForm>,
) -> Response {
    let (layout, me) = page_or_return!(admin_layout(&state, &session).await);
    let input = UserInput {
        email: form.email.clone(),
        role: form.role.clone(),
        agency: Some(form.agency.clone()),
        name: Some(form.name.clone()),
        password: Some(form.password.clone()),
    };
    let actor = Actor::user(&me, ip.map(|ip| ip.to_string()));
    match admin::add_user(state.engine.store().as_ref(), &input, &actor, Utc::now()).await {
        Ok(user) => {
            let text = format!(
                "{} was added as {}{}.",
                user.email,
                role_title(user.role).to_lowercase(),
                if user.has_password {
                    ""
                } else {
                    ", without a password: they can use API tokens only"
                }
            );
            done(&state, &session, "/admin/users", &text).await
        }
        Err(e) => match failure(&state, &layout, e) {
            Failure::Problems(problems) => {
                user_form(&state, &layout, StatusCode::BAD_REQUEST, &form, &problems).await
            }
            Failure::Page(page) => page,
        },
    }
}

/// The disable button's form.
#[derive(Debug, Deserialize)]
struct EmailForm {
    #[serde(default)]
    email: String,
}

/// `POST /admin/users/disable`: disables the user (their sessions and tokens stop at once),
/// 303 to the users page; or that page with what is wrong (400).
async fn disable_user(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    session: Session,
    CsrfForm(form): CsrfForm<EmailForm>,
) -> Response {
    let (layout, me) = page_or_return!(admin_layout(&state, &session).await);
    let actor = Actor::user(&me, ip.map(|ip| ip.to_string()));
    match admin::disable_user(
        state.engine.store().as_ref(),
        &form.email,
        &actor,
        Utc::now(),
    )
    .await
    {
        Ok(user) => {
            let text = format!(
                "{} was disabled: they are signed out and their tokens stopped working.",
                user.email
            );
            done(&state, &session, "/admin/users", &text).await
        }
        Err(e) => match failure(&state, &layout, e) {
            Failure::Problems(problems) => {
                users_page(
                    &state,
                    &session,
                    &layout,
                    &me,
                    StatusCode::BAD_REQUEST,
                    &problems,
                )
                .await
            }
            Failure::Page(page) => page,
        },
    }
}

/// A token as the tokens page shows it.
#[derive(Debug, Serialize)]
struct TokenCard {
    id: i64,
    name: String,
    owner: String,
    created: String,
    state: String,
    last_used: String,
    live: bool,
}

async fn tokens_page(
    state: &AppState,
    session: &Session,
    layout: &Layout,
    status: StatusCode,
    problems: &[Problem],
) -> Response {
    let list = match state.engine.store().tokens().await {
        Ok(list) => list,
        Err(e) => return store_failed(state, layout, e),
    };
    let now = Utc::now();
    let cards: Vec<TokenCard> = list
        .into_iter()
        .map(|t| {
            let (state, live) = match (t.revoked_at, t.expires_at <= now) {
                (Some(at), _) => (format!("Revoked {}", when(at)), false),
                (None, true) => (format!("Expired {}", when(t.expires_at)), false),
                (None, false) => (format!("Expires {}", when(t.expires_at)), true),
            };
            TokenCard {
                id: t.id,
                name: t.name,
                owner: t.email,
                created: when(t.created_at),
                state,
                last_used: t.last_used_at.map_or_else(|| "Never".to_string(), when),
                live,
            }
        })
        .collect();
    let (errors, _) = form_errors(problems, &[("token", "tokens")]);
    state.web.render(
        status,
        "web/admin/tokens.html",
        layout,
        context! { title => "API tokens", tokens => cards, errors, notice => notice(session, "/admin/tokens").await },
    )
}

/// `GET /admin/tokens`: every token (never its secret), each live one with a revoke button.
async fn tokens(State(state): State<AppState>, session: Session) -> Response {
    let (layout, _) = page_or_return!(admin_layout(&state, &session).await);
    tokens_page(&state, &session, &layout, StatusCode::OK, &[]).await
}

/// What the make-a-token form sends.
#[derive(Debug, Deserialize)]
struct NewTokenForm {
    #[serde(default)]
    user: String,
    #[serde(default)]
    token_name: String,
    #[serde(default)]
    expires: String,
    /// The key this form was rendered with ([`admin::form_key`]): one form makes one token.
    #[serde(default)]
    form_key: String,
}

impl Default for NewTokenForm {
    fn default() -> Self {
        NewTokenForm {
            user: String::new(),
            token_name: String::new(),
            expires: "90".into(),
            form_key: String::new(),
        }
    }
}

/// The make-a-token form, with `form`'s values and `problems`, and a fresh key (each render
/// is a new form: sent again as it is, it makes nothing more).
async fn token_form(
    state: &AppState,
    layout: &Layout,
    status: StatusCode,
    form: &NewTokenForm,
    problems: &[Problem],
) -> Response {
    let users = match state.engine.store().users().await {
        Ok(u) => u,
        Err(e) => return store_failed(state, layout, e),
    };
    let choices: Vec<Value> = std::iter::once(context! {
        value => "", text => "Choose a user", selected => form.user.is_empty()
    })
    .chain(users.iter().filter(|u| u.disabled_at.is_none()).map(|u| {
        context! {
            value => u.email.clone(),
            text => format!("{} ({})", u.email, role_title(u.role).to_lowercase()),
            selected => form.user.trim().eq_ignore_ascii_case(&u.email),
        }
    }))
    .collect();
    let (errors, field_errors) = form_errors(problems, &[("email", "user")]);
    state.web.render(
        status,
        "web/admin/token_new.html",
        layout,
        context! {
            title => "Make an API token",
            users => choices,
            token_name => form.token_name.clone(),
            expires => form.expires.clone(),
            form_key => admin::form_key(),
            errors,
            field_errors,
        },
    )
}

/// `GET /admin/tokens/new`: the form.
async fn new_token(State(state): State<AppState>, session: Session) -> Response {
    let (layout, _) = page_or_return!(admin_layout(&state, &session).await);
    token_form(
        &state,
        &layout,
        StatusCode::OK,
        &NewTokenForm::default(),
        &[],
    )
    .await
}

/// `POST /admin/tokens/new`: makes the token and shows it, this once (nothing keeps it but
/// its hash, and the page is not cached); or the form again with every problem (400). The
/// same form sent again (a reload of this page) makes no second token: it says which token
/// the form made, whose secret was shown then (409).
async fn create_token(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    session: Session,
    CsrfForm(form): CsrfForm<NewTokenForm>,
) -> Response {
    let (layout, me) = page_or_return!(admin_layout(&state, &session).await);
    let actor = Actor::user(&me, ip.map(|ip| ip.to_string()));
    match admin::create_token(
        state.engine.store().as_ref(),
        &form.user,
        &form.token_name,
        &form.expires,
        Some(&form.form_key),
        &actor,
        Utc::now(),
    )
    .await
    {
        Ok((token, owner)) => state.web.render(
            StatusCode::OK,
            "web/admin/token_made.html",
            &layout,
            context! {
                title => "Token made",
                id => token.id,
                owner => owner.email,
                expires => when(token.expires_at),
                secret => token.secret,
            },
        ),
        Err(e) => match failure(&state, &layout, e) {
            Failure::Problems(problems) => match &problems[..] {
                [Problem::Repeated(made)] => state.web.render(
                    StatusCode::CONFLICT,
                    "web/admin/token_made.html",
                    &layout,
                    context! { title => "Token made already", made => made.clone() },
                ),
                _ => token_form(&state, &layout, StatusCode::BAD_REQUEST, &form, &problems).await,
            },
            Failure::Page(page) => page,
        },
    }
}

/// The revoke button's form.
#[derive(Debug, Deserialize)]
struct TokenIdForm {
    #[serde(default)]
    id: String,
}

/// `POST /admin/tokens/revoke`: revokes the token (303 to the tokens page), or that page with
/// what is wrong (400).
async fn revoke_token(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    session: Session,
    CsrfForm(form): CsrfForm<TokenIdForm>,
) -> Response {
    let (layout, me) = page_or_return!(admin_layout(&state, &session).await);
    let Ok(id) = form.id.trim().parse::<i64>() else {
        return tokens_page(
            &state,
            &session,
            &layout,
            StatusCode::BAD_REQUEST,
            &[Problem::NoToken(0)],
        )
        .await;
    };
    let actor = Actor::user(&me, ip.map(|ip| ip.to_string()));
    match admin::revoke_token(state.engine.store().as_ref(), id, &actor, Utc::now()).await {
        Ok(()) => {
            let text = format!("Token {id} was revoked: it no longer works.");
            done(&state, &session, "/admin/tokens", &text).await
        }
        Err(e) => match failure(&state, &layout, e) {
            Failure::Problems(problems) => {
                tokens_page(
                    &state,
                    &session,
                    &layout,
                    StatusCode::BAD_REQUEST,
                    &problems,
                )
                .await
            }
            Failure::Page(page) => page,
        },
    }
}

/// `GET /admin/agencies`: the directory: each agency and its contacts by level.
async fn agencies(State(state): State<AppState>, session: Session) -> Response {
    let (layout, _) = page_or_return!(admin_layout(&state, &session).await);
    let directory = match state.engine.store().directory().await {
        Ok(d) => d,
        Err(e) => return store_failed(&state, &layout, e),
    };
    let agencies: Vec<Value> = directory
        .agencies
        .iter()
        .map(|a| {
            context! {
                id => a.id.clone(),
                name => a.name.clone(),
                contacts => a.contacts.iter().map(|c| context! {
                    level => words(&c.level),
                    name => c.name.clone(),
                    email => c.email.clone(),
                }).collect::<Vec<_>>(),
            }
        })
        .collect();
    state.web.render(
        StatusCode::OK,
        "web/admin/agencies.html",
        &layout,
        context! { title => "Agency directory", agencies, notice => notice(&session, "/admin/agencies").await },
    )
}

/// What the import form sends.
#[derive(Debug, Default, Deserialize)]
struct ImportForm {
    #[serde(default)]
    directory: String,
}

fn import_page(
    state: &AppState,
    layout: &Layout,
    status: StatusCode,
    form: &ImportForm,
    problems: &[Problem],
) -> Response {
    let (errors, field_errors) = form_errors(problems, &[]);
    state.web.render(
        status,
        "web/admin/agencies_import.html",
        layout,
        context! {
            title => "Replace the agency directory",
            directory => form.directory.clone(),
            errors,
            field_errors,
        },
    )
}

/// `GET /admin/agencies/import`: the form to paste a directory into.
async fn import_form(State(state): State<AppState>, session: Session) -> Response {
    let (layout, _) = page_or_return!(admin_layout(&state, &session).await);
    import_page(&state, &layout, StatusCode::OK, &ImportForm::default(), &[])
}

/// `POST /admin/agencies/import`: replaces the directory with the YAML pasted (as
/// `escalate agencies import` does a file), 303 to the directory; or the form again with the
/// first problem's line and column (400), nothing changed.
async fn import_agencies(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    session: Session,
    CsrfForm(form): CsrfForm<ImportForm>,
) -> Response {
    let (layout, me) = page_or_return!(admin_layout(&state, &session).await);
    let actor = Actor::user(&me, ip.map(|ip| ip.to_string()));
    match admin::import_agencies(
        state.engine.store().as_ref(),
        Path::new("pasted directory"),
        &form.directory,
        &actor,
        Utc::now(),
    )
    .await
    {
        Ok((agencies, contacts)) => {
            let text =
                format!("The directory was replaced: {agencies} agencies, {contacts} contacts.");
            done(&state, &session, "/admin/agencies", &text).await
        }
        Err(e) => match failure(&state, &layout, e) {
            Failure::Problems(problems) => {
                import_page(&state, &layout, StatusCode::BAD_REQUEST, &form, &problems)
            }
            Failure::Page(page) => page,
        },
    }
}

/// `GET /admin/workflows`: each workflow, its current version, and every version kept with
/// the cases opened on it.
async fn workflows(State(state): State<AppState>, session: Session) -> Response {
    let (layout, _) = page_or_return!(admin_layout(&state, &session).await);
    let mut cards = Vec::new();
    for def in state.engine.workflows().iter() {
        let versions = match state.engine.store().workflow_versions(&def.id, 0).await {
            Ok(v) => v,
            Err(e) => return store_failed(&state, &layout, e),
        };
        let kept = versions.iter().any(|v| v.hash == def.hash);
        let versions: Vec<Value> = versions
            .iter()
            .map(|v| {
                context! {
                    label => v.label,
                    hash => v.hash.clone(),
                    current => v.hash == def.hash,
                    first_seen => when(v.first_seen),
                    cases => v.cases,
                    open_cases => v.open_cases,
                }
            })
            .collect();
        cards.push(context! {
            id => def.id.clone(),
            title => def.title.clone(),
            label => def.label,
            hash => def.hash.clone(),
            kept,
            versions,
        });
    }
    state.web.render(
        StatusCode::OK,
        "web/admin/workflows.html",
        &layout,
        context! { title => "Workflows", workflows => cards },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_problem_names_its_field_and_says_what_to_do() {
        let long = Problem::Name(TextError::TooLong {
            length: 1_000_000,
            max: 200,
        });
        assert_eq!(
            field_problem(&long),
            ("name", "Name must be 200 characters or fewer".to_string())
        );
        assert_eq!(
            field_problem(&Problem::Role(BadRole(String::new()))).1,
            "Select a role"
        );
        let short = crate::access::credentials::check_password("short").unwrap_err();
        assert_eq!(
            field_problem(&Problem::Password(short)).1,
            "The password must be at least 12 characters"
        );
        let (summary, fields) = form_errors(
            &[Problem::NoUser("a@b.org".into()), Problem::TokenNameEmpty],
            &[("email", "user")],
        );
        assert_eq!(summary[0].get_attr("href").unwrap().to_string(), "#user");
        assert_eq!(
            fields
                .get_attr("token_name")
                .unwrap()
                .get_attr("text")
                .unwrap()
                .to_string(),
            "Enter a name for the token"
        );
        let (summary, _) = form_errors(
            &[Problem::LastAdmin("a@b.org".into())],
            &[("email", "users")],
        );
        assert_eq!(summary[0].get_attr("href").unwrap().to_string(), "#users");
        assert!(
            summary[0]
                .get_attr("text")
                .unwrap()
                .to_string()
                .starts_with("This is the last administrator who can sign in")
        );
        assert_eq!(role_title(Role::SeniorManager), "Senior manager");
        assert_eq!(
            when("2026-07-01T08:05:00Z".parse().unwrap()),
            "1 Jul 2026, 09:05"
        );
    }
}
