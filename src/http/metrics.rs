//! `GET /metrics`: Prometheus text format, for an administrator's token (a scraper is given
//! one): the database's gauges and this process's HTTP requests by route and status, with
//! latency histograms. Routes are templates (`/api/v1/cases/{reference}`), never a reference.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;

use super::AppState;
use super::auth::Caller;
use super::error::ApiError;
use crate::access::policy;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// One route's and status's requests.
#[derive(Debug, Default, Clone)]
struct Series {
    count: u64,
    sum: f64,
    /// Cumulative counts per bucket.
    buckets: [u64; BUCKETS.len()],
}

/// HTTP requests by (method, route, status).
#[derive(Debug, Default)]
pub struct Requests(Mutex<BTreeMap<(String, String, u16), Series>>);

impl Requests {
    /// Counts one request.
    pub fn observe(&self, method: &str, route: &str, status: u16, took: Duration) {
        let seconds = took.as_secs_f64();
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let s = map
            .entry((method.to_string(), route.to_string(), status))
            .or_default();
        s.count += 1;
        s.sum += seconds;
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                s.buckets[i] += 1;
            }
        }
    }
}

/// A label value, escaped as the text format asks.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// `GET /metrics`.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    operation_id = "metrics",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Prometheus text format: cases by workflow and state, \
            deadlines pending and overdue, outbox messages by status, job runs, and this \
            process's HTTP requests by route and status with latency histograms.",
            body = String, content_type = "text/plain"),
        (status = 403, response = super::openapi::Forbidden),
        super::openapi::NeedsToken
    )
)]
pub async fn metrics(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    if !policy::may_administer(caller.user.role) {
        return Err(ApiError::forbidden(
            "metrics are for an administrator's token",
        ));
    }
    let g = state.engine.store().gauges(Utc::now()).await?;
    let mut body = String::new();
    let mut section = |name: &str, help: &str, kind: &str, rows: Vec<String>| {
        let _ = writeln!(body, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for row in rows {
            body.push_str(&row);
            body.push('\n');
        }
    };
    section(
        "escalate_cases",
        "Cases by workflow and state.",
        "gauge",
        g.cases
            .iter()
            .map(|(w, s, n)| {
                format!(
                    "escalate_cases{{workflow=\"{}\",state=\"{}\"}} {n}",
                    label(w),
                    label(s)
                )
            })
            .collect(),
    );
    section(
        "escalate_deadlines_pending",
        "Deadlines waiting for their time, by kind.",
        "gauge",
        g.pending
            .iter()
            .map(|(k, n)| format!("escalate_deadlines_pending{{kind=\"{}\"}} {n}", label(k)))
            .collect(),
    );
    section(
        "escalate_deadlines_overdue",
        "Pending deadlines already due (not yet swept), by kind.",
        "gauge",
        g.overdue
            .iter()
            .map(|(k, n)| format!("escalate_deadlines_overdue{{kind=\"{}\"}} {n}", label(k)))
            .collect(),
    );
    section(
        "escalate_outbox_messages",
        "Outbox messages by status.",
        "gauge",
        g.outbox
            .iter()
            .map(|(s, n)| format!("escalate_outbox_messages{{status=\"{}\"}} {n}", label(s)))
            .collect(),
    );
    section(
        "escalate_job_runs",
        "Claimed runs of each scheduled job, labelled with the last one's outcome.",
        "gauge",
        g.jobs
            .iter()
            .map(|(j, o, n)| {
                format!(
                    "escalate_job_runs{{job=\"{}\",last_outcome=\"{}\"}} {n}",
                    label(j),
                    label(o)
                )
            })
            .collect(),
    );
    let requests = state
        .requests_seen
        .0
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let mut rows = Vec::new();
    for ((method, route, status), s) in &requests {
        let labels = format!(
            "method=\"{}\",route=\"{}\",status=\"{status}\"",
            label(method),
            label(route)
        );
        for (bound, n) in BUCKETS.iter().zip(s.buckets) {
            rows.push(format!(
                "escalate_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {n}"
            ));
        }
        rows.push(format!(
            "escalate_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
            s.count
        ));
        rows.push(format!(
            "escalate_http_request_duration_seconds_sum{{{labels}}} {}",
            s.sum
        ));
        rows.push(format!(
            "escalate_http_request_duration_seconds_count{{{labels}}} {}",
            s.count
        ));
    }
    section(
        "escalate_http_request_duration_seconds",
        "HTTP requests by method, route and status, and how long they took.",
        "histogram",
        rows,
    );
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(response)
}
