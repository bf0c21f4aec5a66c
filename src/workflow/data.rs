//! Case data and event fields checked against the workflow's declared types, once, at the edge:
//! the engine never stores a value its workflow did not declare, a name with a line break, an
//! email it cannot send to, or a date it cannot read. Every refusal is one line naming the path.

use chrono::NaiveDate;
use serde_json::{Map, Value};

use super::definition::*;
use super::machine::{EventFields, Refusal};
use crate::text;

/// The longest email address accepted (the SMTP path limit).
pub const EMAIL_MAX: usize = 254;
/// How much of a refused value a message repeats.
const SHOWN: usize = 60;

/// Checks opening data against the workflow and returns it normalised: an object holding only
/// declared paths, each of its declared type (text without control characters and within its
/// length, email addresses plausible and lower-cased, ISO dates, JSON booleans, choices), the
/// required ones present and not blank, the division known, and no two parties the same person.
/// Optional fields given as `null` are dropped.
pub fn parse_data(def: &Definition, mut data: Value) -> Result<Value, Refusal> {
    let spec = &def.data;
    let Value::Object(map) = &mut data else {
        return Err(bad("(top)", "must be a JSON object"));
    };
    walk(spec, "", map)?;
    for path in &spec.requires {
        match lookup(&data, path) {
            None => return Err(bad(path, "is required")),
            Some(Value::String(s)) if s.trim().is_empty() => {
                return Err(bad(path, "must not be blank"));
            }
            Some(_) => {}
        }
    }
    if let Some(d) = lookup(&data, "division") {
        match d.as_str().map(str::parse::<crate::calendar::Division>) {
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(bad("division", e.to_string())),
            None => {
                return Err(bad(
                    "division",
                    format!("{} is not a division name", kind(d)),
                ));
            }
        }
    }
    distinct_parties(def, &data)?;
    Ok(data)
}

/// Checks the fields given with `event` against `spec`: required ones present and not blank,
/// no others, each value of its type (undeclared fields are free text).
pub fn check_fields(event: &str, spec: &FieldSpec, fields: &EventFields) -> Result<(), Refusal> {
    for field in &spec.requires {
        if fields.get(field).is_none_or(|v| v.trim().is_empty()) {
            return Err(Refusal::MissingField {
                event: event.into(),
                field: field.clone(),
            });
        }
    }
    for (field, value) in fields {
        if !spec.fields().any(|f| f == field) {
            return Err(Refusal::UnknownField {
                event: event.into(),
                field: shorten(field),
                allowed: list(spec.fields()),
            });
        }
        match (
            spec.type_of(field, FieldType::LONG_TEXT),
            spec.choices.get(field),
        ) {
            (FieldType::Choice, Some(allowed)) => {
                if !allowed.iter().any(|a| a == value.trim()) {
                    return Err(Refusal::BadChoice {
                        field: field.clone(),
                        value: shorten(value),
                        allowed: list(allowed),
                    });
                }
            }
            (ty, _) => check_str(ty, value).map_err(|message| Refusal::BadField {
                event: event.into(),
                field: field.clone(),
                message,
            })?,
        }
    }
    Ok(())
}

/// A plausible email address, trimmed and lower-cased: one `@` with something before it, a
/// domain with a dot and no empty labels, no spaces, control characters or the punctuation
/// that separates addresses in a header, at most 254 characters.
pub fn parse_email(value: &str) -> Result<String, String> {
    let email = value.trim();
    text::single_line(email, EMAIL_MAX).map_err(|e| e.to_string())?;
    let plausible = email.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && !domain.contains('@')
            && domain.contains('.')
            && domain.split('.').all(|label| !label.is_empty())
    }) && !email
        .chars()
        .any(|c| c.is_whitespace() || "<>()[]\\,;:\"".contains(c));
    if plausible {
        Ok(email.to_lowercase())
    } else {
        Err(format!("{} is not an email address", quoted(value)))
    }
}

/// A calendar date written as ISO 8601 `YYYY-MM-DD`, e.g. `2026-11-30`.
pub fn parse_date(value: &str) -> Result<NaiveDate, String> {
    let v = value.trim();
    let shape = v.len() == 10
        && v.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    shape
        .then(|| NaiveDate::parse_from_str(v, "%Y-%m-%d").ok())
        .flatten()
        .ok_or_else(|| format!("must be a date such as 2026-11-30, not {}", quoted(value)))
}

/// Checks one string value of type `ty`; the message says what is wrong, without the field.
fn check_str(ty: FieldType, value: &str) -> Result<(), String> {
    match ty {
        FieldType::Text { max } => text::single_line(value, max).map_err(|e| e.to_string()),
        FieldType::LongText { max } => text::multi_line(value, max).map_err(|e| e.to_string()),
        FieldType::Email => parse_email(value).map(drop),
        FieldType::Date => parse_date(value).map(drop),
        FieldType::Boolean => match value.trim() {
            "true" | "false" => Ok(()),
            _ => Err(format!("must be true or false, not {}", quoted(value))),
        },
        // A choice without values cannot be loaded; a hand-built spec gets a text check.
        FieldType::Choice => text::single_line(value, TEXT_MAX).map_err(|e| e.to_string()),
    }
}

/// Checks the values in `map` (the object at `prefix`), normalising them in place.
fn walk(spec: &FieldSpec, prefix: &str, map: &mut Map<String, Value>) -> Result<(), Refusal> {
    let keys: Vec<String> = map.keys().cloned().collect();
    for key in keys {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        // A key with a dot would read as a path it is not.
        let plain = !key.is_empty() && !key.contains('.');
        let declared = plain && spec.fields().any(|f| *f == path);
        let parent = plain && spec.fields().any(|f| is_inside(f, &path));
        let Some(value) = map.get_mut(&key) else {
            continue;
        };
        if value.is_null() && (declared || parent) {
            // Absent; a required field is reported missing below.
            map.remove(&key);
        } else if declared {
            check_value(spec, &path, value)?;
        } else if parent {
            let Value::Object(inner) = value else {
                let within = children(spec, &path);
                return Err(bad(
                    &path,
                    format!("must be an object with {within}, not {}", kind(value)),
                ));
            };
            walk(spec, &path, inner)?;
        } else {
            return Err(bad(
                &shorten(&path),
                format!("unknown field; allowed: {}", children(spec, prefix)),
            ));
        }
    }
    Ok(())
}

/// Checks one value of the opening data at the declared `path` and returns it normalised (an
/// email address lower-cased, a date as `YYYY-MM-DD`): what a form checks field by field
/// before [`parse_data`] checks the whole. The message says what is wrong, without the path.
pub fn data_value(spec: &FieldSpec, path: &str, mut value: Value) -> Result<Value, String> {
    match check_value(spec, path, &mut value) {
        Ok(()) => Ok(value),
        Err(Refusal::BadData { message, .. }) => Err(message),
        Err(other) => Err(other.to_string()),
    }
}

/// What is wrong with `value` at the declared `path`, if anything (for the workflow loader's
/// checks of `when` conditions and lapse reasons).
pub(super) fn value_problem(spec: &FieldSpec, path: &str, value: &Value) -> Result<(), String> {
    data_value(spec, path, value.clone()).map(drop)
}

/// Checks and normalises the value at a declared `path`.
fn check_value(spec: &FieldSpec, path: &str, value: &mut Value) -> Result<(), Refusal> {
    let ty = spec.type_of(path, FieldType::TEXT);
    let refuse = |message: String| bad(path, message);
    match (ty, &*value) {
        (FieldType::Boolean, Value::Bool(_)) => Ok(()),
        (FieldType::Boolean, other) => Err(refuse(format!(
            "must be true or false (a JSON boolean), not {}",
            kind(other)
        ))),
        (FieldType::Choice, other) => {
            let allowed = spec
                .choices
                .get(path)
                .map(Vec::as_slice)
                .unwrap_or_default();
            match other {
                Value::String(s) if allowed.iter().any(|a| a == s) => Ok(()),
                other => Err(refuse(format!(
                    "must be one of {}, not {}",
                    list(allowed),
                    kind(other)
                ))),
            }
        }
        (FieldType::Email, Value::String(s)) => {
            *value = Value::String(parse_email(s).map_err(refuse)?);
            Ok(())
        }
        (FieldType::Date, Value::String(s)) => {
            let date = parse_date(s).map_err(refuse)?;
            *value = Value::String(date.format("%Y-%m-%d").to_string());
            Ok(())
        }
        (FieldType::Email, other) => {
            Err(refuse(format!("{} is not an email address", kind(other))))
        }
        (FieldType::Date, other) => Err(refuse(format!(
            "must be a date such as 2026-11-30, not {}",
            kind(other)
        ))),
        (FieldType::Text { .. } | FieldType::LongText { .. }, Value::String(s)) => {
            check_str(ty, s).map_err(refuse)
        }
        (FieldType::Text { .. } | FieldType::LongText { .. }, other) => {
            Err(refuse(format!("must be text, not {}", kind(other))))
        }
    }
}

/// No two party roles may name the same person: the raiser cannot be the respondent.
fn distinct_parties(def: &Definition, data: &Value) -> Result<(), Refusal> {
    let mut seen: Vec<(&str, String, &str)> = Vec::new();
    for role in &def.roles {
        let RoleKind::Party { path } = &role.kind else {
            continue;
        };
        let path = format!("{path}.email");
        let Some(email) = lookup(data, &path).and_then(Value::as_str) else {
            continue;
        };
        if let Some((other, other_path, _)) = seen.iter().find(|(_, _, e)| same_email(e, email)) {
            return Err(bad(
                &path,
                format!(
                    "is the same address as {other_path}; the {other} and the {} must be different people",
                    role.name
                ),
            ));
        }
        seen.push((&role.name, path, email));
    }
    Ok(())
}

/// Is `field` a path inside `parent` (`child.name` inside `child`)?
pub fn is_inside(field: &str, parent: &str) -> bool {
    field
        .strip_prefix(parent)
        .is_some_and(|rest| rest.starts_with('.'))
}

/// The declared paths one level below `prefix` (`child.name, child.reference`).
fn children(spec: &FieldSpec, prefix: &str) -> String {
    let mut names: Vec<String> = Vec::new();
    for field in spec.fields() {
        let rest = if prefix.is_empty() {
            Some(field.as_str())
        } else {
            field.strip_prefix(prefix).and_then(|r| r.strip_prefix('.'))
        };
        if let Some(rest) = rest {
            let head = rest.split('.').next().unwrap_or(rest);
            let name = if prefix.is_empty() {
                head.to_string()
            } else {
                format!("{prefix}.{head}")
            };
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    list(&names)
}

fn bad(path: &str, message: impl Into<String>) -> Refusal {
    Refusal::BadData {
        path: path.to_string(),
        message: message.into(),
    }
}

fn list(items: impl IntoIterator<Item = impl AsRef<str>>) -> String {
    let items: Vec<String> = items.into_iter().map(|s| s.as_ref().to_string()).collect();
    if items.is_empty() {
        "nothing".into()
    } else {
        items.join(", ")
    }
}

/// What a JSON value is, for a message: the value itself when short and plain text.
fn kind(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(_) => "a number".into(),
        Value::String(s) => quoted(s),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// A value repeated in a message: quoted, control characters escaped, cut short.
fn quoted(value: &str) -> String {
    format!("\"{}\"", shorten(value))
}

/// At most a few dozen characters of `value`, with control characters escaped, so that a
/// message stays one short line whatever was typed.
fn shorten(value: &str) -> String {
    let mut out: String = value.chars().take(SHOWN).collect();
    if value.chars().nth(SHOWN).is_some() {
        out.push('…');
    }
    text::for_terminal(&out).into_owned()
}
