//! What the store keeps, as the engine reads and writes it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

pub use crate::directory::Recipient;
pub use crate::workflow::Party;
use crate::workflow::{Slot, TimerKind};

/// A case as stored.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CaseRecord {
    /// Row id.
    pub id: i64,
    /// E.g. `DSP-2026-000042`.
    pub reference: String,
    /// Workflow id.
    pub workflow: String,
    /// The workflow version (content hash) the case opened on.
    pub workflow_hash: String,
    /// Current state.
    pub state: String,
    /// Opening data.
    #[schema(value_type = Object)]
    pub data: Value,
    /// Division whose holidays apply.
    pub division: String,
    /// The raising party's agency, for access and reports.
    pub agency: Option<String>,
    /// Opened.
    pub opened_at: DateTime<Utc>,
    /// Entered its current state.
    pub entered_at: DateTime<Utc>,
    /// Closed (a terminal state), if so.
    pub closed_at: Option<DateTime<Utc>>,
    /// The terminal state's outcome category.
    pub outcome: Option<String>,
    /// Latest time of each event.
    pub event_times: BTreeMap<String, DateTime<Utc>>,
    /// Number of the latest event-log entry (1 = the opening).
    pub seq: i64,
    /// Time of the latest entry: a case's time never runs backwards.
    pub last_at: DateTime<Utc>,
    /// Hash of the latest entry.
    pub last_hash: String,
    /// When its next pending deadline falls due, if any.
    pub next_due: Option<DateTime<Utc>>,
    /// The salt of the opening data's digest (hash chain 2); `None` for cases opened before it.
    #[serde(skip)]
    pub data_salt: Option<String>,
}

/// One entry of a case's append-only, hash-chained event log.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct EventRecord {
    /// 1 for the opening, then 2, 3…
    pub seq: i64,
    /// When it happened (may be back-dated with `--now`).
    pub at: DateTime<Utc>,
    /// When it was written.
    pub recorded_at: DateTime<Utc>,
    /// Who: an email address, or `engine`.
    pub actor: String,
    /// The event.
    pub event: String,
    /// State before.
    pub from_state: String,
    /// State after.
    pub to_state: String,
    /// Fields given.
    pub fields: BTreeMap<String, String>,
    /// Why, if given.
    pub reason: Option<String>,
    /// The previous entry's hash.
    pub prev_hash: String,
    /// This entry's hash.
    pub hash: String,
    /// The hashing scheme it was written with (see [`super::chain`]).
    pub hash_version: i64,
    /// For the opening entry: the salted digest of the opening data.
    pub data_digest: Option<String>,
}

impl EventRecord {
    /// What the entry's hash covers, as it was written.
    pub fn content(&self) -> NewEvent {
        NewEvent {
            at: self.at,
            recorded_at: self.recorded_at,
            actor: self.actor.clone(),
            event: self.event.clone(),
            from_state: self.from_state.clone(),
            to_state: self.to_state.clone(),
            fields: self.fields.clone(),
            reason: self.reason.clone(),
        }
    }
}

/// Where a deadline stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineStatus {
    /// Waiting for its time.
    Pending,
    /// Its time came and the engine acted.
    Fired,
    /// The case did what it asked in time.
    Met,
    /// No longer relevant (the case closed).
    Cancelled,
}

impl DeadlineStatus {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            DeadlineStatus::Pending => "pending",
            DeadlineStatus::Fired => "fired",
            DeadlineStatus::Met => "met",
            DeadlineStatus::Cancelled => "cancelled",
        }
    }

    /// From the stored word.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "pending" => DeadlineStatus::Pending,
            "fired" => DeadlineStatus::Fired,
            "met" => DeadlineStatus::Met,
            "cancelled" => DeadlineStatus::Cancelled,
            _ => return None,
        })
    }
}

/// A deadline (a warning or a lapse) of a case.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DeadlineRecord {
    /// Row id.
    pub id: i64,
    /// The case.
    pub case_id: i64,
    /// Which deadline of the case.
    pub slot: Slot,
    /// Warning or lapse.
    pub kind: TimerKind,
    /// When it falls due.
    pub due_at: DateTime<Utc>,
    /// Where it stands.
    pub status: DeadlineStatus,
    /// Why it falls when it does.
    pub explanation: String,
    /// The holiday data that computed it.
    pub data_version: String,
    /// When it was started.
    pub started_at: DateTime<Utc>,
    /// When it was fired, met or cancelled.
    pub ended_at: Option<DateTime<Utc>>,
    /// Fired after its time had long passed (the engine was down).
    pub late: bool,
}

/// An email or form waiting in, or delivered from, the outbox: one message to one person.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct OutboxRecord {
    /// Row id.
    pub id: i64,
    /// The case it is about.
    pub case_id: Option<i64>,
    /// Unique per message: `REFERENCE/SEQ/N`.
    pub idempotency_key: String,
    /// The Message-ID every delivery attempt carries.
    pub message_id: Option<String>,
    /// `email` or `form`.
    pub kind: String,
    /// Template name.
    pub template: String,
    /// Who it goes to, and in which role.
    pub recipient: Recipient,
    /// What the template renders.
    #[schema(value_type = Object)]
    pub payload: Value,
    /// `queued`, `sent` or `failed`.
    pub status: String,
    /// Delivery attempts so far.
    pub attempts: i64,
    /// Not before this time.
    pub next_attempt_at: DateTime<Utc>,
    /// The last failure, if any: the server's reply, or why there is nobody to send to.
    pub last_error: Option<String>,
    /// The server's reply when it accepted the message.
    pub reply: Option<String>,
    /// Queued at.
    pub created_at: DateTime<Utc>,
    /// Accepted by the mail server at.
    pub sent_at: Option<DateTime<Utc>>,
    /// Last put in the queue (written, or retried), on the real clock.
    pub queued_at: Option<DateTime<Utc>>,
}

/// How a delivery attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub enum DeliveryOutcome {
    /// The server accepted it, with this reply.
    Sent(String),
    /// A temporary failure: try again at the given time.
    Retry(String, DateTime<Utc>),
    /// A permanent failure (or one that lasted too long): stop, with this reply.
    Failed(String),
}

/// Which outbox rows to list.
#[derive(Debug, Clone, Default)]
pub struct OutboxFilter {
    /// Only this status.
    pub status: Option<String>,
    /// Only this case.
    pub case_id: Option<i64>,
    /// Only this message.
    pub id: Option<i64>,
    /// At most this many, newest first.
    pub limit: i64,
}

/// Which cases to list.
#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    /// Only this workflow.
    pub workflow: Option<String>,
    /// Only this state.
    pub state: Option<String>,
    /// Only open cases with a lapse deadline pending before this time.
    pub overdue_at: Option<DateTime<Utc>>,
    /// Only cases not closed.
    pub open_only: bool,
}

/// The case a [`CaseWrite`] creates or changes.
#[derive(Debug, Clone)]
pub enum Target {
    /// A new case: the store gives it the next reference `PREFIX-YEAR-NNNNNN`.
    New {
        /// Reference prefix, e.g. `DSP`.
        prefix: String,
        /// Reference year.
        year: i32,
        /// Workflow id.
        workflow: String,
        /// Workflow version.
        workflow_hash: String,
        /// Opening data.
        data: Value,
        /// Division.
        division: String,
        /// Raising party's agency.
        agency: Option<String>,
        /// Salt of the opening data's digest, kept beside the data.
        data_salt: String,
        /// The parties the data names, kept beside the case so lists find a person's cases.
        parties: Vec<Party>,
    },
    /// An existing case, which must still be at `expected_seq`.
    Existing {
        /// Row id.
        id: i64,
        /// Its reference.
        reference: String,
        /// The entry number read before deciding.
        expected_seq: i64,
        /// Hash of that entry.
        prev_hash: String,
    },
}

/// A deadline to start.
#[derive(Debug, Clone)]
pub struct NewDeadline {
    /// Which.
    pub slot: Slot,
    /// Warning or lapse.
    pub kind: TimerKind,
    /// When.
    pub due_at: DateTime<Utc>,
    /// Why then.
    pub explanation: String,
    /// Holiday data version.
    pub data_version: String,
}

/// A message to queue, to one person.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// `email` or `form`.
    pub kind: String,
    /// Template.
    pub template: String,
    /// Who; with `missing` set the row is queued as failed, with that reason, so the case
    /// shows it.
    pub recipient: Recipient,
    /// Template context.
    pub payload: Value,
}

/// Everything one event changes in one case, written atomically with the others of its batch.
#[derive(Debug, Clone)]
pub struct CaseWrite {
    /// The case.
    pub target: Target,
    /// The case's state, times and outcome after the event.
    pub state: String,
    /// Entered the state at.
    pub entered_at: DateTime<Utc>,
    /// Closed at, if the event closes it.
    pub closed_at: Option<DateTime<Utc>>,
    /// Outcome category, if closed.
    pub outcome: Option<String>,
    /// Latest time of each event, after this one.
    pub event_times: BTreeMap<String, DateTime<Utc>>,
    /// The log entry.
    pub event: NewEvent,
    /// Deadlines met (pending ones of these slots).
    pub meet: Vec<Slot>,
    /// Deadlines cancelled (pending ones of these slots).
    pub cancel: Vec<Slot>,
    /// Deadlines started.
    pub start: Vec<NewDeadline>,
    /// Messages queued.
    pub outbox: Vec<NewMessage>,
    /// The deadline whose firing this is, marked fired (late if so) in the same transaction.
    pub fired: Option<(i64, bool)>,
    /// For a new case opened by another case's event: the index, in the same batch, of the
    /// write recording that event; the store links the two cases.
    pub opened_by: Option<usize>,
    /// Pending deadlines recomputed after the holiday data changed: their new due time,
    /// explanation and data version (a fired or ended one is left as it is).
    pub moved: Vec<MovedDeadline>,
    /// The request's idempotency key, recorded in the same transaction: a second write with
    /// the same key for the same user fails whole ([`super::StoreError::Duplicate`]).
    pub idempotency: Option<IdempotencyKey>,
    /// The access-log entry of the request that made the write, recorded in the same
    /// transaction under the case's reference (whatever the entry says), so that an action
    /// and its record commit or fail together.
    pub access: Option<super::AccessEntry>,
}

/// A client's `Idempotency-Key` for one request, as a case write records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    /// Whose request.
    pub user_id: i64,
    /// The key they sent.
    pub key: String,
    /// A digest of the request, so the same key with another request is told apart.
    pub fingerprint: String,
}

/// What a request with an idempotency key recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recalled {
    /// The request's digest.
    pub fingerprint: String,
    /// The case it wrote.
    pub reference: String,
    /// The case's version right after.
    pub seq: i64,
}

/// A pending deadline recomputed with new holiday data.
#[derive(Debug, Clone, PartialEq)]
pub struct MovedDeadline {
    /// Its row id.
    pub id: i64,
    /// When it now falls due.
    pub due_at: DateTime<Utc>,
    /// Why then, under the new data.
    pub explanation: String,
    /// The holiday data version that computed it.
    pub data_version: String,
}

/// An event-log entry before the store numbers and chains it.
#[derive(Debug, Clone, Serialize)]
pub struct NewEvent {
    /// When it happened (may be back-dated).
    pub at: DateTime<Utc>,
    /// When it is written, on the real clock, to the microsecond (as stored).
    pub recorded_at: DateTime<Utc>,
    /// Who.
    pub actor: String,
    /// The event.
    pub event: String,
    /// State before.
    pub from_state: String,
    /// State after.
    pub to_state: String,
    /// Fields given.
    pub fields: BTreeMap<String, String>,
    /// Why: the `reason` field, kept in a column of its own.
    pub reason: Option<String>,
}

/// `state`/`task` and the name, as stored.
pub(crate) fn slot_parts(slot: &Slot) -> (&'static str, &str) {
    match slot {
        Slot::State(s) => ("state", s),
        Slot::Task(t) => ("task", t),
    }
}

/// The slot from its stored parts.
pub(crate) fn slot_from(kind: &str, name: String) -> Result<Slot, super::StoreError> {
    match kind {
        "state" => Ok(Slot::State(name)),
        "task" => Ok(Slot::Task(name)),
        other => Err(super::StoreError::Damaged(format!(
            "deadline slot kind '{other}'"
        ))),
    }
}

/// `warning`/`lapse`, as stored.
pub(crate) fn timer_kind_str(kind: TimerKind) -> &'static str {
    match kind {
        TimerKind::Warning => "warning",
        TimerKind::Lapse => "lapse",
    }
}

/// The timer kind from its stored word.
pub(crate) fn timer_kind_from(text: &str) -> Result<TimerKind, super::StoreError> {
    match text {
        "warning" => Ok(TimerKind::Warning),
        "lapse" => Ok(TimerKind::Lapse),
        other => Err(super::StoreError::Damaged(format!(
            "deadline kind '{other}'"
        ))),
    }
}

/// An audit checkpoint: one root hash over every case's head, chained to the one before.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Checkpoint {
    /// Row id (0 before it is saved).
    pub id: i64,
    /// When it was taken, on the real clock.
    pub created_at: DateTime<Utc>,
    /// How many cases it covers.
    pub cases: i64,
    /// The previous checkpoint's root (`genesis` for the first).
    pub prev_root: String,
    /// Its root hash.
    pub root: String,
}

/// A case linked to another: one opened by the other's event, or the one that opened it.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct LinkRecord {
    /// `opened` (this case's event opened the other) or `opened_by`.
    pub relation: String,
    /// The other case.
    pub reference: String,
    /// Its workflow.
    pub workflow: String,
    /// Its state.
    pub state: String,
    /// Whether it is closed.
    pub closed: bool,
    /// The event that opened the new case.
    pub event: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// One claimed occurrence of a scheduled job (`job_runs`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct JobRun {
    /// The job's name, e.g. `monthly_report`.
    pub job: String,
    /// The occurrence, as a UTC instant.
    pub scheduled_for: DateTime<Utc>,
    /// When the process that claimed it started it.
    pub started_at: DateTime<Utc>,
    /// When it ended; `None` while running (or if its process died).
    pub finished_at: Option<DateTime<Utc>>,
    /// `ok`, `failed` or `skipped`; `None` while running.
    pub outcome: Option<String>,
    /// One line on what it did.
    pub message: Option<String>,
}

/// A message about no one case (the board's monthly report, a digest to one person), queued
/// at most once per `key`: queueing the same key again changes nothing and says so.
#[derive(Debug, Clone)]
pub struct StandaloneMessage {
    /// Unique per message, e.g. `report:2026-10:board@partnership.example.org`.
    pub key: String,
    /// The message; the dispatcher composes it from its template and payload alone.
    pub message: NewMessage,
}

/// What queueing a [`StandaloneMessage`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Queued {
    /// The outbox row.
    pub id: i64,
    /// Its idempotency key.
    pub key: String,
    /// Its recipient's address.
    pub email: String,
    /// Queued now (false: a row with this key was there already, and is left as it is).
    pub new: bool,
    /// The row's status: `queued`, `sent` or `failed`.
    pub status: String,
    /// When the server accepted it, if it has.
    pub sent_at: Option<DateTime<Utc>>,
}

/// Says what a job did, given what queueing its messages found.
pub type Describe<'a> = &'a (dyn Fn(&[Queued]) -> String + Send + Sync);

/// A claimed job occurrence to finish in the same transaction as its messages are queued.
pub struct JobEnd<'a> {
    /// The job's name.
    pub job: &'a str,
    /// The occurrence.
    pub scheduled_for: DateTime<Utc>,
    /// When it ended.
    pub finished_at: DateTime<Utc>,
    /// `ok` or `failed`.
    pub outcome: &'a str,
    /// Its one-line message, written once the queueing is known.
    pub describe: Describe<'a>,
}

/// The cases a list may show someone: what [`crate::access::policy::case_scope`] works out
/// from their role, email, agency and the directory.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CaseScope {
    /// Every case (the partnership).
    All,
    /// The cases that name them, or whose party agencies they belong to or are a contact of.
    Related {
        /// Their email, lower-case: a party with it.
        email: String,
        /// Their own agency's id and name, lower-case: any party of it.
        agencies: Vec<String>,
        /// Their directory contacts: a case of `workflow` whose party `role` is of one of
        /// `agencies` (ids and names, lower-case), or with no role, every case of `workflow`.
        contacts: Vec<ContactScope>,
    },
}

/// One way a directory contact relates someone to cases of one workflow.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ContactScope {
    /// The workflow.
    pub workflow: String,
    /// The party role whose agency they are a contact of; `None`: every case of the workflow.
    pub role: Option<String>,
    /// That party's agency's ids and names, lower-case.
    pub agencies: Vec<String>,
}

/// A page of the cases someone may see (`GET /api/v1/cases`).
#[derive(Debug, Clone)]
pub struct CaseQuery {
    /// Whose.
    pub scope: CaseScope,
    /// Only this workflow.
    pub workflow: Option<String>,
    /// Only this state.
    pub state: Option<String>,
    /// Only open cases with a lapse deadline due by then (pending or fired).
    pub overdue_at: Option<DateTime<Utc>>,
    /// Only cases whose reference, or a party's email or agency, contains this (any case).
    pub text: Option<String>,
    /// Rows skipped.
    pub offset: i64,
    /// Rows at most.
    pub limit: i64,
}

/// The ids of one page of cases, in list order, and how many the whole list holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// This page.
    pub items: Vec<T>,
    /// All pages.
    pub total: i64,
}

/// The pending deadlines of the cases someone may see (`GET /api/v1/deadlines`).
#[derive(Debug, Clone)]
pub struct DeadlineQuery {
    /// Whose.
    pub scope: CaseScope,
    /// Only those due before this.
    pub due_before: Option<DateTime<Utc>>,
    /// Only lapses already due at this time (pending or fired) on open cases.
    pub overdue_at: Option<DateTime<Utc>>,
    /// Rows skipped.
    pub offset: i64,
    /// Rows at most.
    pub limit: i64,
}
