//! `escalate audit verify`: an intact log passes; any change to a past entry is found.

mod common;

use common::{TestDb, escalate, stderr, stdout};

const RAISER: &str = "priya.shah@school.example.org";
/// Opens cases: the raiser (only a party or a directory contact may open one).
const LEAD: &str = RAISER;

/// Two cases with a few entries each, through the command line.
fn populate(env: &[(&str, &str)]) {
    for now in ["2026-11-02T09:00:00Z", "2026-11-02T09:30:00Z"] {
        let o = escalate(
            &[
                "case",
                "open",
                "--workflow",
                "dispute",
                "--data",
                "examples/dispute.json",
                "--by",
                LEAD,
                "--now",
                now,
            ],
            env,
        );
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let o = escalate(
        &[
            "case",
            "event",
            "DSP-2026-000001",
            "escalate",
            "--by",
            RAISER,
            "--reason",
            "No reply",
            "--now",
            "2026-11-03T10:00:00Z",
        ],
        env,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = escalate(&["tick", "--now", "2026-11-06T09:00:00Z"], env);
    assert!(o.status.success(), "{}", stderr(&o));
}

async fn tamper(url: &str, sql: &[&str]) {
    if url.starts_with("sqlite") {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        for s in sql {
            sqlx::query(sqlx::AssertSqlSafe(s.to_string()))
                .execute(&pool)
                .await
                .unwrap();
        }
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        for s in sql {
            sqlx::query(sqlx::AssertSqlSafe(s.to_string()))
                .execute(&pool)
                .await
                .unwrap();
        }
    }
}

#[tokio::test]
async fn verify_passes_an_intact_log_and_names_the_first_changed_entry() {
    for db in TestDb::all() {
        let env = [("ESCALATE_DATABASE_URL", db.url.as_str())];
        populate(&env);
        let o = escalate(&["audit", "verify"], &env);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(stdout(&o), "audit log intact: 5 entries in 2 cases\n");

        // The log refuses changes...
        let pool_err = if db.url.starts_with("sqlite") {
            let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
            sqlx::query("UPDATE events SET actor = 'someone.else@example.org' WHERE seq = 2")
                .execute(&pool)
                .await
                .unwrap_err()
        } else {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            sqlx::query("UPDATE events SET actor = 'someone.else@example.org' WHERE seq = 2")
                .execute(&pool)
                .await
                .unwrap_err()
        };
        assert!(pool_err.to_string().contains("append-only"), "{pool_err}");

        // ...so someone with the database's keys disables that first, and verify still finds it.
        let disable = if db.url.starts_with("sqlite") {
            "DROP TRIGGER events_append_only_update"
        } else {
            "ALTER TABLE events DISABLE TRIGGER events_append_only"
        };
        tamper(
            &db.url,
            &[disable, "UPDATE events SET actor = 'someone.else@example.org' WHERE seq = 2 AND event = 'escalate'"],
        )
        .await;
        let o = escalate(&["audit", "verify"], &env);
        assert_eq!(o.status.code(), Some(1));
        assert_eq!(
            stderr(&o),
            "escalate: audit chain broken: DSP-2026-000001: entry 2 (escalate by someone.else@example.org at 2026-11-03T10:00:00+00:00): its content does not match its hash\n"
        );
    }
}
