//! Administration of users, API tokens and the agency directory, the same from the command
//! line and the web UI: what an administrator typed is checked here (every problem at once, each
//! tied to its field, so a form can show them all), the store is changed, and each change is
//! written to the admin record ([`AdminEntry`]: who, when, what, to whom, from where). Each
//! surface words the [`Problem`]s its own way.

use std::path::Path;

use chrono::{DateTime, Utc};

use super::credentials::{self, CredentialError, MAX_TOKEN_DAYS};
use super::{BadRole, MAX_NAME, Role};
use crate::directory::Directory;
use crate::ids::{IdError, UserEmail};
use crate::store::{AdminEntry, IssuedToken, NewUser, Store, StoreError, UserRecord};
use crate::text::{self, TextError};

/// Who is acting, as the admin record names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The administrator's user id (none from the command line).
    pub user_id: Option<i64>,
    /// Their address, or `command line (as ACCOUNT)`.
    pub who: String,
    /// The client's address (web UI).
    pub address: Option<String>,
}

impl Actor {
    /// An administrator signed in to the web UI, from `address`.
    pub fn user(user: &UserRecord, address: Option<String>) -> Actor {
        Actor {
            user_id: Some(user.id),
            who: user.email.clone(),
            address,
        }
    }

    /// The command line, run as the operating-system account `account` (anyone who holds the
    /// database can run it; the account is what the machine says of them).
    pub fn command_line(account: &str) -> Actor {
        let account: String = text::for_terminal(account.trim())
            .chars()
            .take(64)
            .collect();
        Actor {
            user_id: None,
            who: format!("command line (as {account})"),
            address: None,
        }
    }
}

/// Something wrong with what an administrator asked for. `Display` is one line for the command
/// line; the web UI words each for its field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Problem {
    /// Not an email address.
    #[error(transparent)]
    Email(IdError),
    /// Not a role.
    #[error(transparent)]
    Role(BadRole),
    /// A display name that is not one line of at most [`MAX_NAME`] characters.
    #[error("name {0}")]
    Name(TextError),
    /// An agency the directory does not have (as typed, escaped for one line).
    #[error("agency '{0}' is not in the directory")]
    Agency(String),
    /// A password that breaks the rules.
    #[error(transparent)]
    Password(CredentialError),
    /// A user with the address exists already.
    #[error("user {0} exists already")]
    Exists(String),
    /// No user has the address.
    #[error("no user {0}")]
    NoUser(String),
    /// The user is disabled already.
    #[error("user {0} is disabled already")]
    AlreadyDisabled(String),
    /// The user is disabled: no token can be made for them.
    #[error("user {0} is disabled")]
    Disabled(String),
    /// An administrator disabling their own account (they would lock themselves out).
    #[error("you cannot disable your own account")]
    Yourself,
    /// A token name that is not one line of at most [`MAX_NAME`] characters.
    #[error("token name {0}")]
    TokenName(TextError),
    /// An empty token name.
    #[error("the token's name must not be empty")]
    TokenNameEmpty,
    /// A token lifetime outside 1 to [`MAX_TOKEN_DAYS`] days (as typed).
    #[error("{0} must be 1 to {MAX_TOKEN_DAYS} days")]
    Expires(String),
    /// No token has the id.
    #[error("no token {0}")]
    NoToken(i64),
    /// The token is revoked already.
    #[error("token {0} is revoked already")]
    AlreadyRevoked(i64),
    /// An agency directory that does not parse or breaks the rules (`file:line:col: message`).
    #[error("{0}")]
    Directory(String),
}

impl Problem {
    /// Whether this is a refusal of well-formed input (the user exists, the token is revoked)
    /// rather than input that cannot be used.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            Problem::Exists(_)
                | Problem::NoUser(_)
                | Problem::AlreadyDisabled(_)
                | Problem::Disabled(_)
                | Problem::Yourself
                | Problem::NoToken(_)
                | Problem::AlreadyRevoked(_)
        )
    }
}

/// What went wrong with an administrative action: nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// What was asked for cannot be done; every problem found.
    #[error("{}", .0.first().map(ToString::to_string).unwrap_or_default())]
    Problems(Vec<Problem>),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The password could not be hashed (it should not happen).
    #[error("{0}")]
    Hash(String),
}

impl From<Problem> for AdminError {
    fn from(p: Problem) -> Self {
        AdminError::Problems(vec![p])
    }
}

/// A user to add, as typed.
#[derive(Clone, Default)]
pub struct UserInput {
    /// Their address.
    pub email: String,
    /// Their role's word, e.g. `board`.
    pub role: String,
    /// Their agency, by the directory's name or id; none or blank for none.
    pub agency: Option<String>,
    /// Their name as shown; none or blank for their address.
    pub name: Option<String>,
    /// Their first password; none (or empty) for none (API tokens only).
    pub password: Option<String>,
}

impl std::fmt::Debug for UserInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password.
        f.debug_struct("UserInput")
            .field("email", &self.email)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// `value` trimmed, or `None` when it is missing or blank.
fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// Checks `input` against the rules and `directory`: the user to add (without a password
/// hash yet) and their password, or every problem found.
pub fn check_user(
    input: &UserInput,
    directory: &Directory,
) -> Result<(NewUser, Option<String>), Vec<Problem>> {
    let mut problems = Vec::new();
    let email = UserEmail::parse(&input.email)
        .map_err(|e| problems.push(Problem::Email(e)))
        .ok();
    let role = input
        .role
        .parse::<Role>()
        .map_err(|e| problems.push(Problem::Role(e)))
        .ok();
    let name = match given(&input.name) {
        Some(n) => text::single_line(n, MAX_NAME)
            .map(|()| n.to_string())
            .map_err(|e| problems.push(Problem::Name(e)))
            .ok(),
        None => email.as_ref().map(ToString::to_string),
    };
    // Checked against the directory, so access by agency cannot be widened by a misspelling
    // that matches nothing (or everything).
    let agency = match given(&input.agency) {
        None => Some(None),
        Some(a) => match text::single_line(a, MAX_NAME)
            .ok()
            .and_then(|()| directory.agency(a))
        {
            Some(found) => Some(Some(found.name.clone())),
            None => {
                let shown = text::for_terminal(a).chars().take(80).collect();
                problems.push(Problem::Agency(shown));
                None
            }
        },
    };
    let password = input.password.clone().filter(|p| !p.is_empty());
    if let Some(p) = &password
        && let Err(e) = credentials::check_password(p)
    {
        problems.push(Problem::Password(e));
    }
    match (email, role, name, agency) {
        (Some(email), Some(role), Some(name), Some(agency)) if problems.is_empty() => Ok((
            NewUser {
                email,
                name,
                agency,
                role,
                password_hash: None,
            },
            password,
        )),
        _ => Err(problems),
    }
}

/// Hashes a password off the async threads (argon2 is deliberately slow).
async fn hash(password: String) -> Result<String, AdminError> {
    tokio::task::spawn_blocking(move || credentials::hash_password(&password))
        .await
        .map_err(|e| AdminError::Hash(e.to_string()))?
        .map_err(|e| AdminError::Hash(e.to_string()))
}

/// Writes one entry of the admin record, now.
async fn record(
    store: &dyn Store,
    actor: &Actor,
    now: DateTime<Utc>,
    action: &str,
    subject: String,
    detail: Option<String>,
) -> Result<(), StoreError> {
    store
        .log_admin(&AdminEntry {
            at: now,
            user_id: actor.user_id,
            actor: actor.who.clone(),
            action: action.to_string(),
            subject,
            detail,
            address: actor.address.clone(),
        })
        .await
}

/// `board`, `practitioner of Riverside Primary School`: a user's role and agency in words.
pub fn role_and_agency(user: &UserRecord) -> String {
    match &user.agency {
        Some(agency) => format!("{} of {agency}", user.role),
        None => user.role.to_string(),
    }
}

/// Adds the user `input` describes, recorded as `actor`'s doing.
pub async fn add_user(
    store: &dyn Store,
    input: &UserInput,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<UserRecord, AdminError> {
    let directory = store.directory().await?;
    let (mut new, password) = check_user(input, &directory).map_err(AdminError::Problems)?;
    if let Some(password) = password {
        new.password_hash = Some(hash(password).await?);
    }
    let user = store
        .add_user(&new, now)
        .await?
        .ok_or_else(|| Problem::Exists(new.email.to_string()))?;
    let detail = format!(
        "{}, {}",
        role_and_agency(&user),
        if user.has_password {
            "with a password"
        } else {
            "no password"
        }
    );
    record(
        store,
        actor,
        now,
        "add_user",
        user.email.clone(),
        Some(detail),
    )
    .await?;
    Ok(user)
}

/// Records the administrator `serve` added at its first start on a database that had none.
pub async fn first_admin_added(
    store: &dyn Store,
    user: &UserRecord,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let actor = Actor {
        user_id: None,
        who: "serve (first start)".into(),
        address: None,
    };
    let detail = format!("{}, its password printed once", role_and_agency(user));
    record(
        store,
        &actor,
        now,
        "add_user",
        user.email.clone(),
        Some(detail),
    )
    .await
}

/// Disables the user with address `email` (as typed): their sign-ins, sessions and tokens
/// stop at once.
pub async fn disable_user(
    store: &dyn Store,
    email: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<UserRecord, AdminError> {
    let email = UserEmail::parse(email).map_err(Problem::Email)?;
    let user = store
        .user(email.as_str())
        .await?
        .ok_or_else(|| Problem::NoUser(email.to_string()))?;
    if actor.user_id == Some(user.id) {
        return Err(Problem::Yourself.into());
    }
    if !store.disable_user(email.as_str(), now).await? {
        return Err(Problem::AlreadyDisabled(email.to_string()).into());
    }
    record(store, actor, now, "disable_user", user.email.clone(), None).await?;
    Ok(user)
}

/// Checks a token's name and lifetime (days, as typed): the name trimmed and the days.
pub fn check_token(name: &str, days: &str) -> Result<(String, u32), Vec<Problem>> {
    let mut problems = Vec::new();
    let name = name.trim();
    if let Err(e) = text::single_line(name, MAX_NAME) {
        problems.push(Problem::TokenName(e));
    } else if name.is_empty() {
        problems.push(Problem::TokenNameEmpty);
    }
    let days = match days.trim().parse::<u32>() {
        Ok(d) if (1..=MAX_TOKEN_DAYS).contains(&d) => Some(d),
        _ => {
            let shown = text::for_terminal(days.trim()).chars().take(20).collect();
            problems.push(Problem::Expires(shown));
            None
        }
    };
    match days {
        Some(days) if problems.is_empty() => Ok((name.to_string(), days)),
        _ => Err(problems),
    }
}

/// Makes an API token named `name` lasting `days` (as typed) for the user with address
/// `email`: the token, whose secret is shown only now, and its owner.
pub async fn create_token(
    store: &dyn Store,
    email: &str,
    name: &str,
    days: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(IssuedToken, UserRecord), AdminError> {
    let checked = check_token(name, days);
    let email = UserEmail::parse(email).map_err(Problem::Email);
    let (name, days, email) = match (checked, email) {
        (Ok((name, days)), Ok(email)) => (name, days, email),
        (checked, email) => {
            let mut problems: Vec<Problem> = email.err().into_iter().collect();
            problems.extend(checked.err().unwrap_or_default());
            return Err(AdminError::Problems(problems));
        }
    };
    let user = store
        .user(email.as_str())
        .await?
        .ok_or_else(|| Problem::NoUser(email.to_string()))?;
    if user.disabled_at.is_some() {
        return Err(Problem::Disabled(email.to_string()).into());
    }
    let token = store.issue_token(user.id, &name, days, now).await?;
    let detail = format!(
        "'{}', expires {}",
        text::for_terminal(&name),
        token.expires_at.format("%Y-%m-%d")
    );
    let subject = format!("token {} of {}", token.id, user.email);
    record(store, actor, now, "create_token", subject, Some(detail)).await?;
    Ok((token, user))
}

/// Revokes the token with row id `id`: it stops working at once.
pub async fn revoke_token(
    store: &dyn Store,
    id: i64,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(), AdminError> {
    if !store.revoke_token(id, now).await? {
        return Err(match store.tokens().await?.iter().any(|t| t.id == id) {
            true => Problem::AlreadyRevoked(id),
            false => Problem::NoToken(id),
        }
        .into());
    }
    let owner = store
        .tokens()
        .await?
        .into_iter()
        .find(|t| t.id == id)
        .map_or_else(String::new, |t| format!(" of {}", t.email));
    let subject = format!("token {id}{owner}");
    record(store, actor, now, "revoke_token", subject, None).await?;
    Ok(())
}

/// Replaces the agency directory with the one in `text` (named `file` in messages): how many
/// agencies and contacts it holds.
pub async fn import_agencies(
    store: &dyn Store,
    file: &Path,
    text: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(usize, usize), AdminError> {
    let directory = Directory::parse(file, text).map_err(|e| Problem::Directory(e.to_string()))?;
    store.replace_directory(&directory, now).await?;
    let agencies = directory.agencies.len();
    let contacts = directory.agencies.iter().map(|a| a.contacts.len()).sum();
    let detail = format!(
        "{agencies} agencies and {contacts} contacts from {}",
        text::for_terminal(&file.display().to_string())
    );
    record(
        store,
        actor,
        now,
        "import_agencies",
        "agency directory".into(),
        Some(detail),
    )
    .await?;
    Ok((agencies, contacts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(email: &str, role: &str) -> UserInput {
        UserInput {
            email: email.into(),
            role: role.into(),
            ..UserInput::default()
        }
    }

    #[test]
    fn every_problem_is_found_at_once_and_nothing_passes_half_checked() {
        let directory = Directory::default();
        let bad = UserInput {
            email: "not an address".into(),
            role: "engine".into(),
            agency: Some("Nowhere".into()),
            name: Some("Eve\nAdmin".into()),
            password: Some("short".into()),
        };
        let problems = check_user(&bad, &directory).unwrap_err();
        let kinds: Vec<&str> = problems
            .iter()
            .map(|p| match p {
                Problem::Email(_) => "email",
                Problem::Role(_) => "role",
                Problem::Name(_) => "name",
                Problem::Agency(_) => "agency",
                Problem::Password(_) => "password",
                _ => "other",
            })
            .collect();
        assert_eq!(kinds, ["email", "role", "name", "agency", "password"]);
        assert!(!problems[0].is_refusal());

        let (user, password) = check_user(&input(" A@B.example ", "board"), &directory).unwrap();
        assert_eq!(user.email.as_str(), "a@b.example");
        assert_eq!(user.name, "a@b.example", "the name defaults to the address");
        assert_eq!((user.agency, password), (None, None));
        let huge = UserInput {
            name: Some("x".repeat(1_000_000)),
            ..input("a@b.example", "admin")
        };
        assert!(matches!(
            check_user(&huge, &directory).unwrap_err()[..],
            [Problem::Name(TextError::TooLong { .. })]
        ));
    }

    #[test]
    fn token_names_and_lifetimes_are_checked() {
        assert_eq!(check_token(" api ", "90").unwrap(), ("api".to_string(), 90));
        assert_eq!(
            check_token("", "0").unwrap_err(),
            [Problem::TokenNameEmpty, Problem::Expires("0".into())]
        );
        assert_eq!(
            check_token("x", "367").unwrap_err()[0].to_string(),
            "367 must be 1 to 366 days"
        );
        assert!(matches!(
            check_token("\u{202e}evil", "1").unwrap_err()[..],
            [Problem::TokenName(_)]
        ));
    }

    #[test]
    fn the_command_line_is_named_by_its_account_on_one_line() {
        assert_eq!(Actor::command_line("root\n").who, "command line (as root)");
        assert_eq!(
            Actor::command_line("a\u{1b}b").who,
            "command line (as a\\u{1b}b)"
        );
    }
}
