//! Random event sequences against the shipped workflows: the machine never panics, never reaches
//! a state its definition lacks, never accepts an event once closed, and its timers stay in order.

use std::path::Path;

use chrono::{DateTime, TimeDelta, Utc};
use escalate::calendar::Calendar;
use escalate::workflow::{
    Actor, Case, EventFields, Refusal, Timer, TimerKind, Workflows, apply, fire, open, track,
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
                prop_assert!(!closed, "a closed case accepted '{}'", t.event);
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
                closed = t.closes;
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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

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
