//! A workflow as data for clients (the API, the web UI): its roles, states and events, each
//! event with the fields it takes, so a client can draw the forms and buttons it needs. The
//! types here are what the API sends, and their schemas are its OpenAPI document's.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::{Definition, Event, FieldSpec, FieldType, RoleKind};

/// One field of the opening data or of an event.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct FieldInfo {
    /// The field's name; a dotted path for case data (`raised_by.email`).
    pub name: String,
    /// Whether it must be given (and not blank).
    pub required: bool,
    /// What it holds: `text max N`, `long text max N`, `email`, `date`, `boolean` or `choice`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The values a `choice` field takes; null for other fields.
    pub choices: Option<Vec<String>>,
}

/// One event: its name, title, the state it leads to, who may take it and its fields.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct EventInfo {
    /// E.g. `escalate`: what `POST /api/v1/cases/{reference}/events` takes as `event`.
    pub name: String,
    /// Shown to people.
    pub title: String,
    /// The state it leads to; null when it records without changing state.
    pub to: Option<String>,
    /// The workflow roles that may take it.
    pub by: Vec<String>,
    /// The fields it takes.
    pub fields: Vec<FieldInfo>,
}

/// A workflow's summary: what a list shows.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct WorkflowSummary {
    /// The name cases refer to, e.g. `dispute`.
    pub id: String,
    /// Shown to people.
    pub title: String,
    /// The author's version label.
    pub version: u32,
    /// What identifies this version's content: `sha256:` and 16 hex digits.
    pub version_hash: String,
    /// What the procedure is for.
    pub description: String,
    /// Case references are `PREFIX-YYYY-NNNNNN`.
    pub reference_prefix: String,
}

/// Where a role's people come from: a party the case data names, or the agency directory's
/// contacts at one level.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(untagged)]
pub enum RoleSource {
    /// A person named in the case data.
    Party {
        /// Path of the object in the case data, e.g. `raised_by`.
        party: String,
    },
    /// Contacts at one escalation level of the directory.
    Contact {
        /// Directory level, e.g. `line_manager`.
        contact: String,
        /// The party roles whose agencies' contacts are meant; empty means the partnership.
        of: Vec<String>,
    },
}

/// A role of the workflow.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RoleInfo {
    /// E.g. `raiser`.
    pub name: String,
    /// Shown to people.
    pub title: String,
    /// Where its people come from.
    pub kind: RoleSource,
}

/// A state a case may open in.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct StartInfo {
    /// The state.
    pub state: String,
    /// Case data that must hold for it, e.g. `{"immediate_risk": true}`.
    pub when: BTreeMap<String, Value>,
    /// Fields the opener must give, e.g. `reason`.
    pub requires: Vec<String>,
}

/// A state with its deadline and events.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct StateInfo {
    /// E.g. `stage1`.
    pub name: String,
    /// Shown to people.
    pub title: String,
    /// For a terminal state, the outcome reports count; null otherwise.
    pub outcome: Option<String>,
    /// Who is responsible while a case is here.
    pub owners: Vec<String>,
    /// The state's deadline, e.g. `2 working days`; null when it has none.
    pub within: Option<String>,
    /// The events it takes.
    pub events: Vec<EventInfo>,
}

/// A whole workflow: roles, opening data, starting states, states with their deadlines and
/// events, and the events a closed case still takes.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct WorkflowInfo {
    /// What a list shows.
    #[serde(flatten)]
    pub summary: WorkflowSummary,
    /// Its roles.
    pub roles: Vec<RoleInfo>,
    /// The opening data's fields.
    pub data: Vec<FieldInfo>,
    /// The states a case may open in; the first without conditions is the default.
    pub starts: Vec<StartInfo>,
    /// Its states, in file order.
    pub states: Vec<StateInfo>,
    /// Events a closed case still takes.
    pub after_close: Vec<String>,
}

/// The fields of a spec: each with whether it is required, what it holds and its choices.
fn fields(spec: &FieldSpec, default: FieldType) -> Vec<FieldInfo> {
    spec.requires
        .iter()
        .map(|f| (f, true))
        .chain(spec.optional.iter().map(|f| (f, false)))
        .map(|(name, required)| FieldInfo {
            name: name.clone(),
            required,
            kind: spec.type_of(name, default).to_string(),
            choices: spec.choices.get(name).cloned(),
        })
        .collect()
}

/// One event: its name, title, the state it leads to, who may take it and its fields.
pub fn event(e: &Event) -> EventInfo {
    EventInfo {
        name: e.name.clone(),
        title: e.title.clone(),
        to: e.to.clone(),
        by: e.by.clone(),
        fields: fields(&e.fields, FieldType::LONG_TEXT),
    }
}

/// The workflow's summary: what a list shows.
pub fn summary(def: &Definition) -> WorkflowSummary {
    WorkflowSummary {
        id: def.id.clone(),
        title: def.title.clone(),
        version: def.label,
        version_hash: def.hash.clone(),
        description: def.description.clone(),
        reference_prefix: def.reference_prefix.clone(),
    }
}

/// The whole workflow: roles, opening data, starting states, states with their deadlines and
/// events, and the events a closed case still takes.
pub fn describe(def: &Definition) -> WorkflowInfo {
    WorkflowInfo {
        summary: summary(def),
        roles: def
            .roles
            .iter()
            .map(|r| RoleInfo {
                name: r.name.clone(),
                title: r.title.clone(),
                kind: match &r.kind {
                    RoleKind::Party { path } => RoleSource::Party {
                        party: path.clone(),
                    },
                    RoleKind::Contact { level, of } => RoleSource::Contact {
                        contact: level.clone(),
                        of: of.clone(),
                    },
                },
            })
            .collect(),
        data: fields(&def.data, FieldType::TEXT),
        starts: def
            .starts
            .iter()
            .map(|s| StartInfo {
                state: s.state.clone(),
                when: s.when.clone(),
                requires: s.requires.clone(),
            })
            .collect(),
        states: def
            .states
            .iter()
            .map(|s| StateInfo {
                name: s.name.clone(),
                title: s.title.clone(),
                outcome: s.outcome.clone(),
                owners: s.owners.clone(),
                within: s.deadline.as_ref().map(|d| d.within.to_string()),
                events: s.events.iter().map(event).collect(),
            })
            .collect(),
        after_close: def.after_close.clone(),
    }
}
