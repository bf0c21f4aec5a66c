//! `escalate serve`: the daemon. Until the HTTP API arrives it runs three independent loops:
//! one fires due deadlines at each `[jobs] sweep` time, one delivers the outbox at each
//! `[jobs] outbox` time and as soon as a sweep queues mail, so a slow or dead mail server never
//! delays a lapse, and the scheduler (`crate::schedule`) runs the claimed `[jobs]` at their
//! times. `[serve] interval_seconds`, when set, paces the first two instead.

use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{Notify, watch};

use super::{block_on, emit};
use crate::access::{Role, credentials};
use crate::config::Settings;
use crate::engine::Engine;
use crate::http::AppState;
use crate::ids::UserEmail;
use crate::notify::{DeliveryReport, Dispatcher};
use crate::schedule::{JobKind, OFF, Schedule};
use crate::store::{NewUser, Store, UserRecord};
use crate::{Error, Result};

/// Logs to stderr; `ESCALATE_LOG` filters (default `info`).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ESCALATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal, not in files and journals.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// The longest a loop waits when its schedule names no next time (a cron with no future
/// occurrence): it looks again after this.
const LONGEST_WAIT: Duration = Duration::from_secs(60);

/// Waits for `interval`, for `wake`, or for the stop signal; true when it was the stop.
async fn pause(
    interval: Duration,
    stop: &mut watch::Receiver<bool>,
    wake: impl Future<Output = ()>,
) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(interval) => false,
        _ = wake => false,
        _ = stop.wait_for(|stopping| *stopping) => true,
    }
}

/// How `serve`'s sweep and outbox loops are paced.
struct Pace<'a> {
    schedule: &'a Schedule,
    interval: Option<Duration>,
}

impl Pace<'_> {
    /// How long `kind`'s loop waits from now; `None` when it is off on this replica.
    fn wait(&self, kind: JobKind) -> Option<Duration> {
        self.schedule.pace(kind, self.interval, Utc::now())
    }
}

/// Fires due deadlines at each sweep time until stopped; tells the mail loop when it queued
/// mail. A sweep in progress finishes (each deadline is its own transaction, and quick).
async fn deadlines(
    settings: &Settings,
    engine: &Engine,
    pace: &Pace<'_>,
    queued: &Notify,
    mut stop: watch::Receiver<bool>,
) {
    if pace.wait(JobKind::Sweep).is_none() {
        tracing::info!("jobs.sweep is off: this replica fires no deadlines");
        return;
    }
    let lease = chrono::TimeDelta::seconds(settings.engine.lease_seconds.into());
    while !*stop.borrow() {
        match engine.tick_with(Utc::now(), lease, |_, _| {}).await {
            Ok(fired) => {
                for failure in &fired.failed {
                    tracing::error!("deadline not fired, stays due: {failure}");
                }
                if fired.fired + fired.skipped > 0 {
                    tracing::info!(
                        fired = fired.fired,
                        late = fired.late,
                        skipped = fired.skipped,
                        "deadline sweep"
                    );
                }
                if fired.fired > 0 {
                    queued.notify_one();
                }
            }
            // The database may be down: say so and try at the next sweep.
            Err(e) => tracing::error!("deadline sweep failed: {e}"),
        }
        let wait = pace.wait(JobKind::Sweep).unwrap_or(LONGEST_WAIT);
        if pause(wait, &mut stop, std::future::pending()).await {
            break;
        }
    }
}

/// Delivers the outbox a batch at a time until stopped: when it is asked to stop it finishes
/// the batch in flight (each message is cut off at the send timeout) and no more.
async fn mail(
    dispatcher: &Dispatcher<'_>,
    pace: &Pace<'_>,
    queued: &Notify,
    mut stop: watch::Receiver<bool>,
) {
    if pace.wait(JobKind::Outbox).is_none() {
        tracing::info!("jobs.outbox is off: this replica delivers no mail");
        return;
    }
    let mut report = DeliveryReport::default();
    while !*stop.borrow() {
        match dispatcher.deliver_next(&mut report).await {
            Ok(0) => {
                if report.sent + report.retrying + report.failed > 0 {
                    tracing::info!(
                        sent = report.sent,
                        retrying = report.retrying,
                        failed = report.failed,
                        "mail sweep"
                    );
                }
                report = DeliveryReport::default();
                // Until the next outbox time, or until the deadline loop queues something.
                let wait = pace.wait(JobKind::Outbox).unwrap_or(LONGEST_WAIT);
                if pause(wait, &mut stop, queued.notified()).await {
                    break;
                }
            }
            Ok(_) => {}
            Err(e) => {
                // The database may be down: say so and try again at the next outbox time.
                tracing::error!("mail delivery failed: {e}");
                let wait = pace.wait(JobKind::Outbox).unwrap_or(LONGEST_WAIT);
                if pause(wait, &mut stop, std::future::pending()).await {
                    break;
                }
            }
        }
    }
}

/// On a database that has never had an administrator, adds one (`[serve] admin_email`) with a
/// random password and prints to `out`, once, how to sign in as them: the password is written
/// there only, never to the log. A database whose administrators are all disabled gets none
/// (a restart during an incident must not mint one); it is logged, with how to add one.
async fn first_admin(
    store: &dyn Store,
    email: UserEmail,
    listening: SocketAddr,
    out: &mut dyn Write,
) -> Result<()> {
    let admins = |users: &[UserRecord]| -> (bool, bool) {
        let mut admins = users.iter().filter(|u| u.role == Role::Admin).peekable();
        let any = admins.peek().is_some();
        (any, admins.any(|u| u.disabled_at.is_none()))
    };
    match admins(&store.users().await?) {
        (true, true) => return Ok(()),
        (true, false) => {
            tracing::warn!(
                "every administrator is disabled: add one with escalate users add EMAIL --role admin --password-stdin"
            );
            return Ok(());
        }
        (false, _) => {}
    }
    let password = credentials::random_password();
    let new = NewUser {
        email: email.clone(),
        name: "Administrator".into(),
        agency: None,
        role: Role::Admin,
        password_hash: Some(
            credentials::hash_password(&password).map_err(|e| Error::Input(e.to_string()))?,
        ),
    };
    let Some(added) = store.add_first_admin(&new, Utc::now()).await? else {
        // Another replica starting at the same time added one; or the address is taken.
        if !admins(&store.users().await?).0 {
            tracing::warn!(
                "there is no administrator, and serve.admin_email {email} is a user already (not an administrator): add one with escalate users add EMAIL --role admin --password-stdin"
            );
        }
        return Ok(());
    };
    crate::access::admin::first_admin_added(store, &added, Utc::now()).await?;
    tracing::info!(%email, "no administrator yet: added one, its password printed on standard output");
    let host = match listening.ip() {
        ip if ip.is_unspecified() => SocketAddr::new([127, 0, 0, 1].into(), listening.port()),
        _ => listening,
    };
    // Quoted for the shell: an address may hold a '.
    let body = serde_json::json!({ "email": email.as_str(), "password": password })
        .to_string()
        .replace('\'', "'\\''");
    emit(
        out,
        &format!(
            "There was no administrator, so escalate added one. Sign in as them (the password is shown only now):\n\
             \x20 email:    {email}\n\
             \x20 password: {password}\n\
             For an API token: curl -X POST http://{host}/api/v1/tokens -H 'content-type: application/json' -d '{body}'\n\
             or on this machine: escalate tokens create {email}"
        ),
    )?;
    out.flush()
        .map_err(|e| Error::Input(format!("cannot write output: {e}")))
}

pub(crate) fn run(settings: &Settings, addr: Option<String>, out: &mut dyn Write) -> Result<()> {
    init_logging();
    block_on(async {
        // Check everything before the first sweep, so a bad setting stops the start, not a sweep.
        // Cases already open would run on their stored versions, but a daemon that cannot open
        // new ones is not started: name the broken file instead.
        let workflows = settings.workflows(None).map_err(|e| match e {
            Error::Workflows(problems) => Error::Config(format!(
                "{}; serve does not start until the workflow files are fixed (escalate workflows check lists every problem)",
                problems.one_line()
            )),
            e => e,
        })?;
        let calendar = settings.calendar(None)?;
        settings.mailer()?;
        settings.mail_settings()?;
        let admin_email = settings.admin_email()?;
        // Over HTTPS (as the public address says) the session cookie is Secure and __Host-.
        let web = crate::web::Web::new(settings.mail.base_url.starts_with("https://"))
            .map_err(|e| Error::Config(format!("the web UI's templates: {e}")))?;
        if !settings.report_recipients()?.is_empty() {
            report_template(settings)?;
        }
        if settings
            .schedule()?
            .job(JobKind::WeeklyDigest)
            .expr
            .is_some()
        {
            require_template(
                settings,
                crate::schedule::DIGEST_TEMPLATE,
                "jobs.weekly_digest is on, and the digest is sent with it",
            )?;
        }
        let store = crate::store::connect(&settings.database_url).await?;
        let applied = store.migrate().await?;
        if !applied.is_empty() {
            tracing::info!(?applied, "database migrated");
        }
        let engine = Arc::new(Engine::new(store, workflows, calendar));
        engine.register_workflows(Utc::now()).await?;
        if let Some(cases) = engine.index_parties().await? {
            tracing::info!(
                cases,
                "indexed the parties of earlier cases for the API's lists"
            );
        }
        // Deadlines computed with other holiday data are recomputed before the first sweep.
        let recomputed = engine.recompute_deadlines(Utc::now()).await?;
        if recomputed.checked > 0 {
            tracing::info!(
                data_version = %recomputed.data_version,
                moved = recomputed.moved,
                earlier = recomputed.earlier,
                unchanged = recomputed.unchanged,
                left = recomputed.left,
                "deadlines recomputed with new holiday data"
            );
        }
        for failure in &recomputed.failed {
            tracing::error!("deadline not recomputed, keeps its time: {failure}");
        }
        let dispatcher = super::mail::dispatcher(settings, &engine)?;
        let schedule = settings.schedule()?;
        let addr = addr.unwrap_or_else(|| settings.serve.addr.clone());
        let listener = tokio::net::TcpListener::bind(addr.trim())
            .await
            .map_err(|e| Error::Config(format!("serve cannot listen on '{addr}': {e}")))?;
        let local = listener
            .local_addr()
            .map_err(|e| Error::Config(format!("serve cannot listen on '{addr}': {e}")))?;
        let pace = Pace {
            schedule: &schedule,
            interval: settings
                .serve
                .interval_seconds
                .map(|s| Duration::from_secs(s.into())),
        };
        let signal_error = |e: std::io::Error| Error::Config(format!("cannot watch signals: {e}"));
        let mut terminate = signal(SignalKind::terminate()).map_err(signal_error)?;
        let mut interrupt = signal(SignalKind::interrupt()).map_err(signal_error)?;
        tracing::info!(
            database = %crate::store::redact(&settings.database_url),
            mail = %crate::store::redact(&settings.smtp_url),
            sweep = schedule.job(JobKind::Sweep).expr.as_deref().unwrap_or(OFF),
            outbox = schedule.job(JobKind::Outbox).expr.as_deref().unwrap_or(OFF),
            interval_seconds = ?settings.serve.interval_seconds,
            "escalate serve started"
        );
        first_admin(engine.store().as_ref(), admin_email, local, out).await?;
        // Tests and operators read the port from this line when they asked for port 0.
        tracing::info!(addr = %local, "listening on http://{local}");
        let (stop, stopping) = watch::channel(false);
        let queued = Notify::new();
        let signals = async {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = interrupt.recv() => {}
            }
            tracing::info!("stopping after the messages in flight");
            let _ = stop.send(true);
        };
        let http_stop = stopping.clone();
        let state = AppState::new(engine.clone(), settings.division()?, web)
            .with_base_url(&settings.mail.base_url);
        let http = async {
            if let Err(e) = crate::http::serve(listener, state, http_stop).await {
                tracing::error!("the API stopped: {e}");
            }
        };
        tokio::join!(
            signals,
            http,
            deadlines(settings, &engine, &pace, &queued, stopping.clone()),
            crate::schedule::serve_loop(&engine, &schedule, stopping.clone()),
            crate::web::purge_sessions(engine.clone(), stopping.clone()),
            mail(&dispatcher, &pace, &queued, stopping),
        );
        tracing::info!("escalate serve stopped");
        Ok(())
    })
}

/// Refuses to start when template `name` (both parts) is missing from the templates
/// directory though `why` needs it: better than every such message failing later.
pub(crate) fn require_template(settings: &Settings, name: &str, why: &str) -> Result<()> {
    for ext in ["txt", "html"] {
        let file = settings.templates_dir.join(format!("{name}.{ext}"));
        if !file.is_file() {
            return Err(Error::Config(format!(
                "{} is missing: {why}",
                file.display()
            )));
        }
    }
    Ok(())
}

/// The monthly report's template, when there are recipients to send it to.
pub(crate) fn report_template(settings: &Settings) -> Result<()> {
    require_template(
        settings,
        crate::report::mail::TEMPLATE,
        "[report] recipients are set, and the monthly report is sent with it",
    )
}
