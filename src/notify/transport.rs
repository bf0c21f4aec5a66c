//! Where messages go: an SMTP server (through lettre, pooled) or a directory of `.eml` files.

use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::NotifyError;

/// How long one SMTP conversation may take: well inside the outbox lease, so a message is never
/// still being sent when another dispatcher may take it over.
const SMTP_TIMEOUT: Duration = Duration::from_secs(20);

/// A configured transport.
#[derive(Clone)]
pub enum Mailer {
    /// An SMTP server.
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// One `.eml` file per message in a directory, readable by its owner only (0600): each
    /// holds a case's mail. Written here rather than by lettre's file transport, which
    /// creates files with the process umask (0644 usually).
    File(PathBuf),
}

/// Why a message was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    /// The server refused for good (a 5xx reply): retrying will not help.
    pub permanent: bool,
    /// The server's reply, or why it could not be reached.
    pub message: String,
}

/// Is `host` this machine, where a relay without TLS is safe?
fn is_local(host: &str) -> bool {
    matches!(host, "localhost" | "127.0.0.1" | "::1" | "[::1]")
}

impl Mailer {
    /// The transport a URL names: `file://DIR`, `smtp://host:port` (plain to this machine,
    /// STARTTLS required elsewhere unless `?tls=opportunistic` or `?tls=none`), or
    /// `smtps://host:port` (TLS from the start). `credentials` log in when given.
    pub fn from_url(
        url: &str,
        credentials: Option<(String, String)>,
        pool_size: u32,
    ) -> Result<Mailer, NotifyError> {
        // Never echo a password that came in the URL.
        let shown = crate::store::redact(url);
        let bad = |why: &str| NotifyError::Settings(format!("smtp_url '{shown}': {why}"));
        if let Some(dir) = url.strip_prefix("file://") {
            if dir.is_empty() {
                return Err(bad("file:// needs a directory, e.g. file://mail"));
            }
            // A directory made here is private (0700); one that exists keeps the mode its owner
            // gave it, and the files in it are private whatever it is.
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| {
                    NotifyError::Unavailable(format!(
                        "smtp_url '{shown}': cannot create {dir}: {e}"
                    ))
                })?;
            return Ok(Mailer::File(dir.into()));
        }
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad("must start with smtp://, smtps:// or file://"))?;
        let (authority, query) = rest.split_once('?').unwrap_or((rest, ""));
        let authority = authority.trim_end_matches('/');
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(':') => (
                h.to_string(),
                Some(
                    p.parse::<u16>()
                        .map_err(|_| bad("the port is not a number"))?,
                ),
            ),
            _ => (authority.to_string(), None),
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let tls_mode = query
            .split('&')
            .find_map(|kv| kv.strip_prefix("tls="))
            .unwrap_or("");
        let tls = |host: &str| {
            TlsParameters::new(host.to_string()).map_err(|e| bad(&format!("TLS: {e}")))
        };
        let builder = match (scheme, tls_mode) {
            ("smtps", _) => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&host)
                .port(port.unwrap_or(465))
                .tls(Tls::Wrapper(tls(&host)?)),
            ("smtp", "none") => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&host)
                .port(port.unwrap_or(25)),
            ("smtp", "") if is_local(&host) => {
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&host)
                    .port(port.unwrap_or(25))
            }
            ("smtp", "opportunistic") => {
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&host)
                    .port(port.unwrap_or(587))
                    .tls(Tls::Opportunistic(tls(&host)?))
            }
            ("smtp", "" | "required") => {
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&host)
                    .port(port.unwrap_or(587))
                    .tls(Tls::Required(tls(&host)?))
            }
            ("smtp", other) => {
                return Err(bad(&format!(
                    "tls={other} is not one of required, opportunistic, none"
                )));
            }
            _ => return Err(bad("must start with smtp://, smtps:// or file://")),
        };
        let mut builder = builder
            .timeout(Some(SMTP_TIMEOUT))
            .pool_config(PoolConfig::new().max_size(pool_size.max(1)));
        // A password goes only over TLS, or to this machine.
        let encrypted =
            scheme == "smtps" || matches!(tls_mode, "" | "required") && !is_local(&host);
        if credentials.is_some() && !encrypted && !is_local(&host) {
            return Err(bad(
                "a login needs TLS: use smtps://, or smtp:// without ?tls=opportunistic or ?tls=none",
            ));
        }
        if let Some((user, password)) = credentials {
            builder = builder.credentials(Credentials::new(user, password));
        }
        Ok(Mailer::Smtp(builder.build()))
    }

    /// Sends one message; returns the server's reply (or the file written).
    pub async fn send(&self, message: Message) -> Result<String, SendError> {
        match self {
            Mailer::Smtp(smtp) => match smtp.send(message).await {
                Ok(response) => Ok(format!(
                    "{} {}",
                    response.code(),
                    response.message().collect::<Vec<_>>().join(" ")
                )),
                Err(e) => Err(SendError {
                    permanent: e.is_permanent(),
                    message: one_line(&e),
                }),
            },
            Mailer::File(dir) => {
                let dir = dir.clone();
                let written =
                    tokio::task::spawn_blocking(move || write_eml(&dir, &message.formatted()))
                        .await;
                match written {
                    Ok(Ok(path)) => Ok(format!("written to {}", path.display())),
                    Ok(Err(message)) => Err(SendError {
                        permanent: false,
                        message,
                    }),
                    Err(e) => Err(SendError {
                        permanent: false,
                        message: format!("writing the message failed: {e}"),
                    }),
                }
            }
        }
    }
}

/// Writes one message as `DIR/NAME.eml`, mode 0600, under a fresh random name; it appears
/// complete or not at all (written under a dot-name, then renamed), so a program collecting
/// the directory never reads half a message. The error names the path.
fn write_eml(dir: &Path, message: &[u8]) -> Result<PathBuf, String> {
    let name = format!("{:032x}", fastrand::u128(..));
    let part = dir.join(format!(".{name}.eml.part"));
    let path = dir.join(format!("{name}.eml"));
    let failed = |path: &Path, e: std::io::Error| format!("cannot write {}: {e}", path.display());
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&part)
        .map_err(|e| failed(&part, e))?;
    if let Err(e) = file.write_all(message).and_then(|()| file.sync_all()) {
        let _ = std::fs::remove_file(&part);
        return Err(failed(&part, e));
    }
    std::fs::rename(&part, &path).map_err(|e| {
        let _ = std::fs::remove_file(&part);
        failed(&path, e)
    })?;
    Ok(path)
}

/// An error and its causes on one line.
fn one_line(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::Mailer;

    fn error(url: &str, login: bool) -> String {
        let credentials = login.then(|| ("user".to_string(), "hunter2".to_string()));
        match Mailer::from_url(url, credentials, 1) {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    }

    // lettre's pool starts a task when built, so these run on a runtime.
    #[tokio::test]
    async fn urls_are_checked_and_passwords_never_shown() {
        assert_eq!(
            error("carrier-pigeon://loft", false),
            "mail settings: smtp_url 'carrier-pigeon://loft': must start with smtp://, smtps:// or file://"
        );
        let shown = error("smtp://user:hunter2@mail.example.org:x", false);
        assert!(
            !shown.contains("hunter2") && shown.contains("***"),
            "{shown}"
        );
        assert!(
            error("smtp://mail.example.org:587?tls=sometimes", false).contains("tls=sometimes")
        );
        assert_eq!(error("smtp://127.0.0.1:2525", false), "");
        assert_eq!(error("smtp://mail.example.org:587", true), "");
        assert_eq!(error("smtps://mail.example.org", true), "");
    }

    #[tokio::test]
    async fn a_login_never_goes_unencrypted_to_another_host() {
        for url in [
            "smtp://mail.example.org:25?tls=none",
            "smtp://mail.example.org:587?tls=opportunistic",
        ] {
            assert!(error(url, true).contains("a login needs TLS"), "{url}");
            assert_eq!(error(url, false), "", "{url}");
        }
        assert_eq!(error("smtp://localhost:25", true), "");
    }
}
