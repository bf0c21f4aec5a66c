//! The web UI's static files (GOV.UK Frontend's CSS and JavaScript, vendored by
//! `scripts/vendor-frontend`), built into the binary so that nothing is read or fetched at run
//! time. Each is served under a path holding a digest of its content,
//! `/assets/{digest}/{name}`, so it can be cached for a year: a new build with other bytes
//! has another path.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::error::ApiError;

/// One file: its name, content type and bytes.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
    digest: String,
}

/// Every static file, with the digest in its path.
static ASSETS: LazyLock<Vec<Asset>> = LazyLock::new(|| {
    [
        (
            "govuk-frontend.min.css",
            "text/css; charset=utf-8",
            &include_bytes!("../../static/govuk/govuk-frontend.min.css")[..],
        ),
        (
            "govuk-frontend.min.js",
            "text/javascript; charset=utf-8",
            &include_bytes!("../../static/govuk/govuk-frontend.min.js")[..],
        ),
    ]
    .into_iter()
    .map(|(name, content_type, bytes)| Asset {
        name,
        content_type,
        bytes,
        digest: crate::text::hex(&Sha256::digest(bytes)[..8]),
    })
    .collect()
});

/// The path `name` is served at, e.g. `/assets/1f2e…/govuk-frontend.min.css`; `None` for a
/// file there is not.
pub fn url(name: &str) -> Option<String> {
    ASSETS
        .iter()
        .find(|a| a.name == name)
        .map(|a| format!("/assets/{}/{}", a.digest, a.name))
}

/// `GET /assets/{digest}/{name}`: the file, cacheable for a year, or 404 when the digest is
/// not this build's (a page of an older build asks for what it was given).
pub async fn serve(Path((digest, name)): Path<(String, String)>) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.name == name && a.digest == digest) else {
        return ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such file").into_response();
    };
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
        ],
        asset.bytes,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_file_is_at_a_path_of_its_digest() {
        let css = url("govuk-frontend.min.css").unwrap();
        let digest = css.split('/').nth(2).unwrap();
        assert_eq!(digest.len(), 16);
        let bytes = include_bytes!("../../static/govuk/govuk-frontend.min.css");
        assert_eq!(digest, crate::text::hex(&Sha256::digest(bytes)[..8]));
        // No font of GOV.UK's own: the build names Arial.
        let text = String::from_utf8_lossy(bytes);
        assert!(!text.contains("GDS Transport") && !text.contains(".woff"));
        assert!(text.contains("arial"));
        assert_eq!(url("nothing.css"), None);
    }

    #[tokio::test]
    async fn a_file_is_served_for_a_year_only_at_its_digest() {
        let css = url("govuk-frontend.min.css").unwrap();
        let digest = css.split('/').nth(2).unwrap().to_string();
        let response = serve(Path((digest, "govuk-frontend.min.css".into()))).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()[header::CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "text/css; charset=utf-8"
        );
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        assert_eq!(
            &body[..],
            include_bytes!("../../static/govuk/govuk-frontend.min.css")
        );
        let stale = serve(Path(("0".repeat(16), "govuk-frontend.min.css".into()))).await;
        assert_eq!(stale.status(), StatusCode::NOT_FOUND);
    }
}
