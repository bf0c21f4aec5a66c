//! `escalate report monthly`: the monthly resolution report for board members.

use std::io::Write;
use std::path::PathBuf;

use chrono::Utc;
use chrono_tz::Europe::London;
use clap::Subcommand;

use crate::calendar::local_time;
use crate::config::Settings;
use crate::report::mail::{self, ReportMail, Witness};
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
        /// json (exact figures), csv, html or pdf (small agency-pair cells suppressed; pdf
        /// needs --out).
        #[arg(long, value_enum, default_value = "json")]
        format: Format,
        /// Write the report to FILE instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Email it to [report] recipients through the outbox, with an audit checkpoint's
        /// root: each recipient gets a month's report once, however often it is sent; serve or
        /// tick delivers it. Prints what was queued (the report itself only with --out).
        #[arg(long)]
        send: bool,
        /// Compute it by reading every case's full event log instead of the report summary
        /// (slower; the figures are the same, which is how the summary is checked).
        #[arg(long, conflicts_with = "send")]
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
    let (month, format, file, send, from_log) = match cmd {
        ReportCommand::Monthly {
            month,
            format,
            out,
            send,
            from_log,
        } => (month, format, out, send, from_log),
        ReportCommand::Rebuild => return rebuild(settings, out),
    };
    if format == Format::Pdf && file.is_none() {
        return Err(Error::Input(
            "--format pdf writes a binary file: give --out FILE".into(),
        ));
    }
    // Checked before any work, so a send with nobody to send to changes nothing.
    let recipients = settings.report_recipients()?;
    if send && recipients.is_empty() {
        return Err(Error::Config(
            "report.recipients is empty: nobody to send the report to".into(),
        ));
    }
    if send {
        super::serve::report_template(settings)?;
    }
    let (bytes, lines) = super::block_on(async {
        let engine = super::case::engine(settings).await?;
        let report = if from_log {
            report::monthly_from_log(&engine, month).await?
        } else {
            report::monthly_job(&engine, month).await?
        };
        let bytes = report::render(&report, format)?;
        if !send {
            return Ok((bytes, Vec::new()));
        }
        let checkpoint = engine.current_checkpoint().await?;
        let messages = ReportMail {
            report,
            checkpoint: Some(Witness::from(&checkpoint)),
        }
        .messages(&recipients);
        let queued = engine
            .store()
            .queue_standalone(&messages, None, Utc::now())
            .await?;
        let mut lines: Vec<String> = queued
            .iter()
            .map(|q| match (q.new, q.status.as_str(), q.sent_at) {
                (true, _, _) => format!("queued report {month} to {} (#{})", q.email, q.id),
                (false, "sent", Some(at)) => format!(
                    "already sent report {month} to {} on {} (#{}): not queued again",
                    q.email,
                    local_time(at, London),
                    q.id
                ),
                (false, status, _) => format!(
                    "already queued report {month} to {} (#{}, {status}): not queued again",
                    q.email, q.id
                ),
            })
            .collect();
        lines.push(format!(
            "report {month}: {}; checkpoint {} root {}",
            mail::summary(&queued),
            checkpoint.id,
            checkpoint.root
        ));
        Ok((bytes, lines))
    })?;
    if let Some(path) = &file {
        std::fs::write(path, &bytes).map_err(|e| {
            Error::Input(format!(
                "cannot write the report to {}: {e}",
                path.display()
            ))
        })?;
    }
    if send {
        return super::emit(out, &lines.join("\n"));
    }
    if file.is_none() {
        let text = String::from_utf8_lossy(&bytes);
        return super::emit(out, text.trim_end_matches('\n'));
    }
    Ok(())
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
