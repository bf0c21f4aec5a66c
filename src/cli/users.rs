//! `escalate users …` and `escalate tokens …`: the people who sign in to the API (and later
//! the web UI), and their API tokens.

use std::io::{BufRead, Write};

use chrono::Utc;
use clap::Subcommand;

use super::{block_on, emit, rfc3339};
use crate::access::admin::{self, Actor, AdminError, Problem};
use crate::access::credentials;
use crate::config::Settings;
use crate::store::Store;
use crate::text;
use crate::{Error, Result};

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

/// Who the command line acts as in the admin record: the operating-system account it runs as.
pub(crate) fn actor() -> Actor {
    let account = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    Actor::command_line(&account)
}

/// An administrative action's failure as the command line words it: the first problem, with
/// the option it is about.
pub(crate) fn admin_error(e: AdminError) -> Error {
    let problem = match e {
        AdminError::Store(e) => return Error::Store(e),
        AdminError::Hash(message) => return Error::Input(message),
        AdminError::Problems(problems) => match problems.into_iter().next() {
            Some(p) => p,
            None => return Error::Input("refused".into()),
        },
    };
    let text = match &problem {
        Problem::Name(e) | Problem::TokenName(e) => format!("--name {e}"),
        Problem::TokenNameEmpty => "--name must not be empty".into(),
        Problem::Expires(_) => format!("--expires {problem}"),
        Problem::Agency(_) => format!("{problem} (escalate agencies list)"),
        p => p.to_string(),
    };
    if problem.is_refusal() {
        Error::Declined(text)
    } else {
        Error::Input(text)
    }
}

pub(crate) fn users(cmd: UsersCommand, settings: &Settings, out: &mut dyn Write) -> Result<()> {
    match cmd {
        UsersCommand::Add {
            email,
            role,
            agency,
            name,
            password_stdin,
        } => {
            let password = if password_stdin {
                Some(read_password(&mut std::io::stdin().lock())?)
            } else {
                None
            };
            let input = admin::UserInput {
                email,
                role,
                agency,
                name,
                password,
            };
            // What can be checked without the directory (the address, the role, the name, the
            // password) is bad input (exit 2) whether or not the database answers: said before
            // connecting. The agency is checked against the directory once connected.
            let without_agency = admin::UserInput {
                agency: None,
                ..input.clone()
            };
            admin::check_user(&without_agency, &crate::directory::Directory::default())
                .map_err(|problems| admin_error(AdminError::Problems(problems)))?;
            block_on(async {
                let store = store(settings).await?;
                let user = admin::add_user(store.as_ref(), &input, &actor(), Utc::now())
                    .await
                    .map_err(admin_error)?;
                emit(
                    out,
                    &format!(
                        "added {} as {}{}",
                        user.email,
                        admin::role_and_agency(&user),
                        if user.has_password {
                            ""
                        } else {
                            " (no password: API tokens only)"
                        }
                    ),
                )
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
        UsersCommand::Disable { email } => block_on(async {
            let store = store(settings).await?;
            let user = admin::disable_user(store.as_ref(), &email, &actor(), Utc::now())
                .await
                .map_err(admin_error)?;
            emit(
                out,
                &format!(
                    "disabled {}: their sign-ins and tokens stop working",
                    user.email
                ),
            )
        }),
    }
}

pub(crate) fn tokens(cmd: TokensCommand, settings: &Settings, out: &mut dyn Write) -> Result<()> {
    match cmd {
        TokensCommand::Create {
            email,
            name,
            expires,
        } => {
            // The name and lifetime are checked before the database is opened.
            admin::check_token(&name, &expires.to_string())
                .map_err(|problems| admin_error(AdminError::Problems(problems)))?;
            block_on(async {
                let store = store(settings).await?;
                let (token, user) = admin::create_token(
                    store.as_ref(),
                    &email,
                    &name,
                    &expires.to_string(),
                    None,
                    &actor(),
                    Utc::now(),
                )
                .await
                .map_err(admin_error)?;
                emit(
                    out,
                    &format!(
                        "token {} for {}, expires {}; it is shown only now: {}",
                        token.id,
                        user.email,
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
            admin::revoke_token(store.as_ref(), id, &actor(), Utc::now())
                .await
                .map_err(admin_error)?;
            emit(out, &format!("revoked token {id}"))
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
