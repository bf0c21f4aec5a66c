//! The web UI: HTML pages built with GOV.UK Frontend, for people signed in with a password.
//! Its routes sit beside the JSON API in one router ([`crate::http::router`]); only they
//! carry the session cookie, and the API never reads it (bearer tokens only).
//!
//! Templates (`templates/web/` and the Land Registry's GOV.UK macros) are built into the binary
//! and loaded into one minijinja [`Environment`] at start ([`Web`], in the `AppState`).
//! Every page gets its own security headers ([`html_headers`]): a CSP that allows this
//! origin's styles and scripts and exactly the two inline scripts of `base.html` by hash.

pub mod account;
pub mod admin;
pub mod case_page;
pub mod cases;
pub mod csrf;
pub mod events;
pub mod monitoring;
pub mod open;
pub mod reports;
pub mod session;
pub mod signin;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use minijinja::{Environment, Value, context};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tower_sessions::cookie::SameSite;
use tower_sessions::cookie::time::Duration as CookieDuration;
use tower_sessions::{Expiry, SessionManagerLayer};

use crate::access::policy;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::store::UserRecord;
use session::SignedIn;

/// The templates, built in by `build.rs`: (name under `templates/`, source).
static TEMPLATES: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/web_templates.rs"));

/// A session ends after this long without a request.
pub const IDLE_MINUTES: i64 = 30;

/// The first inline script of every page: marks the body so that GOV.UK Frontend's styles for
/// pages with JavaScript apply (GOV.UK's own snippet).
pub const JS_ENABLED_SCRIPT: &str = "document.body.className += ' js-enabled' + ('noModule' in HTMLScriptElement.prototype ? ' govuk-frontend-supported' : '');";

/// What the web UI needs for every page: the templates, the CSP and the cookie settings.
pub struct Web {
    env: Environment<'static>,
    csp: String,
    init_script: String,
    secure: bool,
}

impl std::fmt::Debug for Web {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Web")
            .field("secure", &self.secure)
            .finish_non_exhaustive()
    }
}

/// `'sha256-…'`, the CSP source that allows the inline script `text`.
pub fn script_hash(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

impl Web {
    /// The templates and headers; `secure` when the UI is reached over HTTPS (the session
    /// cookie is then `__Host-escalate`, `Secure`, and pages send HSTS).
    pub fn new(secure: bool) -> Result<Web, minijinja::Error> {
        let mut env = Environment::new();
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        // The Land Registry's macros probe parameters that are not given, so a strict
        // undefined breaks them; render tests catch typos instead.
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Lenient);
        for (name, source) in TEMPLATES {
            env.add_template(name, source)?;
        }
        let js = crate::http::assets::url("govuk-frontend.min.js").unwrap_or_default();
        let init_script = format!("import {{ initAll }} from '{js}';\ninitAll();");
        let csp = format!(
            "default-src 'self'; script-src 'self' {} {}; style-src 'self'; img-src 'self' data:; \
             font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; \
             object-src 'none'",
            script_hash(JS_ENABLED_SCRIPT),
            script_hash(&init_script)
        );
        Ok(Web {
            env,
            csp,
            init_script,
            secure,
        })
    }

    /// The session cookie's name: `__Host-escalate` over HTTPS (a `__Host-` cookie must be
    /// `Secure`, which a browser will not send over plain HTTP), `escalate` otherwise.
    pub fn cookie_name(&self) -> &'static str {
        if self.secure {
            "__Host-escalate"
        } else {
            "escalate"
        }
    }

    /// Renders page template `name` with `page`'s fields and the layout's, or the 500 page.
    pub fn render(
        &self,
        status: StatusCode,
        name: &str,
        layout: &Layout,
        page: impl Serialize,
    ) -> Response {
        let layout = LayoutValues {
            css_url: crate::http::assets::url("govuk-frontend.min.css").unwrap_or_default(),
            js_enabled_script: JS_ENABLED_SCRIPT,
            init_script: &self.init_script,
            navigation: layout.navigation(),
            user: layout.user.as_ref().map(|u| u.name.clone()),
            csrf_token: &layout.csrf_token,
        };
        let rendered = self.env.get_template(name).and_then(|t| {
            t.render(context! { layout => Value::from_serialize(&layout), ..Value::from_serialize(&page) })
        });
        match rendered {
            Ok(html) => (status, Html(html)).into_response(),
            Err(e) => {
                tracing::error!("template {name}: {e:#}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Sorry, there is a problem with the service",
                )
                    .into_response()
            }
        }
    }

    /// A page saying what went wrong, with `status`.
    pub fn error(
        &self,
        status: StatusCode,
        layout: &Layout,
        title: &str,
        lines: &[&str],
    ) -> Response {
        let back = layout.user.as_ref().map(|u| {
            let href = home(u.role);
            let text = match href {
                "/admin" => "Go to Admin",
                "/reports" => "Go to Reports",
                _ => "Go to My cases",
            };
            Link { href, text }
        });
        self.render(
            status,
            "web/error.html",
            layout,
            context! { title, lines, back },
        )
    }

    /// The page for an error from the shared API code: its message for what a person can
    /// fix (a bad filter, a role that lists nothing), fixed wording for the rest.
    pub fn api_error(&self, e: ApiError, layout: &Layout) -> Response {
        match e.status {
            StatusCode::BAD_REQUEST => self.error(
                e.status,
                layout,
                "There is a problem with the filters",
                &[&e.message],
            ),
            StatusCode::FORBIDDEN => {
                self.error(e.status, layout, "You cannot see this", &[&e.message])
            }
            StatusCode::NOT_FOUND => self.error(
                e.status,
                layout,
                "Page not found",
                &["If you typed the web address, check it is correct."],
            ),
            s if s.is_server_error() => self.error(
                s,
                layout,
                "Sorry, there is a problem with the service",
                &["Try again later."],
            ),
            s => self.error(s, layout, "Sorry, this did not work", &[&e.message]),
        }
    }
}

/// A time as pages show it, in the workflow's zone `zone`: `Tue 1 Dec 2026 at 5:00pm`.
pub fn local_time(t: chrono::DateTime<chrono::Utc>, zone: chrono_tz::Tz) -> String {
    t.with_timezone(&zone)
        .format("%a %-d %b %Y at %-I:%M%P")
        .to_string()
}

/// A link on a page.
#[derive(Debug, Clone, Serialize)]
pub struct Link {
    /// Where.
    pub href: &'static str,
    /// Its text.
    pub text: &'static str,
}

/// Who a page is for: the signed-in user (if any), the CSRF token its forms carry, and the
/// navigation item it is.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    /// The signed-in user.
    pub user: Option<UserRecord>,
    /// The session's CSRF token.
    pub csrf_token: String,
    /// The navigation item of this page (its href).
    pub current: &'static str,
}

/// The layout as the templates see it.
#[derive(Serialize)]
struct LayoutValues<'a> {
    css_url: String,
    js_enabled_script: &'static str,
    init_script: &'a str,
    navigation: Vec<Value>,
    user: Option<String>,
    csrf_token: &'a str,
}

impl Layout {
    /// The service navigation for the user's role; none signed out.
    fn navigation(&self) -> Vec<Value> {
        let Some(user) = &self.user else {
            return Vec::new();
        };
        let role = user.role;
        [
            (policy::lists_cases(role), "/", "My cases"),
            (policy::may_open(role), "/cases/new", "Open a case"),
            (policy::may_read_reports(role), "/reports", "Reports"),
            (policy::may_administer(role), "/admin", "Admin"),
            (policy::lists_cases(role), account::PATH, "My page"),
        ]
        .into_iter()
        .filter(|(shown, _, _)| *shown)
        .map(|(_, href, text)| context! { href, text, current => href == self.current })
        .collect()
    }
}

/// The web UI's routes, with their session layer and headers.
pub fn routes(state: &AppState) -> Router<AppState> {
    let web = &state.web;
    let sessions = SessionManagerLayer::new(session::DbSessions::new(state.engine.store().clone()))
        .with_name(web.cookie_name())
        .with_secure(web.secure)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_path("/")
        // Saved on every request, so that the 30 minutes run from the last one.
        .with_always_save(true)
        .with_expiry(Expiry::OnInactivity(CookieDuration::minutes(IDLE_MINUTES)));
    Router::new()
        .route("/", get(cases::my_cases))
        .route("/cases/new", get(open::choose).post(open::chosen))
        .route("/cases/new/{workflow}", get(open::form).post(open::submit))
        .route(
            "/cases/new/{workflow}/check",
            get(open::check).post(open::confirm),
        )
        .route(account::PATH, get(account::page))
        .route("/account/feed", post(account::make))
        .route("/account/feed/replace", get(account::confirm_replace))
        .route(
            "/account/feed/revoke",
            get(account::confirm_revoke).post(account::revoke),
        )
        .route("/cases/{reference}", get(case_page::show))
        .route(
            "/cases/{reference}/events/{event}",
            get(events::form).post(events::record),
        )
        .route("/cases/{reference}/monitoring-form", get(monitoring::show))
        .route("/sign-in", get(signin::form).post(signin::sign_in))
        .route("/sign-out", post(signin::sign_out))
        .route("/reports", get(reports::report_page))
        .route("/reports/{file}", get(reports::report_csv))
        .merge(admin::routes())
        .layer(sessions)
        .layer(middleware::from_fn_with_state(state.clone(), html_headers))
}

/// The headers of every web page: its CSP, no caching (pages hold safeguarding data, and a
/// signed-out page holds a CSRF token), and HSTS over HTTPS. The API's envelope adds the
/// rest (`nosniff`, `Referrer-Policy`, `X-Frame-Options`) without replacing these.
async fn html_headers(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if let Ok(csp) = HeaderValue::from_str(&state.web.csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if state.web.secure {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    response
}

/// Who a request about a case is from, for the shared API functions (and the access log).
pub fn caller(user: UserRecord, ip: Option<std::net::IpAddr>) -> crate::http::auth::Caller {
    crate::http::auth::Caller {
        user,
        address: ip.map(|ip| ip.to_string()),
    }
}

/// Shared by the page handlers: the layout of a request's session, with its user if signed in.
pub async fn layout(
    state: &AppState,
    session: &tower_sessions::Session,
    current: &'static str,
) -> Result<Layout, Response> {
    let fail = |e: session::SessionFault| e.page(state);
    // The user first: a disabled user's session is ended, and the token is then a new one's.
    let user = SignedIn::user(state, session).await.map_err(fail)?;
    let csrf_token = csrf::token(session).await.map_err(|e| fail(e.into()))?;
    Ok(Layout {
        user,
        csrf_token,
        current,
    })
}

/// [`layout`] for a page only a signed-in user sees, with the user; signed out, a 303 to the
/// sign-in page before anything is written to the session (a visitor costs no row).
pub async fn signed_in_layout(
    state: &AppState,
    session: &tower_sessions::Session,
    current: &'static str,
) -> Result<(Layout, crate::store::UserRecord), Response> {
    let user = SignedIn::user(state, session)
        .await
        .map_err(|e| e.page(state))?
        .ok_or_else(|| axum::response::Redirect::to("/sign-in").into_response())?;
    let csrf_token = csrf::token(session)
        .await
        .map_err(|e| session::SessionFault::from(e).page(state))?;
    Ok((
        Layout {
            user: Some(user.clone()),
            csrf_token,
            current,
        },
        user,
    ))
}

/// A stored word as a person reads it: `roles_and_responsibilities` → `Roles and
/// responsibilities`.
pub fn words(key: &str) -> String {
    crate::text::sentence_case(key)
}

/// The page a user of `role` starts on: My cases for those with cases, the admin pages for an
/// administrator, the report for a board member.
pub fn home(role: crate::access::Role) -> &'static str {
    if policy::lists_cases(role) {
        "/"
    } else if policy::may_administer(role) {
        "/admin"
    } else if policy::may_read_reports(role) {
        "/reports"
    } else {
        "/"
    }
}

/// [`signed_in_layout`] for a page only some roles see (`allowed`, a [`policy`] rule): for
/// anyone else, the 403 page saying who it is for (`for_whom`).
pub async fn role_layout(
    state: &AppState,
    session: &tower_sessions::Session,
    current: &'static str,
    allowed: fn(crate::access::Role) -> bool,
    for_whom: &str,
) -> Result<(Layout, crate::store::UserRecord), Response> {
    let (layout, user) = signed_in_layout(state, session, current).await?;
    if !allowed(user.role) {
        return Err(state.web.error(
            StatusCode::FORBIDDEN,
            &layout,
            "You cannot see this",
            &[for_whom],
        ));
    }
    Ok((layout, user))
}

const NOTICE: &str = "notice";

/// A notice kept for one page: shown there only, so that a page of another case (another
/// tab, or the next page opened) neither shows it nor takes it.
#[derive(Debug, Serialize, serde::Deserialize)]
struct Notice {
    /// The path of the page it is for, e.g. `/cases/DSP-2026-000001`.
    page: String,
    /// What it says.
    text: String,
}

/// Keeps `text` in the session for the page at `page` to show once (after a form's redirect
/// there); it replaces a notice kept before.
pub async fn set_notice(
    session: &tower_sessions::Session,
    page: &str,
    text: &str,
) -> Result<(), session::SessionFault> {
    let notice = Notice {
        page: page.to_string(),
        text: text.to_string(),
    };
    Ok(session.insert(NOTICE, notice).await?)
}

/// The text [`set_notice`] kept for the page at `page`, taken out of the session; a notice
/// kept for another page stays for that page.
pub async fn take_notice(
    session: &tower_sessions::Session,
    page: &str,
) -> Result<Option<String>, session::SessionFault> {
    match session.get::<Notice>(NOTICE).await? {
        Some(notice) if notice.page == page => {
            session.remove_value(NOTICE).await?;
            Ok(Some(notice.text))
        }
        _ => Ok(None),
    }
}

/// Keeps the sessions table small: every five minutes, deletes the sessions expired by then.
/// Runs beside the HTTP server in `serve` until `stop` turns true.
pub async fn purge_sessions(
    state: Arc<crate::engine::Engine>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        match state.store().purge_sessions(chrono::Utc::now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(sessions = n, "expired sessions purged"),
            Err(e) => tracing::error!("purging expired sessions failed: {e}"),
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(300)) => {}
            _ = stop.wait_for(|stopping| *stopping) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_loads_and_the_csp_names_both_inline_scripts() {
        let web = Web::new(false).unwrap();
        assert!(TEMPLATES.iter().any(|(n, _)| *n == "web/base.html"));
        assert!(web.csp.contains(&script_hash(JS_ENABLED_SCRIPT)));
        assert!(web.csp.contains(&script_hash(&web.init_script)));
        assert_eq!(web.cookie_name(), "escalate");
        assert_eq!(Web::new(true).unwrap().cookie_name(), "__Host-escalate");
    }

    #[test]
    fn stored_words_read_as_words_and_each_role_starts_on_its_page() {
        use crate::access::Role;
        assert_eq!(
            words("roles_and_responsibilities"),
            "Roles and responsibilities"
        );
        assert_eq!(words("senior_manager"), "Senior manager");
        assert_eq!(words(""), "");
        let homes: Vec<&str> = Role::ALL.into_iter().map(home).collect();
        assert_eq!(homes, ["/", "/", "/", "/", "/reports", "/admin"]);
    }

    #[test]
    fn the_navigation_follows_the_role() {
        let user = |role| UserRecord {
            id: 1,
            email: "a@b.example".into(),
            name: "A".into(),
            agency: None,
            role,
            created_at: chrono::Utc::now(),
            disabled_at: None,
            has_password: true,
            password_hash: None,
        };
        let texts = |role| -> Vec<String> {
            Layout {
                user: Some(user(role)),
                ..Layout::default()
            }
            .navigation()
            .iter()
            .map(|v| v.get_attr("text").unwrap().to_string())
            .collect()
        };
        use crate::access::Role;
        assert_eq!(
            texts(Role::Practitioner),
            ["My cases", "Open a case", "My page"]
        );
        assert_eq!(
            texts(Role::Partnership),
            ["My cases", "Open a case", "Reports", "My page"]
        );
        assert_eq!(texts(Role::Board), ["Reports"]);
        assert_eq!(texts(Role::Admin), ["Reports", "Admin"]);
        assert!(Layout::default().navigation().is_empty());
    }
}
