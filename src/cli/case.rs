//! `escalate case open|event|show|list`.

use std::io::{Read, Write};
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::Subcommand;
use serde_json::{Value, json};

use super::{block_on, emit, parse_time, rfc3339};
use crate::calendar::local_time;
use crate::config::Settings;
use crate::engine::{CaseView, Engine};
use crate::ids::{CaseRef, UserEmail};
use crate::store::{CaseFilter, CaseRecord, DeadlineRecord, DeadlineStatus};
use crate::workflow::{EventFields, Slot, TimerKind};
use crate::{Error, Result};

#[derive(Debug, Subcommand)]
pub(crate) enum CaseCommand {
    /// Open a case; prints its reference.
    Open {
        /// The workflow, e.g. dispute.
        #[arg(long, value_name = "NAME")]
        workflow: String,
        /// Opening data as JSON: a file, or - for standard input.
        #[arg(long, value_name = "FILE|-")]
        data: String,
        /// Who is acting: an email address [default: $ESCALATE_USER].
        #[arg(long, value_name = "USER", value_parser = parse_user)]
        by: Option<UserEmail>,
        /// Open at a later starting state (e.g. stage2 when the child is at immediate risk).
        #[arg(long, value_name = "STATE")]
        start: Option<String>,
        /// Why (required when opening at a later stage).
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
        /// When, RFC 3339 [default: now]; for back-dated entry and tests, and audited.
        #[arg(long, value_name = "TIME", value_parser = parse_time)]
        now: Option<DateTime<Utc>>,
        /// Print JSON: {"reference", "state", "deadlines", ...}.
        #[arg(long)]
        json: bool,
    },
    /// Record an event on a case.
    Event {
        /// The case reference, e.g. DSP-2026-000042 (any case).
        #[arg(value_parser = parse_reference)]
        reference: CaseRef,
        /// The event, e.g. escalate.
        event: String,
        /// A field of the event, KEY=VALUE; repeat for more.
        #[arg(long = "field", value_name = "KEY=VALUE", value_parser = parse_field)]
        fields: Vec<(String, String)>,
        /// Who is acting: an email address.
        #[arg(long, value_name = "USER", value_parser = parse_user)]
        by: UserEmail,
        /// Why (the `reason` field).
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
        /// When, RFC 3339 [default: now].
        #[arg(long, value_name = "TIME", value_parser = parse_time)]
        now: Option<DateTime<Utc>>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// A case's state, data, full history and deadlines with their explanations.
    Show {
        /// The case reference.
        #[arg(value_parser = parse_reference)]
        reference: CaseRef,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Cases, newest first.
    List {
        /// Only this workflow.
        #[arg(long, value_name = "W")]
        workflow: Option<String>,
        /// Only this state.
        #[arg(long, value_name = "S")]
        state: Option<String>,
        /// Only open cases with a deadline that has lapsed.
        #[arg(long)]
        overdue: bool,
        /// The time "overdue" is judged at, RFC 3339 [default: now].
        #[arg(long, value_name = "TIME", value_parser = parse_time)]
        now: Option<DateTime<Utc>>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `--by`: an email address, never a reserved name such as `engine`.
pub(crate) fn parse_user(text: &str) -> std::result::Result<UserEmail, String> {
    UserEmail::parse(text).map_err(|e| e.to_string())
}

/// A case reference, in any letter case.
pub(crate) fn parse_reference(text: &str) -> std::result::Result<CaseRef, String> {
    CaseRef::parse(text).map_err(|e| e.to_string())
}

fn parse_field(text: &str) -> std::result::Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("'{text}' is not KEY=VALUE")),
    }
}

fn fields(pairs: Vec<(String, String)>, reason: Option<String>) -> Result<EventFields> {
    let mut fields = EventFields::new();
    for (k, v) in pairs
        .into_iter()
        .chain(reason.map(|r| ("reason".to_string(), r)))
    {
        if fields.insert(k.clone(), v).is_some() {
            return Err(Error::Input(format!("field '{k}' is given twice")));
        }
    }
    Ok(fields)
}

fn read_data(source: &str) -> Result<Value> {
    if source == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Error::Input(format!("cannot read standard input: {e}")))?;
        super::workflows::parse_json(&text, "<stdin>")
    } else {
        super::workflows::read_json(&PathBuf::from(source))
    }
}

/// The engine for a command. Workflow files that do not load stop nothing here: cases run on
/// the versions they started on, kept in the store, so reading, firing and delivering carry
/// on; only what needs the current files (opening a case) is refused, naming the problem.
pub(crate) async fn engine(settings: &Settings) -> Result<Engine> {
    let workflows = match settings.workflows(None) {
        Ok(w) => Ok(w),
        Err(Error::Workflows(problems)) => Err(problems),
        Err(e) => return Err(e),
    };
    let calendar = settings.calendar(None)?;
    let store = crate::store::connect(&settings.database_url).await?;
    store.migrate().await?;
    let engine = match workflows {
        Ok(workflows) => Engine::new(store, workflows, calendar),
        Err(problems) => Engine::without_current(store, calendar, &problems),
    };
    Ok(engine.allow_future(settings.engine.allow_future))
}

fn slot_name(slot: &Slot) -> &str {
    match slot {
        Slot::State(s) | Slot::Task(s) => s,
    }
}

fn kind_name(kind: TimerKind) -> &'static str {
    match kind {
        TimerKind::Warning => "warning",
        TimerKind::Lapse => "lapse",
    }
}

/// The summary JSON of a case after open or event: reference, state and pending deadlines.
fn case_json(view: &CaseView) -> Value {
    let deadlines: Vec<Value> = view
        .deadlines
        .iter()
        .filter(|d| d.status == DeadlineStatus::Pending)
        .map(|d| {
            json!({
                "deadline": slot_name(&d.slot),
                "kind": kind_name(d.kind),
                "due": rfc3339(d.due_at),
                "explanation": d.explanation,
            })
        })
        .collect();
    json!({
        "reference": view.case.reference,
        "workflow": view.case.workflow,
        "workflow_version": view.case.workflow_hash,
        "state": view.case.state,
        "closed": view.case.closed_at.is_some(),
        "outcome": view.case.outcome,
        "deadlines": deadlines,
    })
}

/// How a deadline is named on a line: a lapse is the deadline itself; a warning is the reminder
/// ahead of it (its explanation is the deadline's).
fn deadline_heading(d: &DeadlineRecord) -> String {
    match d.kind {
        TimerKind::Lapse => format!("{} deadline {}", slot_name(&d.slot), both_times(d.due_at)),
        TimerKind::Warning => format!(
            "{} warning {}, ahead of the deadline",
            slot_name(&d.slot),
            both_times(d.due_at)
        ),
    }
}

fn pending_lines(view: &CaseView) -> String {
    view.deadlines
        .iter()
        .filter(|d| d.status == DeadlineStatus::Pending)
        .map(|d| {
            let why = d.explanation.lines().next().unwrap_or_default();
            format!(
                "  {}\n      {}",
                deadline_heading(d),
                crate::text::for_terminal(why)
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub(crate) fn pretty(value: &Value) -> Result<String> {
    serde_json::to_string_pretty(value).map_err(|e| Error::Input(e.to_string()))
}

pub(crate) fn run(cmd: CaseCommand, settings: &Settings, out: &mut dyn Write) -> Result<()> {
    block_on(async {
        let engine = engine(settings).await?;
        match cmd {
            CaseCommand::Open {
                workflow,
                data,
                by,
                start,
                reason,
                now,
                json,
            } => {
                let by = match by {
                    Some(by) => by,
                    None => match std::env::var("ESCALATE_USER") {
                        Ok(user) => UserEmail::parse(&user)
                            .map_err(|e| Error::Input(format!("ESCALATE_USER: {e}")))?,
                        Err(_) => {
                            return Err(Error::Input(
                                "say who is opening the case with --by EMAIL".into(),
                            ));
                        }
                    },
                };
                let data = read_data(&data)?;
                let fields = fields(Vec::new(), reason)?;
                let now = now.unwrap_or_else(Utc::now);
                let case = engine
                    .open(&workflow, data, start.as_deref(), &fields, &by, now)
                    .await?;
                let view = engine.show(&case.reference).await?;
                if json {
                    emit(out, &pretty(&case_json(&view))?)
                } else {
                    let text = format!(
                        "{} opened in {}\n{}",
                        case.reference,
                        case.state,
                        pending_lines(&view)
                    );
                    emit(out, text.trim_end())
                }
            }
            CaseCommand::Event {
                reference,
                event,
                fields: pairs,
                by,
                reason,
                now,
                json,
            } => {
                let fields = fields(pairs, reason)?;
                let now = now.unwrap_or_else(Utc::now);
                let recorded = engine.record(&reference, &event, &fields, &by, now).await?;
                let view = engine.show(reference.as_str()).await?;
                if json {
                    let mut value = case_json(&view);
                    value["fired_first"] = json!(recorded.fired_first);
                    value["opened"] = json!(recorded.opened);
                    emit(out, &pretty(&value)?)
                } else {
                    let mut text = format!(
                        "{}: {} recorded; now {}",
                        reference,
                        crate::text::for_terminal(&event),
                        recorded.state
                    );
                    if recorded.fired_first > 0 {
                        text.push_str(&format!(
                            " ({} lapsed deadline(s) fired first)",
                            recorded.fired_first
                        ));
                    }
                    for linked in &recorded.opened {
                        text.push_str(&format!("\nopened linked case {linked}"));
                    }
                    let pending = pending_lines(&view);
                    if !pending.is_empty() {
                        text.push('\n');
                        text.push_str(&pending);
                    }
                    emit(out, &text)
                }
            }
            CaseCommand::Show { reference, json } => {
                let view = engine.show(reference.as_str()).await?;
                if json {
                    let value =
                        serde_json::to_value(&view).map_err(|e| Error::Input(e.to_string()))?;
                    emit(out, &pretty(&value)?)
                } else {
                    emit(out, show_text(&view)?.trim_end())
                }
            }
            CaseCommand::List {
                workflow,
                state,
                overdue,
                now,
                json,
            } => {
                let now = now.unwrap_or_else(Utc::now);
                let filter = CaseFilter {
                    workflow,
                    state,
                    overdue_at: overdue.then_some(now),
                    open_only: false,
                };
                let cases = engine.list(&filter).await?;
                let mut rows = Vec::with_capacity(cases.len());
                for case in &cases {
                    rows.push((case, next_deadline(&engine, case).await?));
                }
                if json {
                    let rows: Vec<Value> = rows
                        .iter()
                        .map(|(c, next)| list_json(c, next.as_ref(), now))
                        .collect();
                    emit(out, &pretty(&Value::Array(rows))?)
                } else if cases.is_empty() {
                    emit(out, "no cases")
                } else {
                    let lines: Vec<String> = rows
                        .iter()
                        .map(|(c, next)| {
                            let mut text = format!(
                                "{:<18} {:<9} {:<22} opened {}{}",
                                c.reference,
                                c.workflow,
                                c.state,
                                both_times(c.opened_at),
                                c.outcome
                                    .as_deref()
                                    .map(|o| format!(", closed: {o}"))
                                    .unwrap_or_default()
                            );
                            if let Some(d) = next {
                                text.push_str(&next_deadline_text(d, now));
                            }
                            text
                        })
                        .collect();
                    emit(out, &lines.join("\n"))
                }
            }
        }
    })
}

/// An open case's next deadline: its earliest pending lapse, else its earliest warning.
async fn next_deadline(engine: &Engine, case: &CaseRecord) -> Result<Option<DeadlineRecord>> {
    if case.closed_at.is_some() || case.next_due.is_none() {
        return Ok(None);
    }
    let deadlines = engine.store().deadlines(case.id).await?;
    // The deadline itself (a lapse) before any warning ahead of it.
    Ok(deadlines
        .into_iter()
        .filter(|d| d.status == DeadlineStatus::Pending)
        .min_by_key(|d| (d.kind != TimerKind::Lapse, d.due_at)))
}

/// How long ago `due` was, in elapsed time: `2 days 3 hours`, `5 hours`, `20 minutes`.
fn elapsed(due: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let minutes = (now - due).num_minutes().max(0);
    let (days, hours, minutes) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    let unit = |n: i64, name: &str| format!("{n} {name}{}", if n == 1 { "" } else { "s" });
    match (days, hours) {
        (0, 0) => unit(minutes, "minute"),
        (0, h) => unit(h, "hour"),
        (d, 0) => unit(d, "day"),
        (d, h) => format!("{} {}", unit(d, "day"), unit(h, "hour")),
    }
}

/// The lines under a case in `case list`: its next deadline, whether it is overdue and for
/// how long, and the first line of its explanation.
fn next_deadline_text(d: &DeadlineRecord, now: DateTime<Utc>) -> String {
    let mut text = format!("\n    next: {}", deadline_heading(d));
    if d.due_at <= now {
        text.push_str(&format!("; overdue: due {} ago", elapsed(d.due_at, now)));
    }
    if let Some(line) = d.explanation.lines().next() {
        text.push_str(&format!("\n          {}", crate::text::for_terminal(line)));
    }
    text
}

/// `escalate tick`: fires what is due and says what it did; exit 3 if anything failed.
pub(crate) fn tick(
    settings: &Settings,
    now: Option<DateTime<Utc>>,
    as_json: bool,
    verbose: bool,
    out: &mut dyn Write,
) -> Result<()> {
    block_on(async {
        let engine = engine(settings).await?;
        // Deadlines computed with other holiday data are recomputed before any fires.
        let recomputed = engine
            .recompute_deadlines(now.unwrap_or_else(Utc::now))
            .await?;
        let lease = chrono::TimeDelta::seconds(settings.engine.lease_seconds.into());
        let report = engine
            .tick_with(now.unwrap_or_else(Utc::now), lease, |reference, fired| {
                if verbose {
                    // Straight to stdout, flushed: someone may be watching a long sweep.
                    let mut stdout = std::io::stdout().lock();
                    let _ = writeln!(stdout, "{reference}: fired {fired}");
                    let _ = stdout.flush();
                }
            })
            .await?;
        // Then the scheduled jobs due by then (before the outbox, so their mail goes out now).
        let jobs =
            crate::schedule::run_due(&engine, &settings.schedule()?, now.unwrap_or_else(Utc::now))
                .await?;
        // Then the outbox, once: what the sweep queued goes out now.
        let mail = super::mail::deliver(settings, &engine, now.unwrap_or_else(Utc::now)).await?;
        let leased = super::mail::leased_due(&engine, now.unwrap_or_else(Utc::now)).await?;
        // Said on stderr after the report, and exit 3 (design.md: a delivery failed): a cron
        // job or a supervisor sees that the sweep did not do everything.
        let mut failures = Vec::new();
        if let Some(first) = report.failed.first() {
            failures.push(format!(
                "{} deadline(s) could not fire and stay due (first: {first})",
                report.failed.len()
            ));
        }
        if mail.failed > 0 {
            let unloadable = match mail.no_workflow {
                0 => String::new(),
                n => format!(
                    ", {n} because their case's workflow version could not be loaded (outbox retry ID once fixed)"
                ),
            };
            failures.push(format!(
                "{} message(s) failed for good{unloadable} (escalate outbox list --status failed)",
                mail.failed
            ));
        }
        failures.extend(
            jobs.iter()
                .filter(|r| r.outcome == "failed")
                .map(|r| format!("job {} failed: {}", r.job, r.message)),
        );
        let failure = (!failures.is_empty()).then(|| Error::Failed(failures.join("; ")));
        let printed = (|| {
            if as_json {
                let mut value = json!(report);
                value["mail"] = json!(mail);
                value["leased"] = leased.json;
                value["recomputed"] = json!(recomputed);
                value["jobs"] = json!(jobs);
                emit(out, &pretty(&value)?)?;
            } else {
                if recomputed.checked + recomputed.failed.len() > 0 {
                    for line in super::calendar::reload_lines(&recomputed) {
                        emit(out, &line)?;
                    }
                    for failure in &recomputed.failed {
                        emit(
                            out,
                            &format!("  not recomputed: {}", crate::text::for_terminal(failure)),
                        )?;
                    }
                }
                emit(
                    out,
                    &format!(
                        "fired {} deadline(s), {} late; {} already handled elsewhere",
                        report.fired, report.late, report.skipped
                    ),
                )?;
                if let Some(line) = &leased.line {
                    emit(out, line)?;
                }
                for line in super::jobs::ran_lines(&jobs) {
                    emit(out, &line)?;
                }
                emit(out, &super::mail::delivery_summary(&mail))?;
                for problem in &mail.problems {
                    emit(out, &format!("  {problem}"))?;
                }
            }
            Ok(())
        })();
        match failure {
            Some(failure) => Err(failure),
            None => printed,
        }
    })
}

/// `escalate audit verify`: every problem on standard output, one line each; a one-line
/// summary on standard error and exit 1 if there is any.
pub(crate) fn verify(settings: &Settings, out: &mut dyn Write) -> Result<()> {
    block_on(async {
        let engine = engine(settings).await?;
        let report = engine.verify_audit().await?;
        if let Some(first) = report.problems.first() {
            for problem in &report.problems {
                emit(out, problem)?;
            }
            let more = match report.problems.len() - 1 {
                0 => String::new(),
                n => format!(" (and {n} more problem(s), listed above)"),
            };
            return Err(Error::Engine(crate::engine::EngineError::Tampered(
                format!("{first}{more}"),
            )));
        }
        let mut text = format!(
            "audit log intact: {} entries in {} cases",
            report.entries, report.cases
        );
        if report.legacy_entries > 0 {
            text.push_str(&format!(
                "; {} entries predate the full hash (their reason, recorded time and opening data are not covered)",
                report.legacy_entries
            ));
        }
        if let Some(root) = &report.latest_root {
            text.push_str(&format!(
                "\n{} checkpoint(s); latest root {root}",
                report.checkpoints
            ));
        }
        emit(out, &text)
    })
}

/// `escalate audit checkpoint`: records a root hash over every case's head and prints it.
pub(crate) fn checkpoint(settings: &Settings, out: &mut dyn Write) -> Result<()> {
    block_on(async {
        let engine = engine(settings).await?;
        let cp = engine.checkpoint().await?;
        emit(
            out,
            &format!(
                "checkpoint {} at {}: {} cases, root {}",
                cp.id,
                rfc3339(cp.created_at),
                cp.cases,
                cp.root
            ),
        )
    })
}

fn list_json(c: &CaseRecord, next: Option<&DeadlineRecord>, now: DateTime<Utc>) -> Value {
    let next_deadline = next.map(|d| {
        let overdue = d.due_at <= now;
        json!({
            "slot": slot_name(&d.slot),
            "kind": kind_name(d.kind),
            "due": rfc3339(d.due_at),
            "due_local": local_time(d.due_at, chrono_tz::Europe::London),
            "explanation": d.explanation.lines().next().unwrap_or_default(),
            "overdue": overdue,
            "overdue_seconds": overdue.then(|| (now - d.due_at).num_seconds()),
        })
    });
    json!({
        "reference": c.reference,
        "workflow": c.workflow,
        "state": c.state,
        "opened_at": rfc3339(c.opened_at),
        "opened_local": local_time(c.opened_at, chrono_tz::Europe::London),
        "closed_at": c.closed_at.map(rfc3339),
        "outcome": c.outcome,
        "next_deadline": next_deadline,
    })
}

/// A time as people read it: local, with its zone, then UTC.
fn both_times(t: DateTime<Utc>) -> String {
    format!(
        "{} ({})",
        local_time(t, chrono_tz::Europe::London),
        rfc3339(t)
    )
}

/// An entry's time, and when it was written if that differs by more than a minute: a
/// back-dated entry says so, and one dated after it was written was made with
/// `[engine] allow_future` (tests and simulations only).
fn entry_times(at: DateTime<Utc>, recorded_at: DateTime<Utc>, by_engine: bool) -> String {
    let mut text = both_times(at);
    if at - recorded_at > chrono::TimeDelta::minutes(1) {
        text.push_str(&format!(
            " [dated in the future (allow_future), written {}]",
            rfc3339(recorded_at)
        ));
    } else if recorded_at - at > chrono::TimeDelta::minutes(1) {
        // The engine records a lapse at its due time, whenever the sweep came; a person's
        // entry dated earlier than it was written was back-dated on purpose.
        let what = if by_engine { "" } else { "back-dated, " };
        text.push_str(&format!(" [{what}written {}]", rfc3339(recorded_at)));
    }
    text
}

fn show_text(view: &CaseView) -> Result<String> {
    use crate::text::for_terminal as esc;
    let c = &view.case;
    let mut s = format!(
        "{} ({} {})\nstate: {}{}\nopened: {}\n",
        c.reference,
        c.workflow,
        c.workflow_hash,
        c.state,
        c.outcome
            .as_deref()
            .map(|o| format!(" (closed: {o})"))
            .unwrap_or_default(),
        both_times(c.opened_at)
    );
    if view
        .history
        .iter()
        .any(|e| e.at - e.recorded_at > chrono::TimeDelta::minutes(1))
    {
        s.push_str("note: entries of this case are dated later than they were written ([engine] allow_future: a test or simulation)\n");
    }
    // JSON escapes every control character itself.
    s.push_str(&format!("data:\n{}\n", pretty(&c.data)?));
    s.push_str("history:\n");
    for e in &view.history {
        let fields: Vec<String> = e
            .fields
            .iter()
            .filter(|(k, _)| k.as_str() != "reason")
            .map(|(k, v)| format!("{}={}", esc(k), esc(v)))
            .collect();
        s.push_str(&format!(
            "  {:>3} {} {} by {}: {} -> {}{}{}\n",
            e.seq,
            entry_times(e.at, e.recorded_at, e.actor == crate::workflow::ENGINE),
            esc(&e.event),
            esc(&e.actor),
            if e.from_state.is_empty() {
                "-"
            } else {
                &e.from_state
            },
            e.to_state,
            if fields.is_empty() {
                String::new()
            } else {
                format!(" [{}]", fields.join(", "))
            },
            e.reason
                .as_deref()
                .map(|r| format!(": {}", esc(r)))
                .unwrap_or_default()
        ));
    }
    if !view.links.is_empty() {
        s.push_str("links:\n");
        for l in &view.links {
            s.push_str(&format!(
                "  {} {} ({}, {}{}) by '{}' at {}\n",
                if l.relation == "opened" {
                    "opened"
                } else {
                    "opened by"
                },
                l.reference,
                l.workflow,
                l.state,
                if l.closed { ", closed" } else { "" },
                l.event,
                both_times(l.at)
            ));
        }
    }
    s.push_str("deadlines:\n");
    for d in &view.deadlines {
        s.push_str(&format!(
            "  {} [{}{}]\n",
            deadline_heading(d),
            d.status.as_str(),
            if d.late { ", late" } else { "" }
        ));
        for line in d.explanation.lines() {
            s.push_str(&format!("      {}\n", esc(line)));
        }
    }
    if !view.outbox.is_empty() {
        s.push_str("messages:\n");
        for m in &view.outbox {
            s.push_str(&format!(
                "  #{} {} {} to {} [{}]{}\n",
                m.id,
                m.kind,
                m.template,
                esc(&m.recipient.to_string()),
                m.status,
                m.last_error
                    .as_deref()
                    .map(|e| format!(": {}", esc(e)))
                    .unwrap_or_default()
            ));
        }
    }
    Ok(s)
}
