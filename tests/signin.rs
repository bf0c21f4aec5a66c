//! Signing in with a password (`POST /api/v1/tokens`) through a real `escalate serve` on each
//! backend: a right password gets a working token; every wrong answer looks the same; failures
//! are limited per client address and per account; and the first start of `serve` adds an
//! administrator whose password it prints once, never logs.

mod common;

use std::net::IpAddr;

use common::web::bearer_status as get_with;
use common::{Served, TestDb, answer, escalate, json, printed_sign_in, stderr, with_stdin};
use reqwest::StatusCode;
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery";

/// Adds practitioners, each with `PASSWORD` unless it says false.
fn add_users(url: &str, users: &[(&str, bool)]) {
    for (email, password) in users {
        let mut args = vec!["users", "add", email, "--role", "practitioner"];
        if *password {
            args.push("--password-stdin");
        }
        let o = with_stdin(&args, url, format!("{PASSWORD}\n").as_bytes());
        assert!(o.status.success(), "{}", stderr(&o));
    }
}

/// A client whose connections come from `ip` (any 127.0.0.0/8 address works on Linux).
fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

/// `POST /api/v1/tokens` with `body` (JSON text) from `client`.
async fn sign_in(
    client: &reqwest::Client,
    base: &str,
    body: &str,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    answer(
        client
            .post(format!("{base}/api/v1/tokens"))
            .header("content-type", "application/json")
            .body(body.to_string()),
    )
    .await
}

fn credentials(email: &str, password: &str) -> String {
    json!({ "email": email, "password": password }).to_string()
}

#[tokio::test]
async fn a_password_signs_in_for_a_token_and_every_wrong_answer_looks_the_same() {
    for db in TestDb::all() {
        let env = [("ESCALATE_DATABASE_URL", db.url.as_str())];
        add_users(
            &db.url,
            &[
                ("priya.shah@school.example.org", true),
                ("gone@school.example.org", true),
                ("tokens.only@school.example.org", false),
            ],
        );
        let o = escalate(&["users", "disable", "gone@school.example.org"], &env);
        assert!(o.status.success(), "{}", stderr(&o));
        let served = Served::start(&env);
        let base = served.url.as_str();
        let client = reqwest::Client::new();
        let workflows = format!("{base}/api/v1/workflows");

        // The right password, the address in any case: 201 with a named token that works.
        let body = json!({
            "email": " Priya.Shah@School.example.org",
            "password": PASSWORD,
            "name": "case system",
            "expires_days": 7,
        });
        let before = chrono::Utc::now();
        let (status, headers, signed) = sign_in(&client, base, &body.to_string()).await;
        assert_eq!(status, StatusCode::CREATED, "{signed}");
        assert_eq!(headers["cache-control"], "no-store");
        let keys: Vec<&String> = signed.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["expires_at", "id", "name", "token"]);
        assert_eq!(signed["name"], "case system");
        let token = signed["token"].as_str().unwrap().to_string();
        assert!(escalate::access::credentials::is_token(&token), "{token}");
        let expires: chrono::DateTime<chrono::Utc> =
            signed["expires_at"].as_str().unwrap().parse().unwrap();
        let week = chrono::TimeDelta::days(7);
        assert!(expires >= before + week && expires <= chrono::Utc::now() + week);
        assert_eq!(get_with(&client, &workflows, &token).await, StatusCode::OK);
        // Stored like one from tokens create: listed (never the secret), revocable.
        let listed = json(&escalate(&["tokens", "list", "--json"], &env));
        let row = listed
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == signed["id"])
            .unwrap()
            .clone();
        assert_eq!(row["email"], "priya.shah@school.example.org");
        assert_eq!(row["name"], "case system");
        assert!(!listed.to_string().contains(&token[4..]));
        // Without a name or a lifetime: `sign-in`, for 30 days.
        let (status, _, default) = sign_in(
            &client,
            base,
            &credentials("priya.shah@school.example.org", PASSWORD),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{default}");
        assert_eq!(default["name"], "sign-in");
        let expires: chrono::DateTime<chrono::Utc> =
            default["expires_at"].as_str().unwrap().parse().unwrap();
        let days = (expires - chrono::Utc::now()).num_hours();
        assert!((29 * 24..=30 * 24).contains(&days), "{days} hours");
        let o = escalate(&["tokens", "revoke", &signed["id"].to_string()], &env);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(
            get_with(&client, &workflows, &token).await,
            StatusCode::UNAUTHORIZED
        );

        // A wrong password, an unknown address, a disabled user, a user without a password,
        // something that is no address: one answer, word for word.
        let mut refusals = Vec::new();
        for (email, password) in [
            ("priya.shah@school.example.org", "correct horse batterY"),
            ("nobody@school.example.org", PASSWORD),
            ("gone@school.example.org", PASSWORD),
            ("tokens.only@school.example.org", PASSWORD),
            ("not an address", PASSWORD),
            ("priya.shah@school.example.org", ""),
        ] {
            let (status, headers, body) =
                sign_in(&client, base, &credentials(email, password)).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{email}: {body}");
            assert!(headers.contains_key("www-authenticate"));
            refusals.push(body);
        }
        assert_eq!(
            refusals[0],
            json!({ "error": "unauthorized", "message": "the email address or the password is not right" })
        );
        assert!(refusals.iter().all(|r| *r == refusals[0]), "{refusals:?}");

        // Bodies that are not a sign-in: 400 (as every API body), 415 when not JSON.
        for bad in [
            "{".to_string(),
            json!({ "email": "priya.shah@school.example.org" }).to_string(),
            json!({ "password": PASSWORD }).to_string(),
            json!({ "email": "priya.shah@school.example.org", "password": PASSWORD, "role": "admin" }).to_string(),
            json!({ "email": 7, "password": PASSWORD }).to_string(),
            json!({ "email": "priya.shah@school.example.org", "password": PASSWORD, "expires_days": 0 }).to_string(),
            json!({ "email": "priya.shah@school.example.org", "password": PASSWORD, "expires_days": 367 }).to_string(),
            json!({ "email": "priya.shah@school.example.org", "password": PASSWORD, "expires_days": -1 }).to_string(),
            json!({ "email": "priya.shah@school.example.org", "password": PASSWORD, "expires_days": "7" }).to_string(),
            json!({ "email": "priya.shah@school.example.org", "password": PASSWORD, "expires_days": 7.5 }).to_string(),
            json!({ "email": "priya.shah@school.example.org", "password": PASSWORD, "name": " " }).to_string(),
            json!({ "email": "priya.shah@school.example.org", "password": PASSWORD, "name": "a\nb" }).to_string(),
            json!({ "email": "priya.shah@school.example.org", "password": PASSWORD, "name": "n".repeat(201) }).to_string(),
        ] {
            let (status, _, body) = sign_in(&client, base, &bad).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
            assert_eq!(body["error"], "bad_request", "{bad}");
        }
        let (status, _, body) = answer(
            client
                .post(format!("{base}/api/v1/tokens"))
                .body(credentials("priya.shah@school.example.org", PASSWORD)),
        )
        .await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
        // The longest lifetime is allowed, written as JSON may write a whole number; nothing
        // refused made a token.
        let (status, _, body) = sign_in(
            &client,
            base,
            &json!({ "email": "priya.shah@school.example.org", "password": PASSWORD, "expires_days": 366.0 }).to_string(),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let tokens = json(&escalate(&["tokens", "list", "--json"], &env));
        assert_eq!(tokens.as_array().unwrap().len(), 3, "{tokens}");

        // The log names no password, no token, and no address typed into a refused sign-in.
        let (exit, logged) = served.stop();
        assert!(exit.success(), "{logged}");
        assert!(logged.contains("password sign-in refused"), "{logged}");
        for secret in [
            PASSWORD,
            "correct horse batterY",
            &token[4..],
            "nobody@school",
        ] {
            assert!(!logged.contains(secret), "{secret} was logged: {logged}");
        }
    }
}

#[tokio::test]
async fn failures_are_limited_per_account_from_any_address_and_per_address() {
    for db in TestDb::all() {
        let env = [("ESCALATE_DATABASE_URL", db.url.as_str())];
        add_users(
            &db.url,
            &[
                ("priya.shah@school.example.org", true),
                ("tom.hughes@council.example.gov.uk", true),
            ],
        );
        let served = Served::start(&env);
        let base = served.url.as_str();
        let per_account = escalate::http::auth::PER_ACCOUNT;
        let per_address = escalate::http::auth::PER_ADDRESS;

        // Wrong passwords for one account, each from another address: no address reaches its
        // limit, the account does.
        for i in 0..per_account.max {
            let client = client_from(&format!("127.0.0.{}", 2 + i));
            let (status, _, body) = sign_in(
                &client,
                base,
                &credentials("Priya.Shah@school.example.org", "wrong wrong wrong"),
            )
            .await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "try {i}: {body}");
        }
        // Then even the right password, from a fresh address, is refused until the window
        // ends (the window's arithmetic is unit-tested with an injected clock).
        let fresh = client_from("127.0.0.100");
        let right = credentials("priya.shah@school.example.org", PASSWORD);
        let (status, headers, body) = sign_in(&fresh, base, &right).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
        assert_eq!(body["error"], "rate_limited");
        assert!(
            body["message"].as_str().unwrap().contains("account"),
            "{body}"
        );
        let wait: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!(
            wait > per_account.window.as_secs() - 60 && wait <= per_account.window.as_secs(),
            "Retry-After {wait}"
        );
        // Another account, from the same address, is not held up by it.
        let (status, _, body) = sign_in(
            &fresh,
            base,
            &credentials("tom.hughes@council.example.gov.uk", PASSWORD),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let tom = body["token"].as_str().unwrap().to_string();

        // One address failing for many accounts (none reaching its own limit) reaches the
        // address's limit: then every password is refused, the right one too; a good token
        // still gets in, a bad one is refused as too many.
        let guesser = client_from("127.0.0.200");
        for i in 0..per_address.max {
            let (status, _, body) = sign_in(
                &guesser,
                base,
                &credentials(&format!("someone{i}@school.example.org"), PASSWORD),
            )
            .await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "try {i}: {body}");
        }
        let tom_again = credentials("tom.hughes@council.example.gov.uk", PASSWORD);
        let (status, headers, body) = sign_in(&guesser, base, &tom_again).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
        assert!(
            body["message"].as_str().unwrap().contains("address"),
            "{body}"
        );
        let wait: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!(wait <= per_address.window.as_secs(), "Retry-After {wait}");
        let workflows = format!("{base}/api/v1/workflows");
        assert_eq!(get_with(&guesser, &workflows, &tom).await, StatusCode::OK);
        let wrong = format!("esc_{}", "0".repeat(64));
        assert_eq!(
            get_with(&guesser, &workflows, &wrong).await,
            StatusCode::TOO_MANY_REQUESTS
        );
        // Another address is not.
        let (status, _, body) = sign_in(&client_from("127.0.0.201"), base, &tom_again).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
}

fn admins(env: &[(&str, &str)]) -> Vec<Value> {
    json(&escalate(&["users", "list", "--json"], env))
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["role"] == "admin")
        .cloned()
        .collect()
}

#[tokio::test]
async fn the_first_start_adds_an_administrator_and_prints_how_to_sign_in_once() {
    for db in TestDb::all() {
        let env = [("ESCALATE_DATABASE_URL", db.url.as_str())];
        let served = Served::start(&env);
        let printed = served.printed();
        let (email, password) = printed_sign_in(&printed);
        assert_eq!(email, "admin@escalate.localhost");
        assert_eq!(password.chars().count(), 24, "{printed}");
        assert!(
            printed.contains(&format!("curl -X POST {}/api/v1/tokens", served.url)),
            "{printed}"
        );
        assert!(
            printed.contains("escalate tokens create admin@escalate.localhost"),
            "{printed}"
        );
        // The printed curl line's body is the sign-in itself.
        let body = printed
            .split("-d '")
            .nth(1)
            .and_then(|rest| rest.split('\'').next())
            .unwrap();
        let client = reqwest::Client::new();
        let (status, _, signed) = sign_in(&client, &served.url, body).await;
        assert_eq!(status, StatusCode::CREATED, "{signed}");
        // It is an administrator's: the metrics are theirs only.
        let token = signed["token"].as_str().unwrap();
        let metrics = format!("{}/metrics", served.url);
        assert_eq!(get_with(&client, &metrics, token).await, StatusCode::OK);
        let (exit, logged) = served.stop();
        assert!(exit.success(), "{logged}");
        assert!(!logged.contains(&password), "the password was logged");
        assert!(!logged.contains(&token[4..]), "the token was logged");
        let listed = admins(&env);
        assert_eq!(listed.len(), 1, "{listed:?}");
        assert_eq!(listed[0]["email"], email.as_str());
        assert_eq!(listed[0]["has_password"], true);

        // A second start says nothing of it, and adds nobody.
        let again = Served::start(&env);
        assert_eq!(again.printed(), "");
        let (exit, logged) = again.stop();
        assert!(exit.success(), "{logged}");
        assert!(!logged.contains(&password));
        assert_eq!(admins(&env).len(), 1);

        // With the administrator disabled, no start adds another, whatever address is
        // configured (a restart during an incident mints no administrator): it says how to.
        let o = escalate(&["users", "disable", &email], &env);
        assert!(o.status.success(), "{}", stderr(&o));
        let with_other = [
            ("ESCALATE_DATABASE_URL", db.url.as_str()),
            ("ESCALATE_SERVE__ADMIN_EMAIL", "Ops@Council.example.gov.uk"),
        ];
        for env in [&env[..], &with_other[..]] {
            let start = Served::start(env);
            assert_eq!(start.printed(), "");
            let (_, logged) = start.stop();
            assert!(
                logged.contains("every administrator is disabled"),
                "{logged}"
            );
        }
        let enabled: Vec<Value> = admins(&env)
            .into_iter()
            .filter(|u| u["disabled_at"].is_null())
            .collect();
        assert!(enabled.is_empty(), "{enabled:?}");
        assert_eq!(admins(&env).len(), 1);
    }
}

#[tokio::test]
async fn replicas_starting_together_add_one_administrator() {
    // Several processes on one database: PostgreSQL (SQLite is one process by design).
    let Some(db) = TestDb::postgres() else {
        return;
    };
    let env = [("ESCALATE_DATABASE_URL", db.url.as_str())];
    assert!(escalate(&["migrate"], &env).status.success());
    // Each configured with another address, so that only the store's check-and-add (not
    // the uniqueness of addresses) can keep it to one.
    let starts: Vec<_> = (0..4)
        .map(|i| {
            let url = db.url.clone();
            std::thread::spawn(move || {
                let admin = format!("admin{i}@council.example.gov.uk");
                Served::start(&[
                    ("ESCALATE_DATABASE_URL", url.as_str()),
                    ("ESCALATE_SERVE__ADMIN_EMAIL", admin.as_str()),
                ])
            })
        })
        .collect();
    let replicas: Vec<Served> = starts.into_iter().map(|s| s.join().unwrap()).collect();
    let printed: Vec<String> = replicas.iter().map(Served::printed).collect();
    let told = printed.iter().filter(|p| p.contains("password:")).count();
    assert_eq!(told, 1, "{printed:?}");
    assert_eq!(admins(&env).len(), 1);
}

#[tokio::test]
async fn of_many_processes_adding_the_first_administrator_at_once_one_does() {
    for db in TestDb::all() {
        assert!(
            escalate(&["migrate"], &[("ESCALATE_DATABASE_URL", db.url.as_str())])
                .status
                .success()
        );
        // A store (a pool of connections) each, as processes have; each with another
        // address, so that only the store's check-and-add can keep it to one.
        let mut stores = Vec::new();
        for _ in 0..8 {
            stores.push(escalate::store::connect(&db.url).await.unwrap());
        }
        let start = std::sync::Arc::new(tokio::sync::Barrier::new(stores.len()));
        let mut adding = Vec::new();
        for (i, store) in stores.into_iter().enumerate() {
            let start = start.clone();
            adding.push(tokio::spawn(async move {
                let user = escalate::store::NewUser {
                    email: common::user(&format!("admin{i}@council.example.gov.uk")),
                    name: "Administrator".into(),
                    agency: None,
                    role: escalate::access::Role::Admin,
                    password_hash: None,
                };
                start.wait().await;
                store
                    .add_first_admin(&user, chrono::Utc::now())
                    .await
                    .unwrap()
                    .is_some()
            }));
        }
        let mut added = 0;
        for a in adding {
            added += usize::from(a.await.unwrap());
        }
        assert_eq!(added, 1, "{}", db.url);
        assert_eq!(
            admins(&[("ESCALATE_DATABASE_URL", db.url.as_str())]).len(),
            1
        );
    }
}

#[test]
fn a_bad_admin_email_stops_the_start_with_one_line() {
    let db = TestDb::sqlite();
    let o = escalate(
        &["serve", "--addr", "127.0.0.1:0"],
        &[
            ("ESCALATE_DATABASE_URL", db.url.as_str()),
            ("ESCALATE_SERVE__ADMIN_EMAIL", "admin@localhost"),
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("serve.admin_email 'admin@localhost' is not an email address"),
        "{}",
        stderr(&o)
    );
}
