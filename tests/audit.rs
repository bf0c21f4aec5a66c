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
    let o = escalate(
        &[
            "case",
            "event",
            "DSP-2026-000002",
            "withdraw",
            "--by",
            RAISER,
            "--reason",
            "Sorted out by phone",
            "--now",
            "2026-11-02T10:00:00Z",
        ],
        env,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = escalate(&["tick", "--now", "2026-11-06T09:00:00Z"], env);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[tokio::test]
async fn verify_passes_an_intact_log_and_names_the_first_changed_entry() {
    for db in TestDb::all() {
        let env = [("ESCALATE_DATABASE_URL", db.url.as_str())];
        populate(&env);
        let o = escalate(&["audit", "verify"], &env);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(stdout(&o), "audit log intact: 4 entries in 2 cases\n");

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
            "DROP TRIGGER IF EXISTS events_append_only_update"
        } else {
            "ALTER TABLE events DISABLE TRIGGER events_append_only"
        };
        common::sql(
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

/// What someone holding the database may do once the guard triggers are off.
fn disable_guards(url: &str) -> Vec<&'static str> {
    if url.starts_with("sqlite") {
        vec![
            "PRAGMA foreign_keys = OFF",
            "DROP TRIGGER IF EXISTS events_append_only_update",
            "DROP TRIGGER IF EXISTS events_append_only_delete",
            "DROP TRIGGER IF EXISTS cases_seq_advances_by_one",
            "DROP TRIGGER IF EXISTS deadlines_end_once",
            "DROP TRIGGER IF EXISTS audit_checkpoints_append_only_update",
            "DROP TRIGGER IF EXISTS audit_checkpoints_append_only_delete",
            "DROP TRIGGER IF EXISTS audit_checkpoint_heads_append_only_update",
            "DROP TRIGGER IF EXISTS audit_checkpoint_heads_append_only_delete",
        ]
    } else {
        vec![
            "ALTER TABLE events DISABLE TRIGGER USER",
            "ALTER TABLE cases DISABLE TRIGGER USER",
            "ALTER TABLE deadlines DISABLE TRIGGER USER",
            "ALTER TABLE audit_checkpoints DISABLE TRIGGER USER",
            "ALTER TABLE audit_checkpoint_heads DISABLE TRIGGER USER",
        ]
    }
}

/// Deletes case `reference` whole: its messages, deadlines, history and row.
fn delete_case(reference: &str) -> Vec<String> {
    let id = format!("(SELECT id FROM cases WHERE reference = '{reference}')");
    // Every row of the case, its report summary included.
    vec![
        format!("DELETE FROM case_summary WHERE case_id = {id}"),
        format!("DELETE FROM outbox WHERE case_id = {id}"),
        format!("DELETE FROM deadlines WHERE case_id = {id}"),
        format!("DELETE FROM events WHERE case_id = {id}"),
        format!("DELETE FROM cases WHERE reference = '{reference}'"),
    ]
}

#[tokio::test]
async fn every_recorded_column_and_the_case_row_are_covered() {
    // (what is changed, the SQL on SQLite, the SQL on PostgreSQL, the case it shows on)
    let e2 =
        "WHERE seq = 2 AND case_id = (SELECT id FROM cases WHERE reference = 'DSP-2026-000002')";
    let e1 =
        "WHERE seq = 1 AND case_id = (SELECT id FROM cases WHERE reference = 'DSP-2026-000001')";
    let c1 = "WHERE reference = 'DSP-2026-000001'";
    let c2 = "WHERE reference = 'DSP-2026-000002'";
    let same = |sql: String| (sql.clone(), sql);
    let edits: Vec<(&str, (String, String), &str)> = vec![
        (
            "the reason",
            same(format!(
                "UPDATE events SET reason = 'Someone else decided' {e2}"
            )),
            "000002",
        ),
        (
            "recorded_at",
            same(format!("UPDATE events SET recorded_at = at {e2}")),
            "000002",
        ),
        (
            "at",
            same(format!("UPDATE events SET at = recorded_at {e2}")),
            "000002",
        ),
        (
            "the actor",
            same(format!("UPDATE events SET actor = 'x@y.org' {e2}")),
            "000002",
        ),
        (
            "the event",
            same(format!("UPDATE events SET event = 'resolve' {e2}")),
            "000002",
        ),
        (
            "from_state",
            same(format!("UPDATE events SET from_state = 'stage2' {e2}")),
            "000002",
        ),
        (
            "to_state",
            same(format!("UPDATE events SET to_state = 'resolved' {e2}")),
            "000002",
        ),
        (
            "the fields",
            (
                format!(
                    "UPDATE events SET fields = '{{\"reason\":\"Sorted out by phone\",\"x\":\"1\"}}' {e2}"
                ),
                format!(
                    "UPDATE events SET fields = '{{\"reason\":\"Sorted out by phone\",\"x\":\"1\"}}'::jsonb {e2}"
                ),
            ),
            "000002",
        ),
        (
            "the data digest",
            same(format!("UPDATE events SET data_digest = 'sha256:00' {e1}")),
            "000001",
        ),
        (
            "the hash scheme",
            same(format!("UPDATE events SET hash_version = 1 {e1}")),
            "000001",
        ),
        (
            "the opening data",
            (
                format!("UPDATE cases SET data = replace(data, 'Sam Example', 'Sam Other') {c1}"),
                format!(
                    "UPDATE cases SET data = jsonb_set(data, '{{child,name}}', '\"Sam Other\"') {c1}"
                ),
            ),
            "000001",
        ),
        (
            "the data salt",
            same(format!("UPDATE cases SET data_salt = 'pepper' {c1}")),
            "000001",
        ),
        (
            "the workflow version",
            same(format!(
                "INSERT INTO workflow_versions (workflow, hash, label, source, first_seen) \
                 SELECT workflow, hash || 'x', label, source, first_seen FROM workflow_versions \
                 WHERE workflow = 'dispute';\n\
                 UPDATE cases SET workflow_hash = workflow_hash || 'x' {c1}"
            )),
            "000001",
        ),
        (
            "the division",
            same(format!("UPDATE cases SET division = 'scotland' {c1}")),
            "000001",
        ),
        (
            "the agency",
            same(format!("UPDATE cases SET agency = 'Police' {c1}")),
            "000001",
        ),
        (
            "the state",
            same(format!("UPDATE cases SET state = 'stage1' {c1}")),
            "000001",
        ),
        (
            "reopened",
            same(format!(
                "UPDATE cases SET closed_at = NULL, outcome = NULL, state = 'stage1' {c2}"
            )),
            "000002",
        ),
        (
            "the outcome",
            same(format!("UPDATE cases SET outcome = 'resolved' {c2}")),
            "000002",
        ),
        (
            "the opening time",
            same(format!("UPDATE cases SET opened_at = last_at {c1}")),
            "000001",
        ),
        (
            "the entering time",
            same(format!("UPDATE cases SET entered_at = opened_at {c1}")),
            "000001",
        ),
        (
            "the event times",
            (
                format!("UPDATE cases SET event_times = '{{}}' {c1}"),
                format!("UPDATE cases SET event_times = '{{}}'::jsonb {c1}"),
            ),
            "000001",
        ),
    ];
    let backends: [fn() -> Option<TestDb>; 2] = [|| Some(TestDb::sqlite()), TestDb::postgres];
    for backend in backends {
        for (what, (sqlite, postgres), case) in &edits {
            // Each edit on a fresh database with the same history.
            let Some(db) = backend() else { break };
            let env = [("ESCALATE_DATABASE_URL", db.url.as_str())];
            populate(&env);
            let mut sql = disable_guards(&db.url);
            let edit = if db.url.starts_with("sqlite") {
                sqlite
            } else {
                postgres
            };
            sql.extend(edit.split(";\n"));
            common::sql(&db.url, &sql).await;
            let o = escalate(&["audit", "verify"], &env);
            assert_eq!(
                o.status.code(),
                Some(1),
                "{what} on {}: {}",
                db.url,
                stdout(&o)
            );
            let err = stderr(&o);
            assert_eq!(err.lines().count(), 1, "{err}");
            assert!(
                err.starts_with(&format!("escalate: audit chain broken: DSP-2026-{case}: ")),
                "{what}: {err}"
            );
        }
    }
}

#[tokio::test]
async fn a_case_deleted_whole_or_cut_short_is_found() {
    for db in TestDb::all() {
        let env = [("ESCALATE_DATABASE_URL", db.url.as_str())];
        populate(&env);
        // Without a checkpoint, the reference counter still knows DSP-2026-000002 was given.
        let mut sql: Vec<String> = disable_guards(&db.url)
            .into_iter()
            .map(str::to_string)
            .collect();
        sql.extend(delete_case("DSP-2026-000002"));
        common::sql(&db.url, &sql.iter().map(String::as_str).collect::<Vec<_>>()).await;
        let o = escalate(&["audit", "verify"], &env);
        assert_eq!(o.status.code(), Some(1));
        assert_eq!(
            stdout(&o),
            "DSP-2026-000002: the reference was given to a case that is missing from the database\n"
        );
    }
    for db in TestDb::all() {
        let env = [("ESCALATE_DATABASE_URL", db.url.as_str())];
        populate(&env);
        let o = escalate(&["audit", "checkpoint"], &env);
        assert!(o.status.success(), "{}", stderr(&o));
        let printed = stdout(&o);
        assert!(printed.starts_with("checkpoint 1 at "), "{printed}");
        let root = printed.trim_end().rsplit(' ').next().unwrap().to_string();
        assert!(root.starts_with("sha256:") && root.len() == 71, "{root}");
        let o = escalate(&["audit", "verify"], &env);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(stdout(&o).ends_with(&format!("1 checkpoint(s); latest root {root}\n")));
        // A second checkpoint chains to the first.
        let o = escalate(&["audit", "checkpoint"], &env);
        assert!(stdout(&o).starts_with("checkpoint 2 at "), "{}", stdout(&o));

        // The whole case goes, counter and all; and case 1 loses its last entry, its head
        // rewound to match.
        let mut sql: Vec<String> = disable_guards(&db.url)
            .into_iter()
            .map(str::to_string)
            .collect();
        sql.extend(delete_case("DSP-2026-000002"));
        sql.push("UPDATE reference_counters SET last = 1".into());
        let id = "(SELECT id FROM cases WHERE reference = 'DSP-2026-000001')";
        sql.push(format!(
            "DELETE FROM events WHERE case_id = {id} AND seq = 2"
        ));
        sql.push(format!(
            "UPDATE cases SET seq = 1, last_hash = (SELECT hash FROM events WHERE case_id = {id} AND seq = 1), \
             last_at = (SELECT at FROM events WHERE case_id = {id} AND seq = 1), \
             event_times = (SELECT event_times FROM cases WHERE reference = 'DSP-2026-000001') WHERE id = {id}"
        ));
        common::sql(&db.url, &sql.iter().map(String::as_str).collect::<Vec<_>>()).await;
        let o = escalate(&["audit", "verify"], &env);
        assert_eq!(o.status.code(), Some(1));
        let out = stdout(&o);
        assert!(
            out.contains(
                "DSP-2026-000001: its history no longer extends entry 2 recorded at checkpoint 1"
            ),
            "{out}"
        );
        assert!(
            out.contains("DSP-2026-000002: recorded at checkpoint 1 but missing from the database"),
            "{out}"
        );

        // Rewriting a checkpoint breaks its root (witnessed outside the database).
        let mut sql = disable_guards(&db.url);
        sql.push("UPDATE audit_checkpoints SET cases = 1 WHERE id = 1");
        common::sql(&db.url, &sql).await;
        let o = escalate(&["audit", "verify"], &env);
        assert!(
            stdout(&o).contains("checkpoint 1: the heads it recorded do not give its root"),
            "{}",
            stdout(&o)
        );
    }
}

/// Entries written on the real clock (no `--now`, so times carry nanoseconds) verify: the case's
/// event times and its history are kept to the same microsecond.
#[test]
fn entries_at_the_real_clock_verify() {
    for db in TestDb::all() {
        let env = [("ESCALATE_DATABASE_URL", db.url.as_str())];
        let o = escalate(
            &[
                "case",
                "open",
                "--workflow",
                "dispute",
                "--data",
                "examples/dispute.json",
                "--by",
                RAISER,
            ],
            &env,
        );
        assert!(o.status.success(), "{}", stderr(&o));
        for text in ["called", "called again"] {
            let o = escalate(
                &[
                    "case",
                    "event",
                    "DSP-2026-000001",
                    "note",
                    "--by",
                    RAISER,
                    "--field",
                    &format!("text={text}"),
                ],
                &env,
            );
            assert!(o.status.success(), "{}", stderr(&o));
        }
        let o = escalate(&["audit", "verify"], &env);
        assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    }
}
