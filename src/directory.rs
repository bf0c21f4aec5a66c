//! The agency directory: each agency of the partnership and who to contact at each escalation
//! level, and what follows from it: the roles a person holds on a case, and who a message goes to.
//!
//! Pure: the directory is data (imported from `config/agencies.yaml` into the store); nothing
//! here touches I/O.

use std::collections::BTreeSet;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::text::same_lowercase;
use crate::workflow::{Definition, RoleKind, lookup, same_email};

/// Every agency and its contacts.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Directory {
    /// The agencies, the partnership first.
    pub agencies: Vec<Agency>,
}

/// One agency (a school, a council's children's social care, the partnership itself).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Agency {
    /// Short stable id, e.g. `riverside-primary`.
    pub id: String,
    /// The name case data uses, e.g. `Riverside Primary School`.
    pub name: String,
    /// Its contacts.
    pub contacts: Vec<Contact>,
}

/// A person to contact at one escalation level.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Contact {
    /// `practitioner`, `line_manager`, `senior_manager` or `business_unit`.
    pub level: String,
    /// Name (or team name).
    pub name: String,
    /// Email address.
    pub email: String,
}

/// One person a message goes to, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Recipient {
    /// The workflow role, e.g. `senior_manager`.
    pub role: String,
    /// The role's title, e.g. `Senior managers or heads of service of both agencies`.
    pub title: String,
    /// The person's name.
    pub name: String,
    /// Their address; empty when nobody could be found (see `missing`).
    pub email: String,
    /// Their agency, if known.
    pub agency: Option<String>,
    /// Why nobody could be found, when so: shown on the case, never silently dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing: Option<String>,
}

impl std::fmt::Display for Recipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.missing {
            Some(why) => write!(f, "nobody as {} ({why})", self.role),
            None if self.name.is_empty() => write!(f, "{} as {}", self.email, self.role),
            None => write!(f, "{} <{}> as {}", self.name, self.email, self.role),
        }
    }
}

/// The partnership's own entry in the directory.
pub const PARTNERSHIP: &str = "partnership";

/// A directory file that cannot be imported.
#[derive(Debug, thiserror::Error)]
#[error("{file}:{}{message}", at.map(|(line, column)| format!("{line}:{column}:")).unwrap_or_default())]
pub struct DirectoryError {
    /// The file.
    pub file: String,
    /// The line and column, for YAML that does not parse.
    pub at: Option<(u64, u64)>,
    /// What is wrong (and, when it parses, which entry: `agencies[2].name: …`), one line.
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    partnership: RawAgency,
    #[serde(default)]
    agencies: Vec<RawAgency>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAgency {
    #[serde(default)]
    id: Option<String>,
    name: String,
    #[serde(default)]
    practitioner: Vec<RawContact>,
    #[serde(default)]
    line_manager: Vec<RawContact>,
    #[serde(default)]
    senior_manager: Vec<RawContact>,
    #[serde(default)]
    business_unit: Vec<RawContact>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawContact {
    name: String,
    email: String,
}

/// The longest name of an agency or contact.
const MAX_NAME: usize = 200;
/// The longest email address (RFC 5321's path limit).
const MAX_EMAIL: usize = 254;

/// A plausible email address: one `@` with something either side and no spaces.
fn is_email(text: &str) -> bool {
    match text.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !text.contains(char::is_whitespace)
                && !domain.contains('@')
        }
        None => false,
    }
}

/// `Riverside Primary School` → `riverside-primary-school`.
fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

impl Directory {
    /// Parses a directory file (see `config/agencies.yaml`); `file` names it in errors.
    pub fn parse(file: &Path, text: &str) -> Result<Directory, DirectoryError> {
        let error = |message: String| DirectoryError {
            file: file.display().to_string(),
            at: None,
            // A value quoted in the message may hold a line break.
            message: format!(" {}", crate::text::for_terminal(&message)),
        };
        let raw: RawFile = serde_saphyr::from_str(text).map_err(|e| {
            // One `line:col: message`, without the snippet of the file serde-saphyr draws.
            use serde_saphyr::MessageFormatter;
            let e = e.without_snippet();
            let (line, column) = e
                .location()
                .map(|l| (l.line().max(1), l.column().max(1)))
                .unwrap_or((1, 1));
            let message = serde_saphyr::DefaultMessageFormatter.format_message(e);
            DirectoryError {
                at: Some((line, column)),
                ..error(message.into_owned())
            }
        })?;
        let mut agencies = Vec::new();
        let mut ids = BTreeSet::new();
        let mut names = BTreeSet::new();
        let entries = std::iter::once((PARTNERSHIP.to_string(), raw.partnership)).chain(
            raw.agencies
                .into_iter()
                .enumerate()
                .map(|(i, a)| (format!("agencies[{i}]"), a)),
        );
        for (at, a) in entries {
            let name = a.name.trim().to_string();
            if name.is_empty() {
                return Err(error(format!("{at}.name: an agency needs a name")));
            }
            crate::text::single_line(&name, MAX_NAME)
                .map_err(|e| error(format!("{at}.name: {e}")))?;
            let id = match &a.id {
                Some(id) => id.trim().to_string(),
                None if at == PARTNERSHIP => PARTNERSHIP.to_string(),
                None => slug(&name),
            };
            if id.is_empty()
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(error(format!(
                    "{at}.id: '{id}' must be letters, digits, '-' or '_'"
                )));
            }
            // Partnership mail (and the partnership role) goes to the partnership's entry only.
            if (at == PARTNERSHIP) != (id == PARTNERSHIP) {
                return Err(error(format!(
                    "{at}.id: '{PARTNERSHIP}' is the partnership's own entry, and it must have that id"
                )));
            }
            if at != PARTNERSHIP && !a.business_unit.is_empty() {
                return Err(error(format!(
                    "{at}.business_unit: only the partnership has a business unit"
                )));
            }
            if !ids.insert(id.clone()) {
                return Err(error(format!("{at}.id: '{id}' is used twice")));
            }
            if !names.insert(name.to_lowercase()) {
                return Err(error(format!("{at}.name: '{name}' is used twice")));
            }
            let mut contacts = Vec::new();
            for (level, list) in [
                ("practitioner", a.practitioner),
                ("line_manager", a.line_manager),
                ("senior_manager", a.senior_manager),
                ("business_unit", a.business_unit),
            ] {
                for (j, c) in list.into_iter().enumerate() {
                    // Names and addresses go into mail headers: one line of plain text each.
                    for (field, value, max) in
                        [("name", &c.name, MAX_NAME), ("email", &c.email, MAX_EMAIL)]
                    {
                        crate::text::single_line(value.trim(), max)
                            .map_err(|e| error(format!("{at}.{level}[{j}].{field}: {e}")))?;
                    }
                    let email = c.email.trim().to_string();
                    if !is_email(&email) {
                        return Err(error(format!(
                            "{at}.{level}[{j}].email: '{email}' is not an email address"
                        )));
                    }
                    if c.name.trim().is_empty() {
                        return Err(error(format!(
                            "{at}.{level}[{j}].name: a contact needs a name"
                        )));
                    }
                    contacts.push(Contact {
                        level: level.to_string(),
                        name: c.name.trim().to_string(),
                        email,
                    });
                }
            }
            agencies.push(Agency { id, name, contacts });
        }
        Ok(Directory { agencies })
    }

    /// The agency case data names (by name or id, ignoring case).
    pub fn agency(&self, name: &str) -> Option<&Agency> {
        // Lower-case, as the lists' index keeps what case data names (store::Party), so that a
        // list and a read find the same agency.
        let name = name.trim();
        self.agencies
            .iter()
            .find(|a| same_lowercase(&a.name, name) || same_lowercase(&a.id, name))
    }

    /// The agencies a contact role covers on a case: those of the parties it is `of`, or for
    /// a role of no party, the partnership itself (never another agency's staff).
    fn role_agencies<'a>(
        &'a self,
        def: &Definition,
        data: &Value,
        of: &[String],
    ) -> (Vec<&'a Agency>, Vec<(Option<String>, String)>) {
        if of.is_empty() {
            return (
                self.agencies
                    .iter()
                    .filter(|a| a.id == PARTNERSHIP)
                    .collect(),
                Vec::new(),
            );
        }
        let mut found = Vec::new();
        let mut problems = Vec::new();
        for party in of {
            let path = def.roles.iter().find_map(|r| match &r.kind {
                RoleKind::Party { path } if r.name == *party => Some(path.clone()),
                _ => None,
            });
            let Some(path) = path else { continue };
            match lookup(data, &path)
                .and_then(|party| party.get("agency"))
                .and_then(Value::as_str)
            {
                Some(name) => match self.agency(name) {
                    Some(a) => {
                        if !found.iter().any(|f: &&Agency| f.id == a.id) {
                            found.push(a);
                        }
                    }
                    None => problems.push((
                        Some(name.to_string()),
                        format!("agency '{name}' is not in the directory"),
                    )),
                },
                None => problems.push((None, format!("the case names no agency for {party}"))),
            }
        }
        (found, problems)
    }

    /// The contact roles of `def` that `email` holds on a case with `data`.
    pub fn contact_roles(&self, def: &Definition, data: &Value, email: &str) -> Vec<String> {
        def.roles
            .iter()
            .filter(|r| match &r.kind {
                RoleKind::Contact { level, of } => self
                    .role_agencies(def, data, of)
                    .0
                    .iter()
                    .flat_map(|a| &a.contacts)
                    .any(|c| c.level == *level && same_email(&c.email, email)),
                RoleKind::Party { .. } => false,
            })
            .map(|r| r.name.clone())
            .collect()
    }

    /// Who a message to `roles` goes to on a case with `data`: each person once (under the
    /// first role that names them), and a recipient with `missing` set for each role that
    /// finds nobody.
    pub fn recipients(&self, def: &Definition, data: &Value, roles: &[String]) -> Vec<Recipient> {
        let mut out: Vec<Recipient> = Vec::new();
        for role_name in roles {
            let Some(role) = def.roles.iter().find(|r| r.name == *role_name) else {
                continue;
            };
            let nobody = |why: String| Recipient {
                role: role.name.clone(),
                title: role.title.clone(),
                name: String::new(),
                email: String::new(),
                agency: None,
                missing: Some(why),
            };
            let mut found = Vec::new();
            match &role.kind {
                RoleKind::Party { path } => {
                    let text = |key: &str| {
                        lookup(data, &format!("{path}.{key}"))
                            .and_then(Value::as_str)
                            .map(|s| s.trim().to_string())
                    };
                    match text("email").filter(|e| is_email(e)) {
                        Some(email) => found.push(Recipient {
                            role: role.name.clone(),
                            title: role.title.clone(),
                            name: text("name").unwrap_or_default(),
                            email,
                            agency: text("agency"),
                            missing: None,
                        }),
                        None => out.push(nobody(format!(
                            "the case has no email address at {path}.email"
                        ))),
                    }
                }
                RoleKind::Contact { level, of } => {
                    let (agencies, problems) = self.role_agencies(def, data, of);
                    // Each party's agency that is missing is its own warning on the case.
                    out.extend(problems.into_iter().map(|(agency, why)| Recipient {
                        agency,
                        ..nobody(why)
                    }));
                    {
                        for agency in &agencies {
                            let contacts: Vec<&Contact> = agency
                                .contacts
                                .iter()
                                .filter(|c| c.level == *level)
                                .collect();
                            if contacts.is_empty() && !of.is_empty() {
                                out.push(Recipient {
                                    agency: Some(agency.name.clone()),
                                    ..nobody(format!(
                                        "the directory has no {} contact for {}",
                                        level.replace('_', " "),
                                        agency.name
                                    ))
                                });
                            }
                            for c in contacts {
                                found.push(Recipient {
                                    role: role.name.clone(),
                                    title: role.title.clone(),
                                    name: c.name.clone(),
                                    email: c.email.clone(),
                                    agency: Some(agency.name.clone()),
                                    missing: None,
                                });
                            }
                        }
                        if of.is_empty() && found.is_empty() {
                            out.push(nobody(format!(
                                "the directory has no {} contact",
                                level.replace('_', " ")
                            )));
                        }
                    }
                }
            }
            for r in found {
                if !out
                    .iter()
                    .any(|o| o.missing.is_none() && same_email(&o.email, &r.email))
                {
                    out.push(r);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_checked_for_shape() {
        assert!(is_email("a.b@example.org"));
        for bad in ["", "a", "a@b", "@b.org", "a@.org", "a b@c.org", "a@b.org."] {
            assert!(!is_email(bad), "{bad}");
        }
    }

    #[test]
    fn partnership_roles_reach_the_partnership_only() {
        let bad = "partnership:\n  name: P\nagencies:\n  - name: School\n    business_unit:\n      - {name: X, email: x@school.example.org}\n";
        let err = Directory::parse(Path::new("a.yaml"), bad).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a.yaml: agencies[0].business_unit: only the partnership has a business unit"
        );
        let clash = "partnership:\n  name: P\nagencies:\n  - {id: partnership, name: School}\n";
        assert!(Directory::parse(Path::new("a.yaml"), clash).is_err());
    }

    #[test]
    fn slugs_are_lowercase_words_joined_by_dashes() {
        assert_eq!(slug("Children's Social Care"), "children-s-social-care");
        assert_eq!(
            slug("  Riverside Primary School "),
            "riverside-primary-school"
        );
    }
}
