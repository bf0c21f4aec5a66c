//! The web UI's static files (GOV.UK Frontend's CSS and JavaScript, vendored by
//! `scripts/vendor-frontend`), built into the binary so that nothing is read or fetched at run
//! time. Each is served under a path holding a digest of its content,
//! `/assets/{digest}/{name}`, so it can be cached for a year: a new build with other bytes
//! has another path. Each is also kept gzip-compressed (about a sixth of the size), and sent
//! so to a browser that accepts it: a first visit then costs well under 150 KB. HTML pages
//! are not compressed, because they hold a CSRF token beside text a visitor can choose
//! (BREACH).

use std::sync::LazyLock;

use std::io::Write as _;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::error::ApiError;

/// One file: its name, content type and bytes.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
    gzip: Vec<u8>,
    digest: String,
}

/// `bytes` gzip-compressed at the best level (done once, at the first request).
fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(bytes);
    encoder.finish().unwrap_or_default()
}

/// Does `Accept-Encoding` accept gzip (named, or `*`, with a quality above zero)?
fn accepts_gzip(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mut gzip = None;
    let mut any = None;
    for item in value.split(',') {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let quality = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .filter_map(|q| q.trim().parse::<f32>().ok())
            .next()
            .unwrap_or(1.0);
        match coding.as_str() {
            "gzip" | "x-gzip" => gzip = Some(quality),
            "*" => any = Some(quality),
            _ => {}
        }
    }
    gzip.or(any).is_some_and(|q| q > 0.0)
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
        gzip: gzip(bytes),
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

/// `GET /assets/{digest}/{name}`: the file (gzipped when the client accepts it), cacheable
/// for a year, or 404 when the digest is not this build's (a page of an older build asks for
/// what it was given).
pub async fn serve(Path((digest, name)): Path<(String, String)>, headers: HeaderMap) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.name == name && a.digest == digest) else {
        return ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such file").into_response();
    };
    let gzipped = accepts_gzip(&headers);
    let mut response = (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
            (header::VARY, HeaderValue::from_static("Accept-Encoding")),
        ],
        if gzipped {
            asset.gzip.clone()
        } else {
            asset.bytes.to_vec()
        },
    )
        .into_response();
    if gzipped {
        response
            .headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
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
        let response = serve(
            Path((digest.clone(), "govuk-frontend.min.css".into())),
            HeaderMap::new(),
        )
        .await;
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
        let stale = serve(
            Path(("0".repeat(16), "govuk-frontend.min.css".into())),
            HeaderMap::new(),
        )
        .await;
        assert_eq!(stale.status(), StatusCode::NOT_FOUND);

        // A browser's Accept-Encoding gets the gzipped bytes, which inflate to the file.
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("gzip, deflate, br, zstd"),
        );
        let response = serve(Path((digest, "govuk-frontend.min.css".into())), headers).await;
        assert_eq!(response.headers()[header::CONTENT_ENCODING], "gzip");
        assert_eq!(response.headers()[header::VARY], "Accept-Encoding");
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        assert!(body.len() * 4 < bytes_len(), "{} bytes gzipped", body.len());
        let mut inflated = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&body[..]), &mut inflated)
            .unwrap();
        assert_eq!(
            &inflated[..],
            include_bytes!("../../static/govuk/govuk-frontend.min.css")
        );
    }

    fn bytes_len() -> usize {
        include_bytes!("../../static/govuk/govuk-frontend.min.css").len()
    }

    #[test]
    fn gzip_is_sent_only_when_accepted() {
        let accepts = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(
                header::ACCEPT_ENCODING,
                HeaderValue::from_str(value).unwrap(),
            );
            accepts_gzip(&headers)
        };
        assert!(!accepts_gzip(&HeaderMap::new()));
        assert!(accepts("gzip"));
        assert!(accepts("br;q=1.0, GZIP;q=0.5"));
        assert!(accepts("*"));
        assert!(!accepts("gzip;q=0"));
        assert!(!accepts("gzip;q=0.0, *;q=1"));
        assert!(!accepts("identity"));
        assert!(!accepts("br, deflate"));
        assert!(!accepts("*;q=0"));
    }
}
