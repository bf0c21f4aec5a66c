//! Who is asking: an `Authorization: Bearer esc_…` token, looked up by its hash. The acting
//! person is always this user, never a field of the request.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use chrono::Utc;

use super::AppState;
use super::error::ApiError;
use crate::access::credentials::{self, token_hash};
use crate::store::UserRecord;

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
                ApiError::unauthorized("the Authorization header is not a bearer token")
            })?;
        let user = state
            .engine
            .store()
            .token_user(&token_hash(token), Utc::now())
            .await?
            // Unknown, revoked, expired, or its user disabled: the same answer for each.
            .ok_or_else(|| ApiError::unauthorized("the token is not valid"))?;
        let address = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string());
        Ok(Caller { user, address })
    }
}
