//! `escalate users` and `escalate tokens` against a real database on each backend: passwords
//! and tokens are kept only as hashes, a token signs in only while it is unrevoked, unexpired
//! and its user enabled, and hostile input is one line of error with nothing written.

mod common;

use chrono::{TimeDelta, Utc};
use common::{TestDb, assert_one_line_error, escalate, json, stderr, stdout, with_stdin};
use escalate::access::credentials::{token_hash, verify_password};
use escalate::store::Store;

async fn store(url: &str) -> std::sync::Arc<dyn Store> {
    escalate::store::connect(url).await.unwrap()
}

#[tokio::test]
async fn users_and_tokens_on_each_backend() {
    for db in TestDb::all() {
        let env = [("ESCALATE_DATABASE_URL", db.url.as_str())];
        let o = escalate(&["agencies", "import", "config/agencies.yaml"], &env);
        assert!(o.status.success(), "{}", stderr(&o));

        // A password from standard input, an agency named by its id.
        let o = with_stdin(
            &[
                "users",
                "add",
                "Priya.Shah@School.Example.org",
                "--role",
                "practitioner",
                "--agency",
                "riverside-primary",
                "--name",
                "Priya Shah",
                "--password-stdin",
            ],
            &db.url,
            b"correct horse battery\n",
        );
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(
            stdout(&o).trim(),
            "added priya.shah@school.example.org as practitioner of Riverside Primary School"
        );
        let o = escalate(
            &[
                "users",
                "add",
                "board@partnership.example.org",
                "--role",
                "board",
            ],
            &env,
        );
        assert!(
            stdout(&o).contains("(no password: API tokens only)"),
            "{}",
            stderr(&o)
        );

        // The same address again (in another case) is refused, and changes nothing.
        let o = escalate(
            &[
                "users",
                "add",
                "PRIYA.SHAH@school.example.org",
                "--role",
                "admin",
            ],
            &env,
        );
        assert_eq!(o.status.code(), Some(1));
        assert_eq!(
            stderr(&o).trim(),
            "escalate: user priya.shah@school.example.org exists already"
        );

        let users = json(&escalate(&["users", "list", "--json"], &env));
        let users = users.as_array().unwrap();
        assert_eq!(users.len(), 2);
        assert_eq!(users[1]["email"], "priya.shah@school.example.org");
        assert_eq!(users[1]["role"], "practitioner");
        assert_eq!(users[1]["has_password"], true);
        // The hash is never shown, and what is stored is argon2id of the password.
        assert!(users[1].get("password_hash").is_none());
        let s = store(&db.url).await;
        let priya = s
            .user("priya.shah@school.example.org")
            .await
            .unwrap()
            .unwrap();
        let hash = priya.password_hash.clone().unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("correct horse battery\n", &hash));

        // A token is printed once, last on its line, and only its hash is kept.
        let o = escalate(
            &[
                "tokens",
                "create",
                "priya.shah@school.example.org",
                "--name",
                "school log",
                "--expires",
                "30",
            ],
            &env,
        );
        assert!(o.status.success(), "{}", stderr(&o));
        let line = stdout(&o);
        let secret = line.split_whitespace().last().unwrap().to_string();
        assert!(secret.starts_with("esc_"), "{line}");
        let listed = stdout(&escalate(&["tokens", "list"], &env));
        assert!(
            listed.contains("school log") && listed.contains("never used"),
            "{listed}"
        );
        // The secret itself is not what is stored: looked up as if it were, it finds nothing.
        assert!(s.token_user(&secret, Utc::now()).await.unwrap().is_none());
        let listed = stdout(&escalate(&["tokens", "list", "--json"], &env));
        let tokens: serde_json::Value = serde_json::from_str(&listed).unwrap();
        let id = tokens[0]["id"].as_i64().unwrap();

        // It signs its user in until it expires; a wrong token signs in nobody.
        let now = Utc::now();
        let hash = token_hash(&secret);
        let who = s.token_user(&hash, now).await.unwrap().unwrap();
        assert_eq!(who.email, "priya.shah@school.example.org");
        assert!(
            s.token_user(&token_hash("esc_0000"), now)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            s.token_user(&hash, now + TimeDelta::days(31))
                .await
                .unwrap()
                .is_none()
        );
        let used = stdout(&escalate(&["tokens", "list"], &env));
        assert!(used.contains("last used"), "{used}");

        // Revoked: no more, and revoking again says so.
        let o = escalate(&["tokens", "revoke", &id.to_string()], &env);
        assert_eq!(stdout(&o).trim(), format!("revoked token {id}"));
        assert!(s.token_user(&hash, now).await.unwrap().is_none());
        let o = escalate(&["tokens", "revoke", &id.to_string()], &env);
        assert_eq!(o.status.code(), Some(1));
        assert!(stderr(&o).contains("revoked already"));
        let o = escalate(&["tokens", "revoke", "999999"], &env);
        assert_eq!(stderr(&o).trim(), "escalate: no token 999999");

        // A disabled user's tokens stop working, and they get no new ones.
        let o = escalate(&["tokens", "create", "board@partnership.example.org"], &env);
        let board = token_hash(stdout(&o).split_whitespace().last().unwrap());
        assert!(s.token_user(&board, now).await.unwrap().is_some());
        let o = escalate(&["users", "disable", "board@partnership.example.org"], &env);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(s.token_user(&board, now).await.unwrap().is_none());
        let o = escalate(&["tokens", "create", "board@partnership.example.org"], &env);
        assert_eq!(o.status.code(), Some(1));
        let o = escalate(&["users", "disable", "nobody@example.org"], &env);
        assert_eq!(stderr(&o).trim(), "escalate: no user nobody@example.org");
    }
}

/// A user is disabled, never deleted, even by someone at the database: the logs name them (and
/// on PostgreSQL the access log's user ids rely on it, unchecked by a foreign key).
#[tokio::test]
async fn a_user_is_never_deleted() {
    for db in TestDb::all() {
        let env = [("ESCALATE_DATABASE_URL", db.url.as_str())];
        let o = escalate(
            &["users", "add", "gone@example.org", "--role", "board"],
            &env,
        );
        assert!(o.status.success(), "{}", stderr(&o));
        let refused = common::try_sql(
            &db.url,
            &["DELETE FROM users WHERE email = 'gone@example.org'"],
        )
        .await
        .unwrap_err();
        assert!(refused.contains("never deleted"), "{}: {refused}", db.url);
        let o = escalate(&["users", "list"], &env);
        assert!(stdout(&o).contains("gone@example.org"), "{}", db.url);
    }
}

#[test]
fn hostile_input_is_one_line_and_writes_nothing() {
    let db = TestDb::sqlite();
    let env = [("ESCALATE_DATABASE_URL", db.url.as_str())];
    // One argument can be at most 128 KiB (the kernel's limit); 100,000 characters is far past any name.
    let big = "x".repeat(100_000);
    for (args, wanted) in [
        (
            vec!["users", "add", "engine", "--role", "admin"],
            "'engine' is not an email address",
        ),
        (
            vec!["users", "add", "a@b.org\nBcc: c@d.org", "--role", "admin"],
            "is not an email address",
        ),
        (
            vec!["users", "add", "a@b.org", "--role", "root"],
            "'root' is not a role",
        ),
        (
            vec![
                "users",
                "add",
                "a@b.org",
                "--role",
                "admin",
                "--name",
                "Eve\nAdmin",
            ],
            "--name",
        ),
        (
            vec!["users", "add", "a@b.org", "--role", "admin", "--name", &big],
            "--name",
        ),
        (
            vec![
                "users", "add", "a@b.org", "--role", "admin", "--agency", "Nowhere",
            ],
            "agency 'Nowhere' is not in the directory",
        ),
        (
            vec!["tokens", "create", "a@b.org", "--expires", "0"],
            "--expires 0 must be 1 to 366 days",
        ),
        (
            vec!["tokens", "create", "a@b.org", "--expires", "9999"],
            "--expires 9999 must be 1 to 366 days",
        ),
        (
            vec!["tokens", "create", "a@b.org", "--name", "\u{202e}evil"],
            "--name",
        ),
    ] {
        let o = escalate(&args, &env);
        assert_one_line_error(&o, wanted);
    }
    for password in [&b"short\n"[..], b"", b"twelve chars\x07bell\n"] {
        let o = with_stdin(
            &[
                "users",
                "add",
                "a@b.org",
                "--role",
                "admin",
                "--password-stdin",
            ],
            &db.url,
            password,
        );
        assert_one_line_error(&o, "the password must");
    }
    let listed = json(&escalate(&["users", "list", "--json"], &env));
    assert_eq!(listed, serde_json::json!([]));
}

/// The admin record's entries, newest first, as the store keeps them.
async fn record(url: &str) -> Vec<escalate::store::AdminEntry> {
    store(url).await.admin_log(1000).await.unwrap()
}

#[tokio::test]
async fn a_change_whose_record_cannot_be_written_is_not_made() {
    for db in TestDb::all() {
        // The example directory, imported.
        let (_mail, smtp) = common::mail_dir();
        let env = common::quiet(&db, &smtp);
        let priya = "priya.shah@school.example.org";
        let o = escalate(&["users", "add", priya, "--role", "practitioner"], &env);
        assert!(o.status.success(), "{}", stderr(&o));
        let o = escalate(&["tokens", "create", priya], &env);
        assert!(o.status.success(), "{}", stderr(&o));
        let secret = stdout(&o).split_whitespace().last().unwrap().to_string();
        let id = json(&escalate(&["tokens", "list", "--json"], &env))[0]["id"]
            .as_i64()
            .unwrap()
            .to_string();
        // Another directory to import: the school renamed.
        let dir = tempfile::tempdir().unwrap();
        let other = dir.path().join("agencies.yaml");
        let renamed = std::fs::read_to_string("config/agencies.yaml")
            .unwrap()
            .replace("Riverside Primary School", "Riverside Primary Academy");
        std::fs::write(&other, renamed).unwrap();
        let other = other.to_str().unwrap();
        let state = || {
            [
                json(&escalate(&["users", "list", "--json"], &env)),
                json(&escalate(&["tokens", "list", "--json"], &env)),
                json(&escalate(&["agencies", "list", "--json"], &env)),
            ]
        };
        let before = state();
        let recorded = record(&db.url).await;
        assert_eq!(recorded.len(), 3, "{recorded:?}");

        common::break_admin_record(&db.url).await;
        let changes: [&[&str]; 5] = [
            &[
                "users",
                "add",
                "new@school.example.org",
                "--role",
                "manager",
            ],
            &["tokens", "create", priya],
            &["tokens", "revoke", &id],
            &["users", "disable", priya],
            &["agencies", "import", other],
        ];
        for args in changes {
            let o = escalate(args, &env);
            assert_eq!(o.status.code(), Some(3), "{args:?}: {}", stderr(&o));
            assert_eq!(
                stdout(&o),
                "",
                "{args:?}: nothing said done, no secret shown"
            );
            assert_eq!(stderr(&o).lines().count(), 1, "{args:?}: {}", stderr(&o));
        }
        assert_eq!(state(), before, "nothing changed");
        assert_eq!(record(&db.url).await, recorded);
        let s = store(&db.url).await;
        assert!(
            s.token_user(&token_hash(&secret), Utc::now())
                .await
                .unwrap()
                .is_some(),
            "the token still works: neither revoked nor its user disabled"
        );

        // Mended, each of the same changes is made, and recorded.
        common::mend_admin_record(&db.url).await;
        for args in changes {
            let o = escalate(args, &env);
            assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        }
        let actions: Vec<String> = record(&db.url)
            .await
            .iter()
            .take(5)
            .map(|e| e.action.clone())
            .collect();
        assert_eq!(
            actions,
            [
                "import_agencies",
                "disable_user",
                "revoke_token",
                "create_token",
                "add_user"
            ]
        );
    }
}

#[tokio::test]
async fn the_last_enabled_administrator_is_not_disabled() {
    for db in TestDb::all() {
        let env = [("ESCALATE_DATABASE_URL", db.url.as_str())];
        let add = |email: &str, role: &str| {
            let o = escalate(&["users", "add", email, "--role", role], &env);
            assert!(o.status.success(), "{}", stderr(&o));
        };
        add("ada@council.example.gov.uk", "admin");
        add("bob@council.example.gov.uk", "admin");
        add("pat@school.example.org", "practitioner");
        let o = escalate(&["users", "disable", "ada@council.example.gov.uk"], &env);
        assert!(o.status.success(), "{}", stderr(&o));
        let recorded = record(&db.url).await.len();

        let o = escalate(&["users", "disable", "bob@council.example.gov.uk"], &env);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert_eq!(
            stderr(&o).trim(),
            "escalate: refused: bob@council.example.gov.uk is the last enabled administrator; \
             add another administrator before disabling them"
        );
        let bob = store(&db.url)
            .await
            .user("bob@council.example.gov.uk")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(bob.disabled_at, None);
        assert_eq!(record(&db.url).await.len(), recorded, "nothing recorded");

        // A disabled administrator is disabled already; anyone else may still be disabled.
        let o = escalate(&["users", "disable", "ada@council.example.gov.uk"], &env);
        assert_eq!(o.status.code(), Some(1));
        assert!(stderr(&o).contains("disabled already"), "{}", stderr(&o));
        let o = escalate(&["users", "disable", "pat@school.example.org"], &env);
        assert!(o.status.success(), "{}", stderr(&o));
        // With another administrator, the last but one may go.
        add("cy@council.example.gov.uk", "admin");
        let o = escalate(&["users", "disable", "bob@council.example.gov.uk"], &env);
        assert!(o.status.success(), "{}", stderr(&o));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_administrators_disabling_each_other_at_once_leave_one() {
    use escalate::access::admin::{self, Actor, AdminError, Problem, UserInput};
    for db in TestDb::all() {
        let env = [("ESCALATE_DATABASE_URL", db.url.as_str())];
        assert!(escalate(&["migrate"], &env).status.success());
        // A store each, as two processes (or replicas) have.
        let (one, two) = (store(&db.url).await, store(&db.url).await);
        let cli = Actor::command_line("test");
        let mut survivor: Option<String> = None;
        for round in 0..10 {
            let mut pair = Vec::new();
            for name in ["a", "b"] {
                let input = UserInput {
                    email: format!("{name}{round}@council.example.gov.uk"),
                    role: "admin".into(),
                    ..UserInput::default()
                };
                pair.push(
                    admin::add_user(one.as_ref(), &input, &cli, Utc::now())
                        .await
                        .unwrap(),
                );
            }
            // The last round's survivor goes, so that these two are the only ones enabled.
            if let Some(last) = survivor.take() {
                admin::disable_user(one.as_ref(), &last, &cli, Utc::now())
                    .await
                    .unwrap();
            }
            let start = std::sync::Arc::new(tokio::sync::Barrier::new(2));
            let race = |store: std::sync::Arc<dyn Store>, by: usize| {
                let (actor, target) = (Actor::user(&pair[by], None), pair[1 - by].email.clone());
                let start = start.clone();
                tokio::spawn(async move {
                    start.wait().await;
                    admin::disable_user(store.as_ref(), &target, &actor, Utc::now()).await
                })
            };
            let (a, b) = (race(one.clone(), 0), race(two.clone(), 1));
            let outcomes = [a.await.unwrap(), b.await.unwrap()];
            let done = outcomes.iter().filter(|o| o.is_ok()).count();
            assert_eq!(done, 1, "round {round}: {outcomes:?}");
            assert!(
                outcomes.iter().any(|o| matches!(
                    o,
                    Err(AdminError::Problems(p)) if matches!(p[..], [Problem::LastAdmin(_)])
                )),
                "round {round}: {outcomes:?}"
            );
            let enabled: Vec<String> = one
                .users()
                .await
                .unwrap()
                .into_iter()
                .filter(|u| u.role == escalate::access::Role::Admin && u.disabled_at.is_none())
                .map(|u| u.email)
                .collect();
            assert_eq!(enabled.len(), 1, "round {round}: {enabled:?}");
            let disables = record(&db.url)
                .await
                .iter()
                .filter(|e| e.action == "disable_user" && e.actor.starts_with(['a', 'b']))
                .count();
            assert_eq!(disables, round + 1, "one recorded each round");
            survivor = enabled.into_iter().next();
        }
    }
}

#[test]
fn bad_input_is_bad_input_even_when_the_database_is_down() {
    // Nothing listens on port 1: every connection is refused.
    let env = [(
        "ESCALATE_DATABASE_URL",
        "postgres://postgres@127.0.0.1:1/test",
    )];
    let dir = tempfile::tempdir().unwrap();
    let bad_yaml = dir.path().join("agencies.yaml");
    std::fs::write(&bad_yaml, "agencies: [ {id: x").unwrap();
    let bad_yaml = bad_yaml.to_str().unwrap();
    for (args, says) in [
        (
            vec!["users", "add", "not-an-address", "--role", "practitioner"],
            "not-an-address",
        ),
        (
            vec!["users", "add", "a@b.example.org", "--role", "chief"],
            "chief",
        ),
        (
            vec![
                "users",
                "add",
                "a@b.example.org",
                "--role",
                "board",
                "--name",
                "A\u{7}B",
            ],
            "--name",
        ),
        (vec!["agencies", "import", bad_yaml], "agencies.yaml"),
    ] {
        let o = escalate(&args, &env);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(says), "{args:?}: {}", stderr(&o));
    }
    // Good input meets the unreachable database: 3.
    let o = escalate(
        &["users", "add", "a@b.example.org", "--role", "board"],
        &env,
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
}
