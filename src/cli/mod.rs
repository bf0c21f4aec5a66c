//! The command line, as fixed in design.md. Every error is one line on stderr and a non-zero exit.

mod calendar;
mod case;
mod jobs;
mod mail;
mod report;
mod serve;
mod users;
mod workflows;

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};

use crate::config::Settings;
use crate::{Error, Result};

/// escalate: deadlines and workflows for safeguarding escalation disputes.
#[derive(Debug, Parser)]
#[command(name = "escalate", version, about, max_term_width = 100)]
pub struct Cli {
    /// Configuration file [default: config/escalate.toml if present, then ESCALATE_* variables].
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Working-day deadlines and bank holidays.
    #[command(subcommand)]
    Calendar(calendar::CalendarCommand),
    /// Check, outline and simulate the workflow definitions.
    #[command(subcommand)]
    Workflows(workflows::WorkflowsCommand),
    /// Create or upgrade the database (ESCALATE_DATABASE_URL).
    Migrate,
    /// Open cases, record events, show and list cases.
    #[command(subcommand)]
    Case(case::CaseCommand),
    /// Check the audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// The agency directory: who to contact at each escalation level.
    #[command(subcommand)]
    Agencies(mail::AgenciesCommand),
    /// Messages waiting, sent and failed.
    #[command(subcommand)]
    Outbox(mail::OutboxCommand),
    /// Scheduled jobs ([jobs] of the config): schedules, next runs, last outcomes.
    #[command(subcommand)]
    Jobs(jobs::JobsCommand),
    /// The daemon: the JSON API, deadline sweeps and outbox delivery on the [jobs] schedules,
    /// and the scheduled jobs, until SIGINT or SIGTERM.
    Serve {
        /// Where the API listens, e.g. 127.0.0.1:8080 (port 0: any free port, logged)
        /// [default: [serve] addr].
        #[arg(long, value_name = "ADDR")]
        addr: Option<String>,
    },
    /// Reports for the partnership's board.
    #[command(subcommand)]
    Report(report::ReportCommand),
    /// People who sign in to the API: add, list, disable.
    #[command(subcommand)]
    Users(users::UsersCommand),
    /// API tokens: create (shown once), list, revoke.
    #[command(subcommand)]
    Tokens(users::TokensCommand),
    /// Fire every deadline due by --now (default: now), run the scheduled jobs due, then
    /// deliver the outbox, once.
    Tick {
        /// The time to sweep up to, RFC 3339 [default: now].
        #[arg(long, value_name = "TIME", value_parser = parse_time)]
        now: Option<DateTime<Utc>>,
        /// Print JSON: {"fired", "late", "skipped", "failed", "mail": {"sent", "retrying", …}}.
        #[arg(long)]
        json: bool,
        /// Print a line for each case swept, as it happens.
        #[arg(long)]
        verbose: bool,
    },
    /// Print the API's OpenAPI document (what `docs/openapi.json` holds and `serve` answers at
    /// /api/v1/openapi.json): `escalate openapi > docs/openapi.json` after changing the API.
    #[command(hide = true)]
    Openapi,
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Check every case's hash chain, each case row against its history, and the checkpoints;
    /// exit 1 if anything was changed or deleted.
    Verify,
    /// Record and print one root hash over every case's head, chained to the previous one.
    Checkpoint,
    /// Every read of and action on a case through the API: who, when, what, from where, and
    /// how it was answered.
    Access {
        /// The case reference.
        #[arg(value_parser = case::parse_reference)]
        reference: crate::ids::CaseRef,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// A time as commands print it, to the second in UTC: `2026-11-23T09:30:00Z`.
pub(crate) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// An RFC 3339 time from the command line, e.g. `2024-12-24T18:00:00Z`.
pub(crate) fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            format!("'{text}' is not an RFC 3339 time ({e}); write e.g. 2024-12-24T18:00:00Z")
        })
}

/// Runs the command line and returns the process exit code; output goes to `out`.
pub fn run(
    args: impl IntoIterator<Item = impl Into<OsString> + Clone>,
    out: &mut dyn Write,
) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version: print as clap does, and succeed.
            let _ = write!(out, "{}", e.render());
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // clap's first paragraph says what is wrong; the usage after it we point to instead.
            let rendered = e.render().to_string();
            let message: Vec<&str> = rendered
                .lines()
                .take_while(|l| !l.trim().is_empty())
                .map(str::trim)
                .collect();
            let message = message.join(" ");
            eprintln!(
                "escalate: {} (see --help)",
                message.trim_start_matches("error: ")
            );
            return ExitCode::from(2);
        }
    };
    match dispatch(cli, out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Error::Reported(code)) => ExitCode::from(code),
        Err(Error::Workflows(problems)) => {
            // Already one `file:line:col: message` line each.
            eprintln!("{problems}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("escalate: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn dispatch(cli: Cli, out: &mut dyn Write) -> Result<()> {
    // Needs no configuration: the document is the code's.
    if let Command::Openapi = cli.command {
        return emit(out, crate::http::openapi::json().trim_end());
    }
    let settings = Settings::load(cli.config.as_deref())?;
    match cli.command {
        Command::Calendar(cmd) => calendar::run(cmd, &settings, out),
        Command::Workflows(cmd) => workflows::run(cmd, &settings, out),
        Command::Migrate => block_on(migrate(&settings, out)),
        Command::Case(cmd) => case::run(cmd, &settings, out),
        Command::Tick { now, json, verbose } => case::tick(&settings, now, json, verbose, out),
        Command::Audit(AuditCommand::Verify) => case::verify(&settings, out),
        Command::Audit(AuditCommand::Checkpoint) => case::checkpoint(&settings, out),
        Command::Audit(AuditCommand::Access { reference, json }) => {
            users::access(&settings, &reference, json, out)
        }
        Command::Agencies(cmd) => mail::agencies(cmd, &settings, out),
        Command::Outbox(cmd) => mail::outbox(cmd, &settings, out),
        Command::Jobs(cmd) => jobs::run(cmd, &settings, out),
        Command::Serve { addr } => serve::run(&settings, addr, out),
        Command::Report(cmd) => report::run(cmd, &settings, out),
        Command::Users(cmd) => users::users(cmd, &settings, out),
        Command::Tokens(cmd) => users::tokens(cmd, &settings, out),
        Command::Openapi => unreachable!("answered before the configuration is read"),
    }
}

/// Runs the async part of a command on a runtime of its own.
pub(crate) fn block_on<T>(future: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Config(format!("cannot start the async runtime: {e}")))?
        .block_on(future)
}

async fn migrate(settings: &Settings, out: &mut dyn Write) -> Result<()> {
    let store = crate::store::connect(&settings.database_url).await?;
    let applied = store.migrate().await?;
    let version = store.schema_version().await?.unwrap_or(0);
    let url = crate::store::redact(&settings.database_url);
    let text = if applied.is_empty() {
        format!("{url}: up to date (schema version {version})")
    } else {
        let applied: Vec<String> = applied.iter().map(i64::to_string).collect();
        format!(
            "{url}: applied migration{} {} (schema version {version})",
            if applied.len() == 1 { "" } else { "s" },
            applied.join(", ")
        )
    };
    emit(out, &text)
}

/// Writes to the command's output. A reader that has gone (`escalate case list | head -1`)
/// ends the command quietly with success, as other Unix tools do: what it asked for was shown.
pub(crate) fn emit(out: &mut dyn Write, text: &str) -> Result<()> {
    writeln!(out, "{text}").map_err(|e| match e.kind() {
        std::io::ErrorKind::BrokenPipe => Error::Reported(0),
        _ => Error::Input(format!("cannot write output: {e}")),
    })
}
