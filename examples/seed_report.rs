//! Fills a database with disputes for measuring the monthly report (`scripts/measure-report`)
//! and the API under load (`scripts/measure-api`, with `--spread`).
//!
//! ```text
//! cargo run --release --example seed_report -- URL DISPUTES [SAMPLE] [--spread]
//! ```
//!
//! Each dispute's history is decided by the shipped `dispute` workflow's own state machine
//! (`workflow::open`, `apply`, `fire`: the states, deadlines and times the engine would record),
//! opened at a random time from January 2017 to October 2026, with notes, escalations by people
//! and by lapsed deadlines (the sweep firing each at its due time), warnings, resolutions and
//! withdrawals, until it closes or 20 November 2026 comes. The rows are then written with bulk
//! `INSERT`s, not through the engine (a million disputes through the engine would take hours):
//! no outbox rows, and the hash columns hold placeholders, not a chain (`audit verify` would
//! refuse them; the report reads neither). The report summary is then written by `escalate
//! report rebuild`'s code from those rows, and finally SAMPLE more disputes (default 500) are
//! opened and moved through the real engine in October 2026, so the summary holds rows the
//! engine wrote itself. The measuring script checks that the summary's report equals the one
//! folded from the full event log. The lists' index of parties (`case_parties`) is written with
//! the cases, as the engine would; the lists' order (`case_order`) is kept by the database's
//! triggers. Without `--spread` every dispute is raised by the example's Priya Shah, with the
//! agencies drawn from five; with it, the parties come from a partnership's spread of agencies
//! and people ([`Parties::Spread`]).

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use chrono::{DateTime, Datelike, TimeDelta, Utc};
use chrono_tz::Europe::London;
use escalate::calendar::Calendar;
use escalate::engine::Engine;
use escalate::ids::{CaseRef, UserEmail};
use escalate::workflow::{
    Actor, Case, Definition, Effect, EventFields, Refusal, Slot, TimerKind, Transition, Workflows,
    apply, fire, open, withdraw,
};
use serde_json::{Value, json};

/// Who acts on the seeded disputes (holding every role, so any event is allowed).
const RAISER: &str = "priya.shah@school.example.org";
/// Nothing happens after this (the sweep has fired everything due before it).
const UNTIL: &str = "2026-11-20T00:00:00Z";
/// Disputes open at random times from this...
const FIRST: &str = "2017-01-02T00:00:00Z";
/// ...to this.
const LAST: &str = "2026-11-01T00:00:00Z";
/// Cases generated and written per transaction.
const BATCH: usize = 5_000;

fn t(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

/// A stored time, as both backends take it from a literal.
fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// A SQL string literal.
fn lit(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn opt(text: Option<String>) -> String {
    text.map_or_else(|| "NULL".to_string(), |t| lit(&t))
}

/// A stand-in for entry `seq`'s hash: 64 hex digits, as a real one, but no chain.
fn placeholder_hash(id: i64, seq: i64) -> String {
    format!("{:032x}{:032x}", id, seq)
}

/// A deadline as the engine keeps it.
struct Deadline {
    slot: Slot,
    kind: TimerKind,
    due_at: DateTime<Utc>,
    started_at: DateTime<Utc>,
    status: &'static str,
    ended_at: Option<DateTime<Utc>>,
}

/// One dispute's rows, as SQL value lists.
#[derive(Default)]
struct Rows {
    cases: Vec<String>,
    events: Vec<String>,
    deadlines: Vec<String>,
    parties: Vec<String>,
}

/// One dispute's history, simulated.
struct Sim<'a> {
    def: &'a Definition,
    calendar: &'a Calendar,
    actor: Actor,
    case: Case,
    seq: i64,
    last_at: DateTime<Utc>,
    deadlines: Vec<Deadline>,
    closed: Option<(DateTime<Utc>, Option<String>)>,
    events: Vec<String>,
    id: i64,
}

impl Sim<'_> {
    /// Records a transition as the engine would: the entry, then its effects on the deadlines.
    fn record(&mut self, tr: &Transition, fired: Option<usize>) {
        self.seq += 1;
        let at = tr.at;
        let fields = serde_json::to_string(&tr.fields).unwrap();
        let hash = placeholder_hash(self.id, self.seq);
        self.events.push(format!(
            "({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, 2, NULL)",
            self.id,
            self.seq,
            lit(&ts(at)),
            lit(&ts(at + TimeDelta::milliseconds(5))),
            lit(&tr.actor),
            lit(&tr.event),
            lit(&tr.from),
            lit(&tr.to),
            lit(&fields),
            opt(tr.fields.get("reason").cloned()),
            lit(&placeholder_hash(self.id, self.seq - 1)),
            lit(&hash),
        ));
        if let Some(i) = fired {
            self.deadlines[i].status = "fired";
            self.deadlines[i].ended_at = Some(at);
        }
        for effect in &tr.effects {
            let (slot, status) = match effect {
                Effect::Start(timer) => {
                    self.deadlines.push(Deadline {
                        slot: timer.slot.clone(),
                        kind: timer.kind,
                        due_at: timer.due_at,
                        started_at: at,
                        status: "pending",
                        ended_at: None,
                    });
                    continue;
                }
                Effect::Meet(slot) => (slot, "met"),
                Effect::Cancel(slot) => (slot, "cancelled"),
                _ => continue,
            };
            for d in self
                .deadlines
                .iter_mut()
                .filter(|d| d.slot == *slot && d.status == "pending")
            {
                d.status = status;
                d.ended_at = Some(at);
            }
        }
        tr.apply_to(&mut self.case);
        self.last_at = at;
        if tr.closes {
            let outcome = self.def.state(&tr.to).and_then(|s| s.outcome.clone());
            self.closed = Some((at, outcome));
        }
    }

    /// Fires the pending deadlines due by `until`, in due order, each at its due time.
    fn sweep(&mut self, until: DateTime<Utc>) {
        while self.closed.is_none() {
            let Some(i) = (0..self.deadlines.len())
                .filter(|&i| self.deadlines[i].status == "pending")
                .filter(|&i| self.deadlines[i].due_at <= until)
                .min_by_key(|&i| (self.deadlines[i].due_at, self.deadlines[i].kind, i))
            else {
                return;
            };
            let d = &self.deadlines[i];
            let at = d.due_at.max(self.last_at);
            match fire(self.def, &self.case, &d.slot, d.kind, at, self.calendar) {
                Ok(tr) => self.record(&tr, Some(i)),
                Err(Refusal::StaleTimer(slot)) => {
                    let tr = withdraw(&self.case, &slot, at);
                    self.record(&tr, None);
                }
                Err(e) => panic!("firing a seeded deadline: {e}"),
            }
        }
    }
}

/// Simulates dispute `id` opened at `at`; returns its rows.
fn dispute(
    def: &Definition,
    calendar: &Calendar,
    parties: Parties,
    rng: &mut fastrand::Rng,
    id: i64,
    number: u32,
    at: DateTime<Utc>,
) -> Rows {
    let until = t(UNTIL);
    let data = parties.data(rng);
    let actor = Actor {
        id: RAISER.into(),
        roles: def.roles.iter().map(|r| r.name.clone()).collect(),
    };
    let (case, opening) = open(def, data, None, &EventFields::new(), &actor, at, calendar).unwrap();
    let mut sim = Sim {
        def,
        calendar,
        actor,
        case,
        seq: 0,
        last_at: at,
        deadlines: Vec::new(),
        closed: None,
        events: Vec::new(),
        id,
    };
    sim.record(&opening, None);
    // How keen this dispute's parties are: how soon they act, and whether they settle.
    let pace_hours = 4 + rng.i64(0..60);
    while sim.closed.is_none() {
        let next = sim.last_at + TimeDelta::hours(1 + rng.i64(0..pace_hours));
        sim.sweep(next.min(until));
        if sim.closed.is_some() || next >= until {
            break;
        }
        let stage4 = sim.case.state == "stage4";
        let roll = rng.u8(..100);
        let (event, fields): (&str, Vec<(&str, &str)>) = match roll {
            0..=68 => ("note", vec![("text", "Spoke to the other agency")]),
            69..=77 => (
                "agree_action",
                vec![("action", "Share the plan"), ("owner", "Team manager")],
            ),
            78..=88 => (
                "resolve",
                vec![
                    (
                        "outcome",
                        if rng.bool() {
                            "resolved"
                        } else {
                            "partly_resolved"
                        },
                    ),
                    ("reason", "Agreed"),
                ],
            ),
            89..=92 if stage4 => ("close_unresolved", vec![("reason", "Final decision")]),
            89..=97 => ("escalate", vec![("reason", "No agreement")]),
            _ => ("withdraw", vec![("reason", "No longer needed")]),
        };
        let fields: EventFields = fields
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if let Ok(tr) = apply(
            sim.def, &sim.case, event, &sim.actor, &fields, next, calendar,
        ) {
            sim.record(&tr, None);
        }
    }
    sim.sweep(until);
    let local = at.with_timezone(&London);
    let (closed_at, outcome) = sim.closed.clone().unzip();
    let mut rows = Rows {
        events: std::mem::take(&mut sim.events),
        ..Rows::default()
    };
    let division = def.division_of(&sim.case.data).to_string();
    rows.cases.push(format!(
        "({id}, {}, 'dispute', {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
        lit(&format!("DSP-{}-{number:06}", local.year())),
        lit(&def.hash),
        lit(&sim.case.state),
        lit(&sim.case.data.to_string()),
        lit(&division),
        opt(sim.case.data["raised_by"]["agency"]
            .as_str()
            .map(String::from)),
        lit(&ts(sim.case.opened_at)),
        lit(&ts(sim.case.entered_at)),
        opt(closed_at.map(ts)),
        opt(outcome.flatten()),
        lit(&serde_json::to_string(&sim.case.event_times).unwrap()),
        sim.seq,
        lit(&ts(sim.last_at)),
        lit(&placeholder_hash(id, sim.seq)),
        lit(&format!("{:032x}", id)),
    ));
    // The lists' index of parties, as the engine writes it with each case it opens.
    for p in def.parties(&sim.case.data) {
        rows.parties.push(format!(
            "({id}, {}, {}, {})",
            lit(&p.role),
            opt(p.email),
            opt(p.agency)
        ));
    }
    for d in &sim.deadlines {
        let (slot_kind, slot) = match &d.slot {
            Slot::State(s) => ("state", s),
            Slot::Task(s) => ("task", s),
        };
        rows.deadlines.push(format!(
            "({id}, '{slot_kind}', {}, '{}', {}, '{}', 'seeded', 'seeded', {}, {})",
            lit(slot),
            match d.kind {
                TimerKind::Warning => "warning",
                TimerKind::Lapse => "lapse",
            },
            lit(&ts(d.due_at)),
            d.status,
            lit(&ts(d.started_at)),
            opt(d.ended_at.map(ts)),
        ));
    }
    rows
}

fn example() -> Value {
    serde_json::from_str(&std::fs::read_to_string("examples/dispute.json").unwrap()).unwrap()
}

/// Who the seeded disputes name as their parties.
#[derive(Clone, Copy, PartialEq)]
enum Parties {
    /// The example's raiser and respondent, with the agencies drawn from a handful (the
    /// report's measurement: it reads agencies, never people).
    Few,
    /// A partnership's spread (`--spread`, for the API's lists): raisers from 40 agencies,
    /// the directory's three (named by id or by name, as data may say) among made-up ones,
    /// respondents mostly children's social care and the police; 25 people at each agency.
    /// Riverside Community Health is a party to about 4.5% of the disputes.
    Spread,
}

/// Agencies that raise disputes: the directory's three, then made-up ones.
const RAISING: [&str; 40] = [
    "Riverside Primary School",
    "Children's Social Care",
    "Riverside Community Health",
    "Northshire Police",
    "Little Steps Nursery",
    "Riverside GP Practice",
    "Hillside Academy",
    "St Anne's Primary School",
    "Northshire College",
    "Meadowbank High School",
    "Oakfield Infant School",
    "Brookside Junior School",
    "Kingsway Academy",
    "Riverside Youth Service",
    "Northshire Early Help",
    "Northshire Housing Options",
    "Riverside Midwifery Service",
    "Northshire Adult Mental Health",
    "Child and Adolescent Mental Health Service",
    "Riverside Emergency Department",
    "Northshire Probation Service",
    "Youth Justice Service",
    "Northshire Drug and Alcohol Service",
    "Riverside Women's Aid",
    "Harbour Children's Centre",
    "Willow Tree Nursery",
    "Elmfield Special School",
    "Riverside Pupil Referral Unit",
    "Northshire Ambulance Service",
    "Riverside Dental Practice",
    "Castle Street Surgery",
    "Parkview Health Centre",
    "Northshire Fostering Service",
    "Riverside Leaving Care Team",
    "Northshire Education Welfare",
    "Riverside Sports Club",
    "St Mark's Church Youth Group",
    "Northshire Fire and Rescue",
    "Greenway Secondary School",
    "Ashdown Primary School",
];
/// What each of the directory's agencies may also be called in data: its id.
const DIRECTORY_IDS: [(&str, &str); 3] = [
    ("Riverside Primary School", "riverside-primary"),
    ("Children's Social Care", "childrens-social-care"),
    ("Riverside Community Health", "riverside-health"),
];
const FIRST_NAMES: [&str; 5] = ["Priya", "Tom", "Aisha", "Gareth", "Maria"];
const LAST_NAMES: [&str; 5] = ["Shah", "Hughes", "Khan", "Evans", "Nowak"];

impl Parties {
    /// Opening data for one dispute.
    fn data(self, rng: &mut fastrand::Rng) -> Value {
        let mut data = example();
        let pick = |rng: &mut fastrand::Rng, options: &[&str]| -> String {
            options[rng.usize(..options.len())].to_string()
        };
        data["category"] = json!(pick(
            rng,
            &[
                "threshold",
                "roles_and_responsibilities",
                "need_for_action",
                "information_sharing",
                "case_progress",
                "service_provision"
            ]
        ));
        if self == Parties::Few {
            data["raised_by"]["agency"] = json!(pick(
                rng,
                &[
                    "Riverside Primary School",
                    "riverside-health",
                    "Northshire Police",
                    "Little Steps Nursery",
                    "Riverside GP Practice"
                ]
            ));
            data["respondent"]["agency"] = json!(pick(
                rng,
                &[
                    "Children's Social Care",
                    "riverside-health",
                    "Northshire Police"
                ]
            ));
            return data;
        }
        let raiser = RAISING[rng.usize(..RAISING.len())];
        let respondent = loop {
            let r = match rng.u8(..100) {
                0..=39 => "Children's Social Care",
                40..=59 => "Northshire Police",
                60..=61 => "Riverside Community Health",
                _ => RAISING[rng.usize(3..RAISING.len())],
            };
            if r != raiser {
                break r;
            }
        };
        for (path, agency) in [("raised_by", raiser), ("respondent", respondent)] {
            let first = FIRST_NAMES[rng.usize(..FIRST_NAMES.len())];
            let last = LAST_NAMES[rng.usize(..LAST_NAMES.len())];
            let domain: String = agency
                .to_lowercase()
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .collect();
            let named = DIRECTORY_IDS
                .iter()
                .find(|(name, _)| *name == agency)
                .map_or(agency, |(name, id)| if rng.bool() { id } else { name });
            data[path] = json!({
                "name": format!("{first} {last}"),
                "email": format!("{}.{}@{domain}.example.org", first.to_lowercase(), last.to_lowercase()),
                "agency": named,
            });
        }
        data["child"]["reference"] = json!(format!("LCS-{:06}", rng.u32(..1_000_000)));
        data
    }
}

/// `INSERT INTO table (columns) VALUES` each chunk of `values`, in `tx`.
async fn insert<'c, DB: sqlx::Database>(
    tx: &mut sqlx::Transaction<'c, DB>,
    table: &str,
    values: &[String],
) where
    for<'e> &'e mut DB::Connection: sqlx::Executor<'e, Database = DB>,
{
    for chunk in values.chunks(500) {
        let mut sql = format!("INSERT INTO {table} VALUES ");
        for (i, v) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(v);
        }
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut **tx)
            .await
            .unwrap();
    }
}

const CASES: &str = "cases (id, reference, workflow, workflow_hash, state, data, division, agency, \
     opened_at, entered_at, closed_at, outcome, event_times, seq, last_at, last_hash, data_salt)";
const EVENTS: &str = "events (case_id, seq, at, recorded_at, actor, event, from_state, to_state, \
     fields, reason, prev_hash, hash, hash_version, data_digest)";
const DEADLINES: &str = "deadlines (case_id, slot_kind, slot, kind, due_at, status, explanation, \
     data_version, started_at, ended_at)";
const PARTIES: &str = "case_parties (case_id, role, email, agency)";

async fn write<DB: sqlx::Database>(pool: &sqlx::Pool<DB>, rows: &Rows)
where
    for<'e> &'e mut DB::Connection: sqlx::Executor<'e, Database = DB>,
{
    let mut tx = pool.begin().await.unwrap();
    insert(&mut tx, CASES, &rows.cases).await;
    insert(&mut tx, EVENTS, &rows.events).await;
    insert(&mut tx, DEADLINES, &rows.deadlines).await;
    insert(&mut tx, PARTIES, &rows.parties).await;
    tx.commit().await.unwrap();
}

/// Moves `n` disputes through the real engine in October 2026.
async fn engine_sample(url: &str, n: usize, rng: &mut fastrand::Rng) {
    let store = escalate::store::connect(url).await.unwrap();
    let workflows =
        Workflows::load_dir(Path::new("workflows"), Path::new("config/templates")).unwrap();
    let engine = Engine::new(store, workflows, Calendar::official());
    let by = UserEmail::parse(RAISER).unwrap();
    for i in 0..n {
        let at = t("2026-10-01T08:00:00Z") + TimeDelta::minutes(80 * i as i64);
        let case = engine
            .open("dispute", example(), None, &EventFields::new(), &by, at)
            .await
            .unwrap();
        let reference = CaseRef::parse(&case.reference).unwrap();
        let mut now = at;
        for _ in 0..rng.usize(1..5) {
            now += TimeDelta::hours(rng.i64(2..72));
            let (event, fields) = match rng.u8(..4) {
                0 => ("escalate", vec![("reason", "No agreement")]),
                1 => (
                    "resolve",
                    vec![("outcome", "resolved"), ("reason", "Agreed")],
                ),
                _ => ("note", vec![("text", "Called")]),
            };
            let fields: EventFields = fields
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            match engine.record(&reference, event, &fields, &by, now).await {
                Ok(r) if r.closed => break,
                Ok(_) | Err(escalate::engine::EngineError::Refused(_)) => {}
                Err(e) => panic!("{reference}: {e}"),
            }
        }
    }
    engine.tick(t(UNTIL)).await.unwrap();
}

#[tokio::main]
async fn main() {
    let mut args: Vec<String> = std::env::args().collect();
    let parties = match args.iter().position(|a| a == "--spread") {
        Some(i) => {
            args.remove(i);
            Parties::Spread
        }
        None => Parties::Few,
    };
    let (Some(url), Some(n)) = (
        args.get(1),
        args.get(2).and_then(|n| n.parse::<usize>().ok()),
    ) else {
        eprintln!("usage: seed_report URL DISPUTES [SAMPLE] [--spread]");
        std::process::exit(2);
    };
    let sample: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(500);
    let store = escalate::store::connect(url).await.unwrap();
    store.migrate().await.unwrap();
    let workflows =
        Workflows::load_dir(Path::new("workflows"), Path::new("config/templates")).unwrap();
    let def = workflows.get("dispute").unwrap().clone();
    store.save_workflow_version(&def, Utc::now()).await.unwrap();
    let path = Path::new("config/agencies.yaml");
    let directory =
        escalate::directory::Directory::parse(path, &std::fs::read_to_string(path).unwrap())
            .unwrap();
    store
        .replace_directory(&directory, Utc::now(), None)
        .await
        .unwrap();
    let calendar = Calendar::official();
    let mut rng = fastrand::Rng::with_seed(20261126);
    let (first, last) = (t(FIRST), t(LAST));
    let span = (last - first).num_seconds();
    // Opening times in order, so case ids and reference numbers follow time as the engine's do.
    let mut times: Vec<DateTime<Utc>> = (0..n)
        .map(|_| first + TimeDelta::seconds(rng.i64(0..span)))
        .collect();
    times.sort();
    let mut numbers: std::collections::BTreeMap<i32, u32> = Default::default();
    let started = Instant::now();
    let (mut events, mut deadlines) = (0, 0);
    let sqlite = url.starts_with("sqlite");
    let (lite, pg) = if sqlite {
        let options = url
            .parse::<sqlx::sqlite::SqliteConnectOptions>()
            .unwrap()
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .synchronous(sqlx::sqlite::SqliteSynchronous::Off);
        (
            Some(sqlx::SqlitePool::connect_with(options).await.unwrap()),
            None,
        )
    } else {
        (None, Some(sqlx::PgPool::connect(url).await.unwrap()))
    };
    for (b, batch) in times.chunks(BATCH).enumerate() {
        let mut rows = Rows::default();
        for (i, at) in batch.iter().enumerate() {
            let id = (b * BATCH + i + 1) as i64;
            let year = at.with_timezone(&London).year();
            let number = numbers.entry(year).or_default();
            *number += 1;
            let one = dispute(&def, &calendar, parties, &mut rng, id, *number, *at);
            rows.cases.extend(one.cases);
            rows.events.extend(one.events);
            rows.deadlines.extend(one.deadlines);
            rows.parties.extend(one.parties);
        }
        events += rows.events.len();
        deadlines += rows.deadlines.len();
        match (&lite, &pg) {
            (Some(pool), _) => write(pool, &rows).await,
            (_, Some(pool)) => write(pool, &rows).await,
            _ => unreachable!(),
        }
    }
    let mut counters = String::new();
    for (year, last) in &numbers {
        let _ = write!(
            counters,
            "INSERT INTO reference_counters (prefix, year, last) VALUES ('DSP', {year}, {last});"
        );
    }
    if let Some(pool) = &pg {
        counters.push_str("SELECT setval('cases_id_seq', (SELECT MAX(id) FROM cases));");
        sqlx::raw_sql(sqlx::AssertSqlSafe(counters))
            .execute(pool)
            .await
            .unwrap();
    } else if let Some(pool) = &lite {
        sqlx::raw_sql(sqlx::AssertSqlSafe(counters))
            .execute(pool)
            .await
            .unwrap();
    }
    println!(
        "seeded {n} disputes, {events} events, {deadlines} deadlines in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    if let Some(pool) = &pg {
        // What autovacuum does after a load this size, before anything reads it.
        sqlx::raw_sql("VACUUM ANALYZE").execute(pool).await.unwrap();
    }
    let started = Instant::now();
    let cases = store.rebuild_summary(true).await.unwrap().unwrap_or(0);
    println!(
        "report summary rebuilt from the log: {cases} cases in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    engine_sample(url, sample, &mut rng).await;
    println!(
        "{sample} disputes moved through the engine in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // Again for the summary; SQLite gets no ANALYZE, as in use.
    if let Some(pool) = &pg {
        sqlx::raw_sql("VACUUM ANALYZE").execute(pool).await.unwrap();
    }
}
