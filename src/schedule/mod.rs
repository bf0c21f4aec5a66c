//! Scheduled jobs: 5-field cron expressions in a time zone (`[jobs]` of the config), each
//! occurrence run exactly once across any number of processes.
//!
//! An occurrence is named by its UTC instant (`job_runs.scheduled_for`) and claimed with
//! `INSERT … ON CONFLICT DO NOTHING`: whoever inserts the row runs it, everyone else does not.
//! croner resolves the wall clock: a time skipped by the spring-forward gap runs at the first
//! instant after the gap, and a time repeated by the fall-back overlap runs once, at its first
//! instant (for jobs at a fixed time; an every-minute job runs in both copies of the hour,
//! which are different minutes). So a DST change never runs a job twice or skips it.
//!
//! Only the latest occurrence at or before `now` is ever run: after downtime the one missed
//! occurrence runs once, late, and says how many earlier ones it stands for. A job seen for
//! the first time starts its schedule there (its latest past occurrence is recorded as
//! skipped), so a new installation does not run last month's report at its first tick.
//!
//! A claim is taken before the job's body runs and the body is not in the claim's
//! transaction: a process that dies mid-job leaves the occurrence claimed and unfinished
//! (shown as `running` by `jobs list`) until its claim is stale, when it is run again. Mail a
//! job sends (the monthly report) is queued in the transaction that finishes the occurrence,
//! each message under an idempotency key, so a run taken over never sends twice.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::engine::Engine;
use crate::store::{JobEnd, JobRun, Queued, StandaloneMessage, StoreError};

/// How late an occurrence may start and still count as on time: a `tick` from the system
/// cron, or a `serve` wake-up, starts a few seconds after the minute.
const ON_TIME: TimeDelta = TimeDelta::seconds(60);

/// Earlier missed occurrences are counted up to this many (for the log line only).
const MISSED_COUNT_CAP: usize = 10_000;

/// The `[jobs]` table: a cron expression (minute hour day-of-month month day-of-week) per job,
/// or `"off"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobsSettings {
    /// IANA time zone the expressions are read in.
    pub time_zone: String,
    /// The deadline sweep.
    pub sweep: String,
    /// Outbox delivery.
    pub outbox: String,
    /// The monthly report to the board.
    pub monthly_report: String,
    /// The audit checkpoint the monthly report carries.
    pub audit_checkpoint: String,
    /// A digest to each person of their open cases and coming deadlines (not yet available).
    pub weekly_digest: String,
}

impl Default for JobsSettings {
    fn default() -> Self {
        JobsSettings {
            time_zone: "Europe/London".into(),
            sweep: "* * * * *".into(),
            outbox: "* * * * *".into(),
            monthly_report: "0 8 1 * *".into(),
            audit_checkpoint: "0 8 1 * *".into(),
            weekly_digest: OFF.into(),
        }
    }
}

/// The value that turns a job off.
pub const OFF: &str = "off";

/// A bad `[jobs]` setting, one line naming the key.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// Not a 5-field cron expression.
    #[error(
        "jobs.{key} '{expr}' is not a 5-field cron expression (minute hour day-of-month month day-of-week) or \"off\": {message}"
    )]
    BadCron {
        /// The job's key.
        key: &'static str,
        /// What was written.
        expr: String,
        /// croner's reason.
        message: String,
    },
    /// Not an IANA zone.
    #[error("jobs.time_zone '{0}' is not an IANA time zone")]
    BadZone(String),
}

/// Which job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Fires due deadlines.
    Sweep,
    /// Delivers the outbox.
    Outbox,
    /// Records an audit checkpoint.
    AuditCheckpoint,
    /// The monthly report.
    MonthlyReport,
    /// The weekly digest.
    WeeklyDigest,
}

impl JobKind {
    /// Every job, in the order they run when due together (the checkpoint before the report
    /// that carries it).
    pub const ALL: [JobKind; 5] = [
        JobKind::Sweep,
        JobKind::Outbox,
        JobKind::AuditCheckpoint,
        JobKind::MonthlyReport,
        JobKind::WeeklyDigest,
    ];

    /// The key in `[jobs]` and the name in `job_runs`.
    pub fn name(self) -> &'static str {
        match self {
            JobKind::Sweep => "sweep",
            JobKind::Outbox => "outbox",
            JobKind::AuditCheckpoint => "audit_checkpoint",
            JobKind::MonthlyReport => "monthly_report",
            JobKind::WeeklyDigest => "weekly_digest",
        }
    }

    /// Whether occurrences are claimed in `job_runs`. The sweep and the outbox are not: every
    /// `tick` and every `serve` interval already runs both, and each deadline and message is
    /// claimed on its own with a lease, so running them anywhere at any time is safe.
    pub fn claimed(self) -> bool {
        !matches!(self, JobKind::Sweep | JobKind::Outbox)
    }

    fn setting(self, s: &JobsSettings) -> &str {
        match self {
            JobKind::Sweep => &s.sweep,
            JobKind::Outbox => &s.outbox,
            JobKind::AuditCheckpoint => &s.audit_checkpoint,
            JobKind::MonthlyReport => &s.monthly_report,
            JobKind::WeeklyDigest => &s.weekly_digest,
        }
    }
}

/// One configured job.
#[derive(Debug, Clone)]
pub struct Job {
    /// Which.
    pub kind: JobKind,
    /// The expression as written, or `None` when off.
    pub expr: Option<String>,
    cron: Option<Cron>,
}

/// Every job with its parsed schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// The zone the expressions are read in.
    pub time_zone: Tz,
    /// In [`JobKind::ALL`] order.
    pub jobs: Vec<Job>,
    /// Who the monthly report is emailed to (`[report] recipients`, checked addresses).
    pub report_recipients: Vec<String>,
}

/// Parses a 5-field cron expression (no seconds, no years).
pub fn parse_cron(expr: &str) -> Result<Cron, String> {
    CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build()
        .parse(expr)
        .map_err(|e| e.to_string())
}

impl Schedule {
    /// Checks and parses `[jobs]`.
    pub fn from_settings(settings: &JobsSettings) -> Result<Schedule, ScheduleError> {
        let time_zone = Tz::from_str(&settings.time_zone)
            .map_err(|_| ScheduleError::BadZone(settings.time_zone.clone()))?;
        let mut jobs = Vec::new();
        for kind in JobKind::ALL {
            let expr = kind.setting(settings).trim();
            if expr.eq_ignore_ascii_case(OFF) {
                jobs.push(Job {
                    kind,
                    expr: None,
                    cron: None,
                });
                continue;
            }
            let cron = parse_cron(expr).map_err(|message| ScheduleError::BadCron {
                key: kind.name(),
                expr: expr.to_string(),
                message,
            })?;
            jobs.push(Job {
                kind,
                expr: Some(expr.to_string()),
                cron: Some(cron),
            });
        }
        Ok(Schedule {
            time_zone,
            jobs,
            report_recipients: Vec::new(),
        })
    }

    /// This schedule, emailing the monthly report to `recipients` (checked addresses).
    pub fn with_report_recipients(mut self, recipients: Vec<String>) -> Schedule {
        self.report_recipients = recipients;
        self
    }

    /// The latest occurrence of `job` at or before `now`.
    pub fn latest(&self, job: &Job, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let cron = job.cron.as_ref()?;
        cron.find_previous_occurrence(&now.with_timezone(&self.time_zone), true)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    /// The first occurrence of `job` after `now`.
    pub fn next(&self, job: &Job, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let cron = job.cron.as_ref()?;
        cron.find_next_occurrence(&now.with_timezone(&self.time_zone), false)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    /// Occurrences strictly between `after` and `before` (up to [`MISSED_COUNT_CAP`]).
    fn between(&self, job: &Job, after: DateTime<Utc>, before: DateTime<Utc>) -> usize {
        let Some(cron) = job.cron.as_ref() else {
            return 0;
        };
        cron.iter_after(after.with_timezone(&self.time_zone))
            .take(MISSED_COUNT_CAP)
            .take_while(|t| t.with_timezone(&Utc) < before)
            .count()
    }

    /// The job of `kind`.
    pub fn job(&self, kind: JobKind) -> &Job {
        // Built from `JobKind::ALL`, so every kind is there.
        &self.jobs[JobKind::ALL.iter().position(|k| *k == kind).unwrap_or(0)]
    }

    /// How long one of `serve`'s loops (the sweep, the outbox) waits after `now` before it
    /// runs again: `interval` when `[serve] interval_seconds` sets one, else until the job's
    /// next occurrence; `None` when the job is off, so this replica does not run it.
    pub fn pace(
        &self,
        kind: JobKind,
        interval: Option<Duration>,
        now: DateTime<Utc>,
    ) -> Option<Duration> {
        let job = self.job(kind);
        job.cron.as_ref()?;
        if let Some(interval) = interval {
            return Some(interval);
        }
        let next = self.next(job, now)?;
        Some((next - now).to_std().unwrap_or_default())
    }

    /// The soonest next occurrence of any claimed job after `now`.
    pub fn next_claimed(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.jobs
            .iter()
            .filter(|j| j.kind.claimed())
            .filter_map(|j| self.next(j, now))
            .min()
    }
}

/// What a scheduler pass did with one job.
#[derive(Debug, Clone, Serialize)]
pub struct Ran {
    /// The job.
    pub job: &'static str,
    /// The occurrence.
    pub scheduled_for: DateTime<Utc>,
    /// `ok`, `failed`, `skipped` (the schedule starts here) or `elsewhere` (another process
    /// claimed it).
    pub outcome: &'static str,
    /// Started more than a minute after its time.
    pub late: bool,
    /// Earlier occurrences missed (during downtime) that this run stands for.
    pub missed: usize,
    /// One line on what it did.
    pub message: String,
}

/// Runs every claimed job whose latest occurrence at or before `now` has not been claimed.
/// Only a database failure stops the pass; a job that fails is recorded and reported.
pub async fn run_due(
    engine: &Engine,
    schedule: &Schedule,
    now: DateTime<Utc>,
) -> Result<Vec<Ran>, StoreError> {
    let store = engine.store();
    let mut ran = Vec::new();
    // Claims run on the real clock: they are about processes, not about case time.
    let clock = Utc::now();
    let stale_before = clock - JOB_LEASE;
    for job in schedule.jobs.iter().filter(|j| j.kind.claimed()) {
        let Some(due) = schedule.latest(job, now) else {
            continue;
        };
        let name = job.kind.name();
        let last = store.last_job_run(name).await?;
        let missed = match &last {
            // Done, or still running in a live process; one whose process died mid-run (claimed
            // long ago, never finished) is taken over below.
            Some(last)
                if last.scheduled_for >= due
                    && (last.finished_at.is_some() || last.started_at >= stale_before) =>
            {
                continue;
            }
            Some(last) if last.scheduled_for >= due => 0,
            Some(last) => schedule.between(job, last.scheduled_for, due),
            None => {
                if store.claim_job_run(name, due, clock, stale_before).await? {
                    let message =
                        "first seen: the schedule starts here, earlier occurrences are not run";
                    store
                        .finish_job_run(name, due, now, "skipped", message)
                        .await?;
                    ran.push(Ran {
                        job: name,
                        scheduled_for: due,
                        outcome: "skipped",
                        late: false,
                        missed: 0,
                        message: message.into(),
                    });
                }
                continue;
            }
        };
        if !store.claim_job_run(name, due, clock, stale_before).await? {
            ran.push(Ran {
                job: name,
                scheduled_for: due,
                outcome: "elsewhere",
                late: false,
                missed: 0,
                message: "claimed by another process".into(),
            });
            continue;
        }
        let late = missed > 0 || now - due > ON_TIME;
        if late {
            tracing::warn!(
                job = name,
                scheduled_for = %due,
                missed,
                "job runs late, once, for its latest missed occurrence; earlier missed occurrences are not run"
            );
        }
        let (outcome, message) = match run_job(engine, schedule, job.kind, due, now).await {
            Ok(Done::Said(message)) => {
                store
                    .finish_job_run(name, due, Utc::now().max(now), "ok", &message)
                    .await?;
                ("ok", message)
            }
            // The messages are queued in the transaction that finishes the occurrence: a
            // process dying before it commits queued nothing, and the run taken over later
            // queues them once.
            Ok(Done::Queue(messages, describe)) => {
                let end = JobEnd {
                    job: name,
                    scheduled_for: due,
                    finished_at: Utc::now().max(now),
                    outcome: "ok",
                    describe: &*describe,
                };
                let queued = store.queue_standalone(&messages, Some(end), now).await?;
                ("ok", describe(&queued))
            }
            Err(message) => {
                tracing::error!(job = name, scheduled_for = %due, "job failed: {message}");
                store
                    .finish_job_run(name, due, Utc::now().max(now), "failed", &message)
                    .await?;
                ("failed", message)
            }
        };
        ran.push(Ran {
            job: name,
            scheduled_for: due,
            outcome,
            late,
            missed,
            message,
        });
    }
    Ok(ran)
}

/// What a job's body did.
enum Done {
    /// Its one-line summary.
    Said(String),
    /// Messages to queue as the occurrence is finished, and its summary given what queueing
    /// found.
    Queue(Vec<StandaloneMessage>, Describer),
}

/// A job's summary, written once what queueing its messages found is known.
type Describer = Box<dyn Fn(&[Queued]) -> String + Send + Sync>;

/// A job's body: what it did, or why it failed.
async fn run_job(
    engine: &Engine,
    schedule: &Schedule,
    kind: JobKind,
    scheduled_for: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Done, String> {
    match kind {
        JobKind::AuditCheckpoint => engine
            .checkpoint()
            .await
            .map(|c| {
                Done::Said(format!(
                    "checkpoint {} over {} case(s), root {}",
                    c.id, c.cases, c.root
                ))
            })
            .map_err(|e| e.to_string()),
        JobKind::MonthlyReport => {
            fire_due_first(engine, now).await?;
            monthly_report(engine, &schedule.report_recipients, scheduled_for).await
        }
        JobKind::WeeklyDigest => {
            fire_due_first(engine, now).await?;
            weekly_digest(engine, scheduled_for).await
        }
        // Not claimed (see `JobKind::claimed`).
        JobKind::Sweep | JobKind::Outbox => Ok(Done::Said(String::new())),
    }
}

/// Fires the deadlines that fell due before `now` and have not fired yet (serve was down, or
/// its sweep has not reached them this minute), for a job that reads what cases have done: each
/// is dated at its due time, so the month's figures (or a digest's stages) would otherwise be
/// wrong until the sweep caught up.
async fn fire_due_first(engine: &Engine, now: DateTime<Utc>) -> Result<(), String> {
    let swept = engine.tick(now).await.map_err(|e| e.to_string())?;
    if swept.failed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} due deadline(s) could not fire first: {}",
            swept.failed.len(),
            swept.failed.join("; ")
        ))
    }
}

/// The monthly report job: the report for the month before the occurrence (London time), with
/// an audit checkpoint over every case's head (the audit_checkpoint job's when it ran just
/// before and nothing changed since, else a new one), queued through the outbox to each
/// recipient once.
async fn monthly_report(
    engine: &Engine,
    recipients: &[String],
    scheduled_for: DateTime<Utc>,
) -> Result<Done, String> {
    use crate::report::mail::{self, ReportMail, Witness};
    let month = crate::report::Month::containing(scheduled_for).minus(1);
    let report = crate::report::monthly_job(engine, month)
        .await
        .map_err(|e| e.to_string())?;
    let checkpoint = engine
        .current_checkpoint()
        .await
        .map_err(|e| e.to_string())?;
    let figures = format!(
        "report {month}: {} opened, {} resolved, {} open at the end; checkpoint {} root {}",
        report.opened, report.resolved, report.open_at_end, checkpoint.id, checkpoint.root
    );
    if recipients.is_empty() {
        return Ok(Done::Said(format!(
            "{figures}; not emailed: [report] recipients is empty"
        )));
    }
    let messages = ReportMail {
        report,
        checkpoint: Some(Witness::from(&checkpoint)),
    }
    .messages(recipients);
    Ok(Done::Queue(
        messages,
        Box::new(move |queued| format!("{figures}; {}", mail::summary(queued))),
    ))
}

/// The template of the weekly digest.
pub const DIGEST_TEMPLATE: &str = "weekly_digest";

/// The weekly digest job: to each person named on open cases (a party, or an owner of the
/// stage a case is at), their open cases and next deadlines as at the occurrence, queued
/// through the outbox once per person per occurrence.
async fn weekly_digest(engine: &Engine, scheduled_for: DateTime<Utc>) -> Result<Done, String> {
    let store = engine.store();
    let failed = |e: &dyn std::fmt::Display| e.to_string();
    let open = store
        .list_cases(&crate::store::CaseFilter {
            open_only: true,
            ..Default::default()
        })
        .await
        .map_err(|e| failed(&e))?;
    let directory = store.directory().await.map_err(|e| failed(&e))?;
    let mut cases = Vec::with_capacity(open.len());
    for case in open {
        // A case whose workflow version cannot be read is left out, not the whole digest.
        let def = match engine.definition(&case.workflow, &case.workflow_hash).await {
            Ok(def) => def,
            Err(e) => {
                tracing::warn!(reference = %case.reference, "left out of the weekly digest: {e}");
                continue;
            }
        };
        let deadlines = store.deadlines(case.id).await.map_err(|e| failed(&e))?;
        cases.push((def, case, deadlines));
    }
    let local = scheduled_for.with_timezone(&chrono_tz::Europe::London);
    let week_of = local.format("%a %-d %b %Y").to_string();
    let digests = crate::notify::digest::digests(
        cases.iter().map(|(d, c, l)| (&**d, c, &l[..])),
        &directory,
        scheduled_for,
        &week_of,
    );
    let people = digests.len();
    let open = cases.len();
    let date = local.format("%Y-%m-%d");
    let messages = digests
        .into_iter()
        .map(|digest| StandaloneMessage {
            key: format!("digest:{date}:{}", digest.email.to_lowercase()),
            message: crate::store::NewMessage {
                kind: "email".into(),
                template: DIGEST_TEMPLATE.into(),
                recipient: crate::directory::Recipient {
                    role: "digest".into(),
                    title: "a person named on open cases".into(),
                    name: digest.name.clone(),
                    email: digest.email.clone(),
                    agency: None,
                    missing: None,
                },
                payload: serde_json::to_value(&digest).unwrap_or_default(),
            },
        })
        .collect();
    Ok(Done::Queue(
        messages,
        Box::new(move |queued| {
            let new = queued.iter().filter(|q| q.new).count();
            format!(
                "weekly digest of {open} open case(s) for {people} person(s): {new} queued, {} queued before",
                queued.len() - new
            )
        }),
    ))
}

/// How long a claimed job occurrence belongs to the process that claimed it: one still
/// unfinished after this is taken to have died with its process and is run again. Longer than
/// any job takes (the monthly report over a million disputes is seconds).
const JOB_LEASE: TimeDelta = TimeDelta::minutes(30);

/// The longest `serve` sleeps between scheduler passes, so a changed clock is noticed.
const LONGEST_SLEEP: Duration = Duration::from_secs(60);

/// `serve`'s scheduler: runs due jobs, sleeps until the next occurrence, until stopped.
/// A job in progress finishes first.
pub async fn serve_loop(engine: &Engine, schedule: &Schedule, mut stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        let now = Utc::now();
        match run_due(engine, schedule, now).await {
            Ok(ran) => {
                for r in ran.iter().filter(|r| r.outcome == "ok") {
                    tracing::info!(job = r.job, scheduled_for = %r.scheduled_for, "job ran: {}", r.message);
                }
            }
            // The database may be down: say so and try again at the next wake-up.
            Err(e) => tracing::error!("scheduled jobs not run: {e}"),
        }
        let wait = schedule
            .next_claimed(now)
            .and_then(|next| (next - Utc::now()).to_std().ok())
            .map_or(LONGEST_SLEEP, |d| d.min(LONGEST_SLEEP));
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.wait_for(|stopping| *stopping) => break,
        }
    }
}

/// What `jobs list` shows for one job.
#[derive(Debug, Clone, Serialize)]
pub struct JobStatus {
    /// The job.
    pub job: &'static str,
    /// The cron expression, or `None` when off.
    pub schedule: Option<String>,
    /// The zone it is read in.
    pub time_zone: String,
    /// Whether occurrences are claimed in `job_runs` (the sweep and outbox run every tick).
    pub claimed: bool,
    /// The next occurrence after `now`.
    pub next_run: Option<DateTime<Utc>>,
    /// The latest claimed occurrence.
    pub last: Option<JobRun>,
}

/// Every job's schedule, next run and last outcome.
pub async fn status(
    engine: &Engine,
    schedule: &Schedule,
    now: DateTime<Utc>,
) -> Result<Vec<JobStatus>, StoreError> {
    let mut out = Vec::new();
    for job in &schedule.jobs {
        let last = if job.kind.claimed() {
            engine.store().last_job_run(job.kind.name()).await?
        } else {
            None
        };
        out.push(JobStatus {
            job: job.kind.name(),
            schedule: job.expr.clone(),
            time_zone: schedule.time_zone.name().to_string(),
            claimed: job.kind.claimed(),
            next_run: schedule.next(job, now),
            last,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn daily_0130() -> Schedule {
        Schedule::from_settings(&JobsSettings {
            audit_checkpoint: "30 1 * * *".into(),
            ..JobsSettings::default()
        })
        .unwrap()
    }

    #[test]
    fn spring_gap_runs_once_after_the_gap_and_autumn_overlap_once_at_the_first() {
        let s = daily_0130();
        let job = &s.jobs[2];
        // 29 March 2026: 01:00 GMT becomes 02:00 BST; 01:30 does not exist.
        assert_eq!(
            s.next(job, t("2026-03-28T12:00:00Z")),
            Some(t("2026-03-29T01:00:00Z"))
        );
        assert_eq!(
            s.next(job, t("2026-03-29T01:00:00Z")),
            Some(t("2026-03-30T00:30:00Z"))
        );
        // 25 October 2026: 02:00 BST becomes 01:00 GMT; 01:30 happens twice.
        assert_eq!(
            s.next(job, t("2026-10-24T12:00:00Z")),
            Some(t("2026-10-25T00:30:00Z"))
        );
        assert_eq!(
            s.next(job, t("2026-10-25T00:30:00Z")),
            Some(t("2026-10-26T01:30:00Z"))
        );
        assert_eq!(
            s.latest(job, t("2026-10-25T01:45:00Z")),
            Some(t("2026-10-25T00:30:00Z"))
        );
    }

    #[test]
    fn serve_sweeps_and_delivers_on_their_schedules_unless_an_interval_is_set() {
        let every_five = Schedule::from_settings(&JobsSettings {
            sweep: "*/5 * * * *".into(),
            outbox: "off".into(),
            ..JobsSettings::default()
        })
        .unwrap();
        let now = t("2026-11-26T10:02:30Z");
        assert_eq!(
            every_five.pace(JobKind::Sweep, None, now),
            Some(Duration::from_secs(150))
        );
        assert_eq!(
            every_five.pace(JobKind::Sweep, Some(Duration::from_secs(1)), now),
            Some(Duration::from_secs(1))
        );
        // Off on this replica: neither the schedule nor an interval runs it.
        assert_eq!(every_five.pace(JobKind::Outbox, None, now), None);
        assert_eq!(
            every_five.pace(JobKind::Outbox, Some(Duration::from_secs(1)), now),
            None
        );
        let defaults = Schedule::from_settings(&JobsSettings::default()).unwrap();
        assert_eq!(
            defaults.pace(JobKind::Outbox, None, t("2026-11-26T10:02:59.250Z")),
            Some(Duration::from_millis(750))
        );
        // On the minute, the next run is the next minute, not this one again.
        assert_eq!(
            defaults.pace(JobKind::Sweep, None, t("2026-11-26T10:03:00Z")),
            Some(Duration::from_secs(60))
        );
    }

    #[test]
    fn a_bad_expression_names_its_key() {
        for (expr, bad) in [
            ("0 8 32 * *", true),
            ("0 0 8 1 * *", true),
            ("0 8 1 * *", false),
        ] {
            let r = Schedule::from_settings(&JobsSettings {
                monthly_report: expr.into(),
                ..JobsSettings::default()
            });
            assert_eq!(r.is_err(), bad, "{expr}");
            if let Err(e) = r {
                assert!(e.to_string().starts_with("jobs.monthly_report '"), "{e}");
            }
        }
        let e = Schedule::from_settings(&JobsSettings {
            time_zone: "Mars/Olympus".into(),
            ..JobsSettings::default()
        })
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "jobs.time_zone 'Mars/Olympus' is not an IANA time zone"
        );
    }
}
