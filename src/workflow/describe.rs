//! A workflow as data for clients (the API, the web UI): its roles, states and events, each
//! event with the fields it takes, so a client can draw the forms and buttons it needs.

use serde_json::{Value, json};

use super::{Definition, Event, FieldSpec, FieldType, RoleKind};

/// The fields of a spec: each with whether it is required, what it holds and its choices.
fn fields(spec: &FieldSpec, default: FieldType) -> Value {
    spec.requires
        .iter()
        .map(|f| (f, true))
        .chain(spec.optional.iter().map(|f| (f, false)))
        .map(|(name, required)| {
            json!({
                "name": name,
                "required": required,
                "type": spec.type_of(name, default).to_string(),
                "choices": spec.choices.get(name),
            })
        })
        .collect()
}

/// One event: its name, title, the state it leads to, who may take it and its fields.
pub fn event(e: &Event) -> Value {
    json!({
        "name": e.name,
        "title": e.title,
        "to": e.to,
        "by": e.by,
        "fields": fields(&e.fields, FieldType::LONG_TEXT),
    })
}

/// The workflow's summary: what a list shows.
pub fn summary(def: &Definition) -> Value {
    json!({
        "id": def.id,
        "title": def.title,
        "version": def.label,
        "version_hash": def.hash,
        "description": def.description,
        "reference_prefix": def.reference_prefix,
    })
}

/// The whole workflow: roles, opening data, starting states, states with their deadlines and
/// events, and the events a closed case still takes.
pub fn describe(def: &Definition) -> Value {
    let mut out = summary(def);
    out["roles"] = def
        .roles
        .iter()
        .map(|r| {
            let kind = match &r.kind {
                RoleKind::Party { path } => json!({ "party": path }),
                RoleKind::Contact { level, of } => json!({ "contact": level, "of": of }),
            };
            json!({ "name": r.name, "title": r.title, "kind": kind })
        })
        .collect();
    out["data"] = fields(&def.data, FieldType::TEXT);
    out["starts"] = def
        .starts
        .iter()
        .map(|s| json!({ "state": s.state, "when": s.when, "requires": s.requires }))
        .collect();
    out["states"] = def
        .states
        .iter()
        .map(|s| {
            json!({
                "name": s.name,
                "title": s.title,
                "outcome": s.outcome,
                "owners": s.owners,
                "within": s.deadline.as_ref().map(|d| d.within.to_string()),
                "events": s.events.iter().map(event).collect::<Vec<_>>(),
            })
        })
        .collect();
    out["after_close"] = json!(def.after_close);
    out
}
