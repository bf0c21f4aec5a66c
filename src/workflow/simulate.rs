//! The timeline of a case if nobody acts: every warning, lapse, reminder and escalation.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::definition::Definition;
use super::machine::{Actor, Effect, EventFields, Refusal, Timer, Transition, fire, open};
use crate::calendar::Calendar;

/// One thing that happens in a simulation.
#[derive(Debug, Clone)]
pub struct Step {
    /// The timer that fired, or `None` for the opening.
    pub timer: Option<Timer>,
    /// What the engine records.
    pub transition: Transition,
}

/// How many lapses of one deadline a simulation shows (the first and its repeats).
const REPEATS_SHOWN: usize = 3;

/// Stops a workflow whose lapses loop for ever (one that escalates back to an earlier state).
const MAX_STEPS: usize = 200;

/// Opens a case with `data` at `from` in the default start state, then fires its timers in
/// order until none remain or the case closes.
pub fn simulate(
    def: &Definition,
    data: Value,
    from: DateTime<Utc>,
    calendar: &Calendar,
) -> Result<Vec<Step>, Refusal> {
    let opener = Actor {
        id: "simulation".into(),
        roles: Vec::new(),
    };
    let (mut case, opening) = open(
        def,
        data,
        None,
        &EventFields::new(),
        &opener,
        from,
        calendar,
    )?;
    let mut pending = Vec::new();
    track(&mut pending, &opening);
    let mut steps = vec![Step {
        timer: None,
        transition: opening,
    }];
    while steps.len() < MAX_STEPS && !steps.last().is_some_and(|s| s.transition.closes) {
        // Earliest first; at the same instant, warnings before lapses.
        let Some(next) = (0..pending.len()).min_by_key(|&i| {
            let t: &Timer = &pending[i];
            (t.due_at, t.kind)
        }) else {
            break;
        };
        let timer = pending.remove(next);
        // A reminder that repeats until someone acts would go on for ever: show it twice.
        let lapses = steps
            .iter()
            .filter(|s| {
                s.timer
                    .as_ref()
                    .is_some_and(|t| t.slot == timer.slot && t.kind == timer.kind)
            })
            .count();
        if timer.kind == super::machine::TimerKind::Lapse && lapses >= REPEATS_SHOWN {
            continue;
        }
        let transition = fire(def, &case, &timer.slot, timer.kind, timer.due_at, calendar)?;
        transition.apply_to(&mut case);
        track(&mut pending, &transition);
        steps.push(Step {
            timer: Some(timer),
            transition,
        });
    }
    Ok(steps)
}

/// Keeps the pending timers as the engine would: started ones added, met or cancelled removed.
pub fn track(pending: &mut Vec<Timer>, transition: &Transition) {
    for effect in &transition.effects {
        match effect {
            Effect::Start(t) => pending.push(t.clone()),
            Effect::Meet(slot) | Effect::Cancel(slot) => pending.retain(|t| t.slot != *slot),
            Effect::Send(_) | Effect::Open { .. } => {}
        }
    }
}
