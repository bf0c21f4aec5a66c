//! `escalate report monthly`: the monthly resolution report for board members.

use std::io::Write;
use std::path::PathBuf;

use clap::Subcommand;

use crate::config::Settings;
use crate::report::{self, Format, Month};
use crate::{Error, Result};

/// Reports for the partnership's board.
#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// How this month's disagreements were resolved: counts, stages, times, agencies.
    Monthly {
        /// The month, YYYY-MM (London time).
        #[arg(long, value_name = "YYYY-MM", value_parser = parse_month)]
        month: Month,
        /// json (exact figures), csv or html (small agency-pair cells suppressed).
        #[arg(long, value_enum, default_value = "json")]
        format: Format,
        /// Write the report to FILE instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Compute it by reading every case's full event log instead of the report summary
        /// (slower; the figures are the same, which is how the summary is checked).
        #[arg(long)]
        from_log: bool,
    },
    /// Rewrite the report summary from the event log (after `audit verify` reports a
    /// summary that differs from its history; `migrate` does it once after upgrading).
    Rebuild,
}

fn parse_month(text: &str) -> std::result::Result<Month, String> {
    text.parse().map_err(|e: report::ReportError| e.to_string())
}

/// Runs a report command.
pub(crate) fn run(cmd: ReportCommand, settings: &Settings, out: &mut dyn Write) -> Result<()> {
    let (month, format, file, from_log) = match cmd {
        ReportCommand::Monthly {
            month,
            format,
            out,
            from_log,
        } => (month, format, out, from_log),
        ReportCommand::Rebuild => return rebuild(settings, out),
    };
    let text = super::block_on(async {
        let engine = super::case::engine(settings).await?;
        let report = if from_log {
            report::monthly_from_log(&engine, month).await?
        } else {
            report::monthly_job(&engine, month).await?
        };
        Ok(report::render(&report, format))
    })?;
    match file {
        Some(path) => std::fs::write(&path, text).map_err(|e| {
            Error::Input(format!(
                "cannot write the report to {}: {e}",
                path.display()
            ))
        }),
        None => super::emit(out, text.trim_end_matches('\n')),
    }
}

/// `escalate report rebuild`: the report summary rewritten from the log.
fn rebuild(settings: &Settings, out: &mut dyn Write) -> Result<()> {
    let cases = super::block_on(async {
        let store = crate::store::connect(&settings.database_url).await?;
        store.migrate().await?;
        Ok(store.rebuild_summary(true).await?.unwrap_or(0))
    })?;
    super::emit(
        out,
        &format!("report summary rebuilt from the event log: {cases} cases"),
    )
}
