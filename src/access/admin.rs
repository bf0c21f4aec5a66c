//! Administration of users, API tokens and the agency directory, the same from the command
//! line and the web UI: what an administrator typed is checked here (every problem at once, each
//! tied to its field, so a form can show them all), and the store makes the change and writes
//! its entry in the admin record ([`AdminEntry`]: who, when, what, to whom, from where) in one
//! transaction: a change is never left unrecorded. Each surface words the [`Problem`]s its own
//! way.

use std::path::Path;

use chrono::{DateTime, Utc};

use super::credentials::{self, CredentialError, MAX_TOKEN_DAYS};
use super::{BadRole, MAX_NAME, Role};
use crate::directory::Directory;
use crate::ids::{IdError, UserEmail};
use crate::store::{AdminEntry, Disabling, IssuedToken, NewUser, Store, StoreError, UserRecord};
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
    /// Disabling the last enabled administrator: nobody could administer any more.
    #[error(
        "refused: {0} is the last enabled administrator; add another administrator before disabling them"
    )]
    LastAdmin(String),
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
    /// A web form whose key is missing or not one a form was given (the form is out of date,
    /// or was not the service's).
    #[error("the form has no valid key; open it again")]
    FormKey,
    /// The same form sent again (a reload): what it made the first time (`token 7 of
    /// a@b.org`), whose secret was shown then, once; nothing was made now.
    #[error("this form made {0} already; its secret was shown once")]
    Repeated(String),
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
                | Problem::LastAdmin(_)
                | Problem::NoToken(_)
                | Problem::AlreadyRevoked(_)
                | Problem::Repeated(_)
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

/// The admin record's entry for `actor` doing `action` to `subject` at `now`.
fn entry(
    actor: &Actor,
    now: DateTime<Utc>,
    action: &str,
    subject: String,
    detail: Option<String>,
) -> AdminEntry {
    AdminEntry {
        at: now,
        user_id: actor.user_id,
        actor: actor.who.clone(),
        action: action.to_string(),
        subject,
        detail,
        address: actor.address.clone(),
        form_key: None,
    }
}

/// `board`, `practitioner of Riverside Primary School`: a user's role and agency in words.
pub fn role_and_agency(user: &UserRecord) -> String {
    role_in(user.role, user.agency.as_deref())
}

/// [`role_and_agency`] of a role and agency.
fn role_in(role: Role, agency: Option<&str>) -> String {
    match agency {
        Some(agency) => format!("{role} of {agency}"),
        None => role.to_string(),
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
    let detail = format!(
        "{}, {}",
        role_in(new.role, new.agency.as_deref()),
        if new.password_hash.is_some() {
            "with a password"
        } else {
            "no password"
        }
    );
    let added = entry(actor, now, "add_user", new.email.to_string(), Some(detail));
    let user = store
        .add_user(&new, now, &added)
        .await?
        .ok_or_else(|| Problem::Exists(new.email.to_string()))?;
    Ok(user)
}

/// Adds `new` as the first administrator, recorded as `serve`'s doing at its first start,
/// unless an administrator exists (see [`crate::store::AccessStore::add_first_admin`]).
pub async fn add_first_admin(
    store: &dyn Store,
    new: &NewUser,
    now: DateTime<Utc>,
) -> Result<Option<UserRecord>, StoreError> {
    let actor = Actor {
        user_id: None,
        who: "serve (first start)".into(),
        address: None,
    };
    let detail = format!(
        "{}, its password printed once",
        role_in(new.role, new.agency.as_deref())
    );
    let added = entry(&actor, now, "add_user", new.email.to_string(), Some(detail));
    store.add_first_admin(new, now, &added).await
}

/// Disables the user with address `email` (as typed): their sign-ins, sessions and tokens
/// stop at once. The last enabled administrator is not disabled.
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
    let disabled = entry(actor, now, "disable_user", user.email.clone(), None);
    match store.disable_user(email.as_str(), now, &disabled).await? {
        Disabling::Done => Ok(user),
        Disabling::NotEnabled => Err(Problem::AlreadyDisabled(email.to_string()).into()),
        Disabling::LastAdmin => Err(Problem::LastAdmin(email.to_string()).into()),
    }
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

/// Whether `key` is what [`form_key`] makes: 32 lower-case hex digits.
fn is_form_key(key: &str) -> bool {
    key.len() == 32 && key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A fresh key for a web form that makes something: one form makes one thing (see
/// [`create_token`]).
pub fn form_key() -> String {
    credentials::random_hex(16)
}

/// Makes an API token named `name` lasting `days` (as typed) for the user with address
/// `email`: the token, whose secret is shown only now, and its owner. With `form_key` (the
/// web form's, from [`form_key`]), the same form sent again makes nothing and is a
/// [`Problem::Repeated`].
pub async fn create_token(
    store: &dyn Store,
    email: &str,
    name: &str,
    days: &str,
    form_key: Option<&str>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(IssuedToken, UserRecord), AdminError> {
    // The repeat is told first: what the form asked for may have changed meanwhile (the
    // user since disabled), but it was done.
    let key = match (form_key, actor.user_id) {
        (None, _) => None,
        (Some(key), Some(user_id)) if is_form_key(key) => {
            if let Some(made) = store.admin_entry(user_id, key).await? {
                return Err(Problem::Repeated(made.subject).into());
            }
            Some((user_id, key))
        }
        (Some(_), _) => return Err(Problem::FormKey.into()),
    };
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
    let expires = now + chrono::TimeDelta::days(days.into());
    let made = |id: i64| AdminEntry {
        form_key: key.map(|(_, key)| key.to_string()),
        ..entry(
            actor,
            now,
            "create_token",
            format!("token {id} of {}", user.email),
            Some(format!(
                "'{}', expires {}",
                text::for_terminal(&name),
                expires.format("%Y-%m-%d")
            )),
        )
    };
    match (
        store
            .issue_token(user.id, &name, days, now, Some(&made))
            .await,
        key,
    ) {
        (Ok(token), _) => Ok((token, user)),
        // The same form sent twice at once: the other one made it.
        (Err(StoreError::Duplicate(_)), Some((user_id, key))) => {
            let subject = store
                .admin_entry(user_id, key)
                .await?
                .map_or_else(|| "the token".to_string(), |made| made.subject);
            Err(Problem::Repeated(subject).into())
        }
        (Err(e), _) => Err(e.into()),
    }
}

/// Revokes the token with row id `id`: it stops working at once.
pub async fn revoke_token(
    store: &dyn Store,
    id: i64,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(), AdminError> {
    let token = store
        .tokens()
        .await?
        .into_iter()
        .find(|t| t.id == id)
        .ok_or(Problem::NoToken(id))?;
    let revoked = entry(
        actor,
        now,
        "revoke_token",
        format!("token {id} of {}", token.email),
        None,
    );
    // Revoked already, or by someone else meanwhile: the store changes nothing then.
    if token.revoked_at.is_some() || !store.revoke_token(id, now, &revoked).await? {
        return Err(Problem::AlreadyRevoked(id).into());
    }
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
    let agencies = directory.agencies.len();
    let contacts = directory.agencies.iter().map(|a| a.contacts.len()).sum();
    let detail = format!(
        "{agencies} agencies and {contacts} contacts from {}",
        text::for_terminal(&file.display().to_string())
    );
    let imported = entry(
        actor,
        now,
        "import_agencies",
        "agency directory".into(),
        Some(detail),
    );
    store
        .replace_directory(&directory, now, Some(&imported))
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
    fn a_form_key_is_fresh_each_time_and_only_its_shape_passes() {
        let (a, b) = (form_key(), form_key());
        assert_ne!(a, b);
        assert!(is_form_key(&a) && is_form_key(&b));
        for bad in [
            "",
            "x",
            &a.to_uppercase(),
            &format!("{a}0"),
            &a[1..],
            "../../etc/passwd",
        ] {
            assert!(!is_form_key(bad), "{bad:?}");
        }
        assert!(Problem::LastAdmin("a@b.org".into()).is_refusal());
        assert!(
            Problem::LastAdmin("a@b.org".into())
                .to_string()
                .starts_with("refused: a@b.org is the last enabled administrator")
        );
        assert!(!Problem::FormKey.is_refusal());
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
