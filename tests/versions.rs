//! Revising a workflow never breaks running cases: each case runs on the version it was opened
//! on, kept in the database; new cases get the revision; `workflows versions` lists them; and
//! with a broken workflow file every reading command (and `tick`) still works, while `case
//! open` and `serve` refuse with one line naming the file.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{TestDb, escalate, json, stderr, stdout};
use serde_json::Value;

const RAISER: &str = "priya.shah@school.example.org";

/// A deployment of its own: copies of the shipped workflows and templates (so a test can edit
/// them as a partnership would), a database, and a mail directory.
struct Deployment {
    dir: tempfile::TempDir,
    db: TestDb,
}

impl Deployment {
    fn new(db: TestDb) -> Deployment {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(Path::new("workflows"), &dir.path().join("workflows"));
        copy_dir(Path::new("config/templates"), &dir.path().join("templates"));
        let d = Deployment { dir, db };
        d.ok(&["agencies", "import", "config/agencies.yaml"]);
        d
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        let p = self.dir.path();
        vec![
            ("ESCALATE_DATABASE_URL", self.db.url.clone()),
            (
                "ESCALATE_WORKFLOWS_DIR",
                p.join("workflows").display().to_string(),
            ),
            (
                "ESCALATE_TEMPLATES_DIR",
                p.join("templates").display().to_string(),
            ),
            (
                "ESCALATE_SMTP_URL",
                format!("file://{}", p.join("mail").display()),
            ),
        ]
    }

    fn run(&self, args: &[&str]) -> Output {
        let env = self.env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        escalate(args, &env)
    }

    /// Runs a command that must succeed; its standard output.
    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        stdout(&o)
    }

    fn json(&self, args: &[&str]) -> Value {
        json(&self.run(args))
    }

    fn dispute_file(&self) -> PathBuf {
        self.dir.path().join("workflows/dispute.yaml")
    }

    /// Replaces the one occurrence of `from` in the copy of dispute.yaml.
    fn edit_dispute(&self, from: &str, to: &str) {
        let path = self.dispute_file();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.matches(from).count(), 1, "{from:?}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    }

    /// Opens a dispute at `at`; its `case open --json` output.
    fn open(&self, at: &str) -> Value {
        self.json(&[
            "case",
            "open",
            "--workflow",
            "dispute",
            "--data",
            "examples/dispute.json",
            "--by",
            RAISER,
            "--now",
            at,
            "--json",
        ])
    }

    fn show(&self, reference: &str) -> Value {
        self.json(&["case", "show", reference, "--json"])
    }

    fn outbox(&self) -> Vec<Value> {
        self.json(&["outbox", "list", "--limit", "1000", "--json"])
            .as_array()
            .unwrap()
            .clone()
    }

    fn mail_files(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.dir.path().join("mail")) else {
            return Vec::new();
        };
        entries
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect()
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
        }
    }
}

/// The due time of a case's deadline of `kind` for `slot`, from `case show --json`.
fn due(view: &Value, slot: &str, kind: &str) -> String {
    view["deadlines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["slot"]["name"] == slot && d["kind"] == kind)
        .unwrap_or_else(|| panic!("no {slot} {kind} in {view}"))["due_at"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The pending deadlines of `case open --json` output, as (deadline, kind, due).
fn pending(opened: &Value) -> Vec<(String, String, String)> {
    opened["deadlines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["deadline"].as_str().unwrap().to_string(),
                d["kind"].as_str().unwrap().to_string(),
                d["due"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Exit code 2, exactly one line on stderr, naming `file` with a line and column.
fn assert_names_file(o: &Output, file: &Path) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "one line expected: {err:?}");
    let at = format!("{}:", file.display());
    let rest = err
        .split_once(&at)
        .unwrap_or_else(|| panic!("{err:?} should name {at}"))
        .1;
    let mut parts = rest.splitn(3, ':');
    let line = parts.next().unwrap();
    let column = parts.next().unwrap();
    assert!(
        line.parse::<u32>().is_ok() && column.parse::<u32>().is_ok(),
        "{err:?} should say file:line:col"
    );
}

/// Runs `serve`, which must end by itself (it refuses to start): its output. A serve that
/// starts after all is stopped and the test fails.
fn serve_refusing(d: &Deployment) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_escalate"));
    cmd.args(["serve", "--addr", "127.0.0.1:0"])
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("ESCALATE_")) {
        cmd.env_remove(k);
    }
    for (k, v) in d.env() {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let o = child.wait_with_output().unwrap();
            panic!("serve started with a broken workflow file: {}", stderr(&o));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn a_revised_workflow_leaves_running_cases_on_their_version_and_a_broken_file_stops_only_new_ones()
{
    for db in TestDb::all() {
        let url = db.url.clone();
        let d = Deployment::new(db);
        // Monday 2 Nov 2026: stage 1 is 2 working days, due Wednesday at 17:00.
        let old = d.open("2026-11-02T09:00:00Z");
        let old_ref = old["reference"].as_str().unwrap().to_string();
        let old_hash = old["workflow_version"].as_str().unwrap().to_string();
        let old_deadlines = pending(&old);
        assert!(
            old_deadlines.contains(&(
                "stage1".into(),
                "lapse".into(),
                "2026-11-04T17:00:00Z".into()
            )),
            "{url}: {old_deadlines:?}"
        );

        // The README's invitation: change a timescale.
        d.edit_dispute("within: 2 working days", "within: 3 working days");

        // The old case still takes events, and keeps its deadlines.
        d.ok(&[
            "case",
            "event",
            &old_ref,
            "note",
            "--field",
            "text=Spoke on the phone",
            "--by",
            RAISER,
            "--now",
            "2026-11-02T10:00:00Z",
        ]);
        let view = d.show(&old_ref);
        assert_eq!(view["workflow_hash"], old_hash.as_str(), "{url}");
        assert_eq!(
            due(&view, "stage1", "lapse"),
            "2026-11-04T17:00:00Z",
            "{url}"
        );

        // A new case gets the revision: 3 working days, due Thursday.
        let new = d.open("2026-11-02T11:00:00Z");
        let new_ref = new["reference"].as_str().unwrap().to_string();
        let new_hash = new["workflow_version"].as_str().unwrap().to_string();
        assert_ne!(new_hash, old_hash, "{url}");
        assert!(
            pending(&new).contains(&(
                "stage1".into(),
                "lapse".into(),
                "2026-11-05T17:00:00Z".into()
            )),
            "{url}: {new}"
        );

        // Across the old case's lapse: it escalates on its own version, and every message
        // (its warning and escalation notices included) is rendered and sent.
        let tick = d.json(&["tick", "--now", "2026-11-04T18:00:00Z", "--json"]);
        assert_eq!(tick["failed"], serde_json::json!([]), "{url}: {tick}");
        assert_eq!(tick["mail"]["failed"], 0, "{url}: {tick}");
        let view = d.show(&old_ref);
        assert_eq!(view["state"], "stage2", "{url}");
        assert_eq!(view["workflow_hash"], old_hash.as_str(), "{url}");
        let new_view = d.show(&new_ref);
        assert_eq!(new_view["state"], "stage1", "{url}");
        let rows = d.outbox();
        let old_rows: Vec<&Value> = rows
            .iter()
            .filter(|m| m["idempotency_key"].as_str().unwrap().contains(&old_ref))
            .collect();
        assert!(
            old_rows
                .iter()
                .any(|m| m["template"] == "escalation_notice"),
            "{url}: {rows:?}"
        );
        assert!(
            old_rows.iter().any(|m| m["template"] == "warning"),
            "{url}: {rows:?}"
        );
        for m in &rows {
            assert_eq!(m["status"], "sent", "{url}: {m}");
        }
        let mails = d.mail_files();
        assert_eq!(mails.len(), rows.len(), "{url}");
        assert!(mails.iter().any(|m| m.contains(&old_ref)), "{url}");

        // Both versions, newest first, each with its open case.
        let versions = d.json(&["workflows", "versions", "dispute", "--json"]);
        assert_eq!(versions["current"], new_hash.as_str(), "{url}: {versions}");
        let list = versions["versions"].as_array().unwrap();
        assert_eq!(list.len(), 2, "{url}: {versions}");
        assert_eq!(list[0]["hash"], new_hash.as_str(), "{url}: {versions}");
        assert_eq!(list[0]["current"], true);
        assert_eq!(list[0]["open_cases"], 1);
        assert_eq!(list[0]["references"], serde_json::json!([new_ref]));
        assert_eq!(list[1]["hash"], old_hash.as_str(), "{url}: {versions}");
        assert_eq!(list[1]["current"], false);
        assert_eq!(list[1]["open_cases"], 1);
        assert_eq!(list[1]["references"], serde_json::json!([old_ref]));
        assert_eq!(list[0]["label"], 1);
        let text = d.ok(&["workflows", "versions", "dispute"]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(
            lines[1].contains(&new_hash)
                && lines[1].contains("(current)")
                && lines[1].contains(&new_ref),
            "{text}"
        );
        assert!(
            lines[2].contains(&old_hash)
                && lines[2].contains("1 open")
                && lines[2].contains(&old_ref),
            "{text}"
        );

        // Now a syntax error in the file.
        d.edit_dispute("within: 3 working days", "within: [3 working days");
        let file = d.dispute_file();
        d.ok(&["case", "show", &old_ref]);
        assert!(d.ok(&["case", "list"]).contains(&new_ref), "{url}");
        assert!(
            d.ok(&["audit", "verify"]).starts_with("audit log intact"),
            "{url}"
        );
        // The new case's warning (Wed 17:00) and lapse (Thu 17:00) fire on its stored version.
        let tick = d.json(&["tick", "--now", "2026-11-05T18:00:00Z", "--json"]);
        assert_eq!(tick["fired"], 1, "{url}: {tick}");
        assert_eq!(tick["mail"]["failed"], 0, "{url}: {tick}");
        assert_eq!(d.show(&new_ref)["state"], "stage2", "{url}");
        assert!(d.outbox().iter().all(|m| m["status"] == "sent"), "{url}");
        assert!(
            d.ok(&["workflows", "versions", "dispute"])
                .contains("the workflow files do not load"),
            "{url}"
        );
        // Only what needs the current files is refused, with the file's line and column.
        let o = d.run(&[
            "case",
            "open",
            "--workflow",
            "dispute",
            "--data",
            "examples/dispute.json",
            "--by",
            RAISER,
            "--now",
            "2026-11-05T18:00:00Z",
        ]);
        assert_names_file(&o, &file);
        assert!(
            stderr(&o).contains("no case can be opened"),
            "{}",
            stderr(&o)
        );
        let o = serve_refusing(&d);
        assert_names_file(&o, &file);
        assert!(
            stderr(&o).contains("serve does not start"),
            "{}",
            stderr(&o)
        );
        assert_eq!(
            d.json(&["case", "list", "--json"])
                .as_array()
                .unwrap()
                .len(),
            2
        );
    }
}

#[tokio::test]
async fn tick_fails_with_exit_3_when_messages_cannot_be_rendered_for_want_of_their_version() {
    for db in TestDb::all() {
        let url = db.url.clone();
        let d = Deployment::new(db);
        let opened = d.open("2026-11-02T09:00:00Z");
        let reference = opened["reference"].as_str().unwrap();
        let hash = opened["workflow_version"].as_str().unwrap().to_string();
        // Stage 2 notifies four people.
        d.ok(&[
            "case",
            "event",
            reference,
            "escalate",
            "--reason",
            "No reply",
            "--by",
            RAISER,
            "--now",
            "2026-11-02T09:30:00Z",
        ]);
        // The file moves on, and the kept copy of the case's version is damaged.
        d.edit_dispute("within: 2 working days", "within: 3 working days");
        let sql = format!(
            "UPDATE workflow_versions SET source = 'id: [' WHERE workflow = 'dispute' AND hash = '{hash}'"
        );
        tamper(&url, &sql).await;
        let o = d.run(&["tick", "--now", "2026-11-02T10:00:00Z"]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(3), "{url}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        let failed = d
            .outbox()
            .iter()
            .filter(|m| m["status"] == "failed")
            .count();
        assert!(failed > 0, "{url}");
        assert!(
            err.contains(&format!("{failed} message(s) failed"))
                && err.contains("workflow version"),
            "{err}"
        );
        let why = d.ok(&["outbox", "list", "--status", "failed"]);
        assert!(why.contains(&hash), "{why}");
    }
}

/// Runs one statement as whoever holds the database would.
async fn tamper(url: &str, sql: &str) {
    use sqlx::Connection;
    if url.starts_with("sqlite") {
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(&mut conn)
            .await
            .unwrap();
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(&mut conn)
            .await
            .unwrap();
    }
}

/// The dispute workflow as the first release shipped it (before data types were declared):
/// a version a database of that release keeps. Today's rules find fault with it (its
/// `immediate_risk: true` is not text), but cases opened on it must still run.
const FIRST_RELEASE_DISPUTE: &str = include_str!("support/dispute-first-release.yaml");

#[test]
fn a_kept_version_is_read_without_todays_directories_or_todays_stricter_rules() {
    use escalate::workflow::{Catalog, parse, parse_stored};
    let file = Path::new("dispute.yaml");
    let full = Catalog::scan(Path::new("workflows"), Path::new("config/templates"));
    assert!(parse(file, FIRST_RELEASE_DISPUTE, &full).is_err());
    let (old, problems) = parse_stored(file, FIRST_RELEASE_DISPUTE).unwrap();
    assert!(
        problems
            .iter()
            .all(|p| p.message.contains("immediate_risk")),
        "{problems:?}"
    );
    assert!(old.state("stage1").is_some() && old.state("stage4").is_some());
    // Today's file, with no templates directory at all: its default templates (warning,
    // lapse_reminder) and linked workflows are taken as they were checked when current.
    let today = std::fs::read_to_string("workflows/dispute.yaml").unwrap();
    assert!(parse(file, &today, &Catalog::default()).is_err());
    let (def, problems) = parse_stored(file, &today).unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(def.hash, parse(file, &today, &full).unwrap().hash);
    let transfer = std::fs::read_to_string("workflows/transfer.yaml").unwrap();
    let (_, problems) = parse_stored(Path::new("transfer.yaml"), &transfer).unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    // Only a version without a shape is refused.
    assert!(parse_stored(file, "id: [").is_err());
}
