//! The admin pages through a real `escalate serve`, on each backend: a user added there can
//! sign in, and once disabled is signed out and cannot sign in again; a token made there is
//! shown once and works on the API until revoked; the directory and the workflows are
//! listed; every change is in the admin record; forged forms, hostile input and other roles
//! change nothing. In a real browser: each page passes axe at desktop and phone widths.

#[path = "common/browser.rs"]
#[allow(dead_code)]
mod browser;
mod common;

use common::web::{
    assert_page, assert_redirect, bearer_status, client, csrf_token, get, hidden, post, sign_in,
    unescape,
};
use common::{
    Served, TestDb, escalate, json, mail_dir, quiet, someone_and_priya, user_with_password,
};
use reqwest::{Client, StatusCode};

const PASSWORD: &str = "correct horse battery";
const ADMIN: &str = "ada.admin@partnership.example.org";
const PRIYA: &str = "priya.shah@school.example.org";
const NEW: &str = "bea.board@partnership.example.org";

/// Every user's address, as the command line lists them.
fn addresses(env: &[(&str, &str)]) -> Vec<String> {
    json(&escalate(&["users", "list", "--json"], env))
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap().to_string())
        .collect()
}

/// `GET base + path` as `web`, then `POST` `form` (with that page's CSRF token, and its
/// form key if it has one) to `to`.
async fn submit(
    web: &Client,
    base: &str,
    path: &str,
    to: &str,
    form: &[(&str, &str)],
) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let (status, _, html) = get(web, &format!("{base}{path}")).await;
    assert_eq!(status, StatusCode::OK, "{path}: {html}");
    let token = csrf_token(&html);
    let key = hidden(&html, "form_key");
    let mut fields = vec![("csrf_token", token.as_str())];
    fields.extend(key.as_deref().map(|k| ("form_key", k)));
    fields.extend_from_slice(form);
    post(web, &format!("{base}{to}"), Some(base), &fields).await
}

/// Presses the users page's disable button for `email`, as `web`.
async fn disable(
    web: &Client,
    base: &str,
    email: &str,
) -> (StatusCode, reqwest::header::HeaderMap, String) {
    submit(
        web,
        base,
        "/admin/users",
        "/admin/users/disable",
        &[("email", email)],
    )
    .await
}

/// `serve` on `db` (made [`quiet`], mail to `smtp`) with the administrator `ADMIN` and Priya
/// added, and a client signed in as the administrator (who starts on `/admin`): the
/// environment, the server, its URL and the client.
async fn signed_in_admin<'a>(
    db: &'a TestDb,
    smtp: &'a str,
) -> ([(&'static str, &'a str); 4], Served, String, Client) {
    let env = quiet(db, smtp);
    someone_and_priya(&db.url, ADMIN, "admin", PASSWORD);
    let served = Served::start(&env);
    let base = served.url.clone();
    let admin = client();
    let (status, headers, _) = sign_in(&admin, &base, ADMIN, PASSWORD).await;
    assert_redirect(status, &headers, "/admin");
    (env, served, base, admin)
}

/// The status of `GET /api/v1/cases` with `token`.
async fn api_status(base: &str, token: &str) -> StatusCode {
    bearer_status(&Client::new(), &format!("{base}/api/v1/cases"), token).await
}

#[tokio::test]
async fn administrators_manage_users_and_tokens_and_nothing_else_gets_through() {
    for db in TestDb::all() {
        let (_mail, smtp) = mail_dir();
        let (env, served, base, admin) = signed_in_admin(&db, &smtp).await;
        let (status, headers, _) = get(&admin, &format!("{base}/")).await;
        assert_redirect(status, &headers, "/admin");
        let (status, _, html) = get(&admin, &format!("{base}/admin")).await;
        assert_eq!(status, StatusCode::OK);
        assert_page(&html, "Admin");
        // The command line's changes so far (the directory, the two users), recorded as its.
        let recorded = html.matches("<li><strong>").count();
        assert_eq!(recorded, 3, "{html}");
        assert!(html.contains("command line (as "), "{html}");
        let before = addresses(&env);

        // Hostile or wrong input: the form again with an error summary; nobody added.
        let huge = "x".repeat(10_000);
        let shouted = ADMIN.to_uppercase();
        let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
            (
                vec![("email", "not an address"), ("role", "board")],
                "Enter an email address in the correct format",
            ),
            (
                vec![
                    ("email", "a@b.example\r\nBcc: x@y.example"),
                    ("role", "board"),
                ],
                "Enter an email address in the correct format",
            ),
            (
                vec![("email", NEW), ("role", "engine")],
                "Select a role from the list",
            ),
            (vec![("email", NEW)], "Select a role"),
            (
                vec![("email", NEW), ("role", "board"), ("name", "Bea\u{7}Board")],
                "Name contains a control character (U+0007) at character 4",
            ),
            (
                vec![
                    ("email", NEW),
                    ("role", "board"),
                    ("name", "Bea\u{202e}Board"),
                ],
                "Name contains a bidirectional override character",
            ),
            (
                vec![("email", NEW), ("role", "board"), ("name", &huge)],
                "Name must be 200 characters or fewer",
            ),
            (
                vec![("email", NEW), ("role", "board"), ("agency", "Nowhere")],
                "Select an agency from the directory",
            ),
            (
                vec![("email", NEW), ("role", "board"), ("password", "short")],
                "The password must be at least 12 characters",
            ),
            (
                vec![("email", &shouted), ("role", "board")],
                "A user with this email address exists already",
            ),
        ];
        for (form, message) in &cases {
            let (status, _, html) =
                submit(&admin, &base, "/admin/users/new", "/admin/users/new", form).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{form:?}");
            assert!(html.contains("govuk-error-summary"), "{form:?}");
            assert!(unescape(&html).contains(message), "{form:?}: {message}");
            assert_page(&html, "Error: Add a user");
            assert!(
                !html.contains("value=\"short\""),
                "a password is never shown back"
            );
        }
        // A megabyte: past the body limit, refused before anything is read.
        let megabyte = "x".repeat(1 << 20);
        let (status, headers, html) = submit(
            &admin,
            &base,
            "/admin/users/new",
            "/admin/users/new",
            &[("email", NEW), ("role", "board"), ("name", &megabyte)],
        )
        .await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        // Answered with the body unread: the client is told not to reuse the connection (hyper
        // says so itself for a body left unread; the envelope says it for every 413).
        assert_eq!(
            headers
                .get(reqwest::header::CONNECTION)
                .map(|v| v.as_bytes()),
            Some(&b"close"[..])
        );
        assert_page(&html, "Sorry, this form is too large");
        // No CSRF token, or another site's: 403.
        let plain = [("email", NEW), ("role", "board")];
        let (status, _, _) = post(
            &admin,
            &format!("{base}/admin/users/new"),
            Some(&base),
            &plain,
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (_, _, html) = get(&admin, &format!("{base}/admin/users/new")).await;
        let token = csrf_token(&html);
        let forged = [
            ("csrf_token", token.as_str()),
            ("email", NEW),
            ("role", "board"),
        ];
        let (status, _, _) = post(
            &admin,
            &format!("{base}/admin/users/new"),
            Some("http://evil.example"),
            &forged,
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(addresses(&env), before, "nothing written");
        let (_, _, html) = get(&admin, &format!("{base}/admin")).await;
        assert_eq!(html.matches("<li><strong>").count(), recorded);

        // Adding a board member with a password: they can sign in.
        let (status, headers, _) = submit(
            &admin,
            &base,
            "/admin/users/new",
            "/admin/users/new",
            &[
                ("email", NEW),
                ("name", "Bea Board"),
                ("role", "board"),
                ("agency", ""),
                ("password", "board password 1"),
            ],
        )
        .await;
        assert_redirect(status, &headers, "/admin/users");
        let (_, _, html) = get(&admin, &format!("{base}/admin/users")).await;
        assert!(
            html.contains(&format!("{NEW} was added as board.")),
            "{html}"
        );
        assert!(html.contains("Bea Board"));
        let (_, _, html) = get(&admin, &format!("{base}/admin/users")).await;
        assert!(!html.contains("was added"), "a notice is shown once");
        let bea = client();
        let (status, headers, _) = sign_in(&bea, &base, NEW, "board password 1").await;
        assert_redirect(status, &headers, "/reports");
        let (status, _, _) = get(&bea, &format!("{base}/reports")).await;
        assert_eq!(status, StatusCode::OK);
        // A board member is not an administrator.
        let (status, _, html) = get(&bea, &format!("{base}/admin/users")).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_page(&html, "You cannot see this");

        // Disabling her: her session ends at once and she cannot sign in again.
        for (email, message) in [
            (ADMIN, "You cannot disable your own account"),
            (
                "nobody@partnership.example.org",
                "There is no user with this email address",
            ),
        ] {
            let (status, _, html) = disable(&admin, &base, email).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{email}");
            assert!(html.contains(message), "{email}: {message}");
        }
        let (status, headers, _) = disable(&admin, &base, NEW).await;
        assert_redirect(status, &headers, "/admin/users");
        let (status, headers, _) = get(&bea, &format!("{base}/reports")).await;
        assert_redirect(status, &headers, "/sign-in");
        let (status, _, html) = sign_in(&bea, &base, NEW, "board password 1").await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("Enter a correct email address and password"));
        let (status, _, html) = disable(&admin, &base, NEW).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(html.contains("This user is disabled already"));

        // A token for Priya: shown once, works on the API, stops when revoked.
        for (form, message) in [
            (
                vec![("user", PRIYA), ("token_name", ""), ("expires", "30")],
                "Enter a name for the token",
            ),
            (
                vec![("user", PRIYA), ("token_name", "log"), ("expires", "0")],
                "Enter a number of days from 1 to 366",
            ),
            (
                vec![
                    ("user", PRIYA),
                    ("token_name", "log"),
                    ("expires", "99999999999999999999"),
                ],
                "Enter a number of days from 1 to 366",
            ),
            (
                vec![("user", PRIYA), ("token_name", "a\nb"), ("expires", "30")],
                "The token's name contains a line break",
            ),
            (
                vec![
                    ("user", "ghost@school.example.org"),
                    ("token_name", "log"),
                    ("expires", "30"),
                ],
                "There is no user with this email address",
            ),
            (
                vec![("user", NEW), ("token_name", "log"), ("expires", "30")],
                "This user is disabled",
            ),
        ] {
            let (status, _, html) = submit(
                &admin,
                &base,
                "/admin/tokens/new",
                "/admin/tokens/new",
                &form,
            )
            .await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{form:?}");
            assert!(unescape(&html).contains(message), "{form:?}: {message}");
            assert!(html.contains("href=\"#"), "the summary links to the field");
        }
        let (_, _, html) = get(&admin, &format!("{base}/admin/tokens")).await;
        assert!(html.contains("There are no tokens."), "nothing made");
        let (status, _, html) = submit(
            &admin,
            &base,
            "/admin/tokens/new",
            "/admin/tokens/new",
            &[
                ("user", PRIYA),
                ("token_name", "school log"),
                ("expires", "30"),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{html}");
        assert_page(&html, "Token made");
        let at = html.find("value=\"esc_").expect("the token") + "value=\"".len();
        let secret = html[at..].split('"').next().unwrap().to_string();
        assert_eq!(api_status(&base, &secret).await, StatusCode::OK);
        let (_, _, html) = get(&admin, &format!("{base}/admin/tokens")).await;
        assert!(html.contains("school log") && html.contains(PRIYA));
        assert!(!html.contains(&secret), "shown only once");
        let id = html
            .split("name=\"id\" value=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_string();
        let (status, headers, _) = submit(
            &admin,
            &base,
            "/admin/tokens",
            "/admin/tokens/revoke",
            &[("id", &id)],
        )
        .await;
        assert_redirect(status, &headers, "/admin/tokens");
        assert_eq!(api_status(&base, &secret).await, StatusCode::UNAUTHORIZED);
        for bad in [id.as_str(), "999", "x"] {
            let (_, _, html) = get(&admin, &format!("{base}/admin/tokens")).await;
            let token = csrf_token(&html);
            let (status, _, html) = post(
                &admin,
                &format!("{base}/admin/tokens/revoke"),
                Some(&base),
                &[("csrf_token", &token), ("id", bad)],
            )
            .await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
            assert!(html.contains("govuk-error-summary"), "{bad}");
        }

        // The directory and the workflows.
        let (status, _, html) = get(&admin, &format!("{base}/admin/agencies")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("Riverside Primary School") && html.contains("riverside-primary"));
        let (status, _, html) = submit(
            &admin,
            &base,
            "/admin/agencies/import",
            "/admin/agencies/import",
            &[("directory", "agencies: [")],
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            html.contains("The directory cannot be imported: pasted directory:"),
            "{html}"
        );
        let listed = json(&escalate(&["agencies", "list", "--json"], &env));
        let file = std::fs::read_to_string("config/agencies.yaml").unwrap();
        let (status, headers, _) = submit(
            &admin,
            &base,
            "/admin/agencies/import",
            "/admin/agencies/import",
            &[("directory", &file)],
        )
        .await;
        assert_redirect(status, &headers, "/admin/agencies");
        assert_eq!(
            json(&escalate(&["agencies", "list", "--json"], &env)),
            listed
        );
        let (status, _, html) = get(&admin, &format!("{base}/admin/workflows")).await;
        assert_eq!(status, StatusCode::OK);
        let versions = json(&escalate(
            &["workflows", "versions", "dispute", "--json"],
            &env,
        ));
        assert!(html.contains("Professional disagreement"));
        assert!(
            html.contains(versions["current"].as_str().unwrap()),
            "{html}"
        );

        // Every change, in the admin record, by whom and from where.
        let (_, _, html) = get(&admin, &format!("{base}/admin")).await;
        for line in [
            format!("{ADMIN} added the user {NEW} (board, with a password), from 127.0.0.1"),
            format!("{ADMIN} disabled the user {NEW}, from 127.0.0.1"),
            format!("{ADMIN} made token {id} of {PRIYA}"),
            format!("{ADMIN} revoked token {id} of {PRIYA}, from 127.0.0.1"),
            format!("{ADMIN} replaced the agency directory"),
        ] {
            assert!(unescape(&html).contains(&line), "{line} in {html}");
        }
        assert_eq!(
            html.matches("<li><strong>").count(),
            recorded + 5,
            "nothing else recorded"
        );
        // The command line's changes are recorded too, as its account.
        let o = escalate(&["tokens", "revoke", "999"], &env);
        assert_eq!(o.status.code(), Some(1));
        let o = escalate(&["users", "disable", PRIYA], &env);
        assert!(o.status.success());
        let (_, _, html) = get(&admin, &format!("{base}/admin")).await;
        assert!(
            unescape(&html).contains(&format!("disabled the user {PRIYA}")),
            "{html}"
        );
        assert_eq!(html.matches("<li><strong>").count(), recorded + 6);

        // Someone who is not an administrator: the 403 page, even with a good token.
        user_with_password(
            &db.url,
            "pat@school.example.org",
            "practitioner",
            None,
            PASSWORD,
        );
        let pat = client();
        sign_in(&pat, &base, "pat@school.example.org", PASSWORD).await;
        for path in [
            "/admin",
            "/admin/users",
            "/admin/users/new",
            "/admin/tokens",
            "/admin/tokens/new",
            "/admin/agencies",
            "/admin/agencies/import",
            "/admin/workflows",
        ] {
            let (status, _, html) = get(&pat, &format!("{base}{path}")).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
            assert_page(&html, "You cannot see this");
        }
        let (_, _, html) = get(&pat, &format!("{base}/")).await;
        let token = csrf_token(&html);
        let (status, _, _) = post(
            &pat,
            &format!("{base}/admin/users/new"),
            Some(&base),
            &[
                ("csrf_token", &token),
                ("email", "mallory@school.example.org"),
                ("role", "admin"),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(!addresses(&env).contains(&"mallory@school.example.org".to_string()));
        drop(served);
    }
}

#[tokio::test]
async fn a_token_form_sent_again_makes_no_second_token() {
    for db in TestDb::all() {
        let (_mail, smtp) = mail_dir();
        let (env, _served, base, admin) = signed_in_admin(&db, &smtp).await;
        let tokens = || json(&escalate(&["tokens", "list", "--json"], &env));
        let url = format!("{base}/admin/tokens/new");
        let (_, _, html) = get(&admin, &url).await;
        let csrf = csrf_token(&html);
        let key = hidden(&html, "form_key").expect("a form key");
        let form = |key: &str| {
            [
                ("csrf_token", csrf.clone()),
                ("form_key", key.to_string()),
                ("user", PRIYA.to_string()),
                ("token_name", "school log".to_string()),
                ("expires", "30".to_string()),
            ]
        };
        let send = |fields: [(&'static str, String); 5]| {
            let admin = admin.clone();
            let (url, base) = (url.clone(), base.clone());
            async move {
                let fields: Vec<(&str, &str)> =
                    fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
                post(&admin, &url, Some(&base), &fields).await
            }
        };
        let (status, _, made) = send(form(&key)).await;
        assert_eq!(status, StatusCode::OK, "{made}");
        assert!(made.contains("value=\"esc_"), "{made}");
        let id = tokens()[0]["id"].as_i64().unwrap();

        // The browser's reload of that page sends the same form again: no second token, and
        // no secret, but which token it made.
        let (status, _, again) = send(form(&key)).await;
        assert_eq!(status, StatusCode::CONFLICT, "{again}");
        assert_page(&again, "Token made already");
        assert!(
            unescape(&again).contains(&format!("This form made token {id} of {PRIYA} already")),
            "{again}"
        );
        assert!(!again.contains("esc_"), "a secret is shown once only");
        assert_eq!(tokens().as_array().unwrap().len(), 1);

        // A new form has a new key and makes a new token; sent twice at once (a double
        // click), it makes one.
        let (_, _, html) = get(&admin, &url).await;
        let second = hidden(&html, "form_key").unwrap();
        assert_ne!(second, key, "each form has its own key");
        let (a, b) = tokio::join!(send(form(&second)), send(form(&second)));
        let mut statuses = [a.0, b.0];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::OK, StatusCode::CONFLICT],
            "{} {}",
            a.2,
            b.2
        );
        assert_eq!(tokens().as_array().unwrap().len(), 2);

        // A form without a key, or with one no form was given: refused, nothing made.
        let long = "f".repeat(33);
        for bad in [
            "",
            "../../etc/passwd",
            &long,
            "0123456789ABCDEF0123456789ABCDEF",
            "\u{0}",
        ] {
            let (status, _, html) = send(form(bad)).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad:?}");
            assert!(html.contains("govuk-error-summary"), "{bad:?}");
            assert!(html.contains("This form is out of date"), "{bad:?}: {html}");
        }
        let fields = [
            ("csrf_token", csrf.as_str()),
            ("user", PRIYA),
            ("token_name", "school log"),
            ("expires", "30"),
        ];
        let (status, _, _) = post(&admin, &url, Some(&base), &fields).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(tokens().as_array().unwrap().len(), 2);

        // The admin record has the two tokens made, once each.
        let (_, _, html) = get(&admin, &format!("{base}/admin")).await;
        assert_eq!(
            unescape(&html)
                .matches(&format!("{ADMIN} made token"))
                .count(),
            2,
            "{html}"
        );
    }
}

#[tokio::test]
async fn two_administrators_disabling_each_other_at_once_leave_one_and_are_told_why() {
    use sqlx::Connection;
    // PostgreSQL, where the test can hold the lock both disables need, so that both are
    // waiting for it when it is let go (on SQLite one process serves them one at a time).
    let Some(db) = TestDb::postgres() else {
        return;
    };
    const OTHER: &str = "bo.admin@partnership.example.org";
    let (_mail, smtp) = mail_dir();
    let env = quiet(&db, &smtp);
    user_with_password(&db.url, ADMIN, "admin", None, PASSWORD);
    user_with_password(&db.url, OTHER, "admin", None, PASSWORD);
    let served = Served::start(&env);
    let base = served.url.clone();
    let mut pressing = Vec::new();
    let mut lock = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let mut held = lock.begin().await.unwrap();
    sqlx::query("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut *held)
        .await
        .unwrap();
    for (me, them) in [(ADMIN, OTHER), (OTHER, ADMIN)] {
        let web = client();
        sign_in(&web, &base, me, PASSWORD).await;
        let base = base.clone();
        pressing.push(tokio::spawn(
            async move { disable(&web, &base, them).await },
        ));
    }
    // Both are waiting for the lock, past every check before the store's. Watched from a
    // connection of its own, outside any transaction: within one, PostgreSQL shows the same
    // pg_stat_activity snapshot to every read (so a count read early never grew).
    let mut watch = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let started = std::time::Instant::now();
    loop {
        let (waiting,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&mut watch)
        .await
        .unwrap();
        if waiting == 2 {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(120),
            "{waiting} waiting"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    held.commit().await.unwrap();
    let mut answers = Vec::new();
    for p in pressing {
        answers.push(p.await.unwrap());
    }
    answers.sort_by_key(|(status, _, _)| *status);
    let [(done, headers, _), (refused, _, html)] = &answers[..] else {
        unreachable!()
    };
    assert_redirect(*done, headers, "/admin/users");
    assert_eq!(*refused, StatusCode::BAD_REQUEST, "{html}");
    assert!(html.contains("govuk-error-summary"), "{html}");
    assert!(
        html.contains("This is the last administrator who can sign in"),
        "{html}"
    );
    let enabled: Vec<serde_json::Value> = json(&escalate(&["users", "list", "--json"], &env))
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["disabled_at"].is_null())
        .cloned()
        .collect();
    assert_eq!(enabled.len(), 1, "{enabled:?}");
}

#[tokio::test]
async fn the_first_administrator_starts_on_the_admin_pages_and_is_in_the_record() {
    for db in TestDb::all() {
        let env = [("ESCALATE_DATABASE_URL", db.url.as_str())];
        let served = Served::start(&env);
        let (email, password) = common::printed_sign_in(&served.printed());
        let web = client();
        let (status, headers, _) = sign_in(&web, &served.url, &email, &password).await;
        assert_redirect(status, &headers, "/admin");
        let (_, _, html) = get(&web, &format!("{}/admin", served.url)).await;
        let added = format!(
            "serve (first start) added the user {email} (admin, its password printed once)"
        );
        assert!(unescape(&html).contains(&added), "{html}");
        assert!(!html.contains(&password), "the password is not recorded");
    }
}

#[tokio::test]
async fn every_admin_page_passes_axe_and_fits_a_phone() {
    use browser::{Browser, DESKTOP, PHONE};
    use fantoccini::Locator;
    let db = TestDb::sqlite();
    let (_mail, smtp) = mail_dir();
    let env = quiet(&db, &smtp);
    someone_and_priya(&db.url, ADMIN, "admin", PASSWORD);
    let o = escalate(&["tokens", "create", PRIYA, "--name", "school log"], &env);
    assert!(o.status.success());
    common::open_dispute(&env, None);
    let served = Served::start(&env);
    for (size, name) in [(DESKTOP, "desktop"), (PHONE, "phone")] {
        let Some(browser) = Browser::start(size).await else {
            return;
        };
        let c = &browser.client;
        browser.sign_in(&served.url, ADMIN, PASSWORD).await;
        assert!(c.current_url().await.unwrap().path().ends_with("/admin"));
        for (path, shot) in [
            ("/admin", "admin"),
            ("/admin/users", "admin-users"),
            ("/admin/users/new", "admin-user-new"),
            ("/admin/tokens", "admin-tokens"),
            ("/admin/tokens/new", "admin-token-new"),
            ("/admin/agencies", "admin-agencies"),
            ("/admin/agencies/import", "admin-agencies-import"),
            ("/admin/workflows", "admin-workflows"),
        ] {
            c.goto(&format!("{}{path}", served.url)).await.unwrap();
            browser
                .check_page(&format!("{path} at {name}"), &format!("{shot}-{name}"))
                .await;
        }
        // The add-a-user form with its errors, as a browser sends it.
        c.goto(&format!("{}/admin/users/new", served.url))
            .await
            .unwrap();
        browser.type_into("email", "not an address").await;
        browser
            .submit("/admin/users/new", ".govuk-error-summary")
            .await;
        browser
            .check_page(
                &format!("the form's errors at {name}"),
                &format!("admin-user-errors-{name}"),
            )
            .await;
        // A token made, shown once.
        c.goto(&format!("{}/admin/tokens/new", served.url))
            .await
            .unwrap();
        c.find(Locator::Css(&format!("#user option[value='{PRIYA}']")))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        browser.type_into("token_name", "case system").await;
        browser.submit("/admin/tokens/new", "#secret").await;
        let secret = c.find(Locator::Id("secret")).await.unwrap();
        let token = secret.prop("value").await.unwrap().unwrap_or_default();
        assert!(token.starts_with("esc_"), "{token}");
        browser
            .check_page(
                &format!("the token made at {name}"),
                &format!("admin-token-made-{name}"),
            )
            .await;
        browser.stop().await;
    }
}
