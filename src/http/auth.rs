//! Who is asking: an `Authorization: Bearer esc_…` token, looked up by its hash. The acting
//! person is always this user, never a field of the request.
//!
//! Failed sign-ins are counted ([`Failures`]) per client address, and failed password sign-ins
//! (`POST /api/v1/tokens`) per account too. A wrong bearer token is counted per address only:
//! a token names no account (it is 256 random bits looked up by hash), so a guess at one is
//! not a guess at anyone's.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use chrono::Utc;

use super::AppState;
use super::error::ApiError;
use crate::access::credentials::{self, token_hash};
use crate::store::UserRecord;

/// How many failures a key may have in a window before it is refused until the window ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Failures allowed in one window; more are answered 429 without looking at the
    /// credentials, so guessing tokens or passwords is slow.
    pub max: u32,
    /// The window failures are counted in, from the first one.
    pub window: Duration,
}

/// Failed sign-ins (tokens or passwords) allowed from one address in [`FAILURE_WINDOW`].
pub const MAX_FAILURES: u32 = 20;
/// The window failed sign-ins from one address are counted in.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// The limit per client address.
pub const PER_ADDRESS: Limit = Limit {
    max: MAX_FAILURES,
    window: FAILURE_WINDOW,
};
/// The limit per account (email address) on failed password sign-ins, from any addresses: an
/// attacker spread over many addresses still gets 10 guesses a quarter of an hour.
pub const PER_ACCOUNT: Limit = Limit {
    max: 10,
    window: Duration::from_secs(15 * 60),
};
/// Keys remembered at most before windows that have ended are forgotten.
const REMEMBERED: usize = 10_000;

/// Failures by key, each key's counted in a fixed window that starts at its first failure.
#[derive(Debug)]
pub struct Counter<K> {
    limit: Limit,
    seen: Mutex<HashMap<K, (u32, Instant)>>,
}

impl<K: Hash + Eq> Counter<K> {
    /// An empty counter with this limit.
    pub fn new(limit: Limit) -> Self {
        Counter {
            limit,
            seen: Mutex::default(),
        }
    }

    /// How long `key` must wait before trying again, if it has failed too often.
    pub fn blocked(&self, key: &K, now: Instant) -> Option<Duration> {
        let map = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let Limit { max, window } = self.limit;
        map.get(key).and_then(|(count, since)| {
            let elapsed = now.saturating_duration_since(*since);
            (*count >= max && elapsed < window).then(|| window - elapsed)
        })
    }

    /// Counts one failure of `key`.
    pub fn failed(&self, key: K, now: Instant) {
        let mut map = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let window = self.limit.window;
        if map.len() >= REMEMBERED {
            map.retain(|_, (_, since)| now.saturating_duration_since(*since) < window);
        }
        let entry = map.entry(key).or_insert((0, now));
        if now.saturating_duration_since(entry.1) >= window {
            *entry = (0, now);
        }
        entry.0 += 1;
    }

    /// Forgets `key`'s failures (its owner has just proved who they are).
    pub fn forget(&self, key: &K) {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }
}

/// Failed sign-ins by client address (tokens and passwords alike) and failed password
/// sign-ins by account (lower-case email address). Per process: limits slow guessing down,
/// correctness never depends on them.
#[derive(Debug)]
pub struct Failures {
    /// By client address.
    pub by_address: Counter<IpAddr>,
    /// By account, the email address in lower case.
    pub by_account: Counter<String>,
}

impl Default for Failures {
    fn default() -> Self {
        Failures {
            by_address: Counter::new(PER_ADDRESS),
            by_account: Counter::new(PER_ACCOUNT),
        }
    }
}

/// 429, saying who is limited and when to try again (also in `Retry-After`).
pub fn rate_limited(who: &str, wait: Duration) -> ApiError {
    // Whole seconds, rounded up: a client that waits as told is not refused again.
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    ApiError::rate_limited(
        seconds.max(1),
        format!(
            "too many failed sign-ins {who}; try again in {} s",
            seconds.max(1)
        ),
    )
}

/// The client's address, when the server was started with it (`serve` always is).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
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
        let Ok(ClientIp(ip)) = ClientIp::from_request_parts(parts, state).await;
        let now = Instant::now();
        // A valid token is let in even from an address that has failed too often: tokens are
        // 256 random bits, so the limit only has guesses to slow down, and an address many
        // people share (a proxy, an office) must not lock all of them out. Past the limit, a
        // bad token is answered 429 instead of 401.
        let failed = |e: ApiError| {
            let Some(ip) = ip else { return e };
            if let Some(wait) = state.failures.by_address.blocked(&ip, now) {
                return rate_limited("from this address", wait);
            }
            state.failures.by_address.failed(ip, now);
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

#[cfg(test)]
mod tests {
    use super::*;

    const SHORT: Limit = Limit {
        max: 3,
        window: Duration::from_secs(60),
    };

    #[test]
    fn a_key_is_refused_past_its_limit_until_its_window_ends() {
        let counter = Counter::new(SHORT);
        let start = Instant::now();
        let at = |s: u64| start + Duration::from_secs(s);
        for s in 0..3 {
            assert_eq!(counter.blocked(&"a", at(s)), None, "failure {s} is allowed");
            counter.failed("a", at(s));
        }
        // Three failures from 0 s: refused until 60 s after the first, then let in again.
        assert_eq!(counter.blocked(&"a", at(3)), Some(Duration::from_secs(57)));
        assert_eq!(counter.blocked(&"a", at(59)), Some(Duration::from_secs(1)));
        assert_eq!(counter.blocked(&"b", at(3)), None, "other keys are not");
        assert_eq!(counter.blocked(&"a", at(60)), None);
        // A failure after the window starts a new one, counted from one.
        counter.failed("a", at(61));
        counter.failed("a", at(62));
        assert_eq!(counter.blocked(&"a", at(62)), None);
        counter.failed("a", at(63));
        assert_eq!(counter.blocked(&"a", at(63)), Some(Duration::from_secs(58)));
        // Proving who one is forgets the failures.
        counter.forget(&"a");
        assert_eq!(counter.blocked(&"a", at(63)), None);
    }

    #[test]
    fn failures_spread_in_time_within_one_window_still_count() {
        let counter = Counter::new(SHORT);
        let start = Instant::now();
        for s in [0, 30, 59] {
            counter.failed("a", start + Duration::from_secs(s));
        }
        let wait = counter.blocked(&"a", start + Duration::from_millis(59_500));
        assert_eq!(wait, Some(Duration::from_millis(500)));
        let e = rate_limited("for this account", wait.unwrap());
        assert_eq!(e.retry_after, Some(1), "rounded up, never 0");
        assert_eq!(
            e.message,
            "too many failed sign-ins for this account; try again in 1 s"
        );
    }

    #[test]
    fn ended_windows_are_forgotten_when_the_table_is_full() {
        let counter = Counter::new(SHORT);
        let start = Instant::now();
        for i in 0..REMEMBERED {
            counter.failed(i, start);
        }
        counter.failed(REMEMBERED, start + Duration::from_secs(61));
        assert_eq!(counter.seen.lock().unwrap().len(), 1);
    }

    #[test]
    fn the_limits_are_per_address_and_per_account() {
        let f = Failures::default();
        assert_eq!(f.by_address.limit, PER_ADDRESS);
        assert_eq!(f.by_account.limit, PER_ACCOUNT);
    }
}
