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
    },
}

fn parse_month(text: &str) -> std::result::Result<Month, String> {
    text.parse().map_err(|e: report::ReportError| e.to_string())
}

/// Runs a report command.
pub(crate) fn run(cmd: ReportCommand, settings: &Settings, out: &mut dyn Write) -> Result<()> {
    let ReportCommand::Monthly {
        month,
        format,
        out: file,
    } = cmd;
    let text = super::block_on(async {
        let engine = super::case::engine(settings).await?;
        let report = report::monthly_job(&engine, month).await?;
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
