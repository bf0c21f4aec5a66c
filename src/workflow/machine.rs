//! The pure state machine: a case, an event, who, when and a calendar in; a [`Transition`] out.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use super::definition::*;
use crate::calendar::{BusinessHours, Calendar, CalendarError, Deadline};
use crate::workflow::parse_data;

/// Field values given with an event, e.g. `reason`, `outcome`.
pub type EventFields = BTreeMap<String, String>;

/// What the state machine needs to know about a case.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Case {
    /// Current state.
    pub state: String,
    /// The opening data (parties, category, division…).
    pub data: Value,
    /// When it was opened.
    pub opened_at: DateTime<Utc>,
    /// When it entered its current state.
    pub entered_at: DateTime<Utc>,
    /// The last time each event was recorded, for deadlines measured from an event.
    pub event_times: BTreeMap<String, DateTime<Utc>>,
}

/// Who is acting and in which roles on this case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// An email address.
    pub id: String,
    /// Role names held on this case.
    pub roles: Vec<String>,
}

/// Who decides an event: a person, whose roles are checked, or the engine acting on a lapsed
/// deadline. Only [`fire`] acts as the engine; nothing a caller passes can.
#[derive(Clone, Copy)]
enum By<'a> {
    Person(&'a Actor),
    Engine,
}

/// Which deadline of a case a timer belongs to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, utoipa::ToSchema)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub enum Slot {
    /// The deadline of a state.
    State(String),
    /// A case-level task.
    Task(String),
}

impl std::fmt::Display for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Slot::State(s) => write!(f, "state {s}"),
            Slot::Task(t) => write!(f, "task {t}"),
        }
    }
}

/// A warning or a lapse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TimerKind {
    /// The deadline nears.
    Warning,
    /// The deadline has passed.
    Lapse,
}

/// A point in time at which the engine must act on a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Timer {
    /// Which deadline.
    pub slot: Slot,
    /// Warning or lapse.
    pub kind: TimerKind,
    /// When it fires.
    pub due_at: DateTime<Utc>,
    /// The deadline itself, with its explanation.
    #[serde(skip)]
    pub deadline: Deadline,
}

/// An email or form to send, to roles on the case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    /// Email or form.
    #[serde(serialize_with = "kind_name")]
    pub kind: ActionKind,
    /// Template name.
    pub template: String,
    /// Roles.
    pub to: Vec<String>,
}

fn kind_name<S: serde::Serializer>(k: &ActionKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(match k {
        ActionKind::Email => "email",
        ActionKind::Form => "form",
    })
}

/// Something the engine must carry out in the same transaction as the transition.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// Start a timer.
    Start(Timer),
    /// The case did what the deadline asked in time: its pending timers end as met.
    Meet(Slot),
    /// The deadline no longer applies (the case closed): its pending timers end as cancelled.
    Cancel(Slot),
    /// Send an email or a form.
    Send(Message),
    /// Open a linked case of another workflow.
    Open {
        /// The workflow.
        workflow: String,
        /// Its opening data.
        data: Value,
    },
}

/// The result of an event: what to record and what to do.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Transition {
    /// The event recorded.
    pub event: String,
    /// Who recorded it (`engine` for lapses).
    pub actor: String,
    /// When.
    pub at: DateTime<Utc>,
    /// State before.
    pub from: String,
    /// State after (the same for a record-only event).
    pub to: String,
    /// Did the case (re-)enter `to`?
    pub entered: bool,
    /// Does the case close (a terminal state)?
    pub closes: bool,
    /// The fields given, `reason` included.
    pub fields: EventFields,
    /// What to carry out.
    pub effects: Vec<Effect>,
}

impl Transition {
    /// The case after this transition.
    pub fn apply_to(&self, case: &mut Case) {
        case.state.clone_from(&self.to);
        if self.entered {
            case.entered_at = self.at;
        }
        case.event_times.insert(self.event.clone(), self.at);
    }

    /// The timers this transition starts.
    pub fn timers(&self) -> impl Iterator<Item = &Timer> {
        self.effects.iter().filter_map(|e| match e {
            Effect::Start(t) => Some(t),
            _ => None,
        })
    }
}

/// Why an event was refused. Nothing is recorded when one of these is returned.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The case is in a terminal state.
    #[error("the case is closed ({state}); it takes no more events")]
    Closed {
        /// The terminal state.
        state: String,
    },
    /// The event is not one this state allows.
    #[error("event '{event}' is not allowed in state '{state}'; allowed: {allowed}")]
    UnknownEvent {
        /// The event asked for.
        event: String,
        /// The case's state.
        state: String,
        /// What is allowed.
        allowed: String,
    },
    /// The actor holds none of the roles that may fire the event.
    #[error("{actor} may not record '{event}' in state '{state}': it is for {roles}")]
    NotAllowed {
        /// Who tried.
        actor: String,
        /// The event.
        event: String,
        /// The state.
        state: String,
        /// Roles that may.
        roles: String,
    },
    /// A required field is missing or blank.
    #[error("'{event}' needs field '{field}' (--field {field}=…)")]
    MissingField {
        /// The event.
        event: String,
        /// The field.
        field: String,
    },
    /// A field the event does not take.
    #[error("'{event}' does not take field '{field}'; it takes {allowed}")]
    UnknownField {
        /// The event.
        event: String,
        /// The field.
        field: String,
        /// What it takes.
        allowed: String,
    },
    /// A field value outside its choices.
    #[error("field '{field}' must be one of {allowed}, not '{value}'")]
    BadChoice {
        /// The field.
        field: String,
        /// The value given.
        value: String,
        /// Allowed values.
        allowed: String,
    },
    /// An event field whose value is not of the field's type.
    #[error("'{event}' field '{field}': {message}")]
    BadField {
        /// The event.
        event: String,
        /// The field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// Opening data that does not satisfy the workflow.
    #[error("case data: {path}: {message}")]
    BadData {
        /// Dotted path of the bad field.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A start state that is not allowed, or whose condition does not hold.
    #[error("cannot open in state '{state}': {why}")]
    BadStart {
        /// The state asked for.
        state: String,
        /// Why not.
        why: String,
    },
    /// The case is in a state this version of the workflow does not define.
    #[error("the case is in state '{0}', which its workflow version does not define")]
    UnknownState(String),
    /// A timer for a deadline the case has already left.
    #[error("{0} is no longer the case's current deadline")]
    StaleTimer(Slot),
    /// The calendar cannot compute a deadline.
    #[error(transparent)]
    Calendar(#[from] CalendarError),
}

fn list(items: impl IntoIterator<Item = impl AsRef<str>>) -> String {
    let items: Vec<String> = items.into_iter().map(|s| s.as_ref().to_string()).collect();
    if items.is_empty() {
        "nothing".into()
    } else {
        items.join(", ")
    }
}

fn check_fields(event: &str, spec: &FieldSpec, fields: &EventFields) -> Result<(), Refusal> {
    super::data::check_fields(event, spec, fields)
}

/// Checks opening data against the workflow (see [`super::data::parse_data`], which also
/// returns the data normalised: use that before storing it).
pub fn check_data(def: &Definition, data: &Value) -> Result<(), Refusal> {
    super::data::parse_data(def, data.clone()).map(drop)
}

/// The calendar context of one case: its division and the workflow's business hours.
struct Clock<'a> {
    calendar: &'a Calendar,
    hours: BusinessHours,
    division: crate::calendar::Division,
}

impl<'a> Clock<'a> {
    fn new(def: &Definition, data: &Value, calendar: &'a Calendar) -> Self {
        Clock {
            calendar,
            hours: BusinessHours {
                time_zone: def.time_zone,
                ..*calendar.hours()
            },
            division: def.division_of(data),
        }
    }

    /// The timers of a deadline rule measured from `from`: the warning if still ahead, the lapse.
    fn start(
        &self,
        slot: Slot,
        rule: &DeadlineRule,
        from: DateTime<Utc>,
        now: DateTime<Utc>,
        effects: &mut Vec<Effect>,
    ) -> Result<(), Refusal> {
        let deadline = self
            .calendar
            .due_with(from, rule.within, self.division, &self.hours)?;
        if let Some(before) = rule.warn_before {
            let warn_at = self.calendar.earlier(&deadline, before)?;
            if warn_at > now && warn_at > from {
                effects.push(Effect::Start(Timer {
                    slot: slot.clone(),
                    kind: TimerKind::Warning,
                    due_at: warn_at,
                    deadline,
                }));
            }
        }
        effects.push(Effect::Start(Timer {
            slot,
            kind: TimerKind::Lapse,
            due_at: deadline.due_at,
            deadline,
        }));
        Ok(())
    }
}

fn anchor_time(anchor: &Anchor, case: &Case, event: &str, now: DateTime<Utc>) -> DateTime<Utc> {
    match anchor {
        Anchor::Entered => now,
        Anchor::Opened => case.opened_at,
        Anchor::Event(e) if e == event => now,
        Anchor::Event(e) => case.event_times.get(e).copied().unwrap_or(now),
    }
}

fn send(actions: &[Action], effects: &mut Vec<Effect>) {
    effects.extend(actions.iter().map(|a| {
        Effect::Send(Message {
            kind: a.kind,
            template: a.template.clone(),
            to: a.to.clone(),
        })
    }));
}

/// Effects of entering `state` at `now` (its on-entry messages and deadline; closing cancels
/// the case's tasks), and of tasks that start with `event`.
fn enter(
    def: &Definition,
    case: &Case,
    state: &State,
    event: &str,
    now: DateTime<Utc>,
    clock: &Clock,
    effects: &mut Vec<Effect>,
) -> Result<(), Refusal> {
    if let Some(rule) = &state.deadline {
        let from = anchor_time(&rule.from, case, event, now);
        clock.start(Slot::State(state.name.clone()), rule, from, now, effects)?;
    }
    send(&state.on_entry, effects);
    if state.is_terminal() {
        effects.extend(
            def.tasks
                .iter()
                .map(|t| Effect::Cancel(Slot::Task(t.name.clone()))),
        );
    }
    Ok(())
}

/// Tasks that start when `event` is recorded (or the case opens) and whose condition holds.
fn start_tasks(
    def: &Definition,
    case: &Case,
    event: &str,
    now: DateTime<Utc>,
    clock: &Clock,
    effects: &mut Vec<Effect>,
) -> Result<(), Refusal> {
    for task in &def.tasks {
        let starts = match &task.deadline.from {
            Anchor::Opened | Anchor::Entered => event == OPEN_EVENT,
            Anchor::Event(e) => e == event,
        };
        if starts && holds(&task.when, &case.data) {
            let from = if event == OPEN_EVENT {
                case.opened_at
            } else {
                now
            };
            clock.start(
                Slot::Task(task.name.clone()),
                &task.deadline,
                from,
                now,
                effects,
            )?;
        }
    }
    Ok(())
}

/// Opens a case: checks the data and the starting state, and returns the new case with its
/// opening transition (deadlines of the start state and of tasks, on-entry messages).
pub fn open(
    def: &Definition,
    data: Value,
    start: Option<&str>,
    fields: &EventFields,
    actor: &Actor,
    now: DateTime<Utc>,
    calendar: &Calendar,
) -> Result<(Case, Transition), Refusal> {
    let data = parse_data(def, data)?;
    let start = match start {
        None => def.default_start(),
        Some(name) => {
            def.starts
                .iter()
                .find(|s| s.state == name)
                .ok_or_else(|| Refusal::BadStart {
                    state: name.into(),
                    why: format!(
                        "a case may start in {}",
                        list(def.starts.iter().map(|s| &s.state))
                    ),
                })?
        }
    };
    if !holds(&start.when, &data) {
        let needs: Vec<String> = start
            .when
            .iter()
            .map(|(k, v)| format!("{k} = {v}"))
            .collect();
        return Err(Refusal::BadStart {
            state: start.state.clone(),
            why: format!("the case data must have {}", needs.join(" and ")),
        });
    }
    let spec = FieldSpec {
        requires: start.requires.clone(),
        optional: vec!["reason".into()],
        ..FieldSpec::default()
    };
    check_fields(OPEN_EVENT, &spec, fields)?;
    let state = def
        .state(&start.state)
        .ok_or_else(|| Refusal::UnknownState(start.state.clone()))?;
    let case = Case {
        state: state.name.clone(),
        data,
        opened_at: now,
        entered_at: now,
        event_times: BTreeMap::new(),
    };
    let clock = Clock::new(def, &case.data, calendar);
    let mut effects = Vec::new();
    enter(def, &case, state, OPEN_EVENT, now, &clock, &mut effects)?;
    start_tasks(def, &case, OPEN_EVENT, now, &clock, &mut effects)?;
    let transition = Transition {
        event: OPEN_EVENT.into(),
        actor: actor.id.clone(),
        at: now,
        from: String::new(),
        to: state.name.clone(),
        entered: true,
        closes: state.is_terminal(),
        fields: fields.clone(),
        effects,
    };
    let mut case = case;
    transition.apply_to(&mut case);
    Ok((case, transition))
}

/// Applies `event` by `actor` at `now` to `case`: checks it is allowed, by whom and with which
/// fields, and returns the transition. The case itself is not changed; see [`Transition::apply_to`].
pub fn apply(
    def: &Definition,
    case: &Case,
    event: &str,
    actor: &Actor,
    fields: &EventFields,
    now: DateTime<Utc>,
    calendar: &Calendar,
) -> Result<Transition, Refusal> {
    decide(def, case, event, By::Person(actor), fields, now, calendar)
}

/// [`apply`] for a person or the engine: the role check applies to every person.
fn decide(
    def: &Definition,
    case: &Case,
    event: &str,
    by: By<'_>,
    fields: &EventFields,
    now: DateTime<Utc>,
    calendar: &Calendar,
) -> Result<Transition, Refusal> {
    let state = def
        .state(&case.state)
        .ok_or_else(|| Refusal::UnknownState(case.state.clone()))?;
    let ev = if state.is_terminal() {
        // A closed case takes only the record-only events the workflow keeps open.
        def.after_close_event(event)
            .ok_or_else(|| Refusal::Closed {
                state: state.name.clone(),
            })?
    } else {
        state.event(event).ok_or_else(|| Refusal::UnknownEvent {
            event: event.into(),
            state: state.name.clone(),
            allowed: list(state.events.iter().map(|e| &e.name)),
        })?
    };
    let actor_id = match by {
        By::Engine => ENGINE.to_string(),
        By::Person(actor) if ev.by.iter().any(|r| actor.roles.contains(r)) => actor.id.clone(),
        By::Person(actor) => {
            return Err(Refusal::NotAllowed {
                actor: actor.id.clone(),
                event: event.into(),
                state: state.name.clone(),
                roles: list(&ev.by),
            });
        }
    };
    check_fields(event, &ev.fields, fields)?;

    let clock = Clock::new(def, &case.data, calendar);
    let mut effects = Vec::new();
    for task in def
        .tasks
        .iter()
        .filter(|t| t.met_by.iter().any(|m| m == event))
    {
        effects.push(Effect::Meet(Slot::Task(task.name.clone())));
    }
    send(&ev.notify, &mut effects);
    if let Some(opens) = &ev.opens {
        effects.push(Effect::Open {
            workflow: opens.workflow.clone(),
            data: linked_data(opens, case, fields),
        });
    }
    let (to, closes) = match &ev.to {
        Some(target) => {
            let next = def
                .state(target)
                .ok_or_else(|| Refusal::UnknownState(target.clone()))?;
            if state.deadline.is_some() {
                effects.push(Effect::Meet(Slot::State(state.name.clone())));
            }
            enter(def, case, next, event, now, &clock, &mut effects)?;
            (next.name.clone(), next.is_terminal())
        }
        None => (state.name.clone(), false),
    };
    // A closed case starts nothing, whatever it records.
    if !closes && !state.is_terminal() {
        start_tasks(def, case, event, now, &clock, &mut effects)?;
    }
    Ok(Transition {
        event: event.into(),
        actor: actor_id,
        at: now,
        from: state.name.clone(),
        to,
        entered: ev.to.is_some(),
        closes,
        fields: fields.clone(),
        effects,
    })
}

/// What the engine records when a timer fires: a warning (email to the owners), or a lapse
/// (reminders, and for a state's deadline the automatic escalation if the workflow says so).
pub fn fire(
    def: &Definition,
    case: &Case,
    slot: &Slot,
    kind: TimerKind,
    now: DateTime<Utc>,
    calendar: &Calendar,
) -> Result<Transition, Refusal> {
    let rule = match slot {
        Slot::State(s) if *s == case.state => def.state(s).and_then(|s| s.deadline.as_ref()),
        Slot::State(_) => None,
        Slot::Task(t) => def.task(t).map(|t| &t.deadline),
    }
    .ok_or_else(|| Refusal::StaleTimer(slot.clone()))?;
    let deadline_name = match slot {
        Slot::State(s) | Slot::Task(s) => s.clone(),
    };
    let record = |event: &str, effects: Vec<Effect>| Transition {
        event: event.into(),
        actor: ENGINE.into(),
        at: now,
        from: case.state.clone(),
        to: case.state.clone(),
        entered: false,
        closes: false,
        fields: EventFields::from([("deadline".to_string(), deadline_name.clone())]),
        effects,
    };
    let reminders = |template: &Option<String>, to: &[String]| -> Vec<Effect> {
        match template {
            Some(t) if !to.is_empty() => vec![Effect::Send(Message {
                kind: ActionKind::Email,
                template: t.clone(),
                to: to.to_vec(),
            })],
            _ => Vec::new(),
        }
    };
    match kind {
        TimerKind::Warning => Ok(record(
            WARNING_EVENT,
            reminders(&Some(rule.warn_template.clone()), &rule.owners),
        )),
        TimerKind::Lapse => {
            let lapse = &rule.on_lapse;
            let notify = reminders(&lapse.template, &lapse.notify);
            match (&lapse.escalate, slot) {
                (Some(event), Slot::State(_)) => {
                    let fields = EventFields::from([("reason".to_string(), lapse.reason.clone())]);
                    let mut t = decide(def, case, event, By::Engine, &fields, now, calendar)?;
                    // The deadline lapsed: it was not met, so do not mark it met.
                    t.effects.retain(|e| *e != Effect::Meet(slot.clone()));
                    t.effects.splice(0..0, notify);
                    Ok(t)
                }
                _ => {
                    let mut effects = notify;
                    // Remind again, until the case leaves the state: the next lapse of the
                    // same deadline, this long after this one.
                    if let Some(every) = lapse.repeat {
                        let clock = Clock::new(def, &case.data, calendar);
                        let deadline =
                            calendar.due_with(now, every, clock.division, &clock.hours)?;
                        effects.push(Effect::Start(Timer {
                            slot: slot.clone(),
                            kind: TimerKind::Lapse,
                            due_at: deadline.due_at,
                            deadline,
                        }));
                    }
                    Ok(record(LAPSE_EVENT, effects))
                }
            }
        }
    }
}

/// What the engine records when a pending deadline no longer applies (its case left the
/// deadline's state without ending it): the deadline is cancelled, in a write that advances the
/// case like any other, so every cancellation has its cause in the history.
pub fn withdraw(case: &Case, slot: &Slot, now: DateTime<Utc>) -> Transition {
    let (what, name) = match slot {
        Slot::State(s) => ("stage", s),
        Slot::Task(t) => ("task", t),
    };
    Transition {
        event: WITHDRAW_EVENT.into(),
        actor: ENGINE.into(),
        at: now,
        from: case.state.clone(),
        to: case.state.clone(),
        entered: false,
        closes: false,
        fields: EventFields::from([
            ("deadline".to_string(), name.clone()),
            (
                "reason".to_string(),
                format!(
                    "the {what} deadline '{name}' no longer applies: the case is in '{}'",
                    case.state
                ),
            ),
        ]),
        effects: vec![Effect::Cancel(slot.clone())],
    }
}

/// What the engine records on an open case when a case linked to it (`other`) closes: an
/// entry, and a message to the case's parties. It stays open: only they can tell whether it
/// is still needed.
pub fn linked_closed(
    def: &Definition,
    case: &Case,
    other: &str,
    outcome: &str,
    now: DateTime<Utc>,
) -> Transition {
    let parties: Vec<String> = def
        .roles
        .iter()
        .filter(|r| matches!(r.kind, RoleKind::Party { .. }))
        .map(|r| r.name.clone())
        .collect();
    Transition {
        event: LINKED_CLOSED_EVENT.into(),
        actor: ENGINE.into(),
        at: now,
        from: case.state.clone(),
        to: case.state.clone(),
        entered: false,
        closes: false,
        fields: EventFields::from([
            ("linked".to_string(), other.to_string()),
            (
                "reason".to_string(),
                format!("The linked case {other} has closed ({outcome})"),
            ),
        ]),
        effects: vec![Effect::Send(Message {
            kind: ActionKind::Email,
            template: LINKED_CLOSED_TEMPLATE.into(),
            to: parties,
        })],
    }
}

/// The timer a pending deadline of `case` should have under `calendar`, computed as when it
/// was started (see [`enter`] and [`start_tasks`]) but purely from the rule of `slot` in the
/// case's workflow version and `started_at`, the time of the entry that started it. For a
/// deadline measured from an event, `case.event_times` must hold the times as they were at
/// `started_at` (the engine replays the history up to then). A deadline the case has left,
/// or a warning its rule no longer has, is [`Refusal::StaleTimer`]: it is not recomputed.
pub fn recompute(
    def: &Definition,
    case: &Case,
    slot: &Slot,
    kind: TimerKind,
    started_at: DateTime<Utc>,
    calendar: &Calendar,
) -> Result<Timer, Refusal> {
    let stale = || Refusal::StaleTimer(slot.clone());
    let (rule, from) = match slot {
        Slot::State(s) if *s == case.state => {
            let rule = def
                .state(s)
                .and_then(|s| s.deadline.as_ref())
                .ok_or_else(stale)?;
            let from = match &rule.from {
                Anchor::Entered => started_at,
                Anchor::Opened => case.opened_at,
                Anchor::Event(e) => case.event_times.get(e).copied().unwrap_or(started_at),
            };
            (rule, from)
        }
        Slot::State(_) => return Err(stale()),
        Slot::Task(t) => {
            let rule = &def.task(t).ok_or_else(stale)?.deadline;
            // A task measured from an event started with that event; any other with the case.
            let from = match rule.from {
                Anchor::Event(_) => started_at,
                Anchor::Opened | Anchor::Entered => case.opened_at,
            };
            (rule, from)
        }
    };
    let clock = Clock::new(def, &case.data, calendar);
    // A reminder that repeats (`on_lapse: repeat`) was started by the lapse before it, after
    // the case entered the state: it counts its own duration from that lapse.
    if let (Slot::State(_), TimerKind::Lapse, Some(every)) = (slot, kind, rule.on_lapse.repeat)
        && started_at > case.entered_at
    {
        let deadline = calendar.due_with(started_at, every, clock.division, &clock.hours)?;
        return Ok(Timer {
            slot: slot.clone(),
            kind,
            due_at: deadline.due_at,
            deadline,
        });
    }
    let deadline = calendar.due_with(from, rule.within, clock.division, &clock.hours)?;
    let due_at = match kind {
        TimerKind::Lapse => deadline.due_at,
        TimerKind::Warning => calendar.earlier(&deadline, rule.warn_before.ok_or_else(stale)?)?,
    };
    Ok(Timer {
        slot: slot.clone(),
        kind,
        due_at,
        deadline,
    })
}

/// How changed holiday data moves one deadline of a case: see [`moved`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    /// Which deadline.
    pub slot: Slot,
    /// Its due time (the lapse's) before and after; the same when only its warning moved.
    pub due: (DateTime<Utc>, DateTime<Utc>),
    /// Its pending warning's time before and after, if that moved.
    pub warning: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// Why: which holidays appeared or went, in words.
    pub reason: String,
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// What the engine records when changed holiday data moves a pending deadline: an entry with
/// the old and new due times and the reason, and, when the deadline now falls due earlier, an
/// email to its owners (they have less time than they were told). The case does not change
/// state; the deadline rows are updated in the same write.
pub fn moved(def: &Definition, case: &Case, m: &Move, now: DateTime<Utc>) -> Transition {
    let name = match &m.slot {
        Slot::State(s) | Slot::Task(s) => s.clone(),
    };
    let mut fields = EventFields::from([
        ("deadline".to_string(), name),
        ("old_due".to_string(), stamp(m.due.0)),
        ("new_due".to_string(), stamp(m.due.1)),
        ("reason".to_string(), m.reason.clone()),
    ]);
    if let Some((old, new)) = m.warning {
        fields.insert("old_warning".into(), stamp(old));
        fields.insert("new_warning".into(), stamp(new));
    }
    let owners = match &m.slot {
        Slot::State(s) => def.state(s).and_then(|s| s.deadline.as_ref()),
        Slot::Task(t) => def.task(t).map(|t| &t.deadline),
    }
    .map(|rule| rule.owners.clone())
    .unwrap_or_default();
    let mut effects = Vec::new();
    if m.due.1 < m.due.0 && !owners.is_empty() {
        effects.push(Effect::Send(Message {
            kind: ActionKind::Email,
            template: MOVED_TEMPLATE.into(),
            to: owners,
        }));
    }
    Transition {
        event: MOVE_EVENT.into(),
        actor: ENGINE.into(),
        at: now,
        from: case.state.clone(),
        to: case.state.clone(),
        entered: false,
        closes: false,
        fields,
        effects,
    }
}

/// Data for a linked case: `$path` copies from the event's fields, then this case's data;
/// anything else is a literal.
fn linked_data(opens: &Opens, case: &Case, fields: &EventFields) -> Value {
    let mut data = Value::Object(Map::new());
    for (target, source) in &opens.data {
        let value = match source.strip_prefix('$') {
            Some(path) => match fields.get(path) {
                Some(v) => Some(Value::String(v.clone())),
                None => lookup(&case.data, path).cloned(),
            },
            None => Some(Value::String(source.clone())),
        };
        if let Some(value) = value {
            set_path(&mut data, target, value);
        }
    }
    data
}

fn set_path(data: &mut Value, path: &str, value: Value) {
    let mut node = data;
    let mut keys = path.split('.').peekable();
    while let Some(key) = keys.next() {
        let Value::Object(map) = node else { return };
        if keys.peek().is_none() {
            map.insert(key.to_string(), value);
            return;
        }
        node = map
            .entry(key.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
    }
}
