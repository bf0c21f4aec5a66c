//! `GET /sign-in`, `POST /sign-in` and `POST /sign-out`. The password is checked by the same
//! code as the API's `POST /api/v1/tokens` ([`check_password`]), under the same failure
//! limits per address and per account; every wrong answer reads the same.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use serde::Deserialize;
use tower_sessions::Session;

use super::csrf::CsrfForm;
use super::session::SignedIn;
use super::{Layout, layout};
use crate::http::AppState;
use crate::http::auth::ClientIp;
use crate::http::signin::{PasswordCheck, check_password};

/// What the sign-in form sends. (No `Debug`: it holds a password.)
#[derive(Deserialize)]
pub struct SignInForm {
    /// The email address typed.
    #[serde(default)]
    email: String,
    /// The password typed.
    #[serde(default)]
    password: String,
}

/// A form with no fields but its CSRF token.
#[derive(Deserialize)]
pub struct NoFields {}

/// The one message for every wrong answer, so that it tells nothing about the account.
pub const WRONG: &str = "Enter a correct email address and password";

fn sign_in_page(state: &AppState, layout: &Layout, email: &str, wrong: bool) -> Response {
    let errors: Vec<_> = wrong
        .then(|| context! { text => WRONG, href => "#email" })
        .into_iter()
        .collect();
    state.web.render(
        StatusCode::OK,
        "web/sign_in.html",
        layout,
        context! { title => "Sign in", email, errors },
    )
}

/// `GET /sign-in`: the form, or the start page of someone signed in already.
pub async fn form(State(state): State<AppState>, session: Session) -> Response {
    let layout = match layout(&state, &session, "").await {
        Ok(l) => l,
        Err(page) => return page,
    };
    if let Some(user) = &layout.user {
        return Redirect::to(super::home(user.role)).into_response();
    }
    sign_in_page(&state, &layout, "", false)
}

/// `POST /sign-in`: 303 to the user's start page ([`super::home`]) with a new session id,
/// the form again with an error summary, or 429 past a failure limit.
pub async fn sign_in(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    session: Session,
    CsrfForm(form): CsrfForm<SignInForm>,
) -> Response {
    let layout = match layout(&state, &session, "").await {
        Ok(l) => l,
        Err(page) => return page,
    };
    let email = form.email.trim().to_string();
    match check_password(&state, ip, &email, form.password).await {
        Err(e) => state.web.api_error(e, &layout),
        Ok(PasswordCheck::SignedIn(user)) => {
            if let Err(e) = SignedIn::start(&session, &user).await {
                return e.page(&state);
            }
            tracing::info!(user_id = user.id, "signed in to the web UI");
            Redirect::to(super::home(user.role)).into_response()
        }
        Ok(PasswordCheck::Refused) => sign_in_page(&state, &layout, &email, true),
        Ok(PasswordCheck::Limited { wait, .. }) => {
            let minutes = wait.as_secs().div_ceil(60).max(1);
            let again = format!(
                "Wait {minutes} minute{} before you try again.",
                if minutes == 1 { "" } else { "s" }
            );
            let mut page = state.web.error(
                StatusCode::TOO_MANY_REQUESTS,
                &layout,
                "Too many attempts to sign in",
                &[&again],
            );
            page.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(wait.as_secs().max(1)),
            );
            page
        }
    }
}

/// `POST /sign-out`: ends the session (its row deleted, its cookie removed) and tells the
/// browser to drop this site's cookies; 303 to the sign-in page.
pub async fn sign_out(
    State(state): State<AppState>,
    session: Session,
    CsrfForm(NoFields {}): CsrfForm<NoFields>,
) -> Response {
    if let Err(e) = session.flush().await {
        return super::session::SessionFault::from(e).page(&state);
    }
    let mut response = Redirect::to("/sign-in").into_response();
    response.headers_mut().insert(
        header::HeaderName::from_static("clear-site-data"),
        HeaderValue::from_static("\"cookies\""),
    );
    response
}
