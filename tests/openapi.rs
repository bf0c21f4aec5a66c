//! The API's OpenAPI document: the committed `docs/openapi.json` is what the code generates
//! (so an API change shows in review), `escalate openapi` prints it, and `serve` answers it,
//! unauthenticated, at `/api/v1/openapi.json`.
//!
//! After changing the API, regenerate it with
//! `UPDATE_OPENAPI=1 cargo test --test openapi` (or `escalate openapi > docs/openapi.json`).

mod common;

use common::{Served, TestDb, escalate, stderr, stdout};
use serde_json::Value;

const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json");

/// Fails, naming the first line that differs, unless `actual` is the committed document.
/// With `UPDATE_OPENAPI` set, first writes the generated document there (once per run).
fn assert_committed(actual: &str, what: &str) {
    static UPDATE: std::sync::Once = std::sync::Once::new();
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        UPDATE.call_once(|| {
            std::fs::write(COMMITTED, escalate::http::openapi::json()).unwrap();
        });
    }
    let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
    if committed == actual {
        return;
    }
    let line = committed
        .lines()
        .zip(actual.lines())
        .position(|(a, b)| a != b)
        .unwrap_or_else(|| committed.lines().count().min(actual.lines().count()));
    panic!(
        "{what} differs from docs/openapi.json from line {}:\n  committed: {}\n  {what}: {}\n\
         Regenerate it with `UPDATE_OPENAPI=1 cargo test --test openapi` and review the diff.",
        line + 1,
        committed.lines().nth(line).unwrap_or("(end)"),
        actual.lines().nth(line).unwrap_or("(end)"),
    );
}

#[test]
fn the_committed_document_is_the_one_the_code_generates() {
    assert_committed(escalate::http::openapi::json(), "the generated document");
}

#[test]
fn the_document_is_openapi_3_1_with_every_route_and_its_errors() {
    let doc: Value = serde_json::from_str(escalate::http::openapi::json()).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let paths = doc["paths"].as_object().unwrap();
    for route in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/api/v1/openapi.json",
        "/api/v1/tokens",
        "/api/v1/calendar/feed",
        "/calendar/{file}",
        "/api/v1/cases",
        "/api/v1/deadlines",
        "/api/v1/cases/{reference}",
        "/api/v1/cases/{reference}/events",
        "/api/v1/cases/{reference}/events/allowed",
        "/api/v1/workflows",
        "/api/v1/workflows/{name}",
        "/api/v1/agencies",
        "/api/v1/calendar/due",
        "/api/v1/reports/monthly/{month}",
    ] {
        assert!(paths.contains_key(route), "{route} is not documented");
    }
    for (route, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            let responses = operation["responses"].as_object().unwrap();
            let secured = operation.get("security").is_some();
            // Every route behind a token says so, and answers 401 (and 429) in the error shape.
            assert_eq!(
                secured,
                ![
                    "/healthz",
                    "/readyz",
                    "/api/v1/openapi.json",
                    "/api/v1/tokens",
                    "/calendar/{file}"
                ]
                .contains(&route.as_str()),
                "{method} {route}"
            );
            if secured {
                for status in ["401", "429", "503"] {
                    assert!(
                        responses.contains_key(status),
                        "{method} {route} lacks {status}"
                    );
                }
            }
            for (status, response) in responses {
                if !status.starts_with('2') {
                    // A shared response (`$ref`), or one of the operation's own.
                    let response = match response["$ref"].as_str() {
                        Some(name) => {
                            &doc["components"]["responses"][name.rsplit('/').next().unwrap()]
                        }
                        None => response,
                    };
                    assert_eq!(
                        response["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/ErrorBody",
                        "{method} {route} {status}"
                    );
                }
            }
        }
    }
}

#[test]
fn escalate_openapi_prints_the_committed_document() {
    let o = escalate(&["openapi"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_committed(&stdout(&o), "escalate openapi");
}

#[tokio::test]
async fn serve_answers_the_committed_document_without_a_token() {
    let db = TestDb::sqlite();
    let served = Served::start(&[("ESCALATE_DATABASE_URL", db.url.as_str())]);
    let response = reqwest::get(format!("{}/api/v1/openapi.json", served.url))
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_committed(&response.text().await.unwrap(), "the served document");
}
