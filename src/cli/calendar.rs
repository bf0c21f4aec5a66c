//! `escalate calendar due`, `escalate calendar holidays` and `escalate calendar reload`.

use std::io::Write;
use std::path::PathBuf;

use chrono::{DateTime, SecondsFormat, Utc};
use clap::Subcommand;
use serde::Serialize;

use super::{emit, parse_time, rfc3339};
use crate::calendar::{Division, Duration, FIRST_YEAR, Holiday, LAST_YEAR};
use crate::config::Settings;
use crate::engine::RecomputeReport;
use crate::{Error, Result};

#[derive(Debug, Subcommand)]
pub(crate) enum CalendarCommand {
    /// When something received at --from is due, and why.
    Due {
        /// Receipt time, RFC 3339 (e.g. 2024-12-24T18:00:00Z).
        #[arg(long, value_name = "TIME", value_parser = parse_time)]
        from: DateTime<Utc>,
        /// "N working days", "N calendar days" or "N hours".
        #[arg(long, value_name = "DURATION", value_parser = clap::value_parser!(Duration))]
        after: Duration,
        /// england-and-wales, scotland or northern-ireland [default: from configuration].
        #[arg(long, value_name = "D")]
        division: Option<Division>,
        /// A GOV.UK-format bank-holiday feed to use instead of the configured one.
        #[arg(long, value_name = "FILE")]
        holidays: Option<PathBuf>,
        /// Print JSON: {"due", "effective_start", "explain", ...}.
        #[arg(long)]
        json: bool,
    },
    /// The bank holidays and closure days of one year.
    Holidays {
        /// The year.
        #[arg(long, value_name = "Y", value_parser = clap::value_parser!(i32).range(FIRST_YEAR as i64..=LAST_YEAR as i64))]
        year: i32,
        /// england-and-wales, scotland or northern-ireland [default: from configuration].
        #[arg(long, value_name = "D")]
        division: Option<Division>,
        /// A GOV.UK-format bank-holiday feed to use instead of the configured one.
        #[arg(long, value_name = "FILE")]
        holidays: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Recompute open deadlines after the holiday data (feed or closures) changed: each moved
    /// deadline is recorded on its case, and its owners are told when it moved earlier.
    /// Uses the configured holiday data, as `serve` and `tick` do.
    Reload {
        /// The time to judge deadlines at, RFC 3339 [default: now]: one already due then is
        /// not moved (the next tick fires it).
        #[arg(long, value_name = "TIME", value_parser = parse_time)]
        now: Option<DateTime<Utc>>,
        /// Print JSON: {"data_version", "checked", "moved", "earlier", "unchanged", "left", "cases", "failed"}.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Serialize)]
struct DueJson {
    due: String,
    due_local: String,
    effective_start: String,
    effective_date: String,
    received: String,
    duration: String,
    division: Division,
    time_zone: String,
    provisional: bool,
    data_version: String,
    explain: Vec<String>,
    summary: String,
}

#[derive(Serialize)]
struct HolidaysJson<'a> {
    year: i32,
    division: Division,
    provisional: bool,
    data_version: String,
    holidays: &'a [Holiday],
}

pub(crate) fn run(cmd: CalendarCommand, settings: &Settings, out: &mut dyn Write) -> Result<()> {
    match cmd {
        CalendarCommand::Due {
            from,
            after,
            division,
            holidays,
            json,
        } => {
            let division = division.map_or_else(|| settings.division(), Ok)?;
            let calendar = settings.calendar(holidays.as_deref())?;
            let deadline = calendar.due(from, after, division)?;
            let summary = calendar.summary(&deadline);
            if !json {
                return emit(out, &summary);
            }
            let tz = calendar.hours().time_zone;
            let report = DueJson {
                due: rfc3339(deadline.due_at),
                due_local: deadline
                    .due_at
                    .with_timezone(&tz)
                    .to_rfc3339_opts(SecondsFormat::Secs, false),
                effective_start: rfc3339(deadline.effective_start),
                effective_date: deadline.explanation.effective_date.to_string(),
                received: rfc3339(from),
                duration: after.to_string(),
                division,
                time_zone: tz.name().to_string(),
                provisional: deadline.provisional,
                data_version: deadline.data_version.to_string(),
                explain: calendar.explain(&deadline),
                summary,
            };
            emit(out, &to_json(&report)?)
        }
        CalendarCommand::Holidays {
            year,
            division,
            holidays,
            json,
        } => {
            let division = division.map_or_else(|| settings.division(), Ok)?;
            let calendar = settings.calendar(holidays.as_deref())?;
            let table = calendar.division(division);
            let days = table.holidays_in_year(year)?;
            let provisional = !table.feed_covers(year);
            if json {
                let report = HolidaysJson {
                    year,
                    division,
                    provisional,
                    data_version: calendar.version().to_string(),
                    holidays: days,
                };
                return emit(out, &to_json(&report)?);
            }
            let mut text = format!(
                "Bank holidays in {year}, {division} ({}, holiday data {})",
                calendar.origin(),
                calendar.version()
            );
            if provisional {
                let coverage = table
                    .feed_years()
                    .map_or("no year".to_string(), |(a, b)| format!("{a} to {b}"));
                text += &format!(
                    "\nPROVISIONAL: generated by rule (the feed covers {coverage}); one-off holidays are not included"
                );
            }
            for h in days {
                let mut line = format!("\n{:<15}  {}", h.date.format("%a %-d %b %Y"), h.title);
                if h.source == crate::calendar::Source::Closure {
                    line += " (local closure)";
                }
                if !h.notes.is_empty() {
                    line += &format!(" ({})", h.notes.to_lowercase());
                }
                text += &line;
            }
            emit(out, &text)
        }
        CalendarCommand::Reload { now, json } => super::block_on(async {
            let engine = super::case::engine(settings).await?;
            let report = engine
                .recompute_deadlines(now.unwrap_or_else(Utc::now))
                .await?;
            if json {
                emit(out, &to_json(&report)?)?;
            } else {
                for line in reload_lines(&report) {
                    emit(out, &line)?;
                }
            }
            match report.failed.first() {
                None => Ok(()),
                Some(first) => Err(Error::Reported(reload_failed(&report, first))),
            }
        }),
    }
}

/// What a recompute did, for people: one summary line, and the cases moved.
pub(crate) fn reload_lines(report: &RecomputeReport) -> Vec<String> {
    let mut lines = vec![format!(
        "holiday data {}: {} open deadline(s) computed with other data; moved {} ({} earlier) in {} case(s), {} unchanged, {} left to the next tick",
        report.data_version,
        report.checked,
        report.moved,
        report.earlier,
        report.cases.len(),
        report.unchanged,
        report.left
    )];
    lines.extend(report.cases.iter().map(|r| format!("  moved: {r}")));
    lines
}

/// Says on stderr, in one line, that some cases could not be recomputed; the exit code.
pub(crate) fn reload_failed(report: &RecomputeReport, first: &str) -> u8 {
    eprintln!(
        "escalate: {} case(s) could not be recomputed and keep their deadlines; first: {}",
        report.failed.len(),
        crate::text::for_terminal(first)
    );
    1
}

fn to_json(value: &impl Serialize) -> Result<String> {
    serde_json::to_string_pretty(value)
        .map_err(|e| Error::Input(format!("cannot encode JSON: {e}")))
}
