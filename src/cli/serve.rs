//! `escalate serve`: the daemon. Until the HTTP API and scheduled jobs arrive it sweeps due
//! deadlines and delivers the outbox every `[serve] interval_seconds`, logging what it did.

use std::time::Duration;

use chrono::Utc;
use tokio::signal::unix::{SignalKind, signal};

use super::block_on;
use crate::config::Settings;
use crate::engine::Engine;
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

/// One sweep: deadlines first (they queue messages), then the outbox.
async fn sweep(settings: &Settings, engine: &Engine) -> Result<()> {
    let now = Utc::now();
    let lease = chrono::TimeDelta::seconds(settings.engine.lease_seconds.into());
    let fired = engine.tick_with(now, lease, |_, _| {}).await?;
    for failure in &fired.failed {
        tracing::error!("deadline not fired, stays due: {failure}");
    }
    let mail = super::mail::deliver(settings, engine, now).await?;
    if fired.fired + fired.skipped + mail.sent + mail.retrying + mail.failed > 0 {
        tracing::info!(
            fired = fired.fired,
            late = fired.late,
            sent = mail.sent,
            retrying = mail.retrying,
            failed = mail.failed,
            "sweep"
        );
    }
    Ok(())
}

pub(crate) fn run(settings: &Settings) -> Result<()> {
    init_logging();
    block_on(async {
        // Check everything before the first sweep, so a bad setting stops the start, not a sweep.
        let workflows = settings.workflows(None)?;
        let calendar = settings.calendar(None)?;
        settings.mailer()?;
        settings.mail_settings()?;
        let store = crate::store::connect(&settings.database_url).await?;
        let applied = store.migrate().await?;
        if !applied.is_empty() {
            tracing::info!(?applied, "database migrated");
        }
        let engine = Engine::new(store, workflows, calendar);
        engine.register_workflows(Utc::now()).await?;
        let interval = Duration::from_secs(settings.serve.interval_seconds.max(1).into());
        let signal_error = |e: std::io::Error| Error::Config(format!("cannot watch signals: {e}"));
        let mut terminate = signal(SignalKind::terminate()).map_err(signal_error)?;
        let mut interrupt = signal(SignalKind::interrupt()).map_err(signal_error)?;
        tracing::info!(
            database = %crate::store::redact(&settings.database_url),
            mail = %crate::store::redact(&settings.smtp_url),
            interval_seconds = interval.as_secs(),
            "escalate serve started"
        );
        loop {
            // A sweep is never cut short: each deadline and message is its own transaction,
            // and the sweep in progress finishes before a signal is acted on.
            if let Err(e) = sweep(settings, &engine).await {
                // The database or mail server may be down: say so and try at the next sweep.
                tracing::error!("sweep failed: {e}");
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = terminate.recv() => break,
                _ = interrupt.recv() => break,
            }
        }
        tracing::info!("escalate serve stopped");
        Ok(())
    })
}
