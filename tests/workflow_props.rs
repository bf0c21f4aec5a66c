//! Random event sequences against the shipped workflows: the machine never panics, never reaches
//! a state its definition lacks, never accepts an event once closed, and its timers stay in order.
//! Random printable and non-printable text in every data and event field: `open` and `apply`
//! never panic, and what they accept is of its declared type.

use std::path::Path;

use chrono::{DateTime, TimeDelta, Utc};
use escalate::calendar::Calendar;
use escalate::workflow::{
    Actor, Case, Definition, EventFields, FieldType, Refusal, Timer, TimerKind, Workflows, apply,
    fire, lookup, open, parse_data, track,
};
use proptest::prelude::*;

/// One thing that may happen next to a case.
#[derive(Debug, Clone)]
enum Step {
    /// Someone in some roles records an event (by index into all event names) with some fields.
    Event {
        event: usize,
        roles: Vec<usize>,
        fields: Vec<(usize, usize)>,
        after_minutes: i64,
    },
    /// The earliest pending timer fires.
    Fire,
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let event = (
        0usize..64,
        proptest::collection::vec(0usize..16, 0..3),
        proptest::collection::vec((0usize..32, 0usize..32), 0..4),
        0i64..(3 * 24 * 60),
    )
        .prop_map(|(event, roles, fields, after_minutes)| Step::Event {
            event,
            roles,
            fields,
            after_minutes,
        });
    proptest::collection::vec(prop_oneof![3 => event, 1 => Just(Step::Fire)], 1..40)
}

struct World {
    workflows: Workflows,
    calendar: Calendar,
}

fn world() -> &'static World {
    static WORLD: std::sync::OnceLock<World> = std::sync::OnceLock::new();
    WORLD.get_or_init(|| World {
        workflows: Workflows::load_dir(Path::new("workflows"), Path::new("config/templates"))
            .unwrap(),
        calendar: Calendar::official(),
    })
}

fn run(workflow: &str, steps: &[Step]) -> Result<(), TestCaseError> {
    let w = world();
    let def = w.workflows.get(workflow).unwrap();
    let data: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("examples/{workflow}.json")).unwrap(),
    )
    .unwrap();
    // Every name the workflow uses, plus some it does not.
    let mut events: Vec<String> = def
        .states
        .iter()
        .flat_map(|s| s.events.iter().map(|e| e.name.clone()))
        .collect();
    events.extend(["nonsense", "open", "deadline_lapsed"].map(String::from));
    let mut roles: Vec<String> = def.roles.iter().map(|r| r.name.clone()).collect();
    roles.push("stranger".into());
    let mut names: Vec<String> = def
        .states
        .iter()
        .flat_map(|s| s.events.iter())
        .flat_map(|e| e.fields.requires.iter().chain(&e.fields.optional).cloned())
        .collect();
    names.push("bogus".into());
    let mut values: Vec<String> = def
        .states
        .iter()
        .flat_map(|s| s.events.iter())
        .flat_map(|e| e.fields.choices.values().flatten().cloned())
        .collect();
    values.extend(["", "  ", "some reason"].map(String::from));

    let start: DateTime<Utc> = "2026-11-02T09:00:00Z".parse().unwrap();
    let opener = Actor {
        id: "lead@example.org".into(),
        roles: vec![],
    };
    let (mut case, opening) = open(
        def,
        data,
        None,
        &EventFields::new(),
        &opener,
        start,
        &w.calendar,
    )
    .unwrap();
    let mut pending: Vec<Timer> = Vec::new();
    track(&mut pending, &opening);
    let mut now = start;
    let mut closed = false;
    for step in steps {
        let result = match step {
            Step::Event {
                event,
                roles: r,
                fields,
                after_minutes,
            } => {
                now += TimeDelta::minutes(*after_minutes);
                let actor = Actor {
                    id: "someone@example.org".into(),
                    roles: r.iter().map(|i| roles[i % roles.len()].clone()).collect(),
                };
                let fields: EventFields = fields
                    .iter()
                    .map(|(n, v)| {
                        (
                            names[n % names.len()].clone(),
                            values[v % values.len()].clone(),
                        )
                    })
                    .collect();
                let name = &events[event % events.len()];
                apply(def, &case, name, &actor, &fields, now, &w.calendar)
            }
            Step::Fire => {
                let Some(i) =
                    (0..pending.len()).min_by_key(|&i| (pending[i].due_at, pending[i].kind))
                else {
                    continue;
                };
                let timer = pending.remove(i);
                now = now.max(timer.due_at);
                fire(def, &case, &timer.slot, timer.kind, now, &w.calendar)
            }
        };
        match result {
            Ok(t) => {
                // A closed case takes only the record-only events listed in `after_close`,
                // and stays where it is, starting nothing.
                prop_assert!(
                    !closed
                        || (def.after_close.contains(&t.event)
                            && t.from == t.to
                            && !t.closes
                            && t.timers().next().is_none()),
                    "a closed case accepted '{}'",
                    t.event
                );
                prop_assert!(def.state(&t.to).is_some(), "undefined state '{}'", t.to);
                prop_assert_eq!(&t.from, &case.state);
                for timer in t.timers() {
                    // Warnings already past are not started; a lapse is never before its start.
                    let ahead = match timer.kind {
                        TimerKind::Warning => timer.due_at > t.at,
                        TimerKind::Lapse => timer.due_at >= t.at,
                    };
                    prop_assert!(
                        ahead,
                        "timer {:?} due {} is before {}",
                        timer.slot,
                        timer.due_at,
                        t.at
                    );
                }
                t.apply_to(&mut case);
                track(&mut pending, &t);
                closed = closed || t.closes;
                prop_assert_eq!(closed, def.state(&case.state).unwrap().is_terminal());
            }
            Err(Refusal::Closed { .. }) => prop_assert!(closed),
            Err(Refusal::Calendar(e)) => prop_assert!(false, "calendar error {e}"),
            Err(_) => {}
        }
        check_case(def, &case)?;
    }
    Ok(())
}

fn check_case(def: &escalate::workflow::Definition, case: &Case) -> Result<(), TestCaseError> {
    prop_assert!(def.state(&case.state).is_some());
    prop_assert!(case.entered_at >= case.opened_at);
    Ok(())
}

/// Any character, weighted towards the ones that break mail headers, terminals and readers.
fn nasty_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => any::<char>(),
        3 => proptest::char::range(' ', '~'),
        2 => proptest::sample::select(vec![
            '\n', '\r', '\t', '\0', '\u{7}', '\u{1b}', '\u{7f}', '\u{85}', '\u{202e}',
            '\u{2066}', '\u{2028}', '\u{feff}', '\u{200d}', '@', '.', ' ', 'é', 'ŷ', '👩', 'م',
        ]),
    ]
}

fn nasty_string() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => proptest::collection::vec(nasty_char(), 0..40).prop_map(String::from_iter),
        1 => (nasty_char(), 150usize..12_000).prop_map(|(c, n)| std::iter::repeat_n(c, n).collect()),
    ]
}

fn nasty_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    prop_oneof![
        8 => nasty_string().prop_map(Value::String),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => any::<i64>().prop_map(Value::from),
        1 => Just(Value::Null),
        1 => (nasty_string(), nasty_string())
            .prop_map(|(k, v)| serde_json::json!({ k: v })),
        1 => proptest::collection::vec(nasty_string(), 0..3)
            .prop_map(|v| Value::Array(v.into_iter().map(Value::String).collect())),
    ]
}

/// Sets `path` (dotted) in `data`, making objects on the way; a non-object on the way is replaced.
fn set(data: &mut serde_json::Value, path: &str, value: serde_json::Value) {
    let mut node = data;
    for key in path.split('.') {
        if !node.is_object() {
            *node = serde_json::json!({});
        }
        node = node
            .as_object_mut()
            .expect("an object")
            .entry(key.to_string())
            .or_insert(serde_json::Value::Null);
    }
    *node = value;
}

/// Every declared field of accepted data holds a value of its type.
fn check_types(def: &Definition, data: &serde_json::Value) -> Result<(), TestCaseError> {
    for (path, ty) in &def.data.types {
        let Some(value) = lookup(data, path) else {
            continue;
        };
        match (ty, value) {
            (FieldType::Text { max }, serde_json::Value::String(s)) => {
                prop_assert!(
                    escalate::text::single_line(s, *max).is_ok(),
                    "{path}: {s:?}"
                );
            }
            (FieldType::LongText { max }, serde_json::Value::String(s)) => {
                prop_assert!(escalate::text::multi_line(s, *max).is_ok(), "{path}: {s:?}");
            }
            (FieldType::Email, serde_json::Value::String(s)) => {
                prop_assert!(escalate::text::single_line(s, 254).is_ok(), "{path}: {s:?}");
                prop_assert_eq!(s.matches('@').count(), 1);
            }
            (FieldType::Boolean, serde_json::Value::Bool(_)) => {}
            (FieldType::Choice, serde_json::Value::String(s)) => {
                prop_assert!(def.data.choices[path].contains(s), "{path}: {s:?}");
            }
            (ty, other) => prop_assert!(false, "{path} ({ty}) accepted {other}"),
        }
    }
    Ok(())
}

fn hostile(
    workflow: &str,
    edits: &[(usize, serde_json::Value)],
    extra: &Option<(String, serde_json::Value)>,
    event_values: &[(usize, String)],
) -> Result<(), TestCaseError> {
    let w = world();
    let def = w.workflows.get(workflow).unwrap();
    let mut data: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("examples/{workflow}.json")).unwrap(),
    )
    .unwrap();
    let paths: Vec<&String> = def.data.fields().collect();
    for (i, value) in edits {
        set(&mut data, paths[i % paths.len()], value.clone());
    }
    if let (Some((key, value)), Some(map)) = (extra, data.as_object_mut()) {
        map.insert(key.clone(), value.clone());
    }
    let opener = Actor {
        id: "lead@example.org".into(),
        roles: vec![],
    };
    let now: DateTime<Utc> = "2026-11-02T09:00:00Z".parse().unwrap();
    // `open` as given, and as the engine calls it: with the data parsed (normalised) first.
    let raw = open(
        def,
        data.clone(),
        None,
        &EventFields::new(),
        &opener,
        now,
        &w.calendar,
    );
    let parsed = parse_data(def, data);
    prop_assert_eq!(raw.is_ok(), parsed.is_ok());
    let Ok(data) = parsed else {
        return Ok(());
    };
    let (case, _) = open(
        def,
        data,
        None,
        &EventFields::new(),
        &opener,
        now,
        &w.calendar,
    )
    .map_err(|e| TestCaseError::fail(format!("parsed data refused: {e}")))?;
    check_types(def, &case.data)?;
    // Every event of the start state, every field given a hostile value, by someone in every role.
    let everyone = Actor {
        id: "someone@example.org".into(),
        roles: def.roles.iter().map(|r| r.name.clone()).collect(),
    };
    let state = def.state(&case.state).unwrap();
    for event in &state.events {
        let names: Vec<&String> = event.fields.fields().collect();
        if names.is_empty() {
            continue;
        }
        let fields: EventFields = event_values
            .iter()
            .map(|(i, v)| (names[i % names.len()].clone(), v.clone()))
            .collect();
        if let Ok(t) = apply(
            def,
            &case,
            &event.name,
            &everyone,
            &fields,
            now,
            &w.calendar,
        ) {
            for (name, value) in &t.fields {
                match event.fields.type_of(name, FieldType::LONG_TEXT) {
                    FieldType::Text { max } => {
                        prop_assert!(escalate::text::single_line(value, max).is_ok())
                    }
                    FieldType::LongText { max } => {
                        prop_assert!(escalate::text::multi_line(value, max).is_ok())
                    }
                    _ => prop_assert!(escalate::text::single_line(value, 254).is_ok()),
                }
            }
        }
    }
    Ok(())
}

fn edits() -> impl Strategy<Value = Vec<(usize, serde_json::Value)>> {
    proptest::collection::vec((0usize..32, nasty_value()), 0..4)
}

fn extra() -> impl Strategy<Value = Option<(String, serde_json::Value)>> {
    proptest::option::weighted(0.2, (nasty_string(), nasty_value()))
}

fn event_values() -> impl Strategy<Value = Vec<(usize, String)>> {
    proptest::collection::vec((0usize..8, nasty_string()), 0..4)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn hostile_dispute_data_never_panics(e in edits(), x in extra(), v in event_values()) {
        hostile("dispute", &e, &x, &v)?;
    }

    #[test]
    fn hostile_referral_data_never_panics(e in edits(), x in extra(), v in event_values()) {
        hostile("referral", &e, &x, &v)?;
    }

    #[test]
    fn hostile_transfer_data_never_panics(e in edits(), x in extra(), v in event_values()) {
        hostile("transfer", &e, &x, &v)?;
    }

    #[test]
    fn dispute_sequences_stay_in_defined_states(steps in steps()) {
        run("dispute", &steps)?;
    }

    #[test]
    fn referral_sequences_stay_in_defined_states(steps in steps()) {
        run("referral", &steps)?;
    }

    #[test]
    fn transfer_sequences_stay_in_defined_states(steps in steps()) {
        run("transfer", &steps)?;
    }
}
