//! API errors: one JSON shape, `{"error": code, "message": …}`, with the status that says what
//! happened. Bad input is never a 500; a database that is down is a 503.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::engine::EngineError;
use crate::store::StoreError;
use crate::workflow::Refusal;

/// The body of every answer that is not a success.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// A stable code clients can branch on, e.g. `not_found`, `bad_request`, `stale`.
    #[schema(example = "not_found")]
    pub error: String,
    /// One line for a person.
    #[schema(example = "no case with reference 'DSP-2026-000042'")]
    pub message: String,
}

/// An answer that is not a success.
#[derive(Debug)]
pub struct ApiError {
    /// The status.
    pub status: StatusCode,
    /// A stable code clients can branch on, e.g. `not_found`.
    pub code: &'static str,
    /// One line for a person.
    pub message: String,
    /// Seconds to wait before trying again (`Retry-After`), when rate limited.
    pub retry_after: Option<u64>,
    /// The request's field at fault, when a workflow's refusal names one (a form puts its
    /// error message beside that field).
    pub field: Option<String>,
}

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
            field: None,
        }
    }

    /// 429: try again in `seconds`.
    pub fn rate_limited(seconds: u64, message: impl Into<String>) -> Self {
        ApiError {
            retry_after: Some(seconds),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message)
        }
    }

    /// 401: no credentials, or ones that sign nobody in.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 403: seen, but not this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404, worded the same whether the case does not exist or may not be seen.
    pub fn no_case(reference: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no case with reference '{reference}'"),
        )
    }

    /// 400: a request that does not parse.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(ErrorBody {
                error: self.code.to_string(),
                message: self.message,
            }),
        )
            .into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"escalate\""),
            );
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(_) => Self::new(StatusCode::CONFLICT, "conflict", e.to_string()),
            StoreError::Duplicate(_) => Self::new(StatusCode::CONFLICT, "duplicate", e.to_string()),
            StoreError::Damaged(_) => {
                tracing::error!("damaged data: {e}");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "damaged",
                    "stored data is damaged; the operator has been told",
                )
            }
            // A row that does not decode is a fault of the service, not of the database's
            // availability: a retry would meet it again.
            StoreError::Database(ref db) if ours(db) => {
                tracing::error!("database: {e}");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the service cannot do this now; the operator has been told",
                )
            }
            // Unreachable, failing or mid-migration: the service is not available now. The
            // detail (which may name the host) goes to the log, not the client.
            _ => {
                tracing::error!("database: {e}");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the database is not answering; try again shortly",
                )
            }
        }
    }
}

/// Whether a database error is the service's own fault, which a retry would meet again: a row
/// or value that does not decode or encode, or a statement PostgreSQL refuses as written
/// (SQLSTATE class 42: an unknown column, a type mismatch).
fn ours(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::Decode(_)
        | sqlx::Error::Encode(_)
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::ColumnIndexOutOfBounds { .. }
        | sqlx::Error::TypeNotFound { .. } => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| code.starts_with("42")),
        _ => false,
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Store(e) => e.into(),
            EngineError::UnknownReference(r) => Self::no_case(&r),
            EngineError::Stale { .. } => Self::new(StatusCode::CONFLICT, "stale", e.to_string()),
            // The workflow gives this event to other roles: the case is visible, the act not.
            EngineError::Refused(Refusal::NotAllowed { .. }) => {
                Self::new(StatusCode::FORBIDDEN, "forbidden", e.to_string())
            }
            EngineError::Refused(
                Refusal::MissingField { ref field, .. }
                | Refusal::UnknownField { ref field, .. }
                | Refusal::BadChoice { ref field, .. }
                | Refusal::BadField { ref field, .. },
            ) => ApiError {
                field: Some(field.clone()),
                ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "refused", e.to_string())
            },
            EngineError::Refused(_)
            | EngineError::Backdated { .. }
            | EngineError::NotInvolved { .. }
            | EngineError::LinkedStillOpen { .. }
            | EngineError::UnknownWorkflow(..)
            | EngineError::Future { .. } => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "refused", e.to_string())
            }
            EngineError::UnknownVersion(..)
            | EngineError::WorkflowFiles(_)
            | EngineError::Tampered(_) => {
                tracing::error!("{e}");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the service cannot do this now; the operator has been told",
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_that_does_not_decode_is_the_service_at_fault_not_the_database_away() {
        let fault = ApiError::from(StoreError::Database(sqlx::Error::ColumnNotFound(
            "next".into(),
        )));
        assert_eq!(fault.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(fault.code, "internal");
        let unsent = ApiError::from(StoreError::Database(sqlx::Error::Encode(
            "a value out of range".into(),
        )));
        assert_eq!(unsent.status, StatusCode::INTERNAL_SERVER_ERROR);
        let away = ApiError::from(StoreError::Database(sqlx::Error::PoolTimedOut));
        assert_eq!(away.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(away.code, "unavailable");
    }
}
