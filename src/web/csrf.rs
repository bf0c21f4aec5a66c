//! Cross-site request forgery: a synchronizer token kept in the session (signed-out sessions
//! too, since the sign-in form needs one) and sent back as every form's hidden `csrf_token`;
//! [`CsrfForm`] refuses a POST whose token is missing or not the session's, and one that a
//! browser says came from another site.

use axum::extract::{Form, FromRequest, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;
use tower_sessions::Session;

use super::Layout;
use super::session::SessionFault;
use crate::http::AppState;

const KEY: &str = "csrf_token";

/// A fresh token: 256 random bits as hex.
fn fresh() -> String {
    crate::access::credentials::random_hex(32)
}

/// The session's token, made now if it has none.
pub async fn token(session: &Session) -> Result<String, tower_sessions::session::Error> {
    if let Some(t) = session.get::<String>(KEY).await? {
        return Ok(t);
    }
    renew(session).await
}

/// Replaces the session's token (at sign-in) and returns it.
pub async fn renew(session: &Session) -> Result<String, tower_sessions::session::Error> {
    let t = fresh();
    session.insert(KEY, &t).await?;
    Ok(t)
}

/// Whether `given` is `expected`, in time that does not depend on where they differ.
fn same(given: &str, expected: &str) -> bool {
    given.as_bytes().ct_eq(expected.as_bytes()).into()
}

/// The origin (`scheme://host[:port]`) of an absolute URL, e.g. `[mail] base_url`.
fn origin_of(url: &str) -> &str {
    let url = url.trim_end_matches('/');
    match url.find("://") {
        Some(at) => url[at + 3..]
            .find('/')
            .map_or(url, |end| &url[..at + 3 + end]),
        None => url,
    }
}

/// Whether the browser says the request came from this site: `Origin` is the service's public
/// origin (`public`, from `[mail] base_url`: behind a proxy, `Host` may be the proxy's
/// upstream) or names this host (`Host`); or, without `Origin` (or with `Origin: null`),
/// `Sec-Fetch-Site` is `same-origin`. A request with neither is refused: every browser
/// escalate supports sends one of them on a form POST. (Pages are sent with
/// `Referrer-Policy: no-referrer`, under which Chromium posts a form with `Origin: null`;
/// its `Sec-Fetch-Site` still tells a same-origin form from another site's.)
pub fn same_origin(headers: &HeaderMap, secure: bool, public: &str) -> bool {
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(origin) = text(header::ORIGIN).filter(|o| *o != "null") {
        if origin.eq_ignore_ascii_case(origin_of(public)) {
            return true;
        }
        let Some(host) = text(header::HOST) else {
            return false;
        };
        let schemes: &[&str] = if secure {
            &["https"]
        } else {
            &["http", "https"]
        };
        return schemes
            .iter()
            .any(|scheme| origin.eq_ignore_ascii_case(&format!("{scheme}://{host}")));
    }
    text(header::HeaderName::from_static("sec-fetch-site")) == Some("same-origin")
}

/// A form whose `csrf_token` field is the session's, posted from this site: `T` holds its
/// other fields. Anything else is answered 403 before the handler runs.
pub struct CsrfForm<T>(pub T);

#[derive(Deserialize)]
struct WithToken<T> {
    #[serde(default)]
    csrf_token: String,
    #[serde(flatten)]
    fields: T,
}

/// The 403 page for a form that fails the check.
fn refused(state: &AppState, why: &str) -> Response {
    tracing::warn!(why, "form refused");
    state.web.error(
        StatusCode::FORBIDDEN,
        &Layout::default(),
        "Sorry, this form could not be sent",
        &[
            "It may have been open too long, or sent from another site.",
            "Go back, reload the page and try again.",
        ],
    )
}

fn session_of(parts: &Parts) -> Option<Session> {
    parts.extensions.get::<Session>().cloned()
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for CsrfForm<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let (parts, body) = request.into_parts();
        let unsafe_method = !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if unsafe_method && !same_origin(&parts.headers, state.web.secure, &state.base_url) {
            return Err(refused(state, "not same-origin"));
        }
        let Some(session) = session_of(&parts) else {
            return Err(refused(state, "no session layer"));
        };
        let expected = session
            .get::<String>(KEY)
            .await
            .map_err(|e| SessionFault::from(e).page(state))?;
        let request = Request::from_parts(parts, body);
        let form = match Form::<WithToken<T>>::from_request(request, state).await {
            Ok(Form(form)) => form,
            // Past the body limit: nothing was read, and what to do is shorten it.
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(state.web.error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &Layout::default(),
                    "Sorry, this form is too large",
                    &["Nothing was saved. Go back and shorten what you typed."],
                ));
            }
            Err(_) => {
                return Err(state.web.error(
                    StatusCode::BAD_REQUEST,
                    &Layout::default(),
                    "Sorry, this form could not be read",
                    &["Go back, reload the page and try again."],
                ));
            }
        };
        match expected {
            Some(expected) if !form.csrf_token.is_empty() && same(&form.csrf_token, &expected) => {
                Ok(CsrfForm(form.fields))
            }
            Some(_) => Err(refused(state, "token does not match")),
            None => Err(refused(state, "no token in the session")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    /// The default `[mail] base_url`: not the host these tests send.
    const PUBLIC: &str = "http://localhost:8080";

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn only_this_sites_origin_passes() {
        let host = ("host", "127.0.0.1:8080");
        assert!(same_origin(
            &headers(&[host, ("origin", "http://127.0.0.1:8080")]),
            false,
            PUBLIC
        ));
        assert!(!same_origin(
            &headers(&[host, ("origin", "http://127.0.0.1:8080")]),
            true,
            PUBLIC
        ));
        assert!(same_origin(
            &headers(&[host, ("origin", "https://127.0.0.1:8080")]),
            true,
            PUBLIC
        ));
        assert!(!same_origin(
            &headers(&[host, ("origin", "http://evil.example")]),
            false,
            PUBLIC
        ));
        assert!(!same_origin(
            &headers(&[host, ("origin", "null")]),
            false,
            PUBLIC
        ));
        // `Origin: null` (a page sent with no-referrer) is judged by Sec-Fetch-Site.
        assert!(same_origin(
            &headers(&[host, ("origin", "null"), ("sec-fetch-site", "same-origin")]),
            false,
            PUBLIC
        ));
        assert!(!same_origin(
            &headers(&[host, ("origin", "null"), ("sec-fetch-site", "cross-site")]),
            false,
            PUBLIC
        ));
        // An Origin from elsewhere is not excused by a Sec-Fetch-Site that says otherwise.
        assert!(!same_origin(
            &headers(&[
                host,
                ("origin", "http://evil.example"),
                ("sec-fetch-site", "same-origin")
            ]),
            false,
            PUBLIC
        ));
        assert!(same_origin(
            &headers(&[host, ("sec-fetch-site", "same-origin")]),
            false,
            PUBLIC
        ));
        assert!(!same_origin(
            &headers(&[host, ("sec-fetch-site", "cross-site")]),
            false,
            PUBLIC
        ));
        assert!(!same_origin(&headers(&[host]), false, PUBLIC));
        // Behind a proxy that passes its upstream as Host: the public origin is this site's.
        let upstream = ("host", "127.0.0.1:3000");
        let public = "https://escalate.example.org/";
        assert!(same_origin(
            &headers(&[upstream, ("origin", "https://escalate.example.org")]),
            true,
            public
        ));
        assert!(!same_origin(
            &headers(&[upstream, ("origin", "https://escalate.example.org.evil")]),
            true,
            public
        ));
        assert_eq!(
            origin_of("https://a.example:8443/x/y"),
            "https://a.example:8443"
        );
        assert_eq!(origin_of("http://localhost:8080"), "http://localhost:8080");
    }

    #[test]
    fn tokens_compare_whole() {
        let t = fresh();
        assert_eq!(t.len(), 64);
        assert_ne!(t, fresh());
        assert!(same(&t, &t.clone()));
        assert!(!same(&t[..63], &t));
        assert!(!same("", &t));
    }
}
