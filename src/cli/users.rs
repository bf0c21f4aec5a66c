//! `escalate users …` and `escalate tokens …`: the people who sign in to the API (and later
//! the web UI), and their API tokens.

use std::io::{BufRead, Write};

use chrono::Utc;
use clap::Subcommand;

use super::{block_on, emit, rfc3339};
use crate::access::Role;
use crate::access::credentials::{self, hash_password};
use crate::config::Settings;
use crate::ids::UserEmail;
use crate::store::{NewUser, Store};
use crate::text;
use crate::{Error, Result};

use crate::access::MAX_NAME;
use crate::access::credentials::MAX_TOKEN_DAYS;

/// `escalate users …`
#[derive(Debug, Subcommand)]
pub(crate) enum UsersCommand {
    /// Add a person who may sign in.
    Add {
        /// Their email address (their sign-in name).
        email: String,
        /// practitioner, manager, senior_manager, partnership, board or admin.
        #[arg(long)]
        role: String,
        /// Their agency, as the directory names it (by name or id).
        #[arg(long)]
        agency: Option<String>,
        /// Their name as shown [default: the address].
        #[arg(long)]
        name: Option<String>,
        /// Read their password from the first line of standard input (12 to 128 characters).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Every user: address, role, agency, whether enabled.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Stop a user signing in or using any of their tokens.
    Disable {
        /// Their email address.
        email: String,
    },
}

/// `escalate tokens …`
#[derive(Debug, Subcommand)]
pub(crate) enum TokensCommand {
    /// Make an API token for a user; it is printed once, last on its line, and only its hash
    /// is kept.
    Create {
        /// Whose token it is.
        email: String,
        /// What it is for, e.g. "council case system".
        #[arg(long, default_value = "api")]
        name: String,
        /// Days until it stops working (1 to 366).
        #[arg(long, value_name = "DAYS", default_value_t = 90)]
        expires: u32,
    },
    /// Every token (never the secret): id, owner, name, expiry, whether revoked, last use.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Stop a token working at once.
    Revoke {
        /// The token's id (from tokens list).
        id: i64,
    },
}

fn email(value: &str) -> Result<UserEmail> {
    UserEmail::parse(value).map_err(|e| Error::Input(e.to_string()))
}

fn one_line(what: &str, value: &str) -> Result<String> {
    text::single_line(value, MAX_NAME)
        .map(|()| value.trim().to_string())
        .map_err(|e| Error::Input(format!("{what} {e}")))
}

async fn store(settings: &Settings) -> Result<std::sync::Arc<dyn Store>> {
    let store = crate::store::connect(&settings.database_url).await?;
    store.migrate().await?;
    Ok(store)
}

fn json_out(out: &mut dyn Write, value: &impl serde::Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Error::Input(format!("cannot write JSON: {e}")))?;
    emit(out, &text)
}

/// Reads the password: the first line of standard input, without its line ending.
fn read_password(input: &mut dyn BufRead) -> Result<String> {
    let mut line = String::new();
    input
        .read_line(&mut line)
        .map_err(|e| Error::Input(format!("cannot read the password from standard input: {e}")))?;
    let password = line.strip_suffix('\n').unwrap_or(&line);
    let password = password.strip_suffix('\r').unwrap_or(password);
    credentials::check_password(password).map_err(|e| Error::Input(e.to_string()))?;
    Ok(password.to_string())
}

pub(crate) fn users(cmd: UsersCommand, settings: &Settings, out: &mut dyn Write) -> Result<()> {
    match cmd {
        UsersCommand::Add {
            email: address,
            role,
            agency,
            name,
            password_stdin,
        } => {
            let email = email(&address)?;
            let role: Role = role
                .parse()
                .map_err(|e: crate::access::BadRole| Error::Input(e.to_string()))?;
            let name = match name {
                Some(n) if !n.trim().is_empty() => one_line("--name", &n)?,
                _ => email.to_string(),
            };
            let password_hash = if password_stdin {
                let password = read_password(&mut std::io::stdin().lock())?;
                Some(hash_password(&password).map_err(|e| Error::Input(e.to_string()))?)
            } else {
                None
            };
            block_on(async {
                let store = store(settings).await?;
                let agency = match agency {
                    None => None,
                    Some(a) => {
                        let a = one_line("--agency", &a)?;
                        let directory = store.directory().await?;
                        // Checked against the directory, so access by agency cannot be
                        // widened by a misspelling that matches nothing (or everything).
                        match directory.agency(&a) {
                            Some(found) => Some(found.name.clone()),
                            None => {
                                return Err(Error::Input(format!(
                                    "agency '{}' is not in the directory (escalate agencies list)",
                                    text::for_terminal(&a)
                                )));
                            }
                        }
                    }
                };
                let new = NewUser {
                    email: email.clone(),
                    name,
                    agency,
                    role,
                    password_hash,
                };
                match store.add_user(&new, Utc::now()).await? {
                    Some(user) => emit(
                        out,
                        &format!(
                            "added {} as {}{}{}",
                            user.email,
                            user.role,
                            user.agency
                                .as_deref()
                                .map(|a| format!(" of {a}"))
                                .unwrap_or_default(),
                            if user.has_password {
                                ""
                            } else {
                                " (no password: API tokens only)"
                            }
                        ),
                    ),
                    None => Err(Error::Declined(format!("user {email} exists already"))),
                }
            })
        }
        UsersCommand::List { json } => block_on(async {
            let users = store(settings).await?.users().await?;
            if json {
                return json_out(out, &users);
            }
            if users.is_empty() {
                return emit(out, "no users (escalate users add EMAIL --role ROLE)");
            }
            for u in &users {
                emit(
                    out,
                    &format!(
                        "{}  {}  {}  {}{}",
                        u.email,
                        u.role,
                        u.agency.as_deref().unwrap_or("-"),
                        text::for_terminal(&u.name),
                        u.disabled_at
                            .map(|t| format!("  disabled {}", rfc3339(t)))
                            .unwrap_or_default()
                    ),
                )?;
            }
            Ok(())
        }),
        UsersCommand::Disable { email: address } => {
            let email = email(&address)?;
            block_on(async {
                let store = store(settings).await?;
                if store.disable_user(email.as_str(), Utc::now()).await? {
                    return emit(
                        out,
                        &format!("disabled {email}: their sign-ins and tokens stop working"),
                    );
                }
                match store.user(email.as_str()).await? {
                    Some(_) => Err(Error::Declined(format!("user {email} is disabled already"))),
                    None => Err(Error::Declined(format!("no user {email}"))),
                }
            })
        }
    }
}

pub(crate) fn tokens(cmd: TokensCommand, settings: &Settings, out: &mut dyn Write) -> Result<()> {
    match cmd {
        TokensCommand::Create {
            email: address,
            name,
            expires,
        } => {
            let email = email(&address)?;
            let name = one_line("--name", &name)?;
            if name.is_empty() {
                return Err(Error::Input("--name must not be empty".into()));
            }
            if !(1..=MAX_TOKEN_DAYS).contains(&expires) {
                return Err(Error::Input(format!(
                    "--expires {expires} must be 1 to {MAX_TOKEN_DAYS} days"
                )));
            }
            block_on(async {
                let store = store(settings).await?;
                let user = store
                    .user(email.as_str())
                    .await?
                    .ok_or_else(|| Error::Declined(format!("no user {email}")))?;
                if user.disabled_at.is_some() {
                    return Err(Error::Declined(format!("user {email} is disabled")));
                }
                let token = store
                    .issue_token(user.id, &name, expires, Utc::now())
                    .await?;
                emit(
                    out,
                    &format!(
                        "token {} for {email}, expires {}; it is shown only now: {}",
                        token.id,
                        rfc3339(token.expires_at),
                        token.secret
                    ),
                )
            })
        }
        TokensCommand::List { json } => block_on(async {
            let tokens = store(settings).await?.tokens().await?;
            if json {
                return json_out(out, &tokens);
            }
            if tokens.is_empty() {
                return emit(out, "no tokens (escalate tokens create EMAIL)");
            }
            let now = Utc::now();
            for t in &tokens {
                let state = match (t.revoked_at, t.expires_at <= now) {
                    (Some(at), _) => format!("revoked {}", rfc3339(at)),
                    (None, true) => format!("expired {}", rfc3339(t.expires_at)),
                    (None, false) => format!("expires {}", rfc3339(t.expires_at)),
                };
                let used = t.last_used_at.map_or_else(
                    || "never used".to_string(),
                    |u| format!("last used {}", rfc3339(u)),
                );
                emit(
                    out,
                    &format!(
                        "{}  {}  {}  {state}  {used}",
                        t.id,
                        t.email,
                        text::for_terminal(&t.name)
                    ),
                )?;
            }
            Ok(())
        }),
        TokensCommand::Revoke { id } => block_on(async {
            let store = store(settings).await?;
            if store.revoke_token(id, Utc::now()).await? {
                return emit(out, &format!("revoked token {id}"));
            }
            match store.tokens().await?.iter().any(|t| t.id == id) {
                true => Err(Error::Declined(format!("token {id} is revoked already"))),
                false => Err(Error::Declined(format!("no token {id}"))),
            }
        }),
    }
}

/// `escalate audit access REF`: the case's access log, oldest first.
pub(crate) fn access(
    settings: &Settings,
    reference: &crate::ids::CaseRef,
    json: bool,
    out: &mut dyn Write,
) -> Result<()> {
    block_on(async {
        let entries = store(settings)
            .await?
            .access_log(reference.as_str())
            .await?;
        if json {
            return json_out(out, &entries);
        }
        if entries.is_empty() {
            return emit(
                out,
                &format!("{reference}: nobody has read or acted on it through the API"),
            );
        }
        for e in &entries {
            emit(
                out,
                &format!(
                    "{}  {}  {}  {}  from {}{}",
                    rfc3339(e.at),
                    e.email,
                    e.action,
                    e.status,
                    e.address.as_deref().unwrap_or("-"),
                    e.reason
                        .as_deref()
                        .map(|r| format!("  reason: {}", text::for_terminal(r)))
                        .unwrap_or_default()
                ),
            )?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_the_first_line_without_its_ending() {
        let mut input = std::io::Cursor::new("correct horse battery\r\nsecond line\n");
        assert_eq!(read_password(&mut input).unwrap(), "correct horse battery");
        let mut short = std::io::Cursor::new("short\n");
        assert_eq!(
            read_password(&mut short).unwrap_err().to_string(),
            "the password must be at least 12 characters"
        );
        let mut empty = std::io::Cursor::new("");
        assert!(read_password(&mut empty).is_err());
    }
}
