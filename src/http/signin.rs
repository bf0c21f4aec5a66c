//! `POST /api/v1/tokens`: signing in with an email address and password for a new bearer
//! token, named and expiring like one from `escalate tokens create` (and stored, like it, only
//! as its hash).
//!
//! A wrong password, an unknown address, a user with no password and a disabled user are
//! answered alike, after the same argon2 work (against a dummy hash when there is no account),
//! so neither the answer nor its time tells whether an account exists. Failures are counted per
//! client address and per account ([`super::auth::Failures`]); past either limit the answer is
//! 429 before the password is looked at, even a right one, until the window ends.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use utoipa::ToSchema;

use super::AppState;
use super::auth::{ClientIp, rate_limited};
use super::cases::rejected;
use super::error::ApiError;
use crate::access::MAX_NAME;
use crate::access::credentials::{self, MAX_TOKEN_DAYS};
use crate::ids::UserEmail;
use crate::store::UserRecord;

/// Days a signed-in token lasts when the request does not say.
pub const DEFAULT_DAYS: u32 = 30;
/// A signed-in token's name when the request does not give one.
pub const DEFAULT_NAME: &str = "sign-in";

/// Password checks run at once, at most: each takes 19 MiB and tens of milliseconds of a core,
/// so a flood of sign-ins waits its turn instead of exhausting memory.
static HASHING: Semaphore = Semaphore::const_new(2);

/// Body of `POST /api/v1/tokens`. (No `Debug`: it holds a password.)
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignInRequest {
    /// The user's email address.
    #[schema(example = "priya.shah@school.example.org")]
    pub email: String,
    /// Their password.
    pub password: String,
    /// What the token is for, one line [default: `sign-in`].
    #[schema(schema_with = token_name)]
    pub name: Option<String>,
    /// Days until it stops working, 1 to 366 [default: 30].
    #[serde(default, deserialize_with = "whole_number")]
    #[schema(minimum = 1, maximum = 366)]
    pub expires_days: Option<u32>,
}

/// A whole number as JSON may write it: `7`, or `7.0` (the same number to JSON Schema and to
/// most JSON writers).
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    n.as_u64()
        .or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(f))
                .map(|f| f as u64)
        })
        .and_then(|n| u32::try_from(n).ok())
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom(format!("expected a whole number, not {n}")))
}

/// The schema of a token's name.
fn token_name() -> utoipa::openapi::Object {
    super::openapi::one_line_or_null(1, MAX_NAME)
}

/// The answer: the token, shown only now.
#[derive(Serialize, ToSchema)]
pub struct SignedIn {
    /// The token's id (what `escalate tokens revoke` takes).
    pub id: i64,
    /// The token: send it as `Authorization: Bearer TOKEN`.
    pub token: String,
    /// Its name.
    pub name: String,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// `POST /api/v1/tokens`: 201 with a new token for the user whose email address and password
/// these are; 401 otherwise, the same whatever was wrong.
#[utoipa::path(
    post,
    path = "/api/v1/tokens",
    tag = "sign-in",
    operation_id = "sign_in",
    request_body = SignInRequest,
    responses(
        (status = 201, description = "Signed in: a new token, shown only now.", body = SignedIn),
        (status = 400, response = super::openapi::BadRequest),
        (status = 401, description = "The email address or the password is not right (the \
            same answer whatever was wrong).", body = super::error::ErrorBody),
        (status = 413, response = super::openapi::TooLarge),
        (status = 415, response = super::openapi::UnsupportedMediaType),
        (status = 429, response = super::openapi::RateLimited),
        (status = 500, response = super::openapi::Internal),
        (status = 503, response = super::openapi::Unavailable)
    )
)]
pub async fn sign_in(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    body: Result<Json<SignInRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let failures = &state.failures;
    if let Some(wait) = ip.and_then(|ip| failures.by_address.blocked(&ip, Instant::now())) {
        return Err(rate_limited("from this address", wait));
    }
    let Json(request) = body.map_err(rejected)?;
    let days = request.expires_days.unwrap_or(DEFAULT_DAYS);
    if !(1..=MAX_TOKEN_DAYS).contains(&days) {
        return Err(ApiError::bad_request(format!(
            "expires_days must be 1 to {MAX_TOKEN_DAYS}"
        )));
    }
    let name = match request.name.as_deref().map(str::trim) {
        None => DEFAULT_NAME.to_string(),
        Some(n) if !n.is_empty() && crate::text::single_line(n, MAX_NAME).is_ok() => n.into(),
        Some(_) => {
            return Err(ApiError::bad_request(format!(
                "name must be one line of 1 to {MAX_NAME} characters"
            )));
        }
    };
    let user = match check_password(&state, ip, &request.email, request.password).await? {
        PasswordCheck::SignedIn(user) => user,
        PasswordCheck::Limited { who, wait } => return Err(rate_limited(who, wait)),
        PasswordCheck::Refused => {
            return Err(ApiError::unauthorized(
                "the email address or the password is not right",
            ));
        }
    };
    let token = state
        .engine
        .store()
        // Signing in is not an administrative change: not in the admin record.
        .issue_token(user.id, &name, days, Utc::now(), None)
        .await?;
    tracing::info!(
        user_id = user.id,
        token_id = token.id,
        "signed in with a password"
    );
    Ok((
        StatusCode::CREATED,
        Json(SignedIn {
            id: token.id,
            token: token.secret,
            name,
            expires_at: token.expires_at,
        }),
    )
        .into_response())
}

/// What a password sign-in came to.
pub enum PasswordCheck {
    /// The address and password are an enabled user's: failures for the account are forgotten.
    SignedIn(UserRecord),
    /// Too many failures `who` ("from this address", "for this account"): try again in `wait`.
    Limited {
        /// Whose failures.
        who: &'static str,
        /// How long until the window ends.
        wait: Duration,
    },
    /// Wrong in some way, the same whatever it was; counted per address and per account.
    Refused,
}

/// Checks `email` and `password` for a sign-in from `ip`, the one check both the API's
/// `POST /api/v1/tokens` and the web UI's sign-in page make: past either failure limit it
/// refuses before the password is looked at; otherwise it does the argon2 work whether or not
/// there is an account, and counts a failure per address and per account.
pub async fn check_password(
    state: &AppState,
    ip: Option<IpAddr>,
    email: &str,
    password: String,
) -> Result<PasswordCheck, ApiError> {
    let failures = &state.failures;
    if let Some(wait) = ip.and_then(|ip| failures.by_address.blocked(&ip, Instant::now())) {
        return Ok(PasswordCheck::Limited {
            who: "from this address",
            wait,
        });
    }
    // Text that is not an address is no account: answered as an unknown one, and counted
    // against the client's address only.
    let email = UserEmail::parse(email).ok();
    let account = email.as_ref().map(|e| e.as_str().to_string());
    if let Some(wait) = account
        .as_ref()
        .and_then(|a| failures.by_account.blocked(a, Instant::now()))
    {
        return Ok(PasswordCheck::Limited {
            who: "for this account",
            wait,
        });
    }
    let user = match &email {
        Some(e) => state.engine.store().user(e.as_str()).await?,
        None => None,
    };
    let hash = user.as_ref().and_then(|u| u.password_hash.clone());
    let matched = {
        let _turn = HASHING.acquire().await.map_err(|_| internal())?;
        tokio::task::spawn_blocking(move || {
            credentials::verify_password_or_dummy(&password, hash.as_deref())
        })
        .await
        .map_err(|_| internal())?
    };
    // Why not, for the log: never the address typed (people type passwords into the wrong
    // box), the account's id when there is one.
    let refusal = match &user {
        None => Some((None, "no such account")),
        Some(u) if !matched && u.password_hash.is_none() => Some((Some(u.id), "no password")),
        Some(u) if !matched => Some((Some(u.id), "wrong password")),
        Some(u) if u.disabled_at.is_some() => Some((Some(u.id), "disabled")),
        Some(_) => None,
    };
    let (Some(user), None) = (user, refusal) else {
        let now = Instant::now();
        if let Some(ip) = ip {
            failures.by_address.failed(ip, now);
        }
        if let Some(account) = account {
            failures.by_account.failed(account, now);
        }
        let (user_id, why) = refusal.unwrap_or((None, "no such account"));
        tracing::warn!(?user_id, address = ?ip, why, "password sign-in refused");
        return Ok(PasswordCheck::Refused);
    };
    if let Some(account) = &account {
        failures.by_account.forget(account);
    }
    Ok(PasswordCheck::SignedIn(user))
}

/// 500 for a password check that could not run (its task panicked; it should not).
fn internal() -> ApiError {
    tracing::error!("a password check did not complete");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "the service cannot do this now; the operator has been told",
    )
}
