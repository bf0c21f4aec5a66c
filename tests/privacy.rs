//! Files that hold case data are private: the SQLite database with its `-wal` and `-shm`, and
//! the `.eml` files of the file transport are created 0600, directories escalate makes 0700.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{escalate, json, stderr};

/// A file's permission bits, in octal as `ls` and `chmod` show them.
fn mode(path: &Path) -> String {
    let bits = std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode();
    format!("{:o}", bits & 0o777)
}

#[test]
fn the_database_and_the_mail_files_are_readable_by_their_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    // Made readable by all, as a shared directory would be: the files must not follow it.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let db = dir.path().join("escalate.db");
    let mail = dir.path().join("mail");
    let url = format!("sqlite://{}", db.display());
    let smtp = format!("file://{}", mail.display());
    let env = [
        ("ESCALATE_DATABASE_URL", url.as_str()),
        ("ESCALATE_SMTP_URL", smtp.as_str()),
    ];
    let o = escalate(&["agencies", "import", "config/agencies.yaml"], &env);
    assert!(o.status.success(), "{}", stderr(&o));
    let opened = json(&escalate(
        &[
            "case",
            "open",
            "--workflow",
            "dispute",
            "--data",
            "examples/dispute.json",
            "--by",
            "priya.shah@school.example.org",
            "--now",
            "2026-11-02T09:00:00Z",
            "--json",
        ],
        &env,
    ));
    let reference = opened["reference"].as_str().unwrap();
    let o = escalate(
        &[
            "case",
            "event",
            reference,
            "escalate",
            "--by",
            "priya.shah@school.example.org",
            "--reason",
            "No reply",
            "--now",
            "2026-11-02T10:00:00Z",
        ],
        &env,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let report = json(&escalate(
        &["tick", "--now", "2026-11-02T10:00:00Z", "--json"],
        &env,
    ));
    assert_eq!(report["mail"]["sent"], 4, "{report}");

    assert_eq!(mode(&db), "600", "{}", db.display());
    assert_eq!(mode(&mail), "700", "{}", mail.display());
    let files: Vec<_> = std::fs::read_dir(&mail)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 4, "{files:?}");
    for f in &files {
        assert!(f.extension().is_some_and(|x| x == "eml"), "{}", f.display());
        assert_eq!(mode(f), "600", "{}", f.display());
    }

    // The write-ahead log and shared-memory files exist while the database is open: look at
    // them under a running serve.
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut serve = Command::new(env!("CARGO_BIN_EXE_escalate"))
        .args(["serve", "--addr", "127.0.0.1:0"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .envs(env)
        .stderr(Stdio::from(log.reopen().unwrap()))
        .spawn()
        .unwrap();
    let wal = dir.path().join("escalate.db-wal");
    let shm = dir.path().join("escalate.db-shm");
    let start = Instant::now();
    while !(std::fs::read_to_string(log.path())
        .unwrap()
        .contains("escalate serve started")
        && wal.exists()
        && shm.exists())
    {
        if start.elapsed() > Duration::from_secs(30) || serve.try_wait().unwrap().is_some() {
            let _ = serve.kill();
            panic!("{}", std::fs::read_to_string(log.path()).unwrap());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let modes = (mode(&wal), mode(&shm));
    let _ = serve.kill();
    let _ = serve.wait();
    assert_eq!(
        modes,
        ("600".to_string(), "600".to_string()),
        "-wal and -shm"
    );
}
