//! The web UI as a browser without JavaScript sees it, for the web tests: a client that keeps
//! cookies and does not follow redirects, the forms' CSRF tokens, and the checks every page
//! passes.

use base64::Engine as _;
use reqwest::header::{HeaderMap, LOCATION};
use reqwest::{Client, StatusCode, redirect};
use sha2::{Digest, Sha256};

/// A client with a cookie jar that does not follow redirects.
pub fn client() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(redirect::Policy::none())
        .build()
        .unwrap()
}

/// The hidden `csrf_token` of the page's (first) form.
pub fn csrf_token(html: &str) -> String {
    hidden(html, "csrf_token").expect("a csrf_token field")
}

/// The value of the page's first hidden field `name`, if it has one.
pub fn hidden(html: &str, name: &str) -> Option<String> {
    let field = format!("name=\"{name}\" value=\"");
    let at = html.find(&field)? + field.len();
    Some(html[at..].split('"').next()?.to_string())
}

/// `GET url`: status, headers, body.
pub async fn get(client: &Client, url: &str) -> (StatusCode, HeaderMap, String) {
    let r = client.get(url).send().await.unwrap();
    (r.status(), r.headers().clone(), r.text().await.unwrap())
}

/// `POST url` with `form`, from `origin` when given.
pub async fn post(
    client: &Client,
    url: &str,
    origin: Option<&str>,
    form: &[(&str, &str)],
) -> (StatusCode, HeaderMap, String) {
    let mut request = client.post(url).form(form);
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    let r = request.send().await.unwrap();
    (r.status(), r.headers().clone(), r.text().await.unwrap())
}

/// The status of `GET url` with the bearer token `token`.
pub async fn bearer_status(client: &Client, url: &str, token: &str) -> StatusCode {
    client
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}

/// A 303 to `to`.
pub fn assert_redirect(status: StatusCode, headers: &HeaderMap, to: &str) {
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[LOCATION], to);
}

/// Every inline script of `html` (a `<script>` with no `src`) is allowed by the CSP `csp` by
/// its SHA-256, and there is at least one.
pub fn assert_inline_scripts_allowed(html: &str, csp: &str) {
    let mut seen = 0;
    for part in html.split("<script").skip(1) {
        let (attributes, rest) = part.split_once('>').unwrap();
        if attributes.contains("src=") {
            continue;
        }
        let body = rest.split("</script>").next().unwrap();
        let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(body));
        assert!(
            csp.contains(&format!("'sha256-{hash}'")),
            "{body:?} is not allowed by {csp}"
        );
        seen += 1;
    }
    assert!(seen >= 1, "no inline script in the page");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert!(csp.contains("form-action 'self'") && csp.contains("frame-ancestors 'none'"));
}

/// A GOV.UK page's markup: English (UK), a skip link to the main content, a title.
pub fn assert_page(html: &str, title: &str) {
    assert!(html.contains("<html lang=\"en-GB\""), "{html}");
    assert!(html.contains("class=\"govuk-skip-link\""));
    assert!(html.contains("href=\"#main-content\"") && html.contains("id=\"main-content\""));
    assert!(
        html.contains(&format!("<title>{title} – escalate</title>")),
        "title {title}: {html}"
    );
    assert!(!html.contains("govuk-logo") && !html.contains("Crown copyright"));
}

/// Signs `client` in at `base` as `email` with `password`: the answer to the form's POST.
pub async fn sign_in(
    client: &Client,
    base: &str,
    email: &str,
    password: &str,
) -> (StatusCode, HeaderMap, String) {
    let (_, _, html) = get(client, &format!("{base}/sign-in")).await;
    let token = csrf_token(&html);
    post(
        client,
        &format!("{base}/sign-in"),
        Some(base),
        &[
            ("csrf_token", &token),
            ("email", email),
            ("password", password),
        ],
    )
    .await
}

/// Text as it was before HTML escaping (minijinja's, in text and attributes).
pub fn unescape(html: &str) -> String {
    html.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&#x2f;", "/")
        .replace("&amp;", "&")
}

/// The password the web tests give the users they add with [`add_priya`].
pub const PASSWORD: &str = "correct horse battery";

/// Priya Shah, a practitioner at Riverside Primary School, who raises the example dispute.
pub const PRIYA: &str = "priya.shah@school.example.org";

/// Adds Priya ([`PRIYA`]) by name, signing in with [`PASSWORD`], to the database at `url`.
pub fn add_priya(url: &str) {
    let school = Some("riverside-primary");
    super::user_named(
        url,
        PRIYA,
        "practitioner",
        school,
        Some("Priya Shah"),
        PASSWORD,
    );
}

/// `escalate serve` on a test database with the example agency directory, mail written to
/// files and no sweep: where a web test starts.
pub struct Site {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The server, stopped when the site is dropped.
    pub served: super::Served,
    env: Vec<(&'static str, String)>,
    mail: tempfile::TempDir,
}

impl Site {
    /// Serves the database `db`.
    pub fn start(db: &super::TestDb) -> Site {
        let (mail, smtp) = super::mail_dir();
        let env: Vec<(&'static str, String)> = super::quiet(db, &smtp)
            .iter()
            .map(|(k, v)| (*k, v.to_string()))
            .collect();
        let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let served = super::Served::start(&pairs);
        Site {
            base: served.url.clone(),
            served,
            env,
            mail,
        }
    }

    /// Its `ESCALATE_*` variables, for the command line on the same database.
    pub fn env(&self) -> Vec<(&str, &str)> {
        self.env.iter().map(|(k, v)| (*k, v.as_str())).collect()
    }

    /// The directory its mail is written to (one `.eml` file a message, once delivered).
    pub fn mail(&self) -> &std::path::Path {
        self.mail.path()
    }
}

/// The soonest pending lapse deadline of case `reference`, as the pages show it (London).
pub fn next_due_shown(env: &[(&str, &str)], reference: &str) -> String {
    let case = super::json(&super::escalate(
        &["case", "show", reference, "--json"],
        env,
    ));
    let due = case["deadlines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["status"] == "pending" && d["kind"] == "lapse")
        .filter_map(|d| d["due_at"].as_str())
        .min()
        .map(|t| t.parse::<chrono::DateTime<chrono::Utc>>().unwrap())
        .expect("a pending deadline");
    due.with_timezone(&chrono_tz::Europe::London)
        .format("%a %-d %b %Y at %-I:%M%P")
        .to_string()
}
