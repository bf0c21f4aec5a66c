//! `escalate agencies …`, `escalate outbox …`, and outbox delivery for `tick` and `serve`.

use std::io::Write;
use std::path::PathBuf;

use chrono::{DateTime, SecondsFormat, Utc};
use clap::Subcommand;
use serde_json::json;

use super::{block_on, emit, parse_time};
use crate::config::Settings;
use crate::directory::Recipient;
use crate::engine::Engine;
use crate::notify::{DeliveryReport, Dispatcher, Templates};
use crate::store::{OutboxFilter, OutboxRecord};
use crate::{Error, Result};

#[derive(Debug, Subcommand)]
pub(crate) enum AgenciesCommand {
    /// Replace the agency directory with the agencies and contacts in FILE (YAML, see
    /// config/agencies.yaml).
    Import {
        /// The directory file.
        file: PathBuf,
    },
    /// The agencies and their contacts at each escalation level.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum OutboxCommand {
    /// Messages, newest first, with their delivery state and any failure.
    List {
        /// Only queued, sent or failed messages.
        #[arg(long, value_name = "STATUS", value_parser = ["queued", "sent", "failed"])]
        status: Option<String>,
        /// Only this case's messages.
        #[arg(long = "case", value_name = "REF", value_parser = super::case::parse_reference)]
        reference: Option<crate::ids::CaseRef>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Queue a failed message again (e.g. after fixing a contact or the mail server).
    Retry {
        /// The message's id (from `outbox list`).
        id: i64,
        /// When it becomes due, RFC 3339 [default: now].
        #[arg(long, value_name = "TIME", value_parser = parse_time)]
        now: Option<DateTime<Utc>>,
    },
}

pub(crate) fn agencies(
    cmd: AgenciesCommand,
    settings: &Settings,
    out: &mut dyn Write,
) -> Result<()> {
    match cmd {
        AgenciesCommand::Import { file } => {
            let text = std::fs::read_to_string(&file).map_err(|source| Error::Read {
                path: file.clone(),
                source,
            })?;
            // A file that is no directory is bad input (exit 2) whether or not the database
            // answers: said before connecting.
            crate::directory::Directory::parse(&file, &text).map_err(|e| {
                let problem = crate::access::admin::Problem::Directory(e.to_string());
                super::users::admin_error(problem.into())
            })?;
            block_on(async {
                let store = crate::store::connect(&settings.database_url).await?;
                store.migrate().await?;
                let (agencies, contacts) = crate::access::admin::import_agencies(
                    store.as_ref(),
                    &file,
                    &text,
                    &super::users::actor(),
                    Utc::now(),
                )
                .await
                .map_err(super::users::admin_error)?;
                emit(
                    out,
                    &format!(
                        "imported {agencies} agencies and {contacts} contacts from {}",
                        file.display()
                    ),
                )
            })
        }
        AgenciesCommand::List { json } => block_on(async {
            let store = crate::store::connect(&settings.database_url).await?;
            store.migrate().await?;
            let directory = store.directory().await?;
            if json {
                return emit(out, &super::case::pretty(&json!(directory))?);
            }
            if directory.agencies.is_empty() {
                return emit(
                    out,
                    "the directory is empty: escalate agencies import config/agencies.yaml",
                );
            }
            // Imported before names were checked, a name may hold anything: one line each.
            let line = crate::text::for_terminal;
            for a in &directory.agencies {
                emit(out, &format!("{} ({})", line(&a.name), a.id))?;
                for c in &a.contacts {
                    emit(
                        out,
                        &format!("  {:<15} {} <{}>", c.level, line(&c.name), line(&c.email)),
                    )?;
                }
            }
            Ok(())
        }),
    }
}

fn outbox_line(m: &OutboxRecord) -> String {
    let mut line = format!(
        "#{} {} {} {} to {} [{}",
        m.id,
        m.created_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        m.idempotency_key,
        m.template,
        // Stored names and errors may hold anything: one terminal line each.
        crate::text::for_terminal(&m.recipient.to_string()),
        m.status
    );
    if m.attempts > 0 {
        line.push_str(&format!(", {} attempt(s)", m.attempts));
    }
    if m.status == "queued" && m.attempts > 0 {
        line.push_str(&format!(
            ", next {}",
            m.next_attempt_at.to_rfc3339_opts(SecondsFormat::Secs, true)
        ));
    }
    line.push(']');
    if let (Some(e), "queued" | "failed") = (&m.last_error, m.status.as_str()) {
        line.push_str(&format!(": {}", crate::text::for_terminal(e)));
    }
    line
}

pub(crate) fn outbox(cmd: OutboxCommand, settings: &Settings, out: &mut dyn Write) -> Result<()> {
    block_on(async {
        let store = crate::store::connect(&settings.database_url).await?;
        store.migrate().await?;
        match cmd {
            OutboxCommand::List {
                status,
                reference,
                limit,
                json,
            } => {
                let case_id = match reference {
                    Some(r) => Some(
                        store
                            .case_by_reference(r.as_str())
                            .await?
                            .ok_or_else(|| {
                                crate::engine::EngineError::UnknownReference(r.to_string())
                            })?
                            .id,
                    ),
                    None => None,
                };
                let rows = store
                    .list_outbox(&OutboxFilter {
                        status,
                        case_id,
                        id: None,
                        limit,
                    })
                    .await?;
                if json {
                    return emit(out, &super::case::pretty(&json!(rows))?);
                }
                if rows.is_empty() {
                    return emit(out, "no messages");
                }
                for m in &rows {
                    emit(out, &outbox_line(m))?;
                }
                Ok(())
            }
            OutboxCommand::Retry { id, now } => {
                match store
                    .requeue_outbox(id, now.unwrap_or_else(Utc::now))
                    .await?
                {
                    Some(row) => emit(out, &format!("queued again: {}", outbox_line(&row))),
                    None => {
                        // Say why not, from what the row is.
                        let row = store
                            .list_outbox(&OutboxFilter {
                                id: Some(id),
                                ..Default::default()
                            })
                            .await?
                            .pop();
                        if let Some(m) = row.as_ref().filter(|m| m.status == "failed") {
                            // Nobody to send to then: perhaps the directory names someone now.
                            let engine = super::case::engine(settings).await?;
                            if let Some(found) = readdress(&engine, m).await? {
                                let now = now.unwrap_or_else(Utc::now);
                                if let Some(row) = store.readdress_outbox(id, &found, now).await? {
                                    return emit(
                                        out,
                                        &format!(
                                            "queued again, to the directory's contact now: {}",
                                            outbox_line(&row)
                                        ),
                                    );
                                }
                            }
                        }
                        Err(Error::Input(match row {
                            None => format!("no message #{id}"),
                            Some(m) if m.recipient.missing.is_some() => format!(
                                "message #{id} still has nobody to go to ({}); add the contact with \
                                 `escalate agencies import` and retry it",
                                m.recipient.missing.unwrap_or_default()
                            ),
                            Some(m) => format!(
                                "message #{id} is {}, not failed: only a failed message is retried",
                                m.status
                            ),
                        }))
                    }
                }
            }
        }
    })
}

/// A dispatcher for the configured transport, templates and retry policy.
pub(crate) fn dispatcher<'a>(settings: &Settings, engine: &'a Engine) -> Result<Dispatcher<'a>> {
    let mailer = settings.mailer()?;
    let templates =
        Templates::load(&settings.templates_dir).map_err(|e| Error::Config(e.to_string()))?;
    Ok(Dispatcher::new(
        engine,
        mailer,
        templates,
        settings.mail_settings()?,
    ))
}

/// Delivers every queued message due by `now` once, through the configured transport.
pub(crate) async fn deliver(
    settings: &Settings,
    engine: &Engine,
    now: DateTime<Utc>,
) -> Result<DeliveryReport> {
    use crate::notify::NotifyError;
    dispatcher(settings, engine)?
        .deliver_due(now)
        .await
        .map_err(|e| match e {
            NotifyError::Store(e) => Error::Store(e),
            NotifyError::Engine(e) => Error::Engine(e),
            NotifyError::Settings(_) | NotifyError::Template { .. } => Error::Config(e.to_string()),
            e => Error::Failed(e.to_string()),
        })
}

/// One line saying what a delivery pass did.
pub(crate) fn delivery_summary(report: &DeliveryReport) -> String {
    format!(
        "delivered {} message(s); {} will be retried; {} failed",
        report.sent, report.retrying, report.failed
    )
}

/// Due deadlines that another process holds (see [`leased_due`]).
pub(crate) struct Leased {
    /// `{"count": N, "until": TIME|null}`.
    pub json: serde_json::Value,
    /// The line `tick` prints, when any are held.
    pub line: Option<String>,
}

/// How many deadlines due by `now` are leased to another process (perhaps one that died)
/// and until when: `tick` says so rather than reporting "fired 0" as if nothing were due.
pub(crate) async fn leased_due(engine: &Engine, now: DateTime<Utc>) -> Result<Leased> {
    let (count, until) = engine.store().leased_due(now, Utc::now()).await?;
    let until = until.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true));
    Ok(Leased {
        json: json!({ "count": count, "until": until }),
        line: (count > 0).then(|| {
            format!(
                "{count} due deadline(s) are held by another process, perhaps one that stopped, \
                 until {}; they fire at the first tick after that",
                until.as_deref().unwrap_or("?")
            )
        }),
    })
}

/// Who a failed message that had nobody to go to would go to now: the first person the current
/// directory names in its role (for its agency, if it was about one agency's contact).
async fn readdress(engine: &Engine, row: &OutboxRecord) -> Result<Option<Recipient>> {
    let Some(case_id) = row.case_id else {
        return Ok(None);
    };
    if row.recipient.missing.is_none() {
        return Ok(None);
    }
    let Some(case) = engine.store().cases_by_id(&[case_id]).await?.pop() else {
        return Ok(None);
    };
    let def = engine
        .definition(&case.workflow, &case.workflow_hash)
        .await?;
    let directory = engine.store().directory().await?;
    Ok(directory
        .recipients(&def, &case.data, std::slice::from_ref(&row.recipient.role))
        .into_iter()
        // Only a contact of a named agency can turn up later; a party's address comes from
        // the case itself.
        .find(|r| {
            r.missing.is_none()
                && row.recipient.agency.is_some()
                && r.agency.as_deref().map(str::to_lowercase)
                    == row.recipient.agency.as_deref().map(str::to_lowercase)
        }))
}
