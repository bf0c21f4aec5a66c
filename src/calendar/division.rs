//! The three UK bank-holiday divisions, named as in the GOV.UK feed.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A bank-holiday division: each has its own set of holidays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Division {
    /// England and Wales.
    EnglandAndWales,
    /// Scotland.
    Scotland,
    /// Northern Ireland.
    NorthernIreland,
}

/// A division name that is not one of the three.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown division '{0}': expected england-and-wales, scotland or northern-ireland")]
pub struct UnknownDivision(pub String);

impl Division {
    /// All divisions, in feed order.
    pub const ALL: [Division; 3] = [
        Division::EnglandAndWales,
        Division::Scotland,
        Division::NorthernIreland,
    ];

    /// The feed's key for this division.
    pub fn as_str(self) -> &'static str {
        match self {
            Division::EnglandAndWales => "england-and-wales",
            Division::Scotland => "scotland",
            Division::NorthernIreland => "northern-ireland",
        }
    }

    /// Its name for people, e.g. `England and Wales`.
    pub fn title(self) -> &'static str {
        match self {
            Division::EnglandAndWales => "England and Wales",
            Division::Scotland => "Scotland",
            Division::NorthernIreland => "Northern Ireland",
        }
    }

    /// Position in [`Division::ALL`], for per-division tables.
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl FromStr for Division {
    type Err = UnknownDivision;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase().replace('_', "-");
        Division::ALL
            .into_iter()
            .find(|d| d.as_str() == wanted)
            .ok_or_else(|| UnknownDivision(s.to_string()))
    }
}

impl fmt::Display for Division {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Division {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl utoipa::PartialSchema for Division {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(Division::ALL.map(Division::as_str)))
            .description(Some("A bank-holiday division."))
            .into()
    }
}

impl utoipa::ToSchema for Division {}

impl<'de> Deserialize<'de> for Division {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_feed_names_and_rejects_others() {
        for d in Division::ALL {
            assert_eq!(d.as_str().parse(), Ok(d));
        }
        assert_eq!("Northern_Ireland".parse(), Ok(Division::NorthernIreland));
        let err = "wales".parse::<Division>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown division 'wales': expected england-and-wales, scotland or northern-ireland"
        );
    }
}
