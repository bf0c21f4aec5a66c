//! Identities parsed once at the boundary (command line, later the API), so the engine never
//! sees an unchecked string: the acting person's email address and a case reference.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::text;

/// A person's email address: trimmed, lower-case, plausible (one `@`, a dotted domain, no
/// spaces or control characters, at most 254 characters). Nothing that is not an address (the
/// word `engine`, an empty string) can be one, so no input can act as the engine.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct UserEmail(String);

/// Why a value is not an identity; its `Display` is one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Not an email address.
    #[error("'{shown}' is not an email address: {why}")]
    Email {
        /// The value as given, escaped for one line.
        shown: String,
        /// What is wrong.
        why: &'static str,
    },
    /// Not a case reference.
    #[error("'{0}' is not a case reference (e.g. DSP-2026-000042)")]
    Reference(String),
}

/// At most this much of a bad value is repeated in an error.
const SHOWN: usize = 80;

fn shown(value: &str) -> String {
    let escaped = text::for_terminal(value);
    match escaped.char_indices().nth(SHOWN) {
        Some((i, _)) => format!("{}…", &escaped[..i]),
        None => escaped.into_owned(),
    }
}

impl UserEmail {
    /// Parses an address, normalising it to trimmed lower case.
    pub fn parse(value: &str) -> Result<Self, IdError> {
        let bad = |why| IdError::Email {
            shown: shown(value),
            why,
        };
        let trimmed = value.trim();
        if trimmed.is_empty() {
            return Err(bad("it is empty"));
        }
        if text::single_line(trimmed, 254).is_err() {
            return Err(bad(
                "it must be one line of at most 254 characters, without control characters",
            ));
        }
        if trimmed.chars().any(char::is_whitespace) {
            return Err(bad("it contains a space"));
        }
        if trimmed.contains(['<', '>', '(', ')', ',', ';', ':', '"', '[', ']', '\\']) {
            return Err(bad("it contains a character addresses cannot hold"));
        }
        let Some((local, domain)) = trimmed.split_once('@') else {
            return Err(bad("it has no @"));
        };
        if domain.contains('@') {
            return Err(bad("it has more than one @"));
        }
        if local.is_empty() || local.len() > 64 {
            return Err(bad("the part before the @ must be 1 to 64 characters"));
        }
        if !domain.contains('.') || domain.split('.').any(str::is_empty) {
            return Err(bad(
                "the part after the @ must be a domain such as example.org",
            ));
        }
        Ok(UserEmail(trimmed.to_lowercase()))
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for UserEmail {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        UserEmail::parse(s)
    }
}

impl fmt::Display for UserEmail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for UserEmail {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A case reference, `PREFIX-YYYY-NNNNNN`, upper case whatever case it was typed in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct CaseRef(String);

impl CaseRef {
    /// Parses a reference, normalising it to upper case.
    pub fn parse(value: &str) -> Result<Self, IdError> {
        let upper = value.trim().to_ascii_uppercase();
        let mut parts = upper.split('-');
        let ok = match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(prefix), Some(year), Some(number), None) => {
                (1..=10).contains(&prefix.len())
                    && prefix.chars().all(|c| c.is_ascii_alphanumeric())
                    && year.len() == 4
                    && year.chars().all(|c| c.is_ascii_digit())
                    && (1..=12).contains(&number.len())
                    && number.chars().all(|c| c.is_ascii_digit())
            }
            _ => false,
        };
        if ok {
            Ok(CaseRef(upper))
        } else {
            Err(IdError::Reference(shown(value)))
        }
    }

    /// The reference.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for CaseRef {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CaseRef::parse(s)
    }
}

impl fmt::Display for CaseRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for CaseRef {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_lower_case_and_plausible() {
        assert_eq!(
            UserEmail::parse("  Priya.Shah@School.Example.org ")
                .unwrap()
                .as_str(),
            "priya.shah@school.example.org"
        );
        for bad in [
            "",
            "   ",
            "engine",
            "priya",
            "a@b",
            "a@@b.org",
            "a b@c.org",
            "a@b..org",
            "@b.org",
            "Tom\n@x.org",
            "x@y.org\r\nBcc: z@w.org",
            "<a@b.org>",
        ] {
            assert!(UserEmail::parse(bad).is_err(), "{bad:?} accepted");
        }
        let long = format!("{}@example.org", "a".repeat(300));
        assert!(UserEmail::parse(&long).is_err());
    }

    #[test]
    fn errors_are_one_line_and_short() {
        let e = UserEmail::parse(&format!("a\nb{}", "c".repeat(1_000_000))).unwrap_err();
        let text = e.to_string();
        assert_eq!(text.lines().count(), 1);
        assert!(text.len() < 300, "{}", text.len());
    }

    #[test]
    fn references_are_case_insensitive() {
        assert_eq!(
            CaseRef::parse("dsp-2026-000042").unwrap().as_str(),
            "DSP-2026-000042"
        );
        for bad in [
            "",
            "DSP",
            "DSP-26-1",
            "DSP-2026-",
            "DSP-2026-1-2",
            "DS P-2026-1",
        ] {
            assert!(CaseRef::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
