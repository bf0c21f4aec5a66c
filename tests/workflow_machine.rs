//! The shipped workflows through the pure state machine: happy paths, lapse paths, refusals.

use std::path::Path;

use chrono::{DateTime, Utc};
use escalate::calendar::Calendar;
use escalate::workflow::{
    ActionKind, Actor, Case, Definition, Effect, EventFields, Message, Refusal, Slot, TimerKind,
    Transition, Workflows, apply, check_data, fire, open, parse_data, parse_date,
};
use serde_json::Value;

fn workflows() -> Workflows {
    Workflows::load_dir(Path::new("workflows"), Path::new("config/templates"))
        .unwrap_or_else(|p| panic!("{p}"))
}

fn example(name: &str) -> Value {
    let text = std::fs::read_to_string(format!("examples/{name}.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn fields(pairs: &[(&str, &str)]) -> EventFields {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn as_role(def: &Definition, case: &Case, email: &str) -> Actor {
    Actor {
        id: email.into(),
        roles: def.party_roles(&case.data, email),
    }
}

fn role(name: &str) -> Actor {
    Actor {
        id: format!("{name}@agency.example.org"),
        roles: vec![name.into()],
    }
}

/// (slot, kind, due) of every timer a transition starts.
fn timers(t: &Transition) -> Vec<(Slot, TimerKind, String)> {
    t.timers()
        .map(|tm| (tm.slot.clone(), tm.kind, tm.due_at.to_rfc3339()))
        .collect()
}

fn sends(t: &Transition) -> Vec<(ActionKind, String, Vec<String>)> {
    t.effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send(Message { kind, template, to }) => {
                Some((*kind, template.clone(), to.clone()))
            }
            _ => None,
        })
        .collect()
}

fn state(name: &str) -> Slot {
    Slot::State(name.into())
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

const RAISER: &str = "priya.shah@school.example.org";
const RESPONDENT: &str = "tom.hughes@council.example.gov.uk";

#[test]
fn dispute_happy_path_escalated_by_hand_then_resolved() {
    let all = workflows();
    let def = all.get("dispute").unwrap();
    let cal = Calendar::official();
    let (mut case, opening) = open(
        def,
        example("dispute"),
        None,
        &EventFields::new(),
        &role("lead"),
        t("2026-11-02T09:00:00Z"),
        &cal,
    )
    .unwrap();
    assert_eq!(case.state, "stage1");
    assert_eq!(
        timers(&opening),
        [
            (
                state("stage1"),
                TimerKind::Warning,
                "2026-11-03T17:00:00+00:00".into()
            ),
            (
                state("stage1"),
                TimerKind::Lapse,
                "2026-11-04T17:00:00+00:00".into()
            ),
        ]
    );

    // The raiser escalates by hand before the deadline.
    let raiser = as_role(def, &case, RAISER);
    assert_eq!(raiser.roles, ["raiser"]);
    let tr = apply(
        def,
        &case,
        "escalate",
        &raiser,
        &fields(&[("reason", "No reply to two calls")]),
        t("2026-11-03T10:00:00Z"),
        &cal,
    )
    .unwrap();
    assert_eq!(
        (tr.from.as_str(), tr.to.as_str(), tr.closes),
        ("stage1", "stage2", false)
    );
    assert_eq!(tr.effects[0], Effect::Meet(state("stage1")));
    // 5 working days from Tue 3 Nov: Tue 10 Nov; warned Mon 9 Nov.
    assert_eq!(
        timers(&tr),
        [
            (
                state("stage2"),
                TimerKind::Warning,
                "2026-11-09T17:00:00+00:00".into()
            ),
            (
                state("stage2"),
                TimerKind::Lapse,
                "2026-11-10T17:00:00+00:00".into()
            ),
        ]
    );
    assert_eq!(
        sends(&tr),
        [(
            ActionKind::Email,
            "escalation_notice".into(),
            strings(&["raiser", "respondent", "line_manager"])
        )]
    );
    tr.apply_to(&mut case);
    assert_eq!(case.entered_at, t("2026-11-03T10:00:00Z"));

    // A line manager records that it is partly resolved.
    let tr = apply(
        def,
        &case,
        "resolve",
        &role("line_manager"),
        &fields(&[
            ("outcome", "partly_resolved"),
            ("reason", "Assessment agreed"),
        ]),
        t("2026-11-05T15:00:00Z"),
        &cal,
    )
    .unwrap();
    assert_eq!((tr.to.as_str(), tr.closes), ("resolved", true));
    assert!(tr.effects.contains(&Effect::Meet(state("stage2"))));
    assert!(timers(&tr).is_empty());
    assert_eq!(tr.fields["outcome"], "partly_resolved");
    tr.apply_to(&mut case);

    // A note is still taken (the workflow lists it under after_close); it moves nothing.
    let late = apply(
        def,
        &case,
        "note",
        &raiser,
        &fields(&[("text", "late note")]),
        t("2026-11-06T09:00:00Z"),
        &cal,
    )
    .unwrap();
    assert_eq!((late.to.as_str(), late.closes), ("resolved", false));
    assert!(late.effects.is_empty());
    let err = apply(
        def,
        &case,
        "escalate",
        &raiser,
        &fields(&[("reason", "late")]),
        t("2026-11-06T09:00:00Z"),
        &cal,
    )
    .unwrap_err();
    assert!(matches!(err, Refusal::Closed { .. }), "{err}");
}

#[test]
fn dispute_lapses_escalate_by_themselves_and_stage_3_sends_the_form() {
    let all = workflows();
    let def = all.get("dispute").unwrap();
    let cal = Calendar::official();
    let (mut case, _) = open(
        def,
        example("dispute"),
        None,
        &EventFields::new(),
        &role("lead"),
        t("2026-11-02T09:00:00Z"),
        &cal,
    )
    .unwrap();

    let warning = fire(
        def,
        &case,
        &state("stage1"),
        TimerKind::Warning,
        t("2026-11-03T17:00:00Z"),
        &cal,
    )
    .unwrap();
    assert_eq!(warning.event, "deadline_warning");
    assert_eq!(warning.actor, "engine");
    assert_eq!(warning.to, "stage1");
    assert_eq!(
        sends(&warning),
        [(
            ActionKind::Email,
            "warning".into(),
            strings(&["raiser", "respondent"])
        )]
    );
    warning.apply_to(&mut case);

    let lapse = fire(
        def,
        &case,
        &state("stage1"),
        TimerKind::Lapse,
        t("2026-11-04T17:00:00Z"),
        &cal,
    )
    .unwrap();
    assert_eq!(
        (lapse.event.as_str(), lapse.actor.as_str()),
        ("escalate", "engine")
    );
    assert_eq!(
        (lapse.from.as_str(), lapse.to.as_str()),
        ("stage1", "stage2")
    );
    assert_eq!(lapse.fields["reason"], "Stage 1 timescale lapsed");
    // The lapsed deadline was not met.
    assert!(!lapse.effects.contains(&Effect::Meet(state("stage1"))));
    // Received at the 17:00 cut-off: counted from Thu 5 Nov, due Thu 12 Nov.
    assert_eq!(
        timers(&lapse).last().unwrap(),
        &(
            state("stage2"),
            TimerKind::Lapse,
            "2026-11-12T17:00:00+00:00".to_string()
        )
    );
    lapse.apply_to(&mut case);

    let lapse = fire(
        def,
        &case,
        &state("stage2"),
        TimerKind::Lapse,
        t("2026-11-12T17:00:00Z"),
        &cal,
    )
    .unwrap();
    assert_eq!(lapse.to, "stage3");
    assert_eq!(lapse.fields["reason"], "Stage 2 timescale lapsed");
    assert_eq!(
        sends(&lapse),
        [
            (
                ActionKind::Email,
                "escalation_notice".into(),
                strings(&["raiser", "respondent", "line_manager", "senior_manager"])
            ),
            (
                ActionKind::Form,
                "monitoring_form".into(),
                strings(&["raiser", "respondent", "senior_manager", "partnership"])
            ),
        ]
    );
    lapse.apply_to(&mut case);

    let lapse = fire(
        def,
        &case,
        &state("stage3"),
        TimerKind::Lapse,
        t("2026-11-20T17:00:00Z"),
        &cal,
    )
    .unwrap();
    assert_eq!(lapse.to, "stage4");
    lapse.apply_to(&mut case);
    // 10 working days from Mon 23 Nov: Mon 7 Dec.
    let stage4 = fire(
        def,
        &case,
        &state("stage4"),
        TimerKind::Lapse,
        t("2026-12-07T17:00:00Z"),
        &cal,
    )
    .unwrap();
    assert_eq!(
        (stage4.event.as_str(), stage4.to.as_str()),
        ("deadline_lapsed", "stage4")
    );
    assert_eq!(
        sends(&stage4),
        [(
            ActionKind::Email,
            "lapse_reminder".into(),
            strings(&["partnership"])
        )]
    );

    // A timer for a stage the case has left is refused, not applied.
    let stale = fire(
        def,
        &case,
        &state("stage1"),
        TimerKind::Lapse,
        t("2026-12-08T17:00:00Z"),
        &cal,
    );
    assert!(matches!(stale, Err(Refusal::StaleTimer(_))));
}

#[test]
fn dispute_refusals_are_specific() {
    let all = workflows();
    let def = all.get("dispute").unwrap();
    let cal = Calendar::official();
    let now = t("2026-11-02T09:00:00Z");
    let (case, _) = open(
        def,
        example("dispute"),
        None,
        &EventFields::new(),
        &role("lead"),
        now,
        &cal,
    )
    .unwrap();
    let raiser = as_role(def, &case, RAISER);
    let respondent = as_role(def, &case, RESPONDENT);
    assert_eq!(respondent.roles, ["respondent"]);

    let err = apply(
        def,
        &case,
        "close_unresolved",
        &raiser,
        &fields(&[("reason", "x")]),
        now,
        &cal,
    )
    .unwrap_err();
    assert!(
        err.to_string().starts_with("event 'close_unresolved' is not allowed in state 'stage1'; allowed: escalate, resolve, withdraw"),
        "{err}"
    );
    let err = apply(
        def,
        &case,
        "escalate",
        &respondent,
        &EventFields::new(),
        now,
        &cal,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "'escalate' needs field 'reason' (--field reason=…)"
    );
    let err = apply(
        def,
        &case,
        "escalate",
        &respondent,
        &fields(&[("reason", "   ")]),
        now,
        &cal,
    )
    .unwrap_err();
    assert!(matches!(err, Refusal::MissingField { .. }), "{err}");
    let err = apply(
        def,
        &case,
        "escalate",
        &role("senior_manager"),
        &fields(&[("reason", "x")]),
        now,
        &cal,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "senior_manager@agency.example.org may not record 'escalate' in state 'stage1': it is for raiser, respondent"
    );
    let err = apply(
        def,
        &case,
        "resolve",
        &raiser,
        &fields(&[("reason", "x"), ("outcome", "maybe")]),
        now,
        &cal,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "field 'outcome' must be one of resolved, partly_resolved, not 'maybe'"
    );
    let err = apply(
        def,
        &case,
        "withdraw",
        &raiser,
        &fields(&[("reason", "x"), ("colour", "red")]),
        now,
        &cal,
    )
    .unwrap_err();
    assert!(matches!(err, Refusal::UnknownField { .. }), "{err}");
}

#[test]
fn dispute_opens_higher_only_for_a_child_at_immediate_risk_with_a_reason() {
    let all = workflows();
    let def = all.get("dispute").unwrap();
    let cal = Calendar::official();
    let now = t("2026-11-02T09:00:00Z");
    let lead = role("lead");
    let err = open(
        def,
        example("dispute"),
        Some("stage2"),
        &fields(&[("reason", "x")]),
        &lead,
        now,
        &cal,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot open in state 'stage2': the case data must have immediate_risk = true"
    );
    let mut data = example("dispute");
    data["immediate_risk"] = Value::Bool(true);
    let err = open(
        def,
        data.clone(),
        Some("stage2"),
        &EventFields::new(),
        &lead,
        now,
        &cal,
    )
    .unwrap_err();
    assert!(
        matches!(err, Refusal::MissingField { ref field, .. } if field == "reason"),
        "{err}"
    );
    let err = open(
        def,
        data.clone(),
        Some("stage4"),
        &fields(&[("reason", "x")]),
        &lead,
        now,
        &cal,
    )
    .unwrap_err();
    assert!(matches!(err, Refusal::BadStart { .. }), "{err}");

    let (case, tr) = open(
        def,
        data,
        Some("stage3"),
        &fields(&[("reason", "Child left at risk tonight")]),
        &lead,
        now,
        &cal,
    )
    .unwrap();
    assert_eq!(case.state, "stage3");
    assert_eq!(tr.fields["reason"], "Child left at risk tonight");
    assert!(
        sends(&tr)
            .iter()
            .any(|(kind, template, _)| *kind == ActionKind::Form && template == "monitoring_form")
    );
}

#[test]
fn opening_data_is_checked_with_the_path_of_the_bad_field() {
    let all = workflows();
    let def = all.get("dispute").unwrap();
    let mut data = example("dispute");
    assert!(check_data(def, &data).is_ok());
    data["raised_by"].as_object_mut().unwrap().remove("email");
    assert_eq!(
        check_data(def, &data).unwrap_err().to_string(),
        "case data: raised_by.email: is required"
    );
    let mut data = example("dispute");
    data["respondent"]["email"] = Value::String("tom at council".into());
    assert_eq!(
        check_data(def, &data).unwrap_err().to_string(),
        "case data: respondent.email: \"tom at council\" is not an email address"
    );
    let mut data = example("dispute");
    data["category"] = Value::String("vibes".into());
    assert!(
        check_data(def, &data)
            .unwrap_err()
            .to_string()
            .starts_with("case data: category: must be one of threshold")
    );
    let mut data = example("dispute");
    data["division"] = Value::String("wales".into());
    assert!(
        check_data(def, &data)
            .unwrap_err()
            .to_string()
            .starts_with("case data: division: unknown division 'wales'")
    );
    assert!(check_data(def, &Value::Array(vec![])).is_err());
}

#[test]
fn a_scottish_case_counts_scottish_holidays() {
    let all = workflows();
    let def = all.get("dispute").unwrap();
    let cal = Calendar::official();
    // Thu 1 Jan 2026 is a holiday everywhere; Fri 2 Jan only in Scotland.
    let now = t("2025-12-31T10:00:00Z");
    let (_, england) = open(
        def,
        example("dispute"),
        None,
        &EventFields::new(),
        &role("lead"),
        now,
        &cal,
    )
    .unwrap();
    let mut data = example("dispute");
    data["division"] = Value::String("scotland".into());
    let (_, scotland) = open(
        def,
        data,
        None,
        &EventFields::new(),
        &role("lead"),
        now,
        &cal,
    )
    .unwrap();
    let lapse = |t: &Transition| timers(t).last().unwrap().2.clone();
    assert_eq!(lapse(&england), "2026-01-05T17:00:00+00:00");
    assert_eq!(lapse(&scotland), "2026-01-06T17:00:00+00:00");
}

#[test]
fn referral_happy_path_with_a_phone_referral_confirmed_in_writing() {
    let all = workflows();
    let def = all.get("referral").unwrap();
    let cal = Calendar::official();
    let (mut case, opening) = open(
        def,
        example("referral"),
        None,
        &EventFields::new(),
        &role("lead"),
        t("2026-11-23T11:30:00Z"),
        &cal,
    )
    .unwrap();
    assert_eq!(
        timers(&opening),
        [
            (
                state("received"),
                TimerKind::Lapse,
                "2026-11-24T17:00:00+00:00".into()
            ),
            (
                Slot::Task("written_confirmation".into()),
                TimerKind::Lapse,
                "2026-11-24T11:30:00+00:00".into()
            ),
        ]
    );
    let referrer = as_role(def, &case, "jo.patel@nursery.example.org");
    let social_care = as_role(def, &case, "frontdoor@council.example.gov.uk");
    let step = |case: &mut Case, event: &str, actor: &Actor, f: &[(&str, &str)], at: &str| {
        let tr = apply(def, case, event, actor, &fields(f), t(at), &cal).unwrap();
        tr.apply_to(case);
        tr
    };
    let tr = step(
        &mut case,
        "confirm_in_writing",
        &referrer,
        &[],
        "2026-11-23T15:00:00Z",
    );
    assert_eq!(
        tr.effects,
        [Effect::Meet(Slot::Task("written_confirmation".into()))]
    );
    let tr = step(
        &mut case,
        "consent_not_sought",
        &referrer,
        &[
            ("ground", "risk_of_significant_harm_to_child"),
            ("reason", "Parent is the alleged abuser"),
        ],
        "2026-11-23T15:05:00Z",
    );
    assert_eq!(tr.to, "received");
    step(
        &mut case,
        "acknowledge",
        &social_care,
        &[],
        "2026-11-23T16:00:00Z",
    );
    let tr = step(
        &mut case,
        "accept",
        &social_care,
        &[
            ("response", "strategy_discussion"),
            ("reason", "Possible non-accidental injury"),
        ],
        "2026-11-24T10:00:00Z",
    );
    assert_eq!(tr.to, "feedback_due");
    assert_eq!(
        timers(&tr),
        [(
            state("feedback_due"),
            TimerKind::Lapse,
            "2026-11-25T17:00:00+00:00".into()
        )]
    );
    let tr = step(
        &mut case,
        "give_feedback",
        &social_care,
        &[],
        "2026-11-24T12:00:00Z",
    );
    assert_eq!((tr.to.as_str(), tr.closes), ("accepted", true));
    assert!(
        tr.effects
            .contains(&Effect::Cancel(Slot::Task("written_confirmation".into())))
    );
}

#[test]
fn referral_lapses_remind_and_an_unchallenged_decline_closes_itself() {
    let all = workflows();
    let def = all.get("referral").unwrap();
    let cal = Calendar::official();
    let (mut case, _) = open(
        def,
        example("referral"),
        None,
        &EventFields::new(),
        &role("lead"),
        t("2026-11-23T11:30:00Z"),
        &cal,
    )
    .unwrap();
    let task = fire(
        def,
        &case,
        &Slot::Task("written_confirmation".into()),
        TimerKind::Lapse,
        t("2026-11-24T11:30:00Z"),
        &cal,
    )
    .unwrap();
    assert_eq!(task.event, "deadline_lapsed");
    assert_eq!(task.fields["deadline"], "written_confirmation");
    assert_eq!(
        sends(&task),
        [(
            ActionKind::Email,
            "lapse_reminder".into(),
            strings(&["referrer", "social_care"])
        )]
    );
    let decision = fire(
        def,
        &case,
        &state("received"),
        TimerKind::Lapse,
        t("2026-11-24T17:00:00Z"),
        &cal,
    )
    .unwrap();
    assert_eq!(
        sends(&decision),
        [(
            ActionKind::Email,
            "lapse_reminder".into(),
            strings(&["social_care", "social_care_manager"])
        )]
    );
    decision.apply_to(&mut case);

    let social_care = as_role(def, &case, "frontdoor@council.example.gov.uk");
    let tr = apply(
        def,
        &case,
        "decline",
        &social_care,
        &fields(&[
            ("reason", "Threshold not met"),
            ("signposting", "Early help hub"),
        ]),
        t("2026-11-25T09:00:00Z"),
        &cal,
    )
    .unwrap();
    tr.apply_to(&mut case);
    let feedback = fire(
        def,
        &case,
        &state("feedback_due_declined"),
        TimerKind::Lapse,
        t("2026-11-26T17:00:00Z"),
        &cal,
    )
    .unwrap();
    assert_eq!(sends(&feedback)[0].1, "referral_feedback_due");
    let tr = apply(
        def,
        &case,
        "give_feedback",
        &social_care,
        &EventFields::new(),
        t("2026-11-27T09:00:00Z"),
        &cal,
    )
    .unwrap();
    assert_eq!(tr.to, "not_accepted");
    // 10 working days from Fri 27 Nov: Fri 11 Dec.
    assert_eq!(
        timers(&tr),
        [(
            state("not_accepted"),
            TimerKind::Lapse,
            "2026-12-11T17:00:00+00:00".into()
        )]
    );
    tr.apply_to(&mut case);
    let closed = fire(
        def,
        &case,
        &state("not_accepted"),
        TimerKind::Lapse,
        t("2026-12-11T17:00:00Z"),
        &cal,
    )
    .unwrap();
    assert_eq!(
        (closed.event.as_str(), closed.to.as_str(), closed.closes),
        ("close", "no_further_action", true)
    );
}

#[test]
fn a_declined_referral_escalates_into_a_valid_dispute() {
    let all = workflows();
    let def = all.get("referral").unwrap();
    let cal = Calendar::official();
    let mut case = Case {
        state: "not_accepted".into(),
        data: example("referral"),
        opened_at: t("2026-11-23T11:30:00Z"),
        entered_at: t("2026-11-27T09:00:00Z"),
        event_times: Default::default(),
    };
    case.data["division"] = Value::String("northern-ireland".into());
    let referrer = as_role(def, &case, "JO.PATEL@nursery.example.org");
    assert_eq!(
        referrer.roles,
        ["referrer"],
        "email addresses match case-insensitively"
    );
    let tr = apply(
        def,
        &case,
        "escalate",
        &referrer,
        &fields(&[("reason", "Bruising is a child protection concern")]),
        t("2026-11-30T09:00:00Z"),
        &cal,
    )
    .unwrap();
    assert_eq!((tr.to.as_str(), tr.closes), ("escalated", true));
    let data = tr
        .effects
        .iter()
        .find_map(|e| match e {
            Effect::Open { workflow, data } if workflow == "dispute" => Some(data.clone()),
            _ => None,
        })
        .expect("opens a dispute");
    assert_eq!(data["raised_by"]["email"], "jo.patel@nursery.example.org");
    assert_eq!(data["respondent"]["agency"], "Children's Social Care");
    assert_eq!(data["summary"], "Bruising is a child protection concern");
    assert_eq!(data["category"], "threshold");
    assert_eq!(data["division"], "northern-ireland");
    check_data(all.get("dispute").unwrap(), &data).unwrap();
}

#[test]
fn transfer_happy_path_and_lapse() {
    let all = workflows();
    let def = all.get("transfer").unwrap();
    let cal = Calendar::official();
    let (mut case, opening) = open(
        def,
        example("transfer"),
        None,
        &EventFields::new(),
        &role("lead"),
        t("2026-12-01T10:00:00Z"),
        &cal,
    )
    .unwrap();
    // 15 working days from Tue 1 Dec 2026: Dec 2, 3, 4, 7 … 21, 22, so Tue 22 Dec, warned two
    // working days before (Fri 18 Dec). Agencies told within 5: Tue 8 Dec, warned Mon 7 Dec.
    assert_eq!(
        timers(&opening),
        [
            (
                state("notified"),
                TimerKind::Warning,
                "2026-12-18T17:00:00+00:00".into()
            ),
            (
                state("notified"),
                TimerKind::Lapse,
                "2026-12-22T17:00:00+00:00".into()
            ),
            (
                Slot::Task("agencies_informed".into()),
                TimerKind::Warning,
                "2026-12-07T17:00:00+00:00".into()
            ),
            (
                Slot::Task("agencies_informed".into()),
                TimerKind::Lapse,
                "2026-12-08T17:00:00+00:00".into()
            ),
        ]
    );
    let lapse = fire(
        def,
        &case,
        &state("notified"),
        TimerKind::Lapse,
        t("2026-12-22T17:00:00Z"),
        &cal,
    )
    .unwrap();
    assert_eq!(
        sends(&lapse),
        [(
            ActionKind::Email,
            "transfer_decision_due".into(),
            strings(&["receiving", "receiving_manager", "originating"])
        )]
    );
    lapse.apply_to(&mut case);
    let originating = as_role(def, &case, "ruth.evans@northshire.example.gov.uk");
    let delay = apply(
        def,
        &case,
        "raise_dispute",
        &originating,
        &fields(&[("reason", "No decision after 15 working days")]),
        t("2026-12-23T09:00:00Z"),
        &cal,
    )
    .unwrap();
    assert_eq!(
        delay.to, "notified",
        "a dispute about delay leaves the transfer waiting"
    );
    assert!(
        delay
            .effects
            .iter()
            .any(|e| matches!(e, Effect::Open { workflow, .. } if workflow == "dispute"))
    );
    delay.apply_to(&mut case);
    let receiving = as_role(def, &case, "daniel.okafor@southborough.example.gov.uk");
    let decided = apply(
        def,
        &case,
        "decide",
        &receiving,
        &fields(&[
            ("level_of_need", "child_in_need"),
            ("reason", "Plan continues"),
        ]),
        t("2026-12-24T09:00:00Z"),
        &cal,
    )
    .unwrap();
    assert_eq!((decided.to.as_str(), decided.closes), ("transferred", true));
    assert!(
        decided
            .effects
            .contains(&Effect::Cancel(Slot::Task("agencies_informed".into())))
    );
}

#[test]
fn transfer_timescale_can_be_calendar_days() {
    let text = std::fs::read_to_string("workflows/transfer.yaml")
        .unwrap()
        .replacen("within: 15 working days", "within: 30 calendar days", 1);
    let catalog =
        escalate::workflow::Catalog::scan(Path::new("workflows"), Path::new("config/templates"));
    let def =
        escalate::workflow::parse(Path::new("workflows/transfer.yaml"), &text, &catalog).unwrap();
    let cal = Calendar::official();
    let (_, opening) = open(
        &def,
        example("transfer"),
        None,
        &EventFields::new(),
        &role("lead"),
        t("2026-12-01T10:00:00Z"),
        &cal,
    )
    .unwrap();
    // 30 calendar days from Tue 1 Dec: Thu 31 Dec at close of business, holidays or not.
    assert!(timers(&opening).contains(&(
        state("notified"),
        TimerKind::Lapse,
        "2026-12-31T17:00:00+00:00".into()
    )));
    // 2 working days before Thu 31 Dec: Wed 30, Tue 29 Dec (Mon 28 is the Boxing Day substitute).
    assert!(timers(&opening).contains(&(
        state("notified"),
        TimerKind::Warning,
        "2026-12-29T17:00:00+00:00".into()
    )));
}

// Data checks (issue 10, items 1 and 7): each input below was accepted before the workflows
// declared types; each is now refused with one line naming the path.

fn refusal(def: &Definition, data: &Value) -> String {
    check_data(def, data)
        .expect_err("the data should be refused")
        .to_string()
}

#[test]
fn a_summary_must_be_text_not_a_number_or_an_object() {
    let all = workflows();
    let def = all.get("dispute").unwrap();
    let mut data = example("dispute");
    data["summary"] = serde_json::json!(42);
    assert_eq!(
        refusal(def, &data),
        "case data: summary: must be text, not a number"
    );
    data["summary"] = serde_json::json!({"text": "neglect"});
    assert_eq!(
        refusal(def, &data),
        "case data: summary: must be text, not an object"
    );
}

#[test]
fn immediate_risk_must_be_a_json_boolean() {
    let all = workflows();
    let def = all.get("dispute").unwrap();
    let mut data = example("dispute");
    data["immediate_risk"] = Value::String("yes".into());
    assert_eq!(
        refusal(def, &data),
        "case data: immediate_risk: must be true or false (a JSON boolean), not \"yes\""
    );
    data["immediate_risk"] = Value::Bool(true);
    check_data(def, &data).unwrap();
    let mut data = example("referral");
    data["urgent"] = serde_json::json!(1);
    assert_eq!(
        refusal(all.get("referral").unwrap(), &data),
        "case data: urgent: must be true or false (a JSON boolean), not a number"
    );
}

#[test]
fn unknown_keys_are_refused_with_their_path() {
    let all = workflows();
    let def = all.get("dispute").unwrap();
    let mut data = example("dispute");
    data["child"]["nickname"] = Value::String("Sammy".into());
    assert_eq!(
        refusal(def, &data),
        "case data: child.nickname: unknown field; allowed: child.reference, child.name"
    );
    let mut data = example("dispute");
    data["colour"] = Value::String("red".into());
    assert_eq!(
        refusal(def, &data),
        "case data: colour: unknown field; allowed: category, summary, child, raised_by, \
         respondent, division, immediate_risk, related_case"
    );
    // A key that looks like a path is not one.
    let mut data = example("dispute");
    data["child.name"] = Value::String("Sam".into());
    assert!(
        refusal(def, &data).starts_with("case data: child.name: unknown field; allowed: category"),
        "{}",
        refusal(def, &data)
    );
    // An object where a party should be.
    let mut data = example("dispute");
    data["raised_by"] = Value::String("Priya".into());
    assert_eq!(
        refusal(def, &data),
        "case data: raised_by: must be an object with raised_by.name, raised_by.email, \
         raised_by.agency, not \"Priya\""
    );
    // A key with a line break is shown escaped, on one line.
    let mut data = example("dispute");
    data["respondent"]["x\nBcc: y"] = Value::String("z".into());
    assert_eq!(
        refusal(def, &data),
        "case data: respondent.x\\nBcc: y: unknown field; allowed: respondent.name, \
         respondent.email, respondent.agency"
    );
}

#[test]
fn the_raiser_and_the_respondent_must_be_different_people() {
    let all = workflows();
    let def = all.get("dispute").unwrap();
    let mut data = example("dispute");
    data["respondent"]["email"] = Value::String(" Priya.Shah@School.example.org".into());
    assert_eq!(
        refusal(def, &data),
        "case data: respondent.email: is the same address as raised_by.email; the raiser and \
         the respondent must be different people"
    );
    let mut data = example("transfer");
    data["receiving"]["email"] = data["originating"]["email"].clone();
    assert!(
        refusal(all.get("transfer").unwrap(), &data)
            .starts_with("case data: receiving.email: is the same address as originating.email")
    );
}

#[test]
fn a_one_megabyte_summary_is_refused() {
    let all = workflows();
    let def = all.get("dispute").unwrap();
    let mut data = example("dispute");
    data["summary"] = Value::String("x".repeat(1 << 20));
    assert_eq!(
        refusal(def, &data),
        "case data: summary: is 1048576 characters long; at most 10000 are allowed"
    );
    data["summary"] = Value::String("Line one.\nLine two.\n".repeat(400));
    check_data(def, &data).expect("a long summary with line breaks is fine");
}

#[test]
fn names_with_line_breaks_or_controls_are_refused() {
    let all = workflows();
    let def = all.get("dispute").unwrap();
    let mut data = example("dispute");
    data["respondent"]["name"] = Value::String("Tom\nHughes".into());
    assert_eq!(
        refusal(def, &data),
        "case data: respondent.name: contains a line break (U+000A) at character 4; it must be one line"
    );
    data["respondent"]["name"] = Value::String("Name\r\nBcc: x@y".into());
    assert!(refusal(def, &data).starts_with("case data: respondent.name: contains a line break"));
    data["respondent"]["name"] = Value::String("Tom".into());
    data["respondent"]["agency"] = Value::String("Council\u{7}".into());
    assert!(refusal(def, &data).starts_with(
        "case data: respondent.agency: contains a control character (U+0007) at character 8"
    ));
    // Names in any script, with accents and emoji, are welcome.
    let mut data = example("dispute");
    data["raised_by"]["name"] = Value::String("Siân Llŷr 👩🏽‍⚕️".into());
    data["respondent"]["name"] = Value::String("محمد الأحمد".into());
    check_data(def, &data).unwrap();
}

#[test]
fn right_to_left_overrides_are_refused_in_names_and_free_text() {
    let all = workflows();
    let def = all.get("dispute").unwrap();
    let mut data = example("dispute");
    data["child"]["reference"] = Value::String("LCS\u{202E}714402".into());
    assert_eq!(
        refusal(def, &data),
        "case data: child.reference: contains a bidirectional override character (U+202E) at \
         character 4; it must be one line"
    );
    let mut data = example("dispute");
    data["summary"] = Value::String("Concern \u{2067}hidden\u{2069}".into());
    assert!(
        refusal(def, &data).starts_with(
            "case data: summary: contains a bidirectional override character (U+2067)"
        )
    );
}

#[test]
fn email_addresses_are_checked_and_stored_lower_case() {
    let all = workflows();
    let def = all.get("dispute").unwrap();
    let mut data = example("dispute");
    data["raised_by"]["email"] = Value::String("  Priya.Shah@School.Example.ORG ".into());
    let parsed = parse_data(def, data).unwrap();
    assert_eq!(
        parsed["raised_by"]["email"],
        "priya.shah@school.example.org"
    );
    assert_eq!(
        parsed["raised_by"]["name"], "Priya Shah",
        "other text is kept"
    );
    assert_eq!(
        def.party_roles(&parsed, "PRIYA.SHAH@school.example.org"),
        ["raiser"]
    );

    let long = format!("{}@example.org", "a".repeat(250));
    for (bad, why) in [
        ("priya@@school.example.org", "is not an email address"),
        ("priya@school", "is not an email address"),
        ("priya shah@school.example.org", "is not an email address"),
        ("a@b.org, c@d.org", "is not an email address"),
        ("@school.example.org", "is not an email address"),
        ("priya@school..org", "is not an email address"),
        (
            "priya@school.example.org\r\nBcc: x@y.org",
            "contains a line break",
        ),
        (
            long.as_str(),
            "is 262 characters long; at most 254 are allowed",
        ),
    ] {
        let mut data = example("dispute");
        data["raised_by"]["email"] = Value::String(bad.into());
        let err = refusal(def, &data);
        assert!(
            err.starts_with("case data: raised_by.email: ") && err.contains(why),
            "{bad}: {err}"
        );
    }
    let mut data = example("dispute");
    data["raised_by"]["email"] = serde_json::json!(["priya.shah@school.example.org"]);
    assert_eq!(
        refusal(def, &data),
        "case data: raised_by.email: a list is not an email address"
    );
}

#[test]
fn null_optional_fields_are_absent_and_null_required_ones_missing() {
    let all = workflows();
    let def = all.get("dispute").unwrap();
    let mut data = example("dispute");
    data["immediate_risk"] = Value::Null;
    let parsed = parse_data(def, data).unwrap();
    assert!(parsed.get("immediate_risk").is_none());
    let mut data = example("dispute");
    data["summary"] = Value::Null;
    assert_eq!(refusal(def, &data), "case data: summary: is required");
    let mut data = example("dispute");
    data["child"] = Value::Null;
    assert_eq!(
        refusal(def, &data),
        "case data: child.reference: is required"
    );
}

#[test]
fn dates_are_iso_dates() {
    assert_eq!(
        parse_date("2026-11-30").unwrap(),
        chrono::NaiveDate::from_ymd_opt(2026, 11, 30).unwrap()
    );
    for bad in [
        "next tuesday",
        "30/11/2026",
        "2026-02-30",
        "2026-1-5",
        "+2026-11-30",
        "",
    ] {
        assert_eq!(
            parse_date(bad).unwrap_err(),
            format!("must be a date such as 2026-11-30, not \"{bad}\"")
        );
    }
}

#[test]
fn event_fields_are_checked_against_their_types() {
    let all = workflows();
    let def = all.get("dispute").unwrap();
    let cal = Calendar::official();
    let now = t("2026-11-02T09:00:00Z");
    let (case, _) = open(
        def,
        example("dispute"),
        None,
        &EventFields::new(),
        &role("lead"),
        now,
        &cal,
    )
    .unwrap();
    let raiser = as_role(def, &case, RAISER);
    let agree = |pairs: &[(&str, &str)]| {
        apply(
            def,
            &case,
            "agree_action",
            &raiser,
            &fields(pairs),
            now,
            &cal,
        )
    };
    let err = agree(&[
        ("action", "Visit"),
        ("owner", "Tom"),
        ("due", "next tuesday"),
    ])
    .unwrap_err();
    assert!(matches!(err, Refusal::BadField { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "'agree_action' field 'due': must be a date such as 2026-11-30, not \"next tuesday\""
    );
    let err = agree(&[("action", "Visit"), ("owner", "Tom\nHughes")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "'agree_action' field 'owner': contains a line break (U+000A) at character 4; it must be one line"
    );
    let ok = agree(&[
        ("action", "Home visit\nthen a call"),
        ("owner", "Tom Hughes"),
        ("due", "2026-11-30"),
        ("reason", "Agreed at the meeting:\n- visit\n- call"),
    ]);
    assert!(ok.is_ok(), "{ok:?}");

    // Untyped fields are free text: lines allowed, controls and overrides not, 10,000 at most.
    let escalate = |reason: &str| {
        apply(
            def,
            &case,
            "escalate",
            &raiser,
            &fields(&[("reason", reason)]),
            now,
            &cal,
        )
    };
    assert!(escalate("No reply.\r\nTwo calls.").is_ok());
    assert_eq!(
        escalate("red \u{1b}[31m").unwrap_err().to_string(),
        "'escalate' field 'reason': contains a control character (U+001B) at character 5"
    );
    assert!(
        escalate(&"x".repeat(1 << 20))
            .unwrap_err()
            .to_string()
            .ends_with("is 1048576 characters long; at most 10000 are allowed")
    );
    // An unknown field's name is shown on one line.
    let err = agree(&[("action", "a"), ("owner", "b"), ("x\ny", "z")]).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("'agree_action' does not take field 'x\\ny'"),
        "{err}"
    );
}

#[test]
fn open_refuses_bad_data_before_anything_happens() {
    let all = workflows();
    let def = all.get("dispute").unwrap();
    let mut data = example("dispute");
    data["raised_by"]["name"] = Value::String("Tom\nHughes".into());
    let err = open(
        def,
        data,
        None,
        &EventFields::new(),
        &role("lead"),
        t("2026-11-02T09:00:00Z"),
        &Calendar::official(),
    )
    .unwrap_err();
    assert!(
        matches!(&err, Refusal::BadData { path, .. } if path == "raised_by.name"),
        "{err}"
    );
}

#[test]
fn the_examples_are_valid_and_already_normal() {
    let all = workflows();
    for name in ["dispute", "referral", "transfer"] {
        let data = example(name);
        assert_eq!(
            parse_data(all.get(name).unwrap(), data.clone()).unwrap(),
            data
        );
    }
}
