//! Who is asking: an `Authorization: Bearer esc_…` token, looked up by its hash. The acting
//! person is always this user, never a field of the request.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use chrono::Utc;

use super::AppState;
use super::error::ApiError;
use crate::access::credentials::{self, token_hash};
use crate::store::UserRecord;

/// Failed sign-ins allowed from one address in [`FAILURE_WINDOW`]; more are answered 429
/// without looking at the credentials, so guessing tokens or passwords is slow.
pub const MAX_FAILURES: u32 = 20;
/// The window failed sign-ins are counted in.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Addresses remembered at most: past this, windows that have ended are forgotten.
const REMEMBERED: usize = 10_000;

/// Failed sign-ins by client address, each counted in a fixed window.
#[derive(Debug, Default)]
pub struct Failures(Mutex<HashMap<IpAddr, (u32, Instant)>>);

impl Failures {
    /// How long `ip` must wait before trying again, if it has failed too often.
    fn blocked(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&ip).and_then(|(count, since)| {
            let elapsed = now.duration_since(*since);
            (*count >= MAX_FAILURES && elapsed < FAILURE_WINDOW).then(|| FAILURE_WINDOW - elapsed)
        })
    }

    /// Counts one failure from `ip`.
    fn failed(&self, ip: IpAddr, now: Instant) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= REMEMBERED {
            map.retain(|_, (_, since)| now.duration_since(*since) < FAILURE_WINDOW);
        }
        let entry = map.entry(ip).or_insert((0, now));
        if now.duration_since(entry.1) >= FAILURE_WINDOW {
            *entry = (0, now);
        }
        entry.0 += 1;
    }
}

/// The signed-in user and where the request came from.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user.
    pub user: UserRecord,
    /// The client's address, for the access log.
    pub address: Option<String>,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let now = Instant::now();
        if let Some(wait) = ip.and_then(|ip| state.failures.blocked(ip, now)) {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "too many failed sign-ins from this address; try again in {} s",
                    wait.as_secs().max(1)
                ),
            ));
        }
        let failed = |e: ApiError| {
            if let Some(ip) = ip {
                state.failures.failed(ip, now);
            }
            e
        };
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthorized("sign in: send Authorization: Bearer TOKEN"))?;
        // Only what could be a token reaches the database: anything else costs nothing.
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|t| credentials::is_token(t))
            .ok_or_else(|| {
                failed(ApiError::unauthorized(
                    "the Authorization header is not a bearer token",
                ))
            })?;
        let user = state
            .engine
            .store()
            .token_user(&token_hash(token), Utc::now())
            .await?
            // Unknown, revoked, expired, or its user disabled: the same answer for each.
            .ok_or_else(|| failed(ApiError::unauthorized("the token is not valid")))?;
        let address = ip.map(|ip| ip.to_string());
        Ok(Caller { user, address })
    }
}
