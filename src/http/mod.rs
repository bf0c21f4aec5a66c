//! The HTTP side of `escalate serve`: the JSON API under `/api/v1`, the unauthenticated
//! `/healthz` and `/readyz`, and the web UI's pages ([`crate::web`]). Every handler asks
//! [`crate::access::policy`] before it reads or changes a case, and records what it did in
//! the access log.

pub mod assets;
pub mod auth;
pub mod cases;
pub mod error;
pub mod extract;
pub mod feed;
pub mod lists;
pub mod metrics;
pub mod openapi;
pub mod reference;
pub mod signin;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::engine::Engine;
use error::ApiError;
use utoipa::ToSchema;

/// The largest request body accepted (a case's opening data is a few kilobytes; its summary
/// at most 10,000 characters).
pub const BODY_LIMIT: usize = 256 * 1024;

/// What every handler shares: the engine (and through it the store), built once per process.
#[derive(Clone)]
pub struct AppState {
    /// The engine.
    pub engine: Arc<Engine>,
    /// Numbers requests for their ids.
    requests: Arc<AtomicU64>,
    /// Failed sign-ins by client address.
    pub failures: Arc<auth::Failures>,
    /// Requests answered, for `/metrics`.
    pub requests_seen: Arc<metrics::Requests>,
    /// The division whose holidays apply when a request names none.
    pub division: crate::calendar::Division,
    /// Where people reach the service (`mail.base_url`), for the addresses it hands out.
    pub base_url: String,
    /// The web UI's templates and settings.
    pub web: Arc<crate::web::Web>,
}

impl AppState {
    /// State around `engine`, with `division` the configured default and `web` the UI's.
    pub fn new(
        engine: Arc<Engine>,
        division: crate::calendar::Division,
        web: crate::web::Web,
    ) -> Self {
        AppState {
            engine,
            requests: Arc::default(),
            failures: Arc::default(),
            requests_seen: Arc::default(),
            division,
            base_url: "http://localhost:8080".into(),
            web: Arc::new(web),
        }
    }

    /// The same, handing out addresses under `base_url`.
    pub fn with_base_url(mut self, base_url: &str) -> Self {
        self.base_url = base_url.trim_end_matches('/').to_string();
        self
    }
}

/// Every route: those of the OpenAPI document ([`openapi::routes`]), and a JSON 404 for the rest.
pub fn router(state: AppState) -> Router {
    let (routes, _document) = openapi::routes().split_for_parts();
    routes
        // The web UI's static files: not part of the JSON API's document.
        .route("/assets/{digest}/{name}", axum::routing::get(assets::serve))
        .merge(crate::web::routes(&state))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn_with_state(state.clone(), envelope))
        .with_state(state)
}

/// Serves `router(state)` on `listener` until `stop` turns true; requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        let _ = stop.wait_for(|stopping| *stopping).await;
    })
    .await
}

/// Around every request: an id (`X-Request-Id`, logged with the method, route and status,
/// never a body, a query or a header's value) and the security headers.
async fn envelope(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let id = format!(
        "{:x}-{}",
        std::process::id(),
        state.requests.fetch_add(1, Ordering::Relaxed)
    );
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    // The route's template, never the reference in it, for the metrics.
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
    let started = std::time::Instant::now();
    let mut response = next.run(request).await;
    let status = response.status();
    state
        .requests_seen
        .observe(method.as_str(), &route, status.as_u16(), started.elapsed());
    // The path can hold a case reference, which is not child data; queries are not logged,
    // nor anything that may be a secret.
    let path = loggable(&path);
    tracing::info!(
        request_id = %id,
        %method,
        path = %crate::text::for_terminal(&path),
        status = status.as_u16(),
        micros = started.elapsed().as_micros() as u64,
        "request"
    );
    let headers = response.headers_mut();
    // A body past the limit is answered unread: the rest of it is still on the connection, so
    // the client must not send its next request there (a form post right after a too-large
    // one met a closed connection half-way through its body).
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        headers.insert(HeaderName::from_static("x-request-id"), value);
    }
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'",
        ),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    }
    response
}

/// The answer of `/healthz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// The answer of `/readyz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ready {
    /// `ready`.
    #[schema(example = "ready")]
    pub status: &'static str,
    /// The database schema's version, this build's.
    pub schema_version: i64,
}

/// A request's path as it is logged: any segment that may hold a secret (a calendar feed's
/// address is its credential; a token may be pasted anywhere) replaced by `{secret}`,
/// wherever it comes in the path and whatever its letter case.
fn loggable(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            let lower = segment.to_ascii_lowercase();
            if lower.contains("cal_") || lower.contains("esc_") {
                "{secret}"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// `GET /healthz`: the process is up.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "probes",
    operation_id = "healthz",
    responses((status = 200, description = "The process is up.", body = Health))
)]
async fn healthz() -> axum::Json<Health> {
    axum::Json(Health { status: "ok" })
}

/// `GET /readyz`: the database answers and its schema is this build's.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "probes",
    operation_id = "readyz",
    responses(
        (status = 200, description = "The database answers and its schema is this build's.", body = Ready),
        (status = 503, response = openapi::Unavailable)
    )
)]
async fn readyz(State(state): State<AppState>) -> Result<axum::Json<Ready>, ApiError> {
    let version = state.engine.store().schema_version().await?;
    let wanted = crate::store::latest_schema();
    if version != Some(wanted) {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            format!(
                "the database schema is at version {}, this build needs {wanted}: run escalate migrate",
                version.unwrap_or(0)
            ),
        ));
    }
    Ok(axum::Json(Ready {
        status: "ready",
        schema_version: wanted,
    }))
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such resource")
}

#[cfg(test)]
mod tests {
    use super::loggable;

    #[test]
    fn secrets_never_reach_the_log_wherever_they_are_in_a_path() {
        let feed = format!("cal_{}", "ab".repeat(32));
        assert_eq!(
            loggable(&format!("/calendar/{feed}.ics")),
            "/calendar/{secret}"
        );
        assert_eq!(
            loggable(&format!("//x/calendar/{}.ics", feed.to_uppercase())),
            "//x/calendar/{secret}"
        );
        assert_eq!(
            loggable("/api/v1/cases/DSP-2026-000001"),
            "/api/v1/cases/DSP-2026-000001"
        );
        assert_eq!(loggable(&format!("/esc_{}", "0".repeat(64))), "/{secret}");
    }
}
