//! The YAML as written, with the location of every name a check may point at. Only shape is
//! checked here (serde: syntax, unknown keys, types); meaning is checked in `load`.

use serde::Deserialize;
use serde_saphyr::Spanned;

/// A string with where it was written.
pub(super) type Text = Spanned<String>;

/// A mapping kept in file order with each key's location, duplicates included, so that `load`
/// can report every duplicate rather than the parser stopping at the first.
#[derive(Debug)]
pub(super) struct Entries<T>(pub Vec<(Text, T)>);

impl<T> Default for Entries<T> {
    fn default() -> Self {
        Entries(Vec::new())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Entries<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Visitor<T> {
            type Value = Entries<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Entries<T>, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<Text, T>()? {
                    entries.push(entry);
                }
                Ok(Entries(entries))
            }
        }
        deserializer.deserialize_map(Visitor(std::marker::PhantomData))
    }
}

/// A whole workflow file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWorkflow {
    pub id: Text,
    pub title: String,
    pub version: u32,
    #[serde(default)]
    pub description: Option<String>,
    pub reference_prefix: Text,
    #[serde(default)]
    pub division: Option<Text>,
    #[serde(default)]
    pub time_zone: Option<Text>,
    #[serde(default)]
    pub data: RawFields,
    pub roles: Entries<RawRole>,
    pub start: Vec<RawStart>,
    #[serde(default)]
    pub events: Entries<RawEvent>,
    #[serde(default)]
    pub tasks: Entries<RawTask>,
    pub states: Entries<RawState>,
    /// Record-only events still allowed once a case has closed (e.g. `record_form`, `note`).
    #[serde(default)]
    pub after_close: Vec<Text>,
}

/// Fields an event (or the opening data) requires, may carry, what each holds, and the values
/// some must take.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFields {
    #[serde(default)]
    pub requires: Vec<Text>,
    #[serde(default)]
    pub optional: Vec<Text>,
    #[serde(default)]
    pub choices: Entries<Vec<Text>>,
    #[serde(default)]
    pub types: Entries<Text>,
}

/// A role: a party named in the case data, or a contact level in the agency directory.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRole {
    pub title: String,
    #[serde(default)]
    pub party: Option<Text>,
    #[serde(default)]
    pub contact: Option<Text>,
    #[serde(default)]
    pub of: Vec<Text>,
}

/// An allowed starting state.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStart {
    pub state: Text,
    #[serde(default)]
    pub when: Entries<serde_json::Value>,
    #[serde(default)]
    pub requires: Vec<Text>,
}

/// A deadline: when, measured from what, the warning and what happens on lapse.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLapse {
    #[serde(default)]
    pub notify: Vec<Text>,
    #[serde(default)]
    pub template: Option<Text>,
    #[serde(default)]
    pub escalate: Option<Text>,
    #[serde(default)]
    pub reason: Option<String>,
    /// Remind again this long after each lapse, until the case leaves the state.
    #[serde(default)]
    pub repeat: Option<Text>,
}

/// An email or a form sent on entering a state or on an event.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAction {
    #[serde(default)]
    pub email: Option<Text>,
    #[serde(default)]
    pub form: Option<Text>,
    pub to: Vec<Text>,
}

/// A state.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawState {
    pub title: String,
    #[serde(default)]
    pub terminal: bool,
    #[serde(default)]
    pub outcome: Option<Text>,
    #[serde(default)]
    pub owners: Vec<Text>,
    #[serde(default)]
    pub within: Option<Text>,
    #[serde(default)]
    pub from: Option<Text>,
    #[serde(default)]
    pub warn_before: Option<Text>,
    #[serde(default)]
    pub warn_template: Option<Text>,
    #[serde(default)]
    pub on_lapse: Option<Spanned<RawLapse>>,
    #[serde(default)]
    pub on_entry: Vec<RawAction>,
    #[serde(default)]
    pub events: Entries<RawEvent>,
}

/// An event: a transition to another state, or a record that leaves the state as it is.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEvent {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub to: Option<Text>,
    pub by: Vec<Text>,
    #[serde(default)]
    pub requires: Vec<Text>,
    #[serde(default)]
    pub optional: Vec<Text>,
    #[serde(default)]
    pub choices: Entries<Vec<Text>>,
    #[serde(default)]
    pub types: Entries<Text>,
    #[serde(default)]
    pub notify: Vec<RawAction>,
    #[serde(default)]
    pub opens: Option<RawOpens>,
}

/// A linked case another workflow opens from this one's event.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOpens {
    pub workflow: Text,
    pub data: Entries<Text>,
}

/// A deadline that belongs to the case rather than a state (e.g. confirm a phone referral in
/// writing within 24 hours), met by an event.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTask {
    pub title: String,
    pub within: Text,
    #[serde(default)]
    pub from: Option<Text>,
    #[serde(default)]
    pub when: Entries<serde_json::Value>,
    pub met_by: Vec<Text>,
    #[serde(default)]
    pub owners: Vec<Text>,
    #[serde(default)]
    pub warn_before: Option<Text>,
    #[serde(default)]
    pub warn_template: Option<Text>,
    #[serde(default)]
    pub on_lapse: Option<Spanned<RawLapse>>,
}
