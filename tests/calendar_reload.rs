//! When the holiday data changes, open deadlines are recomputed (`escalate calendar reload`, and
//! `tick` start-up): each move is an engine entry on its case naming the holiday that appeared or
//! went, owners are emailed when a deadline moves earlier, and fired or lapsed deadlines never
//! move. Real SQLite and PostgreSQL, the real binary.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use chrono::{DateTime, Utc};
use common::{TestDb, escalate, json, stderr, stdout};
use escalate::calendar::Calendar;
use escalate::store::{self, DeadlineRecord, DeadlineStatus, EventRecord, OutboxRecord};
use escalate::workflow::{
    Actor, Case, Catalog, Definition, EventFields, Slot, TimerKind, Transition, Workflows, fire,
    open, parse, recompute,
};
use serde_json::Value;

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// A copy of the shipped feed with holidays added to and taken from England and Wales.
fn feed(dir: &Path, name: &str, add: &[(&str, &str)], remove: &[&str]) -> PathBuf {
    let mut feed: Value =
        serde_json::from_slice(&std::fs::read("config/bank-holidays.json").unwrap()).unwrap();
    let events = feed["england-and-wales"]["events"].as_array_mut().unwrap();
    let before = events.len();
    events.retain(|e| !remove.contains(&e["date"].as_str().unwrap()));
    assert_eq!(
        events.len(),
        before - remove.len(),
        "removed holidays exist"
    );
    for (date, title) in add {
        events.push(serde_json::json!({"title": title, "date": date, "notes": ""}));
    }
    let path = dir.join(name);
    std::fs::write(&path, feed.to_string()).unwrap();
    path
}

/// One test's database, holiday files and mail directory.
struct Setup {
    db: TestDb,
    dir: tempfile::TempDir,
}

impl Setup {
    fn new(db: TestDb) -> Setup {
        Setup {
            db,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn mail(&self) -> PathBuf {
        self.dir.path().join("mail")
    }

    /// Runs escalate with the holiday file `holidays` (the shipped one if `None`).
    fn run(&self, holidays: Option<&Path>, args: &[&str]) -> Output {
        let smtp = format!("file://{}", self.mail().display());
        let holidays = holidays.map(|p| p.display().to_string());
        let mut env = vec![
            ("ESCALATE_DATABASE_URL", self.db.url.as_str()),
            ("ESCALATE_SMTP_URL", smtp.as_str()),
        ];
        if let Some(h) = &holidays {
            env.push(("ESCALATE_BANK_HOLIDAYS", h));
        }
        escalate(args, &env)
    }

    fn open(&self, at: &str) -> String {
        let o = self.run(
            None,
            &[
                "case",
                "open",
                "--workflow",
                "dispute",
                "--data",
                "examples/dispute.json",
                "--by",
                "priya.shah@school.example.org",
                "--now",
                at,
                "--json",
            ],
        );
        json(&o)["reference"].as_str().unwrap().to_string()
    }

    fn reload(&self, holidays: Option<&Path>, now: &str) -> Value {
        json(&self.run(holidays, &["calendar", "reload", "--now", now, "--json"]))
    }

    fn tick(&self, holidays: Option<&Path>, now: &str) -> Value {
        json(&self.run(holidays, &["tick", "--now", now, "--json"]))
    }

    fn verify(&self) {
        let o = self.run(None, &["audit", "verify"]);
        assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    }

    async fn case(
        &self,
        reference: &str,
    ) -> (Vec<EventRecord>, Vec<DeadlineRecord>, Vec<OutboxRecord>) {
        let store = store::connect(&self.db.url).await.unwrap();
        let case = store.case_by_reference(reference).await.unwrap().unwrap();
        (
            store.events(case.id).await.unwrap(),
            store.deadlines(case.id).await.unwrap(),
            store.outbox(case.id).await.unwrap(),
        )
    }
}

/// (kind, due, status) of a case's deadlines, warnings first at equal times.
fn due_times(deadlines: &[DeadlineRecord]) -> Vec<(TimerKind, String, DeadlineStatus)> {
    deadlines
        .iter()
        .map(|d| (d.kind, d.due_at.to_rfc3339(), d.status))
        .collect()
}

fn moved_mail(outbox: &[OutboxRecord]) -> Vec<String> {
    outbox
        .iter()
        .filter(|m| m.template == "deadline_moved")
        .map(|m| m.recipient.role.clone())
        .collect()
}

#[tokio::test]
async fn a_new_holiday_moves_pending_deadlines_later_and_leaves_fired_ones() {
    for db in TestDb::all() {
        let s = Setup::new(db);
        let extra = feed(
            s.dir.path(),
            "extra.json",
            &[("2024-05-03", "Extra bank holiday")],
            &[],
        );
        // Thu 2 May 11:00 BST: 2 working days are Fri 3 and Tue 7 (Mon 6 is a bank holiday).
        let a = s.open("2024-05-02T10:00:00Z");
        // Wed 1 May: due Fri 3, warned Thu 2; the warning fires before the data changes.
        let b = s.open("2024-05-01T10:00:00Z");
        assert_eq!(s.tick(None, "2024-05-02T16:30:00Z")["fired"], 1);
        let (_, b_before, _) = s.case(&b).await;
        let fired_before: Vec<&DeadlineRecord> = b_before
            .iter()
            .filter(|d| d.status == DeadlineStatus::Fired)
            .collect();
        assert_eq!(fired_before.len(), 1);

        let report = s.reload(Some(&extra), "2024-05-02T17:00:00Z");
        assert_eq!(report["moved"], 3, "{report}");
        assert_eq!(report["earlier"], 0);
        assert_eq!(report["cases"], serde_json::json!([a, b]));
        assert_eq!(report["failed"], serde_json::json!([]));

        let (history, deadlines, outbox) = s.case(&a).await;
        assert_eq!(
            due_times(&deadlines),
            [
                (
                    TimerKind::Warning,
                    "2024-05-07T16:00:00+00:00".into(),
                    DeadlineStatus::Pending
                ),
                (
                    TimerKind::Lapse,
                    "2024-05-08T16:00:00+00:00".into(),
                    DeadlineStatus::Pending
                ),
            ],
            "moved by one working day"
        );
        let moved = history.last().unwrap();
        assert_eq!(moved.event, "deadline_moved");
        assert_eq!(moved.actor, "engine");
        assert_eq!(moved.at, t("2024-05-02T17:00:00Z"));
        assert_eq!(moved.fields["deadline"], "stage1");
        assert_eq!(moved.fields["old_due"], "2024-05-07T16:00:00Z");
        assert_eq!(moved.fields["new_due"], "2024-05-08T16:00:00Z");
        assert_eq!(moved.fields["old_warning"], "2024-05-03T16:00:00Z");
        assert_eq!(moved.fields["new_warning"], "2024-05-07T16:00:00Z");
        let reason = moved.reason.as_deref().unwrap();
        assert!(
            reason.starts_with("Fri 3 May 2024 is now a bank holiday (Extra bank holiday)"),
            "{reason}"
        );
        assert!(
            deadlines
                .iter()
                .all(|d| d.explanation.contains("Extra bank holiday"))
        );
        assert!(moved_mail(&outbox).is_empty(), "later: nobody is emailed");

        // B: its warning fired and is as it was; its lapse moved.
        let (history, deadlines, outbox) = s.case(&b).await;
        let fired: Vec<&DeadlineRecord> = deadlines
            .iter()
            .filter(|d| d.status == DeadlineStatus::Fired)
            .collect();
        assert_eq!(fired, fired_before, "fired deadlines never move");
        assert_eq!(
            history.last().unwrap().fields["new_due"],
            "2024-05-07T16:00:00Z"
        );
        assert!(!history.last().unwrap().fields.contains_key("new_warning"));
        assert!(moved_mail(&outbox).is_empty());

        s.verify();
        // Again: nothing is computed with other data any more, and nothing changes.
        let before = s.case(&a).await;
        let again = s.reload(Some(&extra), "2024-05-02T17:30:00Z");
        assert_eq!(again["checked"], 0, "{again}");
        assert_eq!(s.case(&a).await, before);
    }
}

#[tokio::test]
async fn a_holiday_taken_away_moves_deadlines_earlier_and_tells_the_owners() {
    for db in TestDb::all() {
        let s = Setup::new(db);
        let fewer = feed(s.dir.path(), "fewer.json", &[], &["2024-05-06"]);
        // Fri 3 May 11:00 BST: due Wed 8 (Mon 6 a bank holiday), warned Tue 7.
        let p = s.open("2024-05-03T10:00:00Z");
        let report = s.reload(Some(&fewer), "2024-05-03T12:00:00Z");
        assert_eq!(report["moved"], 2, "{report}");
        assert_eq!(report["earlier"], 1);
        let (history, deadlines, outbox) = s.case(&p).await;
        assert_eq!(
            due_times(&deadlines),
            [
                (
                    TimerKind::Warning,
                    "2024-05-06T16:00:00+00:00".into(),
                    DeadlineStatus::Pending
                ),
                (
                    TimerKind::Lapse,
                    "2024-05-07T16:00:00+00:00".into(),
                    DeadlineStatus::Pending
                ),
            ]
        );
        let moved = history.last().unwrap();
        assert_eq!(moved.event, "deadline_moved");
        assert_eq!(moved.fields["old_due"], "2024-05-08T16:00:00Z");
        assert_eq!(moved.fields["new_due"], "2024-05-07T16:00:00Z");
        let reason = moved.reason.as_deref().unwrap();
        assert!(
            reason
                .starts_with("Mon 6 May 2024 is no longer a bank holiday (Early May bank holiday)"),
            "{reason}"
        );
        // The stage's owners, the two parties, are told.
        assert_eq!(moved_mail(&outbox), ["raiser", "respondent"]);

        // Delivered at the next tick: naming the new time and the reason, and no child.
        s.tick(Some(&fewer), "2024-05-03T12:30:00Z");
        let mails: Vec<String> = std::fs::read_dir(s.mail())
            .unwrap()
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect();
        assert_eq!(mails.len(), 2);
        for mail in &mails {
            assert!(mail.contains("deadline moved earlier"), "{mail}");
            assert!(mail.contains("Tue 7 May 2024 17:00 BST"), "{mail}");
            assert!(mail.contains("no longer a bank holiday"), "{mail}");
            assert!(!mail.contains("Sam Example") && !mail.contains("LCS-204417"));
        }

        // The moved deadlines fire at their new times.
        s.tick(Some(&fewer), "2024-05-07T16:30:00Z");
        let (history, _, _) = s.case(&p).await;
        let fired: Vec<(String, String)> = history[2..]
            .iter()
            .map(|e| (e.event.clone(), e.at.to_rfc3339()))
            .collect();
        assert_eq!(
            fired,
            [
                (
                    "deadline_warning".into(),
                    "2024-05-06T16:00:00+00:00".into()
                ),
                ("escalate".into(), "2024-05-07T16:00:00+00:00".into()),
            ]
        );
        s.verify();
        let again = s.reload(Some(&fewer), "2024-05-07T16:30:00Z");
        assert_eq!(again["checked"], 0, "{again}");
    }
}

#[tokio::test]
async fn lapsed_deadlines_never_move_and_fire_as_computed() {
    for db in TestDb::all() {
        let s = Setup::new(db);
        let extra = feed(
            s.dir.path(),
            "extra.json",
            &[("2024-05-03", "Extra bank holiday")],
            &[],
        );
        let a = s.open("2024-05-02T10:00:00Z");
        // Nobody ticked: both the warning (Fri 3) and the lapse (Tue 7) are due, not fired.
        let report = s.reload(Some(&extra), "2024-05-07T17:00:00Z");
        assert_eq!(report["moved"], 0, "{report}");
        assert_eq!(report["left"], 2);
        let (history, deadlines, _) = s.case(&a).await;
        assert_eq!(history.len(), 1);
        assert_eq!(
            due_times(&deadlines)
                .into_iter()
                .map(|d| d.1)
                .collect::<Vec<_>>(),
            ["2024-05-03T16:00:00+00:00", "2024-05-07T16:00:00+00:00"]
        );
        // The tick (whose start-up leaves them too) fires them at the times they lapsed.
        let ticked = s.tick(Some(&extra), "2024-05-07T17:00:00Z");
        assert_eq!(ticked["recomputed"]["left"], 2, "{ticked}");
        assert_eq!(ticked["fired"], 2);
        let (history, _, _) = s.case(&a).await;
        let events: Vec<(String, String)> = history
            .iter()
            .map(|e| (e.event.clone(), e.at.to_rfc3339()))
            .collect();
        assert_eq!(events[1].1, "2024-05-03T16:00:00+00:00");
        assert_eq!(
            events[2],
            ("escalate".into(), "2024-05-07T16:00:00+00:00".into())
        );
        s.verify();
    }
}

#[tokio::test]
async fn tick_start_up_recomputes_before_firing() {
    for db in TestDb::all() {
        let s = Setup::new(db);
        let extra = feed(
            s.dir.path(),
            "extra.json",
            &[("2024-05-03", "Extra bank holiday")],
            &[],
        );
        let a = s.open("2024-05-02T10:00:00Z");
        let ticked = s.tick(Some(&extra), "2024-05-02T12:00:00Z");
        assert_eq!(ticked["recomputed"]["moved"], 2, "{ticked}");
        let o = s.run(Some(&extra), &["tick", "--now", "2024-05-02T12:00:00Z"]);
        assert!(o.status.success());
        assert!(
            !stdout(&o).contains("holiday data"),
            "nothing to say when nothing changed: {}",
            stdout(&o)
        );
        // The old warning time (Fri 3) has passed: nothing fires until the new one, Tue 7.
        assert_eq!(s.tick(Some(&extra), "2024-05-06T12:00:00Z")["fired"], 0);
        assert_eq!(s.tick(Some(&extra), "2024-05-07T16:30:00Z")["fired"], 1);
        let (history, _, _) = s.case(&a).await;
        let events: Vec<&str> = history.iter().map(|e| e.event.as_str()).collect();
        assert_eq!(events, ["open", "deadline_moved", "deadline_warning"]);
        assert_eq!(history[2].at, t("2024-05-07T16:00:00Z"));
        s.verify();
    }
}

#[test]
fn hostile_holiday_files_do_not_panic() {
    let s = Setup::new(TestDb::sqlite());
    s.open("2024-05-02T10:00:00Z");
    // Holidays far outside the calendar's years are ignored, not a crash.
    let far = feed(
        s.dir.path(),
        "far.json",
        &[
            ("1800-01-01", "Long ago"),
            ("3000-01-01", "Far ahead"),
            (
                "2024-05-03",
                "Title with \u{202e} override\nand a line break",
            ),
        ],
        &[],
    );
    let o = s.run(
        Some(&far),
        &["calendar", "reload", "--now", "2024-05-02T12:00:00Z"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("moved 2"), "{}", stdout(&o));
    // The name is shown escaped where the history is printed.
    let shown = stdout(&s.run(None, &["case", "show", "DSP-2024-000001"]));
    assert!(shown.contains("\\u{202e}"), "{shown}");
    // A feed that is not one: one line, bad input, nothing changed.
    let bad = s.dir.path().join("bad.json");
    std::fs::write(&bad, "{\"england-and-wales\": 1}").unwrap();
    let o = s.run(Some(&bad), &["calendar", "reload"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
    // Every weekday a holiday from May 2024: no working day left to be due on. The case cannot
    // be recomputed (one line, exit 1) and keeps its deadlines; nothing panics.
    let mut days = Vec::new();
    let mut d = chrono::NaiveDate::from_ymd_opt(2024, 5, 3).unwrap();
    while d.format("%Y").to_string() != "2100" {
        days.push((d.to_string(), "Closed".to_string()));
        d = d.succ_opt().unwrap();
    }
    let days: Vec<(&str, &str)> = days.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let closed = feed(s.dir.path(), "closed.json", &days, &[]);
    let o = s.run(
        Some(&closed),
        &["calendar", "reload", "--now", "2024-05-02T12:30:00Z"],
    );
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
    assert!(stderr(&o).contains("DSP-2024-000001"), "{}", stderr(&o));
    s.verify();
}

/// A workflow whose deadlines are measured from the opening and from an earlier event.
const ANCHORS: &str = "\
id: anchors
title: Anchors
version: 1
reference_prefix: ANC
data:
  requires: [a.email]
roles:
  a:
    title: A party
    party: a
start:
  - state: one
tasks:
  chase:
    title: Chase
    within: 3 working days
    from: ping
    warn_before: 1 working day
    met_by: [end]
    owners: [a]
    on_lapse:
      notify: [a]
      template: lapse_reminder
states:
  one:
    title: One
    owners: [a]
    within: 2 working days
    warn_before: 1 working day
    on_lapse:
      escalate: go
      reason: late
    events:
      ping:
        by: [a]
      go:
        to: two
        by: [a]
        requires: [reason]
  two:
    title: Two
    owners: [a]
    within: 10 working days
    from: opened
    on_lapse:
      escalate: on
      reason: late
    events:
      on:
        to: three
        by: [a]
        requires: [reason]
  three:
    title: Three
    owners: [a]
    within: 4 working days
    from: ping
    on_lapse:
      notify: [a]
      template: lapse_reminder
    events:
      end:
        to: done
        by: [a]
  done:
    title: Done
    terminal: true
    outcome: done
";

/// Every timer a transition starts, recomputed from its rule and start as the engine does
/// after a data change, comes out the same with the same data.
fn assert_recomputes(
    def: &Definition,
    before: &Case,
    transition: &Transition,
    cal: &Calendar,
) -> usize {
    let mut after = before.clone();
    transition.apply_to(&mut after);
    for timer in transition.timers() {
        let again = recompute(def, &after, &timer.slot, timer.kind, transition.at, cal)
            .unwrap_or_else(|e| panic!("{} {:?}: {e}", def.id, timer.slot));
        assert_eq!(
            (again.due_at, again.deadline),
            (timer.due_at, timer.deadline),
            "{} {:?} {:?}",
            def.id,
            timer.slot,
            timer.kind
        );
    }
    transition.timers().count()
}

#[test]
fn recompute_agrees_with_the_machine_for_every_kind_of_start() {
    let cal = Calendar::official();
    let catalog = Catalog {
        templates: ["warning", "lapse_reminder"].map(String::from).into(),
        workflows: ["anchors"].map(String::from).into(),
    };
    let def = parse(Path::new("workflows/anchors.yaml"), ANCHORS, &catalog)
        .unwrap_or_else(|p| panic!("{p}"));
    let a = Actor {
        id: "a@example.org".into(),
        roles: vec!["a".into()],
    };
    let data = serde_json::json!({"a": {"email": "a@example.org"}});
    let (mut case, opening) = open(
        &def,
        data,
        None,
        &EventFields::new(),
        &a,
        t("2024-12-20T10:00:00Z"),
        &cal,
    )
    .unwrap();
    let start = Case {
        event_times: Default::default(),
        ..case.clone()
    };
    let mut checked = assert_recomputes(&def, &start, &opening, &cal);
    let steps: [(&str, &str); 2] = [
        ("ping", "2024-12-23T09:00:00Z"),
        ("go", "2024-12-24T18:00:00Z"),
    ];
    let mut fields = EventFields::from([("reason".to_string(), "r".to_string())]);
    for (event, at) in steps {
        if event == "ping" {
            fields.clear();
        } else {
            fields.insert("reason".into(), "r".into());
        }
        let tr = escalate::workflow::apply(&def, &case, event, &a, &fields, t(at), &cal).unwrap();
        checked += assert_recomputes(&def, &case, &tr, &cal);
        tr.apply_to(&mut case);
    }
    // Stage two lapses (measured from the opening) into three (measured from the ping).
    let lapse = fire(
        &def,
        &case,
        &Slot::State("two".into()),
        TimerKind::Lapse,
        t("2025-01-06T17:00:00Z"),
        &cal,
    )
    .unwrap();
    assert_eq!(lapse.to, "three");
    checked += assert_recomputes(&def, &case, &lapse, &cal);
    // One's warning and lapse, the task's two, two's lapse, three's lapse.
    assert_eq!(checked, 6);

    // The shipped workflows, opened and lapsed through each stage.
    let shipped =
        Workflows::load_dir(Path::new("workflows"), Path::new("config/templates")).unwrap();
    for (id, extra) in [
        ("dispute", serde_json::json!({})),
        ("referral", serde_json::json!({"channel": "phone"})),
        ("transfer", serde_json::json!({})),
    ] {
        let def = shipped.get(id).unwrap();
        let mut data: Value =
            serde_json::from_str(&std::fs::read_to_string(format!("examples/{id}.json")).unwrap())
                .unwrap();
        if let (Value::Object(d), Value::Object(x)) = (&mut data, extra) {
            d.extend(x);
        }
        let opener = Actor {
            id: "x@example.org".into(),
            roles: def.roles.iter().map(|r| r.name.clone()).collect(),
        };
        let (mut case, opening) = open(
            def,
            data,
            None,
            &EventFields::new(),
            &opener,
            t("2024-12-23T15:00:00Z"),
            &cal,
        )
        .unwrap();
        let before = Case {
            event_times: Default::default(),
            ..case.clone()
        };
        let mut checked = assert_recomputes(def, &before, &opening, &cal);
        let mut timers: Vec<_> = opening.timers().cloned().collect();
        while let Some(next) = timers
            .iter()
            .filter(|tm| tm.kind == TimerKind::Lapse)
            .min_by_key(|tm| tm.due_at)
            .cloned()
        {
            timers.retain(|tm| tm.slot != next.slot);
            let Ok(tr) = fire(def, &case, &next.slot, TimerKind::Lapse, next.due_at, &cal) else {
                continue;
            };
            checked += assert_recomputes(def, &case, &tr, &cal);
            timers.extend(tr.timers().cloned());
            tr.apply_to(&mut case);
        }
        assert!(checked >= 2, "{id}: {checked}");
        eprintln!("{id}: {checked} timers recomputed");
    }
}

/// Engines that recompute (new holiday data) race writers noting on the same cases (old data),
/// round after round, on both backends: every case gets exactly one `deadline_moved` entry,
/// whoever wins each race, and every pending deadline ends at its new time with the new data.
/// Rounds: `ESCALATE_RACE_ROUNDS` (default 20 per backend).
#[test]
fn recomputes_racing_writers_move_each_deadline_exactly_once() {
    use escalate::calendar::{BusinessHours, HolidayFeed};
    use escalate::engine::Engine;

    let rounds: usize = std::env::var("ESCALATE_RACE_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(20);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let extra = feed(
        dir.path(),
        "extra.json",
        &[("2024-05-03", "Extra bank holiday")],
        &[],
    );
    let new_calendar = || {
        let feed = HolidayFeed::from_json(&std::fs::read(&extra).unwrap(), "extra.json").unwrap();
        Calendar::new(&feed, &[], BusinessHours::default()).unwrap()
    };
    let version = new_calendar().version().to_string();
    let example: Value =
        serde_json::from_str(&std::fs::read_to_string("examples/dispute.json").unwrap()).unwrap();
    for db in TestDb::all() {
        rt.block_on(async {
            let engine = |calendar: Calendar| {
                let url = db.url.clone();
                async move {
                    let store = store::connect(&url).await.unwrap();
                    store.migrate().await.unwrap();
                    let workflows =
                        Workflows::load_dir(Path::new("workflows"), Path::new("config/templates"))
                            .unwrap();
                    std::sync::Arc::new(Engine::new(store, workflows, calendar).allow_future(true))
                }
            };
            let mut writers = Vec::new();
            let mut movers = Vec::new();
            for _ in 0..3 {
                writers.push(engine(Calendar::official()).await);
                movers.push(engine(new_calendar()).await);
            }
            let raiser = common::user("priya.shah@school.example.org");
            for round in 0..rounds {
                // Thu 2 May 2024 from 11:00 BST: due Tue 7 May, Wed 8 with the extra holiday.
                let t0 = t("2024-05-02T10:00:00Z") + chrono::TimeDelta::seconds(round as i64);
                let now = t0 + chrono::TimeDelta::hours(1);
                let mut refs = Vec::new();
                for i in 0..4 {
                    let case = writers[i % 3]
                        .open(
                            "dispute",
                            example.clone(),
                            None,
                            &EventFields::new(),
                            &raiser,
                            t0,
                        )
                        .await
                        .unwrap();
                    refs.push(common::cref(&case.reference));
                }
                let mut tasks = Vec::new();
                for e in &movers {
                    let e = e.clone();
                    tasks.push(tokio::spawn(async move {
                        let report = e.recompute_deadlines(now).await.unwrap();
                        assert!(report.failed.is_empty(), "{:?}", report.failed);
                        report.moved
                    }));
                }
                for e in &writers {
                    let e = e.clone();
                    let refs = refs.clone();
                    let by = raiser.clone();
                    tasks.push(tokio::spawn(async move {
                        for _ in 0..2 {
                            let target = &refs[fastrand::usize(..refs.len())];
                            let note =
                                EventFields::from([("text".to_string(), "called".to_string())]);
                            e.record(target, "note", &note, &by, now).await.unwrap();
                        }
                        0
                    }));
                }
                let mut moved = 0;
                for task in tasks {
                    moved += task.await.unwrap();
                }
                assert_eq!(moved, 2 * refs.len(), "round {round} on {}", db.url);
                for reference in &refs {
                    let view = writers[0].show(reference.as_str()).await.unwrap();
                    let moves = view
                        .history
                        .iter()
                        .filter(|e| e.event == "deadline_moved")
                        .count();
                    assert_eq!(moves, 1, "{reference} on {} round {round}", db.url);
                    let pending: Vec<(TimerKind, DateTime<Utc>, &str)> = view
                        .deadlines
                        .iter()
                        .filter(|d| d.status == DeadlineStatus::Pending)
                        .map(|d| (d.kind, d.due_at, d.data_version.as_str()))
                        .collect();
                    assert_eq!(
                        pending,
                        [
                            (
                                TimerKind::Warning,
                                t("2024-05-07T16:00:00Z"),
                                version.as_str()
                            ),
                            (
                                TimerKind::Lapse,
                                t("2024-05-08T16:00:00Z"),
                                version.as_str()
                            ),
                        ],
                        "{reference} on {} round {round}",
                        db.url
                    );
                }
            }
            let audit = writers[0].verify_audit().await.unwrap();
            assert_eq!(audit.problems, Vec::<String>::new());
        });
    }
}

/// A stage-4 reminder that repeats is recomputed from the lapse that started it, by its own
/// duration (5 working days), not as if the stage had just been entered.
#[tokio::test]
async fn a_repeating_reminder_moves_by_its_own_span() {
    use chrono::{Datelike, Weekday};
    for db in TestDb::all() {
        let s = Setup::new(db);
        let p = s.open("2024-09-02T08:00:00Z");
        s.tick(None, "2024-10-12T12:00:00Z");
        let (_, deadlines, _) = s.case(&p).await;
        let stage4 = |status| {
            deadlines
                .iter()
                .filter(|d| {
                    d.slot == escalate::workflow::Slot::State("stage4".into())
                        && d.kind == TimerKind::Lapse
                        && d.status == status
                })
                .map(|d| d.due_at)
                .collect::<Vec<_>>()
        };
        let fired = stage4(DeadlineStatus::Fired);
        let pending = stage4(DeadlineStatus::Pending);
        assert_eq!((fired.len(), pending.len()), (1, 1), "{deadlines:?}");
        let (lapsed, next) = (fired[0], pending[0]);
        // A new holiday on a weekday between the lapse and the reminder it started.
        let mut day = lapsed.date_naive().succ_opt().unwrap();
        while matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
            day = day.succ_opt().unwrap();
        }
        assert!(day < next.date_naive());
        let more = feed(
            s.dir.path(),
            "more.json",
            &[(&day.format("%Y-%m-%d").to_string(), "Test holiday")],
            &[],
        );
        let report = s.reload(Some(&more), "2024-10-12T12:00:00Z");
        assert_eq!(report["moved"], 1, "{report}");
        let mut expected = next.date_naive().succ_opt().unwrap();
        while matches!(expected.weekday(), Weekday::Sat | Weekday::Sun) {
            expected = expected.succ_opt().unwrap();
        }
        let (history, deadlines, _) = s.case(&p).await;
        let moved = history.last().unwrap();
        assert_eq!(moved.event, "deadline_moved");
        let now_due = deadlines
            .iter()
            .find(|d| d.status == DeadlineStatus::Pending && d.kind == TimerKind::Lapse)
            .unwrap()
            .due_at;
        assert_eq!(now_due.date_naive(), expected, "one working day later");
        assert_eq!(now_due.time(), next.time());
        s.verify();
    }
}
