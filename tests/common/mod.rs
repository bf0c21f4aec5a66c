//! Running the `escalate` binary as a user would, for the black-box tests.
#![allow(dead_code)]

pub mod web;

use std::process::{Command, Output};

/// Runs escalate in the crate directory with only the given `ESCALATE_*` variables. Tests use
/// fixed dates, some later than today, so `[engine] allow_future` is on unless `env` says
/// otherwise.
pub fn escalate(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_escalate"));
    cmd.args(args).current_dir(env!("CARGO_MANIFEST_DIR"));
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("ESCALATE_")) {
        cmd.env_remove(k);
    }
    cmd.env("ESCALATE_ENGINE__ALLOW_FUTURE", "true");
    cmd.envs(env.iter().copied());
    cmd.output().unwrap()
}

/// Runs escalate on the database at `url` with `input` on its standard input (a password
/// for `--password-stdin`, data for `--data -`).
pub fn with_stdin(args: &[&str], url: &str, input: &[u8]) -> Output {
    use std::io::Write;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_escalate"));
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("ESCALATE_")) {
        cmd.env_remove(k);
    }
    let mut child = cmd
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("ESCALATE_DATABASE_URL", url)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// Sends an HTTP request and reads the answer: status, headers, JSON body (null if none).
pub async fn answer(
    request: reqwest::RequestBuilder,
) -> (
    reqwest::StatusCode,
    reqwest::header::HeaderMap,
    serde_json::Value,
) {
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .json::<serde_json::Value>()
        .await
        .unwrap_or(serde_json::Value::Null);
    (status, headers, body)
}

/// Standard output as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// Standard error as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

/// Exit code 2, nothing on stdout, and exactly one line on stderr containing `wanted`.
pub fn assert_one_line_error(o: &Output, wanted: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "stderr: {err}");
    assert_eq!(stdout(o), "");
    assert_eq!(err.lines().count(), 1, "one line expected: {err:?}");
    assert!(err.contains(wanted), "{err:?} should contain {wanted:?}");
}

/// Standard output parsed as JSON, after checking the command succeeded.
pub fn json(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "{}", stderr(o));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// A database for one test: a SQLite file in a temporary directory, or a fresh PostgreSQL
/// database (dropped afterwards) on the server `ESCALATE_TEST_POSTGRES_URL` names.
pub struct TestDb {
    /// The URL to give escalate.
    pub url: String,
    admin: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// A new SQLite file.
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("escalate.db").display());
        TestDb {
            url,
            admin: None,
            _dir: Some(dir),
        }
    }

    /// A new PostgreSQL database, or `None` (with a notice) when no server is configured.
    pub fn postgres() -> Option<TestDb> {
        let Ok(admin) = std::env::var("ESCALATE_TEST_POSTGRES_URL") else {
            eprintln!(
                "notice: ESCALATE_TEST_POSTGRES_URL is not set; skipping the PostgreSQL part"
            );
            return None;
        };
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let name = format!(
            "escalate_test_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        );
        psql(&admin, &format!("CREATE DATABASE {name}"));
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
        Some(TestDb {
            url: format!("{base}/{name}"),
            admin: Some((admin, name)),
            _dir: None,
        })
    }

    /// SQLite always; PostgreSQL too when configured.
    pub fn all() -> Vec<TestDb> {
        let mut dbs = vec![TestDb::sqlite()];
        dbs.extend(TestDb::postgres());
        dbs
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self.admin {
            psql(
                admin,
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            );
        }
    }
}

/// Runs one statement with psql against `url`.
pub fn psql(url: &str, sql: &str) {
    let status = Command::new("psql")
        .args([url, "-q", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .status()
        .expect("psql runs");
    assert!(status.success(), "psql failed: {sql}");
}

/// The environment of a database with the example agency directory, mail to files in the
/// directory `smtp` names (`file://…`), and no sweep or delivery to move cases while a test
/// looks at them.
pub fn quiet<'a>(db: &'a TestDb, smtp: &'a str) -> [(&'static str, &'a str); 4] {
    let env = [
        ("ESCALATE_DATABASE_URL", db.url.as_str()),
        ("ESCALATE_SMTP_URL", smtp),
        ("ESCALATE_JOBS__SWEEP", "off"),
        ("ESCALATE_JOBS__OUTBOX", "off"),
    ];
    let o = escalate(&["agencies", "import", "config/agencies.yaml"], &env);
    assert!(o.status.success(), "{}", stderr(&o));
    env
}

/// Adds a user of `role` (and `agency`) and returns a new API token for them.
pub fn user_with_token(
    env: &[(&str, &str)],
    email: &str,
    role: &str,
    agency: Option<&str>,
) -> String {
    let mut args = vec!["users", "add", email, "--role", role];
    if let Some(a) = agency {
        args.extend(["--agency", a]);
    }
    let o = escalate(&args, env);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = escalate(&["tokens", "create", email], env);
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o).split_whitespace().last().unwrap().to_string()
}

/// Runs `statements` on the database at `url` directly, on one connection, as someone holding
/// the file or a superuser would (to damage it, or to make it look older).
pub async fn sql(url: &str, statements: &[&str]) {
    if let Err(e) = try_sql(url, statements).await {
        panic!("{e}");
    }
}

/// [`sql`], stopping at the first statement the database refuses, with its error.
#[allow(dead_code)]
pub async fn try_sql(url: &str, statements: &[&str]) -> Result<(), String> {
    use sqlx::Connection;
    async fn run<C: Connection>(mut conn: C, statements: &[&str]) -> Result<(), String>
    where
        for<'c> &'c mut C: sqlx::Executor<'c, Database = C::Database>,
        <C::Database as sqlx::Database>::Arguments: sqlx::IntoArguments<C::Database>,
    {
        for s in statements {
            sqlx::query(sqlx::AssertSqlSafe(s.to_string()))
                .execute(&mut conn)
                .await
                .map_err(|e| format!("{s}: {e}"))?;
        }
        conn.close().await.map_err(|e| e.to_string())
    }
    if url.starts_with("sqlite") {
        run(
            sqlx::SqliteConnection::connect(url).await.unwrap(),
            statements,
        )
        .await
    } else {
        run(sqlx::PgConnection::connect(url).await.unwrap(), statements).await
    }
}

/// Makes every write to the admin record fail from now on (a trigger that raises on insert
/// into `admin_log`), as a full disk or a lost connection would at that moment.
pub async fn break_admin_record(url: &str) {
    if url.starts_with("sqlite") {
        sql(
            url,
            &["CREATE TRIGGER admin_log_fails BEFORE INSERT ON admin_log \
               BEGIN SELECT RAISE(ABORT, 'the admin record fails'); END"],
        )
        .await;
    } else {
        sql(
            url,
            &[
                "CREATE FUNCTION admin_log_fails() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN RAISE EXCEPTION 'the admin record fails'; END $$",
                "CREATE TRIGGER admin_log_fails BEFORE INSERT ON admin_log \
                 FOR EACH ROW EXECUTE FUNCTION admin_log_fails()",
            ],
        )
        .await;
    }
}

/// Undoes [`break_admin_record`].
pub async fn mend_admin_record(url: &str) {
    let drop = if url.starts_with("sqlite") {
        "DROP TRIGGER admin_log_fails"
    } else {
        "DROP TRIGGER admin_log_fails ON admin_log"
    };
    sql(url, &[drop]).await;
}

/// A real SMTP server process (aiosmtpd, `tests/support/smtp_server.py`) on a free local port,
/// writing what it accepts to a directory; stopped when dropped.
pub struct SmtpServer {
    /// Its port on 127.0.0.1.
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<std::process::Child>,
}

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl SmtpServer {
    /// Starts a server on a free port.
    pub fn start() -> SmtpServer {
        let mut server = SmtpServer {
            port: free_port(),
            dir: tempfile::tempdir().unwrap(),
            child: None,
        };
        server.run();
        server
    }

    /// A server that is down: its port is chosen, nothing listens until [`SmtpServer::run`].
    pub fn down() -> SmtpServer {
        SmtpServer {
            port: free_port(),
            dir: tempfile::tempdir().unwrap(),
            child: None,
        }
    }

    /// Starts (or restarts) the server process and waits until it listens.
    pub fn run(&mut self) {
        use std::io::BufRead;
        let mut child = Command::new("python3")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/support/smtp_server.py"
            ))
            .arg(self.port.to_string())
            .arg(self.dir.path())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs (aiosmtpd: pip install aiosmtpd)");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(
            line.trim(),
            "ready",
            "the SMTP server did not start (is aiosmtpd installed?)"
        );
        self.child = Some(child);
    }

    /// `smtp://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// How the server answers: `accept`, `tempfail` (451) or `permfail` (550).
    pub fn set_mode(&self, mode: &str) {
        std::fs::write(self.dir.path().join("mode"), mode).unwrap();
    }

    /// The messages accepted so far, in order, as text.
    pub fn messages(&self) -> Vec<String> {
        let mut files: Vec<_> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned())
            .collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// One leaf part of a MIME message, decoded.
pub struct MimePart {
    /// e.g. `image/png`.
    pub content_type: String,
    /// The Content-ID header, if any, e.g. `<chart@escalate>`.
    pub content_id: Option<String>,
    /// The attachment's file name, if any.
    pub filename: Option<String>,
    /// The decoded body.
    pub body: Vec<u8>,
}

/// The leaf parts of a message, in order, decoded by Python's `email` package (an
/// implementation other than the one that wrote the message).
pub fn mime_parts(message: &str) -> Vec<MimePart> {
    let dir = tempfile::tempdir().unwrap();
    let eml = dir.path().join("m.eml");
    std::fs::write(&eml, message).unwrap();
    let script = "import email,sys,os,json\n\
        m=email.message_from_binary_file(open(sys.argv[1],'rb'))\n\
        for i,p in enumerate(m.walk()):\n\
        \x20   if p.is_multipart(): continue\n\
        \x20   open(os.path.join(sys.argv[2],'%02d'%i),'wb').write(p.get_payload(decode=True))\n\
        \x20   print(json.dumps(['%02d'%i,p.get_content_type(),p.get('Content-ID'),p.get_filename()]))\n";
    let out = Command::new("python3")
        .args([
            "-c",
            script,
            eml.to_str().unwrap(),
            dir.path().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            MimePart {
                content_type: v[1].as_str().unwrap().to_string(),
                content_id: v[2].as_str().map(String::from),
                filename: v[3].as_str().map(String::from),
                body: std::fs::read(dir.path().join(v[0].as_str().unwrap())).unwrap(),
            }
        })
        .collect()
}

/// An acting person's address, parsed as the engine takes it.
pub fn user(email: &str) -> escalate::ids::UserEmail {
    escalate::ids::UserEmail::parse(email).unwrap()
}

/// A case reference, parsed as the engine takes it.
pub fn cref(reference: &str) -> escalate::ids::CaseRef {
    escalate::ids::CaseRef::parse(reference).unwrap()
}

/// `escalate serve` on a free port, stopped with SIGTERM when dropped.
pub struct Served {
    child: std::process::Child,
    log: tempfile::NamedTempFile,
    printed: tempfile::NamedTempFile,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl Served {
    /// Starts serve with `env` (the `ESCALATE_*` variables; others are removed) and waits,
    /// at most 60 s, until it logs the address it listens on.
    pub fn start(env: &[(&str, &str)]) -> Served {
        let log = tempfile::NamedTempFile::new().unwrap();
        let printed = tempfile::NamedTempFile::new().unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_escalate"));
        cmd.args(["serve", "--addr", "127.0.0.1:0"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(std::process::Stdio::from(printed.reopen().unwrap()))
            .stderr(std::process::Stdio::from(log.reopen().unwrap()));
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("ESCALATE_")) {
            cmd.env_remove(k);
        }
        cmd.env("ESCALATE_LOG", "info").envs(env.iter().copied());
        let mut child = cmd.spawn().unwrap();
        let started = std::time::Instant::now();
        let url = loop {
            let text = std::fs::read_to_string(log.path()).unwrap();
            if let Some(at) = text.find("listening on http://") {
                let rest = &text[at + "listening on ".len()..];
                break rest.split_whitespace().next().unwrap().to_string();
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!("serve ended ({status}): {text}");
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(60),
                "serve did not start: {text}"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        Served {
            child,
            log,
            printed,
            url,
        }
    }

    /// What serve has printed on standard output so far (the first administrator's sign-in).
    pub fn printed(&self) -> String {
        std::fs::read_to_string(self.printed.path()).unwrap()
    }

    /// What serve has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap()
    }

    /// Stops it with SIGTERM; its exit status and log.
    pub fn stop(mut self) -> (std::process::ExitStatus, String) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let status = self.child.wait().unwrap();
        (status, self.log())
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The sign-in `serve` printed (what [`Served::printed`] holds): its email address and
/// password.
pub fn printed_sign_in(printed: &str) -> (String, String) {
    let field = |name: &str| {
        printed
            .lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in {printed:?}"))
            .trim()
            .to_string()
    };
    (field("email:"), field("password:"))
}

/// Opens the example dispute (`examples/dispute.json`) as its raiser, at `at` if given; its
/// reference.
pub fn open_dispute(env: &[(&str, &str)], at: Option<&str>) -> String {
    let mut args = vec![
        "case",
        "open",
        "--workflow",
        "dispute",
        "--data",
        "examples/dispute.json",
        "--by",
        "priya.shah@school.example.org",
        "--json",
    ];
    if let Some(at) = at {
        args.extend(["--now", at]);
    }
    let opened = json(&escalate(&args, env));
    opened["reference"].as_str().unwrap().to_string()
}

/// A temporary directory for mail and its `file://` URL (`ESCALATE_SMTP_URL`).
pub fn mail_dir() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().display());
    (dir, url)
}

/// Adds `someone` as `role` and Priya Shah, a practitioner of Riverside Primary School, both
/// signing in with `password`.
pub fn someone_and_priya(url: &str, someone: &str, role: &str, password: &str) {
    user_with_password(url, someone, role, None, password);
    user_with_password(
        url,
        "priya.shah@school.example.org",
        "practitioner",
        Some("riverside-primary"),
        password,
    );
}

/// Adds a user of `role` (and `agency`) with `password`, as `users add --password-stdin`.
pub fn user_with_password(
    url: &str,
    email: &str,
    role: &str,
    agency: Option<&str>,
    password: &str,
) {
    user_named(url, email, role, agency, None, password);
}

/// [`user_with_password`], with the `name` people see when one is given.
pub fn user_named(
    url: &str,
    email: &str,
    role: &str,
    agency: Option<&str>,
    name: Option<&str>,
    password: &str,
) {
    let mut args = vec!["users", "add", email, "--role", role, "--password-stdin"];
    if let Some(a) = agency {
        args.extend(["--agency", a]);
    }
    if let Some(n) = name {
        args.extend(["--name", n]);
    }
    let o = with_stdin(&args, url, format!("{password}\n").as_bytes());
    assert!(o.status.success(), "{}", stderr(&o));
}

/// Opens a dispute (`examples/dispute.json` with this `category`, raised by Priya of the
/// agency `raising` against `receiving`, by name or id) at `now`; its reference. The data file
/// is written in `dir`.
pub fn dispute_between(
    env: &[(&str, &str)],
    dir: &std::path::Path,
    category: &str,
    raising: &str,
    receiving: &str,
    now: &str,
) -> String {
    let mut data: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string("examples/dispute.json").unwrap()).unwrap();
    data["category"] = serde_json::json!(category);
    data["raised_by"]["agency"] = serde_json::json!(raising);
    data["respondent"]["agency"] = serde_json::json!(receiving);
    let file = dir.join(format!("{now}.json"));
    std::fs::write(&file, data.to_string()).unwrap();
    let args = [
        "case",
        "open",
        "--workflow",
        "dispute",
        "--data",
        file.to_str().unwrap(),
        "--by",
        "priya.shah@school.example.org",
        "--now",
        now,
    ];
    let o = escalate(&args, env);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    stdout(&o).split_whitespace().next().unwrap().to_string()
}

/// Records `event` on `reference` as `by` at `now` with `fields` (`KEY=VALUE`), for the
/// reason "Agreed".
pub fn case_event(
    env: &[(&str, &str)],
    reference: &str,
    event: &str,
    by: &str,
    now: &str,
    fields: &[&str],
) {
    let mut args = vec![
        "case", "event", reference, event, "--by", by, "--reason", "Agreed", "--now", now,
    ];
    for f in fields {
        args.extend(["--field", f]);
    }
    let o = escalate(&args, env);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
}
