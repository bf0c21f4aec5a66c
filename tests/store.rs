//! The store on SQLite and PostgreSQL: migrations, workflow versions, unreachable databases.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{TestDb, escalate, stderr, stdout};
use escalate::store::{self, Backend};
use escalate::workflow::Workflows;

fn names(dir: &str) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// The migration versions shipped, in order (`0002_concurrency_guards.sql` is 2).
fn versions() -> Vec<i64> {
    let mut v: Vec<i64> = names("migrations/sqlite")
        .iter()
        .map(|n| n.split('_').next().unwrap().parse().unwrap())
        .collect();
    v.sort();
    v
}

#[test]
fn both_backends_have_the_same_migration_versions_and_names() {
    let sqlite = names("migrations/sqlite");
    let postgres = names("migrations/postgres");
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, postgres);
}

#[tokio::test]
async fn migrate_creates_then_reports_up_to_date_and_keeps_workflow_versions() {
    let workflows =
        Workflows::load_dir(Path::new("workflows"), Path::new("config/templates")).unwrap();
    let dispute = workflows.get("dispute").unwrap();
    for db in TestDb::all() {
        let store = store::connect(&db.url).await.unwrap();
        assert_eq!(store.schema_version().await.unwrap(), None, "{}", db.url);
        assert_eq!(store.migrate().await.unwrap(), versions(), "{}", db.url);
        assert_eq!(store.migrate().await.unwrap(), Vec::<i64>::new());
        assert_eq!(
            store.schema_version().await.unwrap(),
            versions().last().copied()
        );
        let now = "2026-11-23T10:00:00Z".parse().unwrap();
        store.save_workflow_version(dispute, now).await.unwrap();
        store.save_workflow_version(dispute, now).await.unwrap();
        let source = store
            .workflow_source("dispute", &dispute.hash)
            .await
            .unwrap();
        assert_eq!(source.as_deref(), Some(dispute.source.as_str()));
        assert_eq!(
            store.workflow_source("dispute", "sha256:0").await.unwrap(),
            None
        );
        let expected = if db.url.starts_with("sqlite") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        };
        assert_eq!(store.backend(), expected);
    }
}

#[test]
fn the_migrate_command_says_what_it_did() {
    for db in TestDb::all() {
        let env = [("ESCALATE_DATABASE_URL", db.url.as_str())];
        let first = escalate(&["migrate"], &env);
        assert!(first.status.success(), "{}", stderr(&first));
        let all = versions();
        let listed: Vec<String> = all.iter().map(i64::to_string).collect();
        let latest = all.last().unwrap();
        assert!(
            stdout(&first).ends_with(&format!(
                ": applied migrations {} (schema version {latest})\n",
                listed.join(", ")
            )),
            "{}",
            stdout(&first)
        );
        let again = escalate(&["migrate"], &env);
        assert!(
            stdout(&again).ends_with(&format!(": up to date (schema version {latest})\n")),
            "{}",
            stdout(&again)
        );
    }
}

#[test]
fn an_unreachable_or_unknown_database_is_one_line() {
    let o = escalate(
        &["migrate"],
        &[(
            "ESCALATE_DATABASE_URL",
            "postgres://esc:secret@127.0.0.1:1/escalate",
        )],
    );
    assert_eq!(o.status.code(), Some(3), "an unreachable database");
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(
            "escalate: cannot reach the database at postgres://esc:***@127.0.0.1:1/escalate: "
        ),
        "{err}"
    );
    assert!(!err.contains("secret"));
    let o = escalate(&["migrate"], &[("ESCALATE_DATABASE_URL", "mysql://x/y")]);
    assert_eq!(o.status.code(), Some(2), "a bad URL is bad input");
    assert_eq!(
        stderr(&o),
        "escalate: database URL 'mysql://x/y' must start with sqlite:// or postgres://\n"
    );
}
