//! Deadline durations as workflow authors write them: `2 working days`, `15 calendar days`, `24 hours`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// How long a party has to act, in one of the three units the procedures use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Duration {
    /// Due at close of business on the Nth working day after the effective receipt day.
    WorkingDays(u32),
    /// Due at close of business on the local date N days after the receipt date.
    CalendarDays(u32),
    /// Due exactly N elapsed hours after receipt.
    Hours(u32),
}

/// A duration text that could not be understood; the message names the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration '{text}': {reason}")]
pub struct DurationError {
    /// The text as written.
    pub text: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl Duration {
    /// N, whatever the unit.
    pub fn amount(self) -> u32 {
        match self {
            Duration::WorkingDays(n) | Duration::CalendarDays(n) | Duration::Hours(n) => n,
        }
    }
}

const EXPECTED: &str = "expected 'N working days', 'N calendar days' or 'N hours'";

impl FromStr for Duration {
    type Err = DurationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let fail = |reason| DurationError {
            text: text.to_string(),
            reason,
        };
        let words: Vec<&str> = text.split_whitespace().collect();
        let (number, unit) = match words.as_slice() {
            [n, a, b] => (*n, format!("{} {}", a.to_lowercase(), b.to_lowercase())),
            [n, a] => (*n, a.to_lowercase()),
            _ => return Err(fail(EXPECTED)),
        };
        let n: u32 = if number.bytes().all(|b| b.is_ascii_digit()) {
            number
                .parse()
                .map_err(|_| fail("the number is too large"))?
        } else if number.starts_with('-') {
            return Err(fail("the number must be at least 1"));
        } else if number.bytes().any(|b| b.is_ascii_digit()) {
            return Err(fail("the number must be a whole number, e.g. 2"));
        } else {
            return Err(fail(EXPECTED));
        };
        if n == 0 {
            return Err(fail("the number must be at least 1"));
        }
        match unit.as_str() {
            "working day" | "working days" => Ok(Duration::WorkingDays(n)),
            "calendar day" | "calendar days" => Ok(Duration::CalendarDays(n)),
            "hour" | "hours" => Ok(Duration::Hours(n)),
            // A bare "days" is ambiguous, and guessing wrong moves a safeguarding deadline.
            "day" | "days" => Err(fail("say 'working days' or 'calendar days'")),
            _ => Err(fail(EXPECTED)),
        }
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (n, unit) = match *self {
            Duration::WorkingDays(n) => (n, "working day"),
            Duration::CalendarDays(n) => (n, "calendar day"),
            Duration::Hours(n) => (n, "hour"),
        };
        write!(f, "{n} {unit}{}", if n == 1 { "" } else { "s" })
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_units_in_singular_and_plural() {
        assert_eq!("1 working day".parse(), Ok(Duration::WorkingDays(1)));
        assert_eq!("45 Working Days".parse(), Ok(Duration::WorkingDays(45)));
        assert_eq!(
            " 15  calendar days ".parse(),
            Ok(Duration::CalendarDays(15))
        );
        assert_eq!("24 hours".parse(), Ok(Duration::Hours(24)));
        assert_eq!("1 hour".parse(), Ok(Duration::Hours(1)));
    }

    #[test]
    fn display_round_trips() {
        for d in [
            Duration::WorkingDays(1),
            Duration::WorkingDays(2),
            Duration::CalendarDays(21),
            Duration::Hours(1),
        ] {
            assert_eq!(d.to_string().parse(), Ok(d));
        }
        assert_eq!(Duration::WorkingDays(1).to_string(), "1 working day");
        assert_eq!(Duration::Hours(48).to_string(), "48 hours");
    }

    #[test]
    fn malformed_durations_name_the_text_and_the_problem() {
        let cases = [
            ("3 wrking days", EXPECTED),
            ("-1 working days", "the number must be at least 1"),
            ("1.5 days", "the number must be a whole number, e.g. 2"),
            ("0 working days", "the number must be at least 1"),
            ("5 days", "say 'working days' or 'calendar days'"),
            ("working days", EXPECTED),
            ("", EXPECTED),
            ("99999999999 hours", "the number is too large"),
        ];
        for (text, reason) in cases {
            let err = text.parse::<Duration>().unwrap_err();
            assert_eq!(err.reason, reason, "for {text:?}");
            assert!(err.to_string().contains(&format!("'{text}'")), "{err}");
        }
    }
}
