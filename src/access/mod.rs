//! Who may sign in and what they are: users, their roles and credentials (passwords and API
//! tokens). The rules of who sees which case build on these.

pub mod admin;
pub mod credentials;
pub mod policy;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The longest a display name or a token's name may be, in characters.
pub const MAX_NAME: usize = 200;

/// What a user is in the partnership; what they may see and do follows from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A professional who raises or answers a disagreement.
    Practitioner,
    /// A line manager or designated safeguarding lead.
    Manager,
    /// A senior manager or head of service.
    SeniorManager,
    /// The partnership's chair or business unit: every case of the partnership.
    Partnership,
    /// A board member: aggregate reports only, never a case.
    Board,
    /// Manages users, tokens and agencies.
    Admin,
}

impl Role {
    /// Every role, in the order they are listed.
    pub const ALL: [Role; 6] = [
        Role::Practitioner,
        Role::Manager,
        Role::SeniorManager,
        Role::Partnership,
        Role::Board,
        Role::Admin,
    ];

    /// The stored word, e.g. `senior_manager`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Practitioner => "practitioner",
            Role::Manager => "manager",
            Role::SeniorManager => "senior_manager",
            Role::Partnership => "partnership",
            Role::Board => "board",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A word that is not a role; its `Display` lists the roles.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "'{0}' is not a role; use one of practitioner, manager, senior_manager, partnership, board, admin"
)]
pub struct BadRole(pub String);

impl FromStr for Role {
    type Err = BadRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let word = s.trim();
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == word)
            .ok_or_else(|| BadRole(crate::text::for_terminal(word).chars().take(80).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_and_a_bad_one_lists_them() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
            assert_eq!(
                serde_json::to_value(role).unwrap(),
                serde_json::json!(role.as_str())
            );
        }
        let e = "Admin\n".parse::<Role>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "'Admin' is not a role; use one of practitioner, manager, senior_manager, partnership, board, admin"
        );
        assert!("engine".parse::<Role>().is_err());
    }
}
