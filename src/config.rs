//! Layered configuration: built-in defaults, then the TOML file, then `ESCALATE_*` variables.

use std::path::{Path, PathBuf};

use chrono::{NaiveDate, NaiveTime};
use serde::Deserialize;

use crate::calendar::{BusinessHours, Calendar, Closure, Division, HolidayFeed};
use crate::workflow::Workflows;
use crate::{Error, Result};

/// Where the configuration is read from when `--config` is not given.
pub const DEFAULT_CONFIG: &str = "config/escalate.toml";

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// `sqlite://…` or `postgres://…`.
    pub database_url: String,
    /// `smtp://host:port`, `smtps://…` or `file://DIR`.
    pub smtp_url: String,
    /// A GOV.UK-format feed; the built-in copy when unset.
    pub bank_holidays: Option<PathBuf>,
    /// Directory of workflow definitions (`*.yaml`).
    pub workflows_dir: PathBuf,
    /// Directory of email and form templates.
    pub templates_dir: PathBuf,
    /// Working-day rules.
    pub calendar: CalendarSettings,
    /// How the engine sweeps deadlines.
    pub engine: EngineSettings,
    /// SMTP user name, if the server wants a login (`ESCALATE_SMTP_USERNAME`).
    pub smtp_username: Option<String>,
    /// SMTP password (`ESCALATE_SMTP_PASSWORD`); never in the file.
    pub smtp_password: Option<String>,
    /// Who mail comes from and how delivery retries.
    pub mail: MailConfig,
    /// The `serve` daemon.
    pub serve: ServeSettings,
}

/// The `[mail]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailConfig {
    /// The From: address.
    pub from: String,
    /// The From: display name.
    pub from_name: String,
    /// Base URL of the web UI, for links in messages.
    pub base_url: String,
    /// Hours a message keeps being retried after temporary failures before it is marked failed.
    pub retry_hours: u32,
    /// Seconds before the first retry; each later retry waits twice as long.
    pub first_retry_seconds: u32,
    /// The longest wait between retries, in seconds.
    pub max_retry_seconds: u32,
    /// SMTP connections kept open and reused.
    pub pool_size: u32,
    /// The longest one message may take to send, in seconds; must be less than
    /// `engine.lease_seconds`. Also bounds how long `serve` takes to stop.
    pub send_timeout_seconds: u32,
    /// Whether the emailed monitoring form carries the free text typed into the case.
    pub form_free_text: bool,
}

/// The `[serve]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeSettings {
    /// Seconds between sweeps (deadlines, then the outbox).
    pub interval_seconds: u32,
}

/// The `[engine]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSettings {
    /// Seconds a claimed deadline stays leased to the process that claimed it; if that process
    /// dies, another takes over after this. Correctness never depends on it: a deadline fires
    /// once whatever the lease.
    pub lease_seconds: u32,
    /// Accept `--now` later than the real clock: for tests and simulations only, never on by
    /// default (one mistyped year would escalate every case).
    #[serde(default)]
    pub allow_future: bool,
}

/// The `[calendar]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarSettings {
    /// IANA time zone for working-day arithmetic.
    pub time_zone: String,
    /// Local `HH:MM`: receipt at or after it counts from the next working day.
    pub cutoff: String,
    /// Local `HH:MM` at which day-based deadlines fall due.
    pub close_of_business: String,
    /// Division used when none is given.
    pub division: String,
    /// Local closure days.
    #[serde(default)]
    pub closures: Vec<ClosureSettings>,
}

/// One `[[calendar.closures]]` entry: `date`, or `from` and `to`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClosureSettings {
    /// Shown in explanations.
    pub name: String,
    /// A single day.
    pub date: Option<NaiveDate>,
    /// First day of a range.
    pub from: Option<NaiveDate>,
    /// Last day of a range (inclusive).
    pub to: Option<NaiveDate>,
    /// Divisions it applies to; all when empty.
    #[serde(default)]
    pub divisions: Vec<Division>,
}

fn config_error(e: impl std::fmt::Display) -> Error {
    Error::Config(e.to_string())
}

fn parse_time(key: &str, text: &str) -> Result<NaiveTime> {
    NaiveTime::parse_from_str(text, "%H:%M").map_err(|_| {
        Error::Config(format!(
            "calendar.{key} '{text}' is not a time of day (HH:MM)"
        ))
    })
}

impl Settings {
    /// Reads `file` (which must exist), or [`DEFAULT_CONFIG`] if present, then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self> {
        let mut builder = config::Config::builder()
            .set_default("database_url", "sqlite://escalate.db")
            .and_then(|b| b.set_default("smtp_url", "file://mail"))
            .and_then(|b| b.set_default("workflows_dir", "workflows"))
            .and_then(|b| b.set_default("templates_dir", "config/templates"))
            .and_then(|b| b.set_default("engine.lease_seconds", 60))
            .and_then(|b| b.set_default("mail.from", "escalate@localhost"))
            .and_then(|b| b.set_default("mail.from_name", "Safeguarding escalations"))
            .and_then(|b| b.set_default("mail.base_url", "http://localhost:8080"))
            .and_then(|b| b.set_default("mail.retry_hours", 72))
            .and_then(|b| b.set_default("mail.first_retry_seconds", 30))
            .and_then(|b| b.set_default("mail.max_retry_seconds", 3600))
            .and_then(|b| b.set_default("mail.pool_size", 16))
            .and_then(|b| b.set_default("mail.send_timeout_seconds", 30))
            .and_then(|b| b.set_default("mail.form_free_text", false))
            .and_then(|b| b.set_default("serve.interval_seconds", 30))
            .and_then(|b| b.set_default("calendar.time_zone", "Europe/London"))
            .and_then(|b| b.set_default("calendar.cutoff", "17:00"))
            .and_then(|b| b.set_default("calendar.close_of_business", "17:00"))
            .and_then(|b| b.set_default("calendar.division", "england-and-wales"))
            .map_err(config_error)?;
        builder = match file {
            Some(path) if !path.exists() => {
                return Err(Error::Config(format!("{} does not exist", path.display())));
            }
            Some(path) => builder.add_source(config::File::from(path)),
            None => builder.add_source(config::File::with_name(DEFAULT_CONFIG).required(false)),
        };
        builder
            .add_source(
                config::Environment::with_prefix("ESCALATE")
                    .prefix_separator("_")
                    .separator("__"),
            )
            .build()
            .and_then(|c| c.try_deserialize())
            .map_err(config_error)
    }

    /// The configured time zone, cut-off and close of business.
    pub fn business_hours(&self) -> Result<BusinessHours> {
        let c = &self.calendar;
        Ok(BusinessHours {
            time_zone: c.time_zone.parse().map_err(|_| {
                Error::Config(format!(
                    "calendar.time_zone '{}' is not an IANA time zone",
                    c.time_zone
                ))
            })?,
            cutoff: parse_time("cutoff", &c.cutoff)?,
            close_of_business: parse_time("close_of_business", &c.close_of_business)?,
        })
    }

    /// The configured default division.
    pub fn division(&self) -> Result<Division> {
        self.calendar
            .division
            .parse()
            .map_err(|e| Error::Config(format!("calendar.division: {e}")))
    }

    /// The configured local closures.
    pub fn closures(&self) -> Result<Vec<Closure>> {
        self.calendar
            .closures
            .iter()
            .map(|c| {
                let (from, to) = match (c.date, c.from, c.to) {
                    (Some(d), None, None) => (d, d),
                    (None, Some(from), Some(to)) => (from, to),
                    _ => {
                        return Err(Error::Config(format!(
                            "closure '{}' needs either `date` or both `from` and `to`",
                            c.name
                        )));
                    }
                };
                Ok(Closure {
                    from,
                    to,
                    name: c.name.clone(),
                    divisions: c.divisions.clone(),
                })
            })
            .collect()
    }

    /// The configured mail transport.
    pub fn mailer(&self) -> Result<crate::notify::Mailer> {
        let credentials = match (&self.smtp_username, &self.smtp_password) {
            (Some(user), Some(password)) => Some((user.clone(), password.clone())),
            (None, None) => None,
            _ => {
                return Err(Error::Config(
                    "set both ESCALATE_SMTP_USERNAME and ESCALATE_SMTP_PASSWORD, or neither".into(),
                ));
            }
        };
        crate::notify::Mailer::from_url(&self.smtp_url, credentials, self.mail.pool_size)
            .map_err(|e| Error::Config(e.to_string()))
    }

    /// Who mail comes from, where links point, and the retry policy.
    pub fn mail_settings(&self) -> Result<crate::notify::MailSettings> {
        let m = &self.mail;
        // A zero would make a failing message retry at once, forever, or leases meaningless.
        for (key, value) in [
            ("mail.first_retry_seconds", m.first_retry_seconds),
            ("mail.max_retry_seconds", m.max_retry_seconds),
            ("mail.retry_hours", m.retry_hours),
            ("mail.send_timeout_seconds", m.send_timeout_seconds),
            ("engine.lease_seconds", self.engine.lease_seconds),
        ] {
            if value == 0 {
                return Err(Error::Config(format!("{key} must be at least 1")));
            }
        }
        if m.max_retry_seconds < m.first_retry_seconds {
            return Err(Error::Config(
                "mail.max_retry_seconds must be at least mail.first_retry_seconds".into(),
            ));
        }
        // A message still being sent when its lease runs out could be sent twice.
        if m.send_timeout_seconds >= self.engine.lease_seconds {
            return Err(Error::Config(format!(
                "mail.send_timeout_seconds ({}) must be less than engine.lease_seconds ({})",
                m.send_timeout_seconds, self.engine.lease_seconds
            )));
        }
        // The name goes into every From: header: one line, or no mail can be built.
        crate::text::single_line(&m.from_name, 200)
            .map_err(|e| Error::Config(format!("mail.from_name {e}")))?;
        let address = m.from.parse().map_err(|_| {
            Error::Config(format!("mail.from '{}' is not an email address", m.from))
        })?;
        Ok(crate::notify::MailSettings {
            from: lettre::message::Mailbox::new(Some(m.from_name.clone()), address),
            base_url: m.base_url.clone(),
            retry_for: chrono::TimeDelta::hours(m.retry_hours.into()),
            first_backoff: chrono::TimeDelta::seconds(m.first_retry_seconds.into()),
            max_backoff: chrono::TimeDelta::seconds(m.max_retry_seconds.into()),
            lease: chrono::TimeDelta::seconds(self.engine.lease_seconds.into()),
            in_flight: m.pool_size.max(1) as usize,
            send_timeout: std::time::Duration::from_secs(m.send_timeout_seconds.into()),
            form_free_text: m.form_free_text,
        })
    }

    /// Loads and checks the workflow definitions (`dir` overrides the configured directory).
    pub fn workflows(&self, dir: Option<&Path>) -> Result<Workflows> {
        Ok(Workflows::load_dir(
            dir.unwrap_or(&self.workflows_dir),
            &self.templates_dir,
        )?)
    }

    /// Reads the holiday feed (`holidays` overrides the configured one) and builds the calendar.
    pub fn calendar(&self, holidays: Option<&Path>) -> Result<Calendar> {
        let feed = match holidays.or(self.bank_holidays.as_deref()) {
            Some(path) => {
                let bytes = std::fs::read(path).map_err(|source| Error::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
                HolidayFeed::from_json(&bytes, &path.display().to_string())?
            }
            None => HolidayFeed::official(),
        };
        Ok(Calendar::new(
            &feed,
            &self.closures()?,
            self.business_hours()?,
        )?)
    }
}
