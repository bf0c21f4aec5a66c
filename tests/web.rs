//! The web UI through a real `escalate serve`, on each backend: signing in (and the forms'
//! CSRF and same-origin checks), My cases, signing out; the session cookie's attributes and
//! its renewal at sign-in; the pages' headers (a CSP that allows exactly their inline scripts)
//! and markup (language, skip link). The session rows themselves: expiry and purging.

mod common;

use chrono::{Duration, SubsecRound, Utc};
use common::web::{
    PASSWORD, PRIYA, add_priya, assert_inline_scripts_allowed, assert_page, assert_redirect,
    client, csrf_token, get, post,
};
use common::{Served, TestDb, escalate, json, open_dispute, quiet, stderr};
use reqwest::header::{HeaderMap, SET_COOKIE};
use reqwest::{Client, StatusCode, redirect};

/// The session cookie `Set-Cookie` gives (`escalate=…` on plain HTTP), whole.
fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("escalate="))
}

/// The cookie's value (the session id).
fn cookie_value(cookie: &str) -> String {
    cookie["escalate=".len()..]
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

/// `GET /` with the session id `id` as its only cookie (as someone who kept it would send it).
async fn my_cases_with(base: &str, id: &str) -> (StatusCode, HeaderMap) {
    let r = Client::builder()
        .redirect(redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{base}/"))
        .header("cookie", format!("escalate={id}"))
        .send()
        .await
        .unwrap();
    (r.status(), r.headers().clone())
}

/// Priya's right email address and password, with the form's `token`.
fn right_with(token: &str) -> [(&'static str, &str); 3] {
    [
        ("csrf_token", token),
        ("email", PRIYA),
        ("password", PASSWORD),
    ]
}

#[tokio::test]
async fn signing_in_shows_my_cases_and_every_form_is_guarded() {
    for db in TestDb::all() {
        let mail = tempfile::tempdir().unwrap();
        let smtp = format!("file://{}", mail.path().display());
        let env = quiet(&db, &smtp);
        add_priya(&db.url);
        let mine = open_dispute(&env, None);
        // Another agency's case, which Priya is no party to.
        let theirs = json(&escalate(
            &[
                "case",
                "open",
                "--workflow",
                "referral",
                "--data",
                "examples/referral.json",
                "--by",
                "jo.patel@nursery.example.org",
                "--json",
            ],
            &env,
        ))["reference"]
            .as_str()
            .unwrap()
            .to_string();
        let served = Served::start(&env);
        let base = served.url.clone();
        let origin = Some(base.as_str());
        let web = client();

        // Signed out, My cases sends one to sign in.
        let (status, headers, _) = get(&web, &format!("{base}/")).await;
        assert_redirect(status, &headers, "/sign-in");

        let (status, headers, html) = get(&web, &format!("{base}/sign-in")).await;
        assert_eq!(status, StatusCode::OK);
        assert_page(&html, "Sign in");
        assert_inline_scripts_allowed(&html, headers["content-security-policy"].to_str().unwrap());
        assert_eq!(headers["cache-control"], "no-store");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        // A signed-out session, for the form's token: HttpOnly, Lax, the whole site; not
        // Secure (and so not __Host-) on plain HTTP.
        let anonymous = session_cookie(&headers).expect("a session cookie");
        for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=1800"] {
            assert!(
                anonymous.contains(attribute),
                "{anonymous} lacks {attribute}"
            );
        }
        assert!(!anonymous.contains("Secure"), "{anonymous}");
        let token = csrf_token(&html);
        assert_eq!(token.len(), 64);
        let sign_in = format!("{base}/sign-in");
        let right = right_with(&token);

        // No token, a wrong one, another site's Origin, or none: 403, and not signed in.
        let zeros = "0".repeat(64);
        let refusals = [
            (origin, vec![("email", PRIYA), ("password", PASSWORD)]),
            (
                origin,
                vec![
                    ("csrf_token", &zeros),
                    ("email", PRIYA),
                    ("password", PASSWORD),
                ],
            ),
            (
                origin,
                vec![("csrf_token", ""), ("email", PRIYA), ("password", PASSWORD)],
            ),
            (Some("http://evil.example"), right.to_vec()),
            (None, right.to_vec()),
        ];
        for (from, form) in &refusals {
            let (status, _, html) = post(&web, &sign_in, *from, form).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{from:?} {html}");
            assert_page(&html, "Sorry, this form could not be sent");
        }
        let (status, headers, _) = get(&web, &format!("{base}/")).await;
        assert_redirect(status, &headers, "/sign-in");

        // A wrong password, or an unknown address: the same error summary, the address kept.
        for (email, password) in [
            (PRIYA, "wrong password"),
            ("nobody@school.example.org", PASSWORD),
        ] {
            let (status, _, html) = post(
                &web,
                &sign_in,
                origin,
                &[
                    ("csrf_token", &token),
                    ("email", email),
                    ("password", password),
                ],
            )
            .await;
            assert_eq!(status, StatusCode::OK);
            assert!(html.contains("govuk-error-summary"), "{html}");
            assert!(html.contains("Enter a correct email address and password"));
            assert!(html.contains(&format!("value=\"{email}\"")), "{html}");
            assert_page(&html, "Error: Sign in");
        }

        // Signing in: 303 to My cases, under a new session id.
        let (status, headers, _) = post(&web, &sign_in, origin, &right).await;
        assert_redirect(status, &headers, "/");
        let signed_in = session_cookie(&headers).expect("a new session cookie");
        assert_ne!(
            cookie_value(&signed_in),
            cookie_value(&anonymous),
            "fixation"
        );
        // The id from before sign-in signs nobody in.
        let (status, headers) = my_cases_with(&base, &cookie_value(&anonymous)).await;
        assert_redirect(status, &headers, "/sign-in");

        let (status, headers, html) = get(&web, &format!("{base}/")).await;
        assert_eq!(status, StatusCode::OK, "{html}");
        assert_page(&html, "My cases");
        assert_inline_scripts_allowed(&html, headers["content-security-policy"].to_str().unwrap());
        assert_eq!(headers["cache-control"], "no-store");
        assert!(html.contains(&mine), "{html}");
        assert!(!html.contains(&theirs), "another agency's case is listed");
        assert!(html.contains("Signed in as Priya Shah"));
        assert!(html.contains("govuk-service-navigation"));
        // Filters: by workflow and by reference.
        let (_, _, html) = get(&web, &format!("{base}/?workflow=referral")).await;
        assert!(!html.contains(&mine) && html.contains("No cases match these filters."));
        let (_, _, html) = get(
            &web,
            &format!("{base}/?workflow=dispute&q={}", &mine[mine.len() - 6..]),
        )
        .await;
        assert!(html.contains(&mine), "{html}");
        let (status, _, html) = get(&web, &format!("{base}/?workflow=nothing")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_page(&html, "There is a problem with the filters");

        // The API takes no session cookie: bearer tokens only.
        let (status, _, _) = get(&web, &format!("{base}/api/v1/cases")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);

        // Signing out: the page's token, then 303 to sign in, the cookies cleared.
        let (_, _, html) = get(&web, &format!("{base}/")).await;
        let token = csrf_token(&html);
        let sign_out = format!("{base}/sign-out");
        let (status, _, _) = post(&web, &sign_out, origin, &[("csrf_token", "x")]).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, headers, _) = post(&web, &sign_out, origin, &[("csrf_token", &token)]).await;
        assert_redirect(status, &headers, "/sign-in");
        assert_eq!(headers["clear-site-data"], "\"cookies\"");
        let (status, headers, _) = get(&web, &format!("{base}/")).await;
        assert_redirect(status, &headers, "/sign-in");
        // The signed-in id, kept by someone, no longer works either.
        let (status, headers) = my_cases_with(&base, &cookie_value(&signed_in)).await;
        assert_redirect(status, &headers, "/sign-in");

        // Past the failure limit for an account: 429, even with the right password.
        let fresh = client();
        let (_, _, html) = get(&fresh, &sign_in).await;
        let token = csrf_token(&html);
        let ghost = "ghost@school.example.org";
        let guess = [
            ("csrf_token", token.as_str()),
            ("email", ghost),
            ("password", "guess"),
        ];
        for _ in 0..10 {
            let (status, _, html) = post(&fresh, &sign_in, origin, &guess).await;
            assert_eq!(status, StatusCode::OK);
            assert!(html.contains("Enter a correct email address and password"));
        }
        let (status, headers, html) = post(&fresh, &sign_in, origin, &guess).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert!(headers.contains_key("retry-after"));
        assert_page(&html, "Too many attempts to sign in");

        // A user disabled while signed in is signed out at their next request.
        let (status, headers, _) = post(&fresh, &sign_in, origin, &right_with(&token)).await;
        assert_redirect(status, &headers, "/");
        let (status, _, _) = get(&fresh, &format!("{base}/")).await;
        assert_eq!(status, StatusCode::OK);
        let o = escalate(&["users", "disable", PRIYA], &env);
        assert!(o.status.success(), "{}", stderr(&o));
        let (status, headers, _) = get(&fresh, &format!("{base}/")).await;
        assert_redirect(status, &headers, "/sign-in");
    }
}

#[tokio::test]
async fn expired_sessions_are_not_loaded_and_are_purged() {
    use escalate::store::SessionRow;
    for db in TestDb::all() {
        let store = escalate::store::connect(&db.url).await.unwrap();
        store.migrate().await.unwrap();
        // Both backends keep microseconds.
        let now = Utc::now().trunc_subsecs(6);
        let row = |minutes: i64| SessionRow {
            data: "{}".into(),
            expires_at: now + Duration::minutes(minutes),
        };
        assert!(store.create_session("old", &row(-1)).await.unwrap());
        assert!(store.create_session("new", &row(30)).await.unwrap());
        assert!(
            !store.create_session("new", &row(5)).await.unwrap(),
            "taken"
        );
        assert_eq!(store.load_session("old", now).await.unwrap(), None);
        let loaded = store.load_session("new", now).await.unwrap().unwrap();
        assert_eq!(loaded.expires_at, row(30).expires_at);
        // Saving replaces, and moves the expiry.
        store
            .save_session(
                "new",
                &SessionRow {
                    data: "{\"a\":1}".into(),
                    ..row(40)
                },
            )
            .await
            .unwrap();
        let loaded = store.load_session("new", now).await.unwrap().unwrap();
        assert_eq!(loaded.data, "{\"a\":1}");
        assert_eq!(store.purge_sessions(now).await.unwrap(), 1);
        assert_eq!(store.purge_sessions(now).await.unwrap(), 0);
        assert_eq!(
            store
                .purge_sessions(now + Duration::hours(1))
                .await
                .unwrap(),
            1
        );
        assert_eq!(store.load_session("new", now).await.unwrap(), None);
        store.delete_session("new").await.unwrap();
    }
}
