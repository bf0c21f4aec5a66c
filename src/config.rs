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
    #[serde(default)]
    pub serve: ServeSettings,
    /// Scheduled jobs: a cron expression per job (see `crate::schedule`).
    #[serde(default)]
    pub jobs: crate::schedule::JobsSettings,
    /// The board's monthly report.
    #[serde(default)]
    pub report: ReportSettings,
}

/// The `[report]` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportSettings {
    /// Who the monthly report is emailed to: a list in the file, or comma-separated in
    /// `ESCALATE_REPORT__RECIPIENTS`.
    #[serde(default, deserialize_with = "list_or_commas")]
    pub recipients: Vec<String>,
}

/// A list, or one string of comma-separated items (as an environment variable gives it).
fn list_or_commas<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Either::deserialize(d)? {
        Either::One(text) => text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        Either::Many(list) => list,
    })
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
#[serde(deny_unknown_fields, default)]
pub struct ServeSettings {
    /// The address the API listens on (`escalate serve --addr` overrides it).
    pub addr: String,
    /// Seconds between deadline sweeps and between outbox passes, in place of the `[jobs]`
    /// `sweep` and `outbox` schedules: for sub-minute sweeps (tests, demonstrations). Unset,
    /// the schedules govern.
    pub interval_seconds: Option<u32>,
    /// The administrator `serve` adds on a database with no enabled one.
    pub admin_email: String,
}

impl Default for ServeSettings {
    fn default() -> Self {
        ServeSettings {
            addr: "127.0.0.1:8080".into(),
            interval_seconds: None,
            admin_email: "admin@escalate.localhost".into(),
        }
    }
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

/// An error as one line: `config` may quote multi-line text from a source.
fn one_line(e: &dyn std::fmt::Display) -> String {
    e.to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The configuration file's keys, its relative paths made relative to its directory; a syntax
/// error is one `file:line:col: message` line.
fn file_table(path: &Path, text: &str) -> Result<toml::Table> {
    let mut table: toml::Table = toml::from_str(text).map_err(|e| {
        let (line, column) = e
            .span()
            .map(|span| line_column(text, span.start))
            .unwrap_or((1, 1));
        Error::Config(format!(
            "{}:{line}:{column}: {}",
            path.display(),
            one_line(&e.message())
        ))
    })?;
    let dir = path.parent().unwrap_or(Path::new(""));
    for key in ["bank_holidays", "workflows_dir", "templates_dir"] {
        if let Some(toml::Value::String(value)) = table.get_mut(key) {
            *value = relative_to(dir, Path::new(value.as_str()));
        }
    }
    if let Some(toml::Value::String(url)) = table.get_mut("smtp_url")
        && let Some(rest) = url.strip_prefix("file://")
        && !rest.is_empty()
    {
        *url = format!("file://{}", relative_to(dir, Path::new(rest)));
    }
    if let Some(toml::Value::String(url)) = table.get_mut("database_url")
        && let Some(rest) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
    {
        let (file, query) = rest.split_at(rest.find('?').unwrap_or(rest.len()));
        // `sqlite::memory:` has no file.
        if !file.is_empty() && !file.starts_with(':') {
            *url = format!("sqlite://{}{query}", relative_to(dir, Path::new(file)));
        }
    }
    Ok(table)
}

/// The key a configuration error is about, or `Err` when it came from the environment.
fn error_key(e: &config::ConfigError) -> Result<Option<String>, ()> {
    match e {
        config::ConfigError::Type { origin, key, .. }
        | config::ConfigError::At { origin, key, .. } => match origin {
            Some(_) => Err(()),
            None => Ok(key.clone()),
        },
        _ => Ok(None),
    }
}

/// Where `key` (`engine.lease_seconds`, `calendar.closures[0].name`) is written in the file.
fn key_position(text: &str, key: &str) -> Option<(usize, usize)> {
    let doc = toml::de::DeTable::parse(text).ok()?;
    let mut table = doc.get_ref();
    let mut span = None;
    let mut parts = key.split('.').peekable();
    while let Some(part) = parts.next() {
        let (name, index) = match part.split_once('[') {
            Some((name, index)) => (name, index.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        let (k, mut value) = table.iter().find(|(k, _)| k.get_ref() == name)?;
        span = Some(k.span());
        if let Some(i) = index {
            value = value.get_ref().get(i)?;
            span = Some(value.span());
        }
        if parts.peek().is_some() {
            table = value.get_ref().as_table()?;
        }
    }
    span.map(|span| line_column(text, span.start))
}

/// The 1-based line and column (in characters) of byte `offset` of `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, column)
}

/// `path` as seen from the current directory, when written relative to `dir`; `..` after a
/// directory name is taken off lexically, so `config/../workflows` reads `workflows`.
fn relative_to(dir: &Path, path: &Path) -> String {
    use std::path::Component;
    if path.is_absolute() {
        return path.display().to_string();
    }
    let joined = dir.join(path);
    let mut parts: Vec<Component> = Vec::new();
    for part in joined.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir if matches!(parts.last(), Some(Component::Normal(_))) => {
                parts.pop();
            }
            _ => parts.push(part),
        }
    }
    if parts.is_empty() {
        ".".to_string()
    } else {
        parts.iter().collect::<PathBuf>().display().to_string()
    }
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
    /// Relative paths written in the file (`database_url`'s `sqlite://` file, `smtp_url`'s
    /// `file://` directory, `bank_holidays`, `workflows_dir`, `templates_dir`) are relative to
    /// the file's directory; those from the environment or the defaults, to the current one.
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
            .and_then(|b| b.set_default("calendar.time_zone", "Europe/London"))
            .and_then(|b| b.set_default("calendar.cutoff", "17:00"))
            .and_then(|b| b.set_default("calendar.close_of_business", "17:00"))
            .and_then(|b| b.set_default("calendar.division", "england-and-wales"))
            .map_err(config_error)?;
        // The file is parsed here, not by `config`, so that a syntax error is one
        // `file:line:col: message` line and its paths can be made relative to it.
        let found = match file {
            Some(path) if !path.exists() => {
                return Err(Error::Config(format!("{} does not exist", path.display())));
            }
            Some(path) => Some(path),
            None => Some(Path::new(DEFAULT_CONFIG)).filter(|p| p.is_file()),
        };
        if let Some(path) = found {
            let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
                path: path.to_path_buf(),
                source,
            })?;
            let table = file_table(path, &text)?;
            let text = toml::to_string(&table)
                .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
            builder = builder.add_source(config::File::from_str(&text, config::FileFormat::Toml));
        }
        builder
            .add_source(
                config::Environment::with_prefix("ESCALATE")
                    .prefix_separator("_")
                    .separator("__"),
            )
            .build()
            .and_then(|c| c.try_deserialize::<Settings>())
            .map_err(|e| match (found, error_key(&e)) {
                // A variable's mistake is said to be in the environment.
                (_, Err(())) | (None, _) => Error::Config(one_line(&e)),
                (Some(path), Ok(key)) => {
                    let text = std::fs::read_to_string(path).unwrap_or_default();
                    let at = key
                        .and_then(|key| key_position(&text, &key))
                        .map(|(line, column)| format!(":{line}:{column}"))
                        .unwrap_or_default();
                    Error::Config(format!("{}{at}: {}", path.display(), one_line(&e)))
                }
            })
            .and_then(|settings| {
                // Checked at load, so no command starts with a schedule `serve` would refuse
                // or a report recipient no message could be built for.
                settings.schedule()?;
                if let Some(seconds) = settings.serve.interval_seconds
                    && !(1..=3600).contains(&seconds)
                {
                    return Err(Error::Config(format!(
                        "serve.interval_seconds {seconds} must be 1 to 3600 seconds, or unset to sweep on the [jobs] schedules"
                    )));
                }
                Ok(settings)
            })
    }

    /// `[serve] admin_email`, checked.
    pub fn admin_email(&self) -> Result<crate::ids::UserEmail> {
        crate::ids::UserEmail::parse(&self.serve.admin_email)
            .map_err(|e| Error::Config(format!("serve.admin_email {e}")))
    }

    /// The parsed `[jobs]` schedule, with the report's recipients.
    pub fn schedule(&self) -> Result<crate::schedule::Schedule> {
        let schedule = crate::schedule::Schedule::from_settings(&self.jobs)
            .map_err(|e| Error::Config(e.to_string()))?;
        Ok(schedule.with_report_recipients(self.report_recipients()?))
    }

    /// `[report] recipients`, checked: each one line and an email address, lower-cased,
    /// each once.
    pub fn report_recipients(&self) -> Result<Vec<String>> {
        let mut out: Vec<String> = Vec::new();
        for (i, text) in self.report.recipients.iter().enumerate() {
            let key = format!("report.recipients[{i}]");
            crate::text::single_line(text, 254).map_err(|e| Error::Config(format!("{key} {e}")))?;
            let address = text.trim().to_lowercase();
            if address.parse::<lettre::Address>().is_err() {
                return Err(Error::Config(format!(
                    "{key} '{}' is not an email address",
                    crate::text::for_terminal(text)
                )));
            }
            if !out.contains(&address) {
                out.push(address);
            }
        }
        Ok(out)
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
        crate::notify::Mailer::from_url(&self.smtp_url, credentials, self.mail.pool_size).map_err(
            |e| match e {
                crate::notify::NotifyError::Unavailable(_) => Error::Failed(e.to_string()),
                e => Error::Config(e.to_string()),
            },
        )
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

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(text: &str, key: &str) -> String {
        let table = file_table(Path::new("/srv/esc/escalate.toml"), text).unwrap();
        table[key].as_str().unwrap().to_string()
    }

    #[test]
    fn relative_paths_in_the_file_are_relative_to_it() {
        for (text, key, want) in [
            (
                "database_url = 'sqlite://e.db'",
                "database_url",
                "sqlite:///srv/esc/e.db",
            ),
            (
                "database_url = 'sqlite:e.db?mode=rwc'",
                "database_url",
                "sqlite:///srv/esc/e.db?mode=rwc",
            ),
            (
                "database_url = 'sqlite:///var/e.db'",
                "database_url",
                "sqlite:///var/e.db",
            ),
            (
                "database_url = 'sqlite::memory:'",
                "database_url",
                "sqlite::memory:",
            ),
            (
                "database_url = 'postgres://db/esc'",
                "database_url",
                "postgres://db/esc",
            ),
            (
                "smtp_url = 'file://../mail'",
                "smtp_url",
                "file:///srv/mail",
            ),
            (
                "smtp_url = 'smtp://localhost:25'",
                "smtp_url",
                "smtp://localhost:25",
            ),
            ("workflows_dir = './wf/'", "workflows_dir", "/srv/esc/wf"),
            (
                "bank_holidays = '/etc/h.json'",
                "bank_holidays",
                "/etc/h.json",
            ),
        ] {
            assert_eq!(resolved(text, key), want, "{text}");
        }
        let table = file_table(Path::new("escalate.toml"), "templates_dir = 't'").unwrap();
        assert_eq!(table["templates_dir"].as_str(), Some("t"));
        let table =
            file_table(Path::new("config/escalate.toml"), "workflows_dir = '../wf'").unwrap();
        assert_eq!(table["workflows_dir"].as_str(), Some("wf"));
    }

    #[test]
    fn positions_count_lines_and_characters_from_one() {
        assert_eq!(line_column("ab\ncd", 0), (1, 1));
        assert_eq!(line_column("ab\ncd", 4), (2, 2));
        assert_eq!(line_column("é = [\n", 5), (1, 5));
    }
}
