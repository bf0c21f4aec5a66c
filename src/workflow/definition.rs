//! A checked workflow definition: every name it uses resolves, every duration parses.

use std::collections::BTreeMap;

use chrono_tz::Tz;
use serde_json::Value;

use super::machine::Slot;
use crate::calendar::{Division, Duration};

/// A workflow loaded from `workflows/NAME.yaml` and checked.
#[derive(Debug, Clone)]
pub struct Definition {
    /// The name cases refer to, e.g. `dispute`; the file's stem.
    pub id: String,
    /// Shown to people.
    pub title: String,
    /// The author's version label; [`Definition::hash`] is what identifies the content.
    pub label: u32,
    /// What the procedure is for.
    pub description: String,
    /// `sha256:` and 16 hex digits of the file's bytes: a case keeps the version it started on.
    pub hash: String,
    /// The file's text, so that the store can keep every version a case may still refer to.
    pub source: String,
    /// Case references are `PREFIX-YYYY-NNNNNN`.
    pub reference_prefix: String,
    /// Division whose holidays apply unless the case data names one in `division`.
    pub division: Division,
    /// Civil time zone for working days.
    pub time_zone: Tz,
    /// What the opening data must hold.
    pub data: FieldSpec,
    /// Parties and contact levels, in file order.
    pub roles: Vec<Role>,
    /// Allowed starting states; the first without conditions is the default.
    pub starts: Vec<Start>,
    /// Deadlines that belong to the case rather than one state.
    pub tasks: Vec<Task>,
    /// States in file order.
    pub states: Vec<State>,
    /// Record-only events a closed case still takes (`after_close:`), e.g. the monitoring
    /// form and notes: the learning is often recorded after the outcome.
    pub after_close: Vec<String>,
}

/// Required and optional fields, what each holds, and the values some of them must take.
#[derive(Debug, Clone, Default)]
pub struct FieldSpec {
    /// Must be present and not blank. Dotted paths for case data (`raised_by.email`).
    pub requires: Vec<String>,
    /// May be present.
    pub optional: Vec<String>,
    /// Allowed values for a field.
    pub choices: BTreeMap<String, Vec<String>>,
    /// What each field holds. A loaded workflow lists every field here (the defaults filled
    /// in); a field missing from a spec built by hand takes the default of its kind.
    pub types: BTreeMap<String, FieldType>,
}

impl FieldSpec {
    /// The type of `field`, or `default` when the spec does not say.
    pub fn type_of(&self, field: &str, default: FieldType) -> FieldType {
        if self.choices.contains_key(field) {
            return FieldType::Choice;
        }
        self.types.get(field).copied().unwrap_or(default)
    }

    /// Every field, required first, in file order.
    pub fn fields(&self) -> impl Iterator<Item = &String> {
        self.requires.iter().chain(&self.optional)
    }
}

/// The default length limit of single-line text: a name, an agency, a reference.
pub const TEXT_MAX: usize = 200;
/// The default length limit of free text: a summary, a reason, a note.
pub const LONG_TEXT_MAX: usize = 10_000;
/// The largest `max` a workflow may set: larger values are documents, not fields.
pub const MAX_LIMIT: usize = 100_000;

/// What a field of the case data or of an event holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// One line of text (no line breaks or control characters), at most `max` characters.
    /// The default for case data.
    Text {
        /// Length limit in characters.
        max: usize,
    },
    /// Free text with line breaks, at most `max` characters. The default for event fields.
    LongText {
        /// Length limit in characters.
        max: usize,
    },
    /// An email address, compared and stored lower-case.
    Email,
    /// A calendar date written `2026-11-30`.
    Date,
    /// `true` or `false` (a JSON boolean in case data).
    Boolean,
    /// One of the field's `choices`.
    Choice,
}

impl FieldType {
    /// Single-line text with the default limit: undeclared case data.
    pub const TEXT: FieldType = FieldType::Text { max: TEXT_MAX };
    /// Free text with the default limit: undeclared event fields.
    pub const LONG_TEXT: FieldType = FieldType::LongText { max: LONG_TEXT_MAX };
}

impl std::str::FromStr for FieldType {
    type Err = String;

    /// `text`, `long text`, either followed by `max N`; `email`, `date`, `boolean`, `choice`.
    fn from_str(s: &str) -> Result<Self, String> {
        let words: Vec<&str> = s.split_whitespace().collect();
        let (kind, rest) = match words.as_slice() {
            ["long", "text", rest @ ..] => ("long text", rest),
            [kind, rest @ ..] => (*kind, rest),
            [] => ("", &[][..]),
        };
        let max = match rest {
            [] => None,
            ["max", n] => match n.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => Some(n),
                _ => {
                    return Err(format!(
                        "type '{s}': max must be a whole number from 1 to {MAX_LIMIT}"
                    ));
                }
            },
            _ => {
                return Err(format!(
                    "type '{s}' is not understood; after the type only 'max N' may follow, e.g. 'long text max 5000'"
                ));
            }
        };
        let ty = match kind {
            "text" => FieldType::Text {
                max: max.unwrap_or(TEXT_MAX),
            },
            "long text" => FieldType::LongText {
                max: max.unwrap_or(LONG_TEXT_MAX),
            },
            "email" | "date" | "boolean" | "choice" if max.is_some() => {
                return Err(format!(
                    "type '{s}': only text and long text take a max length"
                ));
            }
            "email" => FieldType::Email,
            "date" => FieldType::Date,
            "boolean" => FieldType::Boolean,
            "choice" => FieldType::Choice,
            _ => {
                return Err(format!(
                    "unknown type '{s}'; the types are text, long text, email, date, boolean and choice"
                ));
            }
        };
        Ok(ty)
    }
}

impl std::fmt::Display for FieldType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FieldType::Text { max } => write!(f, "text max {max}"),
            FieldType::LongText { max } => write!(f, "long text max {max}"),
            FieldType::Email => f.write_str("email"),
            FieldType::Date => f.write_str("date"),
            FieldType::Boolean => f.write_str("boolean"),
            FieldType::Choice => f.write_str("choice"),
        }
    }
}

/// Who someone is on a case.
#[derive(Debug, Clone)]
pub struct Role {
    /// E.g. `raiser`.
    pub name: String,
    /// E.g. "Professional who raised the disagreement".
    pub title: String,
    /// Where the person comes from.
    pub kind: RoleKind,
}

/// How a role's people are found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleKind {
    /// A person named in the case data: an object with `name`, `email` and `agency`.
    Party {
        /// Path of the object in the case data, e.g. `raised_by`.
        path: String,
    },
    /// Contacts at one escalation level in the agency directory.
    Contact {
        /// Directory level, e.g. `line_manager`.
        level: String,
        /// The party roles whose agencies' contacts are meant; empty means the partnership.
        of: Vec<String>,
    },
}

/// The directory's escalation levels a role may name.
pub const CONTACT_LEVELS: [&str; 4] = [
    "practitioner",
    "line_manager",
    "senior_manager",
    "business_unit",
];

/// Reserved names: the engine's own actor and the events it records.
pub const ENGINE: &str = "engine";
/// The event recorded when a case is opened.
pub const OPEN_EVENT: &str = "open";
/// The event recorded when a deadline's warning time passes.
pub const WARNING_EVENT: &str = "deadline_warning";
/// The event recorded when a deadline lapses without an automatic escalation.
pub const LAPSE_EVENT: &str = "deadline_lapsed";
/// The event recorded when a pending deadline no longer applies and is cancelled.
pub const WITHDRAW_EVENT: &str = "deadline_withdrawn";
/// The event recorded on an open case when a case linked to it closes.
pub const LINKED_CLOSED_EVENT: &str = "linked_case_closed";
/// The template of the message telling an open case's parties that a linked case closed.
pub const LINKED_CLOSED_TEMPLATE: &str = "linked_closed";
/// The event recorded when changed holiday data moves a pending deadline.
pub const MOVE_EVENT: &str = "deadline_moved";
/// The email template that tells a deadline's owners it moved earlier.
pub const MOVED_TEMPLATE: &str = "deadline_moved";

/// A state a case may open in.
#[derive(Debug, Clone)]
pub struct Start {
    /// The state.
    pub state: String,
    /// Case data that must hold, e.g. `immediate_risk: true`.
    pub when: BTreeMap<String, Value>,
    /// Fields the opener must give, e.g. `reason`.
    pub requires: Vec<String>,
}

/// What a deadline is measured from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Anchor {
    /// Entering the state (the default for a state's deadline).
    Entered,
    /// Opening the case (the default for a task).
    Opened,
    /// The last time this event was recorded.
    Event(String),
}

/// A deadline rule.
#[derive(Debug, Clone)]
pub struct DeadlineRule {
    /// How long.
    pub within: Duration,
    /// From when.
    pub from: Anchor,
    /// Warn this long before, if set.
    pub warn_before: Option<Duration>,
    /// The warning's email template.
    pub warn_template: String,
    /// Who is warned: the state's or task's owners.
    pub owners: Vec<String>,
    /// What happens when it lapses.
    pub on_lapse: Lapse,
}

/// What happens when a deadline lapses.
#[derive(Debug, Clone)]
pub struct Lapse {
    /// Roles reminded.
    pub notify: Vec<String>,
    /// The reminder's template.
    pub template: Option<String>,
    /// An event the engine fires itself, e.g. `escalate`.
    pub escalate: Option<String>,
    /// The reason recorded with that event.
    pub reason: String,
    /// Remind again this long after each lapse (a deadline that does not escalate), until the
    /// case leaves the state or closes.
    pub repeat: Option<Duration>,
}

/// An email or form to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    /// Email or form.
    pub kind: ActionKind,
    /// Template name under `config/templates`.
    pub template: String,
    /// Roles it goes to.
    pub to: Vec<String>,
}

/// What an [`Action`] sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionKind {
    /// An email from a template.
    Email,
    /// A form (e.g. the stage-3 monitoring form), sent as an attachment.
    Form,
}

/// A state of the workflow.
#[derive(Debug, Clone)]
pub struct State {
    /// E.g. `stage1`.
    pub name: String,
    /// Shown to people.
    pub title: String,
    /// For terminal states, the outcome category reports count.
    pub outcome: Option<String>,
    /// Who is responsible while a case is here.
    pub owners: Vec<String>,
    /// The state's deadline.
    pub deadline: Option<DeadlineRule>,
    /// Sent on entry.
    pub on_entry: Vec<Action>,
    /// Events allowed here, the workflow-wide ones included.
    pub events: Vec<Event>,
}

impl State {
    /// A terminal state closes the case.
    pub fn is_terminal(&self) -> bool {
        self.outcome.is_some()
    }

    /// The event called `name`, if allowed here.
    pub fn event(&self, name: &str) -> Option<&Event> {
        self.events.iter().find(|e| e.name == name)
    }
}

/// An event.
#[derive(Debug, Clone)]
pub struct Event {
    /// E.g. `escalate`.
    pub name: String,
    /// Shown to people.
    pub title: String,
    /// The next state; `None` records without changing state.
    pub to: Option<String>,
    /// Roles that may fire it.
    pub by: Vec<String>,
    /// Fields it needs.
    pub fields: FieldSpec,
    /// Emails sent when it is recorded.
    pub notify: Vec<Action>,
    /// A linked case it opens.
    pub opens: Option<Opens>,
}

/// A linked case opened by an event, its data copied from this case and the event's fields.
#[derive(Debug, Clone)]
pub struct Opens {
    /// The other workflow.
    pub workflow: String,
    /// Target path, and either `$source.path` (copied) or a literal value.
    pub data: Vec<(String, String)>,
}

/// A case-level deadline met by an event.
#[derive(Debug, Clone)]
pub struct Task {
    /// E.g. `written_confirmation`.
    pub name: String,
    /// Shown to people.
    pub title: String,
    /// Case data that must hold for the task to apply, e.g. `channel: phone`.
    pub when: BTreeMap<String, Value>,
    /// Events that meet it.
    pub met_by: Vec<String>,
    /// The deadline.
    pub deadline: DeadlineRule,
}

impl Definition {
    /// The state called `name`.
    pub fn state(&self, name: &str) -> Option<&State> {
        self.states.iter().find(|s| s.name == name)
    }

    /// What people call `event` recorded in state `state`: its title, else a plain name.
    pub fn event_title(&self, state: &str, event: &str) -> String {
        if let Some(e) = self.state(state).and_then(|s| s.event(event)) {
            return e.title.clone();
        }
        match event {
            OPEN_EVENT => "Opened".into(),
            WARNING_EVENT => "Deadline warning".into(),
            LAPSE_EVENT => "Deadline passed".into(),
            WITHDRAW_EVENT => "Deadline withdrawn".into(),
            LINKED_CLOSED_EVENT => "Linked case closed".into(),
            MOVE_EVENT => "Deadline moved".into(),
            other => crate::text::sentence_case(other),
        }
    }

    /// The role called `name`.
    pub fn role(&self, name: &str) -> Option<&Role> {
        self.roles.iter().find(|r| r.name == name)
    }

    /// The task called `name`.
    pub fn task(&self, name: &str) -> Option<&Task> {
        self.tasks.iter().find(|t| t.name == name)
    }

    /// What people call the deadline `slot`: its state's or task's title, else its name.
    pub fn slot_title<'a>(&'a self, slot: &'a Slot) -> &'a str {
        match slot {
            Slot::State(name) => self.state(name).map_or(name.as_str(), |s| s.title.as_str()),
            Slot::Task(name) => self.task(name).map_or(name.as_str(), |t| t.title.as_str()),
        }
    }

    /// The default starting state.
    pub fn default_start(&self) -> &Start {
        self.starts
            .iter()
            .find(|s| s.when.is_empty() && s.requires.is_empty())
            .unwrap_or(&self.starts[0])
    }

    /// The record-only event `name` as a closed case takes it, if `after_close` lists it.
    pub fn after_close_event(&self, name: &str) -> Option<&Event> {
        if !self.after_close.iter().any(|e| e == name) {
            return None;
        }
        self.states
            .iter()
            .flat_map(|s| &s.events)
            .find(|e| e.name == name && e.to.is_none() && e.opens.is_none())
    }

    /// The party roles held by the person with this email address on a case with `data`.
    pub fn party_roles(&self, data: &Value, email: &str) -> Vec<String> {
        self.roles
            .iter()
            .filter(|r| match &r.kind {
                RoleKind::Party { path } => lookup(data, path)
                    .and_then(|party| party.get("email"))
                    .and_then(Value::as_str)
                    .is_some_and(|e| same_email(e, email)),
                RoleKind::Contact { .. } => false,
            })
            .map(|r| r.name.clone())
            .collect()
    }

    /// The parties `data` names, one per party role, as lists find them (lower-case); a role
    /// the data gives neither an email nor an agency for is left out.
    pub fn parties(&self, data: &Value) -> Vec<Party> {
        let text = |path: &str, key: &str| {
            lookup(data, &format!("{path}.{key}"))
                .and_then(Value::as_str)
                .map(|s| s.trim().to_lowercase())
                .filter(|s| !s.is_empty())
        };
        self.roles
            .iter()
            .filter_map(|r| match &r.kind {
                RoleKind::Party { path } => Some(Party {
                    role: r.name.clone(),
                    email: text(path, "email"),
                    agency: text(path, "agency"),
                }),
                RoleKind::Contact { .. } => None,
            })
            .filter(|p| p.email.is_some() || p.agency.is_some())
            .collect()
    }

    /// The division whose holidays apply to a case with `data`.
    pub fn division_of(&self, data: &Value) -> Division {
        lookup(data, "division")
            .and_then(Value::as_str)
            .and_then(|d| d.parse().ok())
            .unwrap_or(self.division)
    }
}

/// Do two email addresses name the same mailbox? Case and surrounding spaces do not count
/// (stored addresses are lower-case; one typed at the command line may not be).
pub fn same_email(a: &str, b: &str) -> bool {
    crate::text::same_lowercase(a.trim(), b.trim())
}

/// The value at a dotted path (`raised_by.email`) in case data.
pub fn lookup<'a>(data: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(data, |v, key| v.get(key))
}

/// Does every `path: value` condition hold for `data`?
pub fn holds(when: &BTreeMap<String, Value>, data: &Value) -> bool {
    when.iter()
        .all(|(path, want)| lookup(data, path) == Some(want))
}

/// A party the opening data of a case names, as the store keeps it to find a person's cases (lower-case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Party {
    /// The workflow's party role, e.g. `raiser`.
    pub role: String,
    /// Their email, lower-case.
    pub email: Option<String>,
    /// Their agency as the data names it (an id or a name), lower-case.
    pub agency: Option<String>,
}
