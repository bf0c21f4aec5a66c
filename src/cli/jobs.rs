//! `escalate jobs`: the scheduled jobs (`src/schedule`).

use std::io::Write;

use chrono::{DateTime, Utc};
use clap::Subcommand;
use serde_json::json;

use super::{block_on, emit, rfc3339};
use crate::config::Settings;
use crate::schedule::Ran;
use crate::{Error, Result};

/// `escalate jobs …`
#[derive(Debug, Subcommand)]
pub(crate) enum JobsCommand {
    /// Each job with its schedule, next run and last outcome.
    List {
        /// Next runs after this time, RFC 3339 [default: now].
        #[arg(long, value_name = "TIME", value_parser = super::parse_time)]
        now: Option<DateTime<Utc>>,
        /// Print JSON: [{"job", "schedule", "time_zone", "claimed", "next_run", "last"}].
        #[arg(long)]
        json: bool,
    },
}

pub(crate) fn run(cmd: JobsCommand, settings: &Settings, out: &mut dyn Write) -> Result<()> {
    let JobsCommand::List { now, json } = cmd;
    let schedule = settings.schedule()?;
    block_on(async {
        let engine = super::case::engine(settings).await?;
        let now = now.unwrap_or_else(Utc::now);
        let jobs = crate::schedule::status(&engine, &schedule, now).await?;
        if json {
            let text = serde_json::to_string_pretty(&json!(jobs))
                .map_err(|e| Error::Input(format!("cannot write JSON: {e}")))?;
            return emit(out, &text);
        }
        for job in &jobs {
            let Some(expr) = &job.schedule else {
                emit(out, &format!("{}: off", job.job))?;
                continue;
            };
            let next = job.next_run.map_or_else(|| "never".into(), rfc3339);
            let last = if !job.claimed {
                "runs in every tick and serve sweep".to_string()
            } else {
                match &job.last {
                    None => "never run".to_string(),
                    Some(run) => format!(
                        "last {} for {}{}",
                        run.outcome.as_deref().unwrap_or("running"),
                        rfc3339(run.scheduled_for),
                        run.message
                            .as_deref()
                            .map(|m| format!(": {}", crate::text::for_terminal(m)))
                            .unwrap_or_default()
                    ),
                }
            };
            emit(
                out,
                &format!(
                    "{}: \"{expr}\" ({}), next {next}; {last}",
                    job.job, job.time_zone
                ),
            )?;
        }
        Ok(())
    })
}

/// `tick`'s lines for the jobs it ran; a schedule starting and another process's run are
/// left to the JSON, so a first tick says nothing new.
pub(crate) fn ran_lines(ran: &[Ran]) -> Vec<String> {
    ran.iter()
        .filter(|r| r.outcome != "elsewhere" && r.outcome != "skipped")
        .map(|r| {
            let late = if r.late {
                format!(" late, once for {} missed occurrence(s)", r.missed + 1)
            } else {
                String::new()
            };
            format!(
                "job {} for {}: {}{late}; {}",
                r.job,
                rfc3339(r.scheduled_for),
                r.outcome,
                crate::text::for_terminal(&r.message)
            )
        })
        .collect()
}
