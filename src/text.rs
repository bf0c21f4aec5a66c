//! Checks on text that people type, made once at the boundary (`case open`, `case event`,
//! `agencies import`, later the API): names, emails and other single-line values must not carry
//! line breaks or other control characters (they end up in mail headers and terminal lines), and
//! no text may carry the invisible controls that reorder what a reader sees. Also the one escape
//! used when stored text is printed to a terminal.

use std::borrow::Cow;
use std::fmt;

/// Why a piece of text was refused. Its `Display` is the tail of a one-line message; callers
/// put the field's name in front (`raised_by.name: contains a line break …`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    /// A control or formatting character where it is not allowed.
    #[error("contains {what} (U+{code:04X}) at character {position}{hint}")]
    Control {
        /// What the character is, in words.
        what: &'static str,
        /// Its code point.
        code: u32,
        /// Its position, from 1, in characters.
        position: usize,
        /// How to fix it, when there is more to say.
        hint: Hint,
    },
    /// Longer than allowed.
    #[error("is {length} characters long; at most {max} are allowed")]
    TooLong {
        /// The text's length in characters.
        length: usize,
        /// The limit.
        max: usize,
    },
}

/// A suffix for [`TextError::Control`], so the message says what to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hint {
    /// Nothing more to say.
    None,
    /// The value must be one line.
    OneLine,
}

impl fmt::Display for Hint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Hint::None => Ok(()),
            Hint::OneLine => f.write_str("; it must be one line"),
        }
    }
}

/// What `c` is, if it is one of the characters no typed text may hold: C0/C1 controls (other
/// than those `multi_line` allows), the bidirectional overrides and isolates (which make text
/// display in an order other than it is stored: "Trojan Source"), line and paragraph
/// separators, and a byte-order mark inside text.
fn forbidden(c: char) -> Option<&'static str> {
    match c {
        '\n' | '\r' => Some("a line break"),
        '\t' => Some("a tab"),
        '\u{2028}' | '\u{2029}' => Some("a line separator"),
        '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' => {
            Some("a bidirectional override character")
        }
        '\u{FEFF}' => Some("a byte-order mark"),
        c if c.is_control() => Some("a control character"),
        _ => None,
    }
}

/// The characters [`forbidden`] refuses, as the inside of a regular-expression class.
const FORBIDDEN_CLASS: &str = r"\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff";
/// The characters [`str::trim`] removes, as the inside of a class.
const TRIMMED_CLASS: &str = r"\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";

/// A regular expression (ECMA-262, for an API document) matching exactly the values that,
/// trimmed of whitespace, [`single_line`] accepts with `max` characters: `min` 0 takes blank
/// values too, `min` 1 does not.
pub fn single_line_pattern(min: usize, max: usize) -> String {
    let trimmed = format!("[{TRIMMED_CLASS}]*");
    let allowed = format!("[^{FORBIDDEN_CLASS}]");
    let inner = format!("[^{FORBIDDEN_CLASS}{TRIMMED_CLASS}]");
    let content = format!(
        "({inner}({allowed}{{0,{}}}{inner})?)",
        max.saturating_sub(2)
    );
    let optional = if min == 0 { "?" } else { "" };
    format!("^{trimmed}{content}{optional}{trimmed}$")
}

/// A regular expression matching the values that are blank once trimmed.
pub fn blank_pattern() -> String {
    format!("^[{TRIMMED_CLASS}]*$")
}

/// Whether `a` and `b` are the same once lower-cased (`str::to_lowercase`), without
/// allocating when both are ASCII: the lists and each case's access check compare every
/// listed case's addresses and agencies this way.
pub fn same_lowercase(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        a.eq_ignore_ascii_case(b)
    } else {
        a.to_lowercase() == b.to_lowercase()
    }
}

/// Bytes as lower-case hexadecimal (digests and tokens as they are stored and shown).
pub fn hex(bytes: &[u8]) -> String {
    use fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

/// Checks a single-line value (a name, an email address, a choice, a date): no control,
/// line-break or reordering characters, and at most `max` characters.
pub fn single_line(value: &str, max: usize) -> Result<(), TextError> {
    check(value, max, |_| false, Hint::OneLine)
}

/// Checks free text (a summary, a reason): line breaks and tabs are allowed, other control
/// and reordering characters are not, and at most `max` characters.
pub fn multi_line(value: &str, max: usize) -> Result<(), TextError> {
    check(value, max, |c| matches!(c, '\n' | '\r' | '\t'), Hint::None)
}

fn check(
    value: &str,
    max: usize,
    allowed: impl Fn(char) -> bool,
    hint: Hint,
) -> Result<(), TextError> {
    let mut length = 0;
    for (i, c) in value.chars().enumerate() {
        length = i + 1;
        if allowed(c) {
            continue;
        }
        if let Some(what) = forbidden(c) {
            return Err(TextError::Control {
                what,
                code: u32::from(c),
                position: i + 1,
                hint,
            });
        }
    }
    if length > max {
        return Err(TextError::TooLong { length, max });
    }
    Ok(())
}

/// Stored text made safe to print on one terminal line: control, line-break and reordering
/// characters become visible escapes (`\n`, `\u{202e}`), so a note cannot forge a history
/// line or recolour the terminal. Borrowed when there is nothing to escape.
pub fn for_terminal(value: &str) -> Cow<'_, str> {
    if !value.chars().any(|c| forbidden(c).is_some()) {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if forbidden(c).is_some() => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// A name written with underscores (`senior_manager`, `roles_and_responsibilities`) as words
/// for people: `Senior manager`, `Roles and responsibilities`.
pub fn sentence_case(name: &str) -> String {
    capitalised(&name.replace('_', " "))
}

/// `text` with its first letter a capital.
pub fn capitalised(text: &str) -> String {
    let first = text.chars().next().map_or(0, char::len_utf8);
    format!("{}{}", text[..first].to_uppercase(), &text[first..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_words() {
        assert_eq!(sentence_case("senior_manager"), "Senior manager");
        assert_eq!(sentence_case("x"), "X");
        assert_eq!(sentence_case(""), "");
    }

    #[test]
    fn one_line_values_refuse_breaks_controls_and_overrides() {
        assert!(single_line("Siân Llŷr", 100).is_ok());
        assert!(single_line("محمد الأحمد", 100).is_ok());
        assert!(single_line("Zoë 👩🏽‍⚕️", 100).is_ok());
        let e = single_line("Tom\nHughes", 100).unwrap_err();
        assert_eq!(
            e.to_string(),
            "contains a line break (U+000A) at character 4; it must be one line"
        );
        assert!(matches!(
            single_line("Name\r\nBcc: x@y", 100),
            Err(TextError::Control { code: 0x0D, .. })
        ));
        assert!(matches!(
            single_line("abc\u{202E}fdp.exe", 100),
            Err(TextError::Control { code: 0x202E, .. })
        ));
        assert!(matches!(
            single_line("a\u{7}b", 100),
            Err(TextError::Control { code: 7, .. })
        ));
        assert!(matches!(
            single_line("a\u{85}b", 100),
            Err(TextError::Control { code: 0x85, .. })
        ));
        assert!(single_line("a\tb", 100).is_err());
    }

    #[test]
    fn free_text_keeps_lines_but_not_other_controls() {
        assert!(multi_line("line one\nline two\r\n\tindented", 100).is_ok());
        assert!(multi_line("bell\u{7}", 100).is_err());
        assert!(multi_line("escape \u{1b}[31mred", 100).is_err());
        assert!(multi_line("\u{2067}hidden", 100).is_err());
    }

    #[test]
    fn lengths_count_characters_not_bytes() {
        assert!(single_line(&"ŷ".repeat(10), 10).is_ok());
        assert_eq!(
            single_line(&"a".repeat(11), 10),
            Err(TextError::TooLong {
                length: 11,
                max: 10
            })
        );
    }

    #[test]
    fn terminal_output_shows_controls_as_escapes() {
        assert_eq!(for_terminal("plain Siân"), "plain Siân");
        assert_eq!(
            for_terminal("ok\n  2 2026-01-01 forged"),
            "ok\\n  2 2026-01-01 forged"
        );
        assert_eq!(for_terminal("\u{1b}[2J"), "\\u{1b}[2J");
        assert_eq!(for_terminal("a\u{202e}b"), "a\\u{202e}b");
    }

    proptest::proptest! {
        /// The document's pattern says yes exactly when the API does: trimmed, one line of at
        /// most `max` characters (and not blank, when one is required).
        #[test]
        fn the_single_line_pattern_matches_what_is_accepted(
            text in "[ a\t\n\u{85}\u{a0}\u{2028}\u{202e}\u{3000}\u{1}é]{0,8}",
            min in 0usize..2,
        ) {
            let pattern = regex::Regex::new(&single_line_pattern(min, 5)).unwrap();
            let trimmed = text.trim();
            let accepted = single_line(trimmed, 5).is_ok() && trimmed.chars().count() >= min;
            proptest::prop_assert_eq!(pattern.is_match(&text), accepted, "{:?}", text);
        }
    }

    #[test]
    fn same_lowercase_is_to_lowercase_equality() {
        let pairs = [
            ("Riverside Primary School", "riverside primary school", true),
            ("riverside-primary", "Riverside-Primary", true),
            ("riverside-primary", "riverside-primary ", false),
            ("ab", "abc", false),
            // U+212A KELVIN SIGN lower-cases to an ASCII k: only the full comparison knows.
            ("\u{212a}ent", "kent", true),
            ("ÉCOLE", "école", true),
            ("ÉCOLE", "ecole", false),
        ];
        for (a, b, same) in pairs {
            assert_eq!(super::same_lowercase(a, b), same, "{a:?} {b:?}");
            assert_eq!(a.to_lowercase() == b.to_lowercase(), same, "{a:?} {b:?}");
        }
    }

    proptest::proptest! {
        /// The shortcut never answers otherwise than comparing the lower-cased strings.
        #[test]
        fn same_lowercase_agrees_with_to_lowercase(
            a in "[aAkK\u{212a}éÉΣσςİi -]{0,4}",
            b in "[aAkK\u{212a}éÉΣσςİi -]{0,4}",
        ) {
            proptest::prop_assert_eq!(
                super::same_lowercase(&a, &b),
                a.to_lowercase() == b.to_lowercase()
            );
        }
    }
}
