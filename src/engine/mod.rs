//! The only writer of cases: opens a case and applies an event, each as one transaction of the
//! store (state, event-log entry, deadlines started or ended, outbox rows), after first firing the
//! case's own deadlines that lapsed before the event's time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Datelike, TimeDelta, Utc};
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::{Value, json};

mod audit;
mod recompute;

pub use audit::AuditReport;
pub use recompute::RecomputeReport;

use crate::calendar::Calendar;
use crate::directory::Directory;
use crate::ids::{CaseRef, UserEmail};
use crate::store::chain;
use crate::store::{
    AccessEntry, CaseFilter, CaseRecord, CaseWrite, DeadlineRecord, DeadlineStatus, EventRecord,
    IdempotencyKey, LinkRecord, NewDeadline, NewEvent, NewMessage, OutboxRecord, Store, StoreError,
    Target,
};
use crate::workflow::{
    ActionKind, Actor, Case, Definition, Effect, EventFields, Problems, Refusal, RoleKind, Slot,
    TimerKind, Transition, Workflows, apply, fire, linked_closed, lookup, open, parse_stored,
    withdraw,
};

/// A deadline fired this long after it fell due is flagged late (the engine was down).
const LATE_AFTER: TimeDelta = TimeDelta::minutes(15);

/// How long a claimed deadline stays leased to the tick that claimed it: if that process dies,
/// another tick takes the deadline over once this has passed.
pub const LEASE: TimeDelta = TimeDelta::seconds(60);

/// How many cases a tick works on at once.
const TICK_CONCURRENCY: usize = 8;

/// How many due deadlines a tick claims at a time.
const CLAIM_BATCH: i64 = 200;

/// How many times a write that lost a race with another writer is retried on a fresh read.
const RETRIES: usize = 16;

/// How far ahead of the real clock an event's time may be without `allow_future`: clocks of
/// different machines differ a little, a mistyped year must not.
pub const CLOCK_SKEW: TimeDelta = TimeDelta::minutes(5);

/// The real clock, to the microsecond, as times are stored and hashed.
pub(crate) fn real_now() -> DateTime<Utc> {
    use chrono::SubsecRound;
    Utc::now().trunc_subsecs(6)
}

/// What a tick did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TickReport {
    /// Deadlines fired.
    pub fired: usize,
    /// Of those, fired long after they fell due.
    pub late: usize,
    /// Deadlines another process fired first, or that no longer applied.
    pub skipped: usize,
    /// Deadlines that could not be fired (left for the next tick), with why.
    pub failed: Vec<String>,
}

/// What the engine refuses, beyond what the workflow refuses.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// No case has this reference.
    #[error("no case with reference '{0}'")]
    UnknownReference(String),
    /// No workflow has this id.
    #[error("no workflow '{0}'; there are: {1}")]
    UnknownWorkflow(String, String),
    /// An event dated before the case's latest entry.
    #[error(
        "{reference}: the event is dated {at}, before the case's latest entry at {last}; a case's time never runs backwards"
    )]
    Backdated {
        /// The case.
        reference: String,
        /// The event's time.
        at: DateTime<Utc>,
        /// The latest entry's time.
        last: DateTime<Utc>,
    },
    /// The person is not involved in the case they try to open.
    #[error(
        "{who} may not open a {workflow} case: they are neither a party it names nor a directory contact of a party's agency"
    )]
    NotInvolved {
        /// Who tried.
        who: String,
        /// The workflow.
        workflow: String,
    },
    /// A case of that workflow opened by this case is still open.
    #[error("{reference} already has {other} open; it takes no second one until that one closes")]
    LinkedStillOpen {
        /// The case.
        reference: String,
        /// The open linked case.
        other: String,
    },
    /// A time later than the real clock, without `[engine] allow_future`.
    #[error(
        "{at} is later than the real clock ({clock}); entries cannot be dated in the future (tests and simulations set [engine] allow_future = true)"
    )]
    Future {
        /// The time asked for.
        at: String,
        /// The real clock.
        clock: String,
    },
    /// The case's workflow version is neither current nor kept in the store, or what is kept
    /// cannot be read (the reason).
    #[error("workflow {0} version {1} is not available: {2}")]
    UnknownVersion(String, String, String),
    /// The workflow files could not be loaded (the first problem, `file:line:col: message`):
    /// cases already open run on their stored versions, but nothing new can start.
    #[error(
        "{0}; no case can be opened until the workflow files are fixed (escalate workflows check lists every problem)"
    )]
    WorkflowFiles(String),
    /// The audit log was changed after it was written.
    #[error("audit chain broken: {0}")]
    Tampered(String),
    /// The case moved on since the version the caller acted on (`If-Match`); nothing was
    /// written.
    #[error("{reference} has moved on since version {expected} (it is at {actual}); read it again")]
    Stale {
        /// The case.
        reference: String,
        /// The version the caller saw.
        expected: i64,
        /// The version it is at.
        actual: i64,
    },
    /// A refusal from the workflow.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The database.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Result of engine operations.
pub type EngineResult<T> = Result<T, EngineError>;

/// A case with everything `case show` prints.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CaseView {
    /// The case.
    #[serde(flatten)]
    pub case: CaseRecord,
    /// Its history, oldest first.
    pub history: Vec<EventRecord>,
    /// Its deadlines, by due time.
    pub deadlines: Vec<DeadlineRecord>,
    /// Its messages.
    pub outbox: Vec<OutboxRecord>,
    /// Cases it opened, or that opened it.
    pub links: Vec<LinkRecord>,
}

/// What opening a case would do ([`Engine::preview_open`]).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct OpenPreview {
    /// The workflow.
    pub workflow: String,
    /// The state it would start in.
    pub state: String,
    /// The deadlines it would start, soonest first as the workflow lists them.
    pub deadlines: Vec<PreviewDeadline>,
}

/// A deadline opening a case would start.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PreviewDeadline {
    /// Which deadline of the case.
    pub slot: Slot,
    /// Warning or lapse.
    pub kind: TimerKind,
    /// When it would fall due.
    pub due_at: DateTime<Utc>,
    /// Why then.
    pub explanation: String,
}

/// What recording an event did.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The case's reference.
    pub reference: String,
    /// Its state afterwards.
    pub state: String,
    /// Did the event close it?
    pub closed: bool,
    /// Deadlines of the case that lapsed before the event and fired first.
    pub fired_first: usize,
    /// References of linked cases the event opened.
    pub opened: Vec<String>,
}

/// How [`Engine::record_with`] records an event, beyond the event itself.
#[derive(Debug, Default)]
pub struct Recording<'a> {
    /// Only if the case is still at this version (its sequence number, the API's `ETag`) once
    /// its lapsed deadlines have fired: else [`EngineError::Stale`], nothing written.
    pub expected: Option<i64>,
    /// The event's time; none: the clock's as each attempt decides (never before the case's
    /// latest entry).
    pub at: Option<DateTime<Utc>>,
    /// The request's idempotency key, recorded with the event.
    pub key: Option<&'a IdempotencyKey>,
    /// The request's access-log entry, recorded with the event in its transaction.
    pub access: Option<AccessEntry>,
    /// The case and the directory as the caller has just read them (the access policy did),
    /// which the first attempt decides on instead of reading them again: a case that moved
    /// meanwhile fails that write, and the next attempt reads it afresh.
    pub read: Option<(CaseRecord, &'a Directory)>,
}

/// The engine: workflows, calendar and store.
pub struct Engine {
    store: Arc<dyn Store>,
    workflows: Workflows,
    /// Why there are no current workflows, when the files could not be loaded (one line).
    /// Running cases never need them: they run on the versions they started on, from the store.
    files_broken: Option<String>,
    calendar: Calendar,
    /// Workflow versions by (id, hash): the current ones, and older ones that cases still
    /// use, parsed from the store on demand.
    versions: Mutex<HashMap<(String, String), Arc<Definition>>>,
    /// Accept event times later than the real clock (tests and simulations only).
    allow_future: bool,
}

impl Engine {
    /// An engine over a store, with the current workflows and the calendar.
    pub fn new(store: Arc<dyn Store>, workflows: Workflows, calendar: Calendar) -> Self {
        let versions = workflows
            .iter()
            .map(|d| ((d.id.clone(), d.hash.clone()), Arc::new(d.clone())))
            .collect();
        Engine {
            store,
            workflows,
            files_broken: None,
            calendar,
            versions: Mutex::new(versions),
            allow_future: false,
        }
    }

    /// An engine for when the workflow files cannot be loaded (`problems`): every case already
    /// open runs, fires and shows as usual on the version it started on, read from the store;
    /// what needs the current files (opening a case, a linked case included) is refused,
    /// naming the first problem.
    pub fn without_current(store: Arc<dyn Store>, calendar: Calendar, problems: &Problems) -> Self {
        let mut engine = Engine::new(store, Workflows::default(), calendar);
        engine.files_broken = Some(problems.one_line());
        engine
    }

    /// Lets event times run ahead of the real clock (`[engine] allow_future`: tests and
    /// simulations only, never on by default).
    pub fn allow_future(mut self, allow: bool) -> Self {
        self.allow_future = allow;
        self
    }

    /// Refuses a time later than the real clock (beyond [`CLOCK_SKEW`]) unless allowed: one
    /// mistyped year would otherwise escalate every case and lock them against real entries.
    /// Returns the time to the microsecond, as it is stored and hashed: a case's event times
    /// and its history must agree exactly (`audit verify` replays one against the other).
    pub fn check_time(&self, at: DateTime<Utc>) -> EngineResult<DateTime<Utc>> {
        use chrono::SubsecRound;
        let clock = Utc::now();
        if !self.allow_future && at > clock + CLOCK_SKEW {
            return Err(EngineError::Future {
                at: at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                clock: clock.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            });
        }
        Ok(at.trunc_subsecs(6))
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The calendar.
    pub fn calendar(&self) -> &Calendar {
        &self.calendar
    }

    /// Keeps every current workflow version in the store, so cases can outlive edits.
    pub async fn register_workflows(&self, now: DateTime<Utc>) -> EngineResult<()> {
        for def in self.workflows.iter() {
            self.store.save_workflow_version(def, now).await?;
        }
        Ok(())
    }

    /// Fills the lists' index of case parties from the cases opened before it existed, when a
    /// migration asked for it; returns how many cases it read, none if it had nothing to do.
    /// Safe to run in several processes at once: a case's parties are written once.
    pub async fn index_parties(&self) -> EngineResult<Option<u64>> {
        if !self.store.parties_pending().await? {
            return Ok(None);
        }
        const PAGE: i64 = 1000;
        let last = self.store.max_case_id().await?;
        let mut read = 0;
        let mut lo = 1;
        while lo <= last {
            let ids: Vec<i64> = (lo..lo + PAGE).collect();
            let mut batch = Vec::new();
            for case in self.store.cases_by_id(&ids).await? {
                let def = self.definition(&case.workflow, &case.workflow_hash).await?;
                batch.push((case.id, def.parties(&case.data)));
            }
            read += batch.len() as u64;
            lo += PAGE;
            self.store.add_parties(&batch, lo > last).await?;
        }
        if last < 1 {
            self.store.add_parties(&[], true).await?;
        }
        Ok(Some(read))
    }

    /// The current workflows (none when the files could not be loaded).
    pub fn workflows(&self) -> &Workflows {
        &self.workflows
    }

    fn current(&self, workflow: &str) -> EngineResult<&Definition> {
        if let Some(why) = &self.files_broken {
            return Err(EngineError::WorkflowFiles(why.clone()));
        }
        self.workflows.get(workflow).ok_or_else(|| {
            let known: Vec<&str> = self.workflows.iter().map(|d| d.id.as_str()).collect();
            EngineError::UnknownWorkflow(workflow.into(), known.join(", "))
        })
    }

    /// The definition a case runs on: the version it started on, whatever the files say now
    /// (the current one if the hash matches, else the one kept in the store).
    pub async fn definition(&self, workflow: &str, hash: &str) -> EngineResult<Arc<Definition>> {
        let key = (workflow.to_string(), hash.to_string());
        if let Some(def) = self.versions.lock().expect("not poisoned").get(&key) {
            return Ok(def.clone());
        }
        let unknown = |why: String| EngineError::UnknownVersion(workflow.into(), hash.into(), why);
        let source = self
            .store
            .workflow_source(workflow, hash)
            .await?
            .ok_or_else(|| unknown("it is not in workflow_versions".into()))?;
        // Named as its file was, so that the id still matches the name; the error says which
        // version.
        let file = std::path::PathBuf::from(format!("{workflow}.yaml"));
        let (def, problems) =
            parse_stored(&file, &source).map_err(|problems| unknown(problems.one_line()))?;
        if let Some(first) = problems.first() {
            // Checked in full when it was current; rules added since do not stop its cases.
            tracing::warn!(
                count = problems.len(),
                "a stored workflow version does not meet today's rules; its cases run on it as it is: {first}"
            );
        }
        let def = Arc::new(def);
        self.versions
            .lock()
            .expect("not poisoned")
            .insert(key, def.clone());
        Ok(def)
    }

    /// Opens a case of `workflow` with `data`, recorded as done by `by` at `now`.
    pub async fn open(
        &self,
        workflow: &str,
        data: Value,
        start: Option<&str>,
        fields: &EventFields,
        by: &UserEmail,
        now: DateTime<Utc>,
    ) -> EngineResult<CaseRecord> {
        self.open_keyed(workflow, data, start, fields, by, now, None)
            .await
    }

    /// [`Engine::open`] with the request's idempotency key recorded with the opening: one
    /// already recorded fails the whole write with [`StoreError::Duplicate`].
    #[allow(clippy::too_many_arguments)]
    pub async fn open_keyed(
        &self,
        workflow: &str,
        data: Value,
        start: Option<&str>,
        fields: &EventFields,
        by: &UserEmail,
        now: DateTime<Utc>,
        key: Option<&IdempotencyKey>,
    ) -> EngineResult<CaseRecord> {
        let now = self.check_time(now)?;
        let def = self.current(workflow)?;
        // Opening parses the data once into its normal form; bad data is bad input whoever
        // sends it, so it is refused before who may open is decided (on the parsed data).
        let actor = Actor {
            id: by.to_string(),
            roles: Vec::new(),
        };
        let (case, transition) = open(def, data, start, fields, &actor, now, &self.calendar)?;
        self.check_opener(def, &case.data, by, &mut None).await?;
        self.store.save_workflow_version(def, real_now()).await?;
        let directory = self.directory_for(def, &transition).await?;
        let mut writes = vec![self.new_case_write(def, &case, &transition, &directory)];
        writes[0].idempotency = key.cloned();
        self.linked(None, &transition, &mut writes, now).await?;
        let written = self.store.write(&writes, now).await?;
        let reference = &written[0].1;
        self.case(reference).await
    }

    /// What opening a case would do, with nothing written: the state it would start in and
    /// the deadlines it would start, each with its explanation (the check-your-answers page
    /// before "Open the case"). Refused as [`Engine::open`] refuses bad data, a start the
    /// workflow does not allow and an opener the case does not involve; a linked case it
    /// would open is not tried until the opening itself.
    pub async fn preview_open(
        &self,
        workflow: &str,
        data: Value,
        start: Option<&str>,
        fields: &EventFields,
        by: &UserEmail,
        now: DateTime<Utc>,
    ) -> EngineResult<OpenPreview> {
        let now = self.check_time(now)?;
        let def = self.current(workflow)?;
        let actor = Actor {
            id: by.to_string(),
            roles: Vec::new(),
        };
        let (case, transition) = open(def, data, start, fields, &actor, now, &self.calendar)?;
        self.check_opener(def, &case.data, by, &mut None).await?;
        let deadlines = transition
            .effects
            .iter()
            .filter_map(|e| match e {
                Effect::Start(timer) => Some(PreviewDeadline {
                    slot: timer.slot.clone(),
                    kind: timer.kind,
                    due_at: timer.due_at,
                    explanation: self.calendar.summary(&timer.deadline),
                }),
                _ => None,
            })
            .collect();
        Ok(OpenPreview {
            workflow: def.id.clone(),
            state: transition.to,
            deadlines,
        })
    }

    /// Opens many cases of one workflow in ONE transaction (an import): each `(data, time)`
    /// as [`Engine::open`] would, all or none. Returns the references in order.
    pub async fn open_batch(
        &self,
        workflow: &str,
        cases: &[(Value, DateTime<Utc>)],
        by: &UserEmail,
    ) -> EngineResult<Vec<String>> {
        let def = self.current(workflow)?;
        let times = cases
            .iter()
            .map(|(_, at)| self.check_time(*at))
            .collect::<EngineResult<Vec<_>>>()?;
        if !cases.is_empty() {
            self.store.save_workflow_version(def, real_now()).await?;
        }
        let mut writes = Vec::with_capacity(cases.len());
        let mut directory = None;
        let mut contacts = None;
        let actor = Actor {
            id: by.to_string(),
            roles: Vec::new(),
        };
        for ((data, _), at) in cases.iter().zip(&times) {
            let (case, opening) = open(
                def,
                data.clone(),
                None,
                &EventFields::new(),
                &actor,
                *at,
                &self.calendar,
            )?;
            self.check_opener(def, &case.data, by, &mut contacts)
                .await?;
            if directory.is_none() {
                directory = Some(self.directory_for(def, &opening).await?);
            }
            let dir = directory.as_ref().expect("set just above");
            writes.push(self.new_case_write(def, &case, &opening, dir));
        }
        let now = times.iter().copied().max().unwrap_or_else(Utc::now);
        let written = self.store.write(&writes, now).await?;
        Ok(written.into_iter().map(|(_, r)| r).collect())
    }

    /// Records `event` on case `reference` by `by` at `now`: first fires the case's deadlines
    /// that lapsed before `now`, in due order, then applies the event in one transaction.
    pub async fn record(
        &self,
        reference: &CaseRef,
        event: &str,
        fields: &EventFields,
        by: &UserEmail,
        now: DateTime<Utc>,
    ) -> EngineResult<Recorded> {
        self.record_if(reference, None, event, fields, by, Some(now), None)
            .await
    }

    /// [`Engine::record`], only if the case is still at version `expected` (its sequence
    /// number, the API's `ETag`) once its lapsed deadlines have fired: else [`EngineError::Stale`]
    /// and nothing of the event is written. Checked again on every retry, so a writer that got
    /// in between is always noticed. With `at` none the entry is dated by the clock as each
    /// attempt reads the case (and never before its latest entry), so a writer that lost a
    /// race to a later entry is not refused as back-dated. With `key`, the request's
    /// idempotency key is recorded with the event: one already recorded fails the whole write
    /// with [`StoreError::Duplicate`].
    #[allow(clippy::too_many_arguments)]
    pub async fn record_if(
        &self,
        reference: &CaseRef,
        expected: Option<i64>,
        event: &str,
        fields: &EventFields,
        by: &UserEmail,
        at: Option<DateTime<Utc>>,
        key: Option<&IdempotencyKey>,
    ) -> EngineResult<Recorded> {
        let how = Recording {
            expected,
            at,
            key,
            ..Recording::default()
        };
        self.record_with(reference, event, fields, by, how).await
    }

    /// Records `event` on case `reference` by `by` as `how` says (see [`Recording`]): first
    /// fires the case's deadlines that lapsed before the event's time, then writes the event,
    /// with its idempotency key and access-log entry if given, in one transaction. A write
    /// that lost a race with another writer is decided again on a fresh read.
    pub async fn record_with(
        &self,
        reference: &CaseRef,
        event: &str,
        fields: &EventFields,
        by: &UserEmail,
        how: Recording<'_>,
    ) -> EngineResult<Recorded> {
        let Recording {
            expected,
            at,
            key,
            access,
            read,
        } = how;
        let fixed = at.map(|t| self.check_time(t)).transpose()?;
        let reference = reference.as_str();
        let by = by.as_str();
        let (mut known, directory) = match read {
            Some((case, directory)) if case.reference == reference => (Some(case), Some(directory)),
            _ => (None, None),
        };
        let mut fired_first = 0;
        let mut attempt = 0;
        loop {
            let mut case = match known.take() {
                Some(case) => case,
                None => self.case(reference).await?,
            };
            let now = match fixed {
                Some(t) => t,
                // Never before the case's latest entry, which another replica (its clock a
                // little ahead) may have written: a case's time never runs backwards.
                None => self.check_time(Utc::now())?.max(case.last_at),
            };
            if now < case.last_at {
                return Err(EngineError::Backdated {
                    reference: reference.into(),
                    at: now,
                    last: case.last_at,
                });
            }
            fired_first += self.fire_due(&mut case, now, now).await?.0;
            if let Some(expected) = expected
                && case.seq != expected
            {
                return Err(EngineError::Stale {
                    reference: reference.into(),
                    expected,
                    actual: case.seq,
                });
            }
            let def = self.definition(&case.workflow, &case.workflow_hash).await?;
            let mut actor = Actor {
                id: by.to_string(),
                roles: def.party_roles(&case.data, by),
            };
            let before = machine_case(&case);
            let decide =
                |actor: &Actor| apply(&def, &before, event, actor, fields, now, &self.calendar);
            let transition = match decide(&actor) {
                // Not as a named party: perhaps as one of the agencies' contacts.
                Err(Refusal::NotAllowed { .. }) => {
                    let read;
                    let directory = match directory {
                        Some(d) => d,
                        None => {
                            read = self.store.directory().await?;
                            &read
                        }
                    };
                    actor
                        .roles
                        .extend(directory.contact_roles(&def, &case.data, by));
                    decide(&actor)?
                }
                other => other?,
            };
            let directory = match directory {
                Some(d) if needs_directory(&def, &transition) => d.clone(),
                _ => self.directory_for(&def, &transition).await?,
            };
            let mut writes = vec![self.existing_write(&def, &case, &transition, None, &directory)];
            // The request's key and its access-log entry go in with the event, all or nothing.
            writes[0].idempotency = key.cloned();
            writes[0].access.clone_from(&access);
            self.linked(Some(&case), &transition, &mut writes, now)
                .await?;
            match self.store.write(&writes, now).await {
                Ok(written) => {
                    return Ok(Recorded {
                        reference: reference.to_string(),
                        state: transition.to.clone(),
                        closed: transition.closes,
                        fired_first,
                        opened: writes
                            .iter()
                            .zip(written)
                            .filter(|(w, _)| w.opened_by.is_some())
                            .map(|(_, (_, r))| r)
                            .collect(),
                    });
                }
                // Another writer got there first: decide again on what the case is now, which
                // may refuse the event (e.g. the other writer closed the case).
                Err(StoreError::Conflict(_)) if attempt < RETRIES => attempt += 1,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Refuses a person who is neither a party `data` names nor a directory contact of a
    /// party's agency. The directory is read at most once per `cache` (an import checks many).
    async fn check_opener(
        &self,
        def: &Definition,
        data: &Value,
        by: &UserEmail,
        cache: &mut Option<Directory>,
    ) -> EngineResult<()> {
        if !def.party_roles(data, by.as_str()).is_empty() {
            return Ok(());
        }
        if cache.is_none() {
            *cache = Some(self.store.directory().await?);
        }
        let contact = cache
            .as_ref()
            .is_some_and(|d| !d.contact_roles(def, data, by.as_str()).is_empty());
        if contact {
            Ok(())
        } else {
            Err(EngineError::NotInvolved {
                who: by.to_string(),
                workflow: def.id.clone(),
            })
        }
    }

    /// Fires the case's pending deadlines due at or before `until`, each at its own due time,
    /// each in its own transaction; `recorded_now` decides lateness. A write that loses a race
    /// with another process is retried on a fresh read. Returns how many fired, and how many
    /// of those late.
    async fn fire_due(
        &self,
        case: &mut CaseRecord,
        until: DateTime<Utc>,
        recorded_now: DateTime<Utc>,
    ) -> EngineResult<(usize, usize)> {
        let (mut fired, mut late) = (0, 0);
        let mut conflicts = 0;
        loop {
            // The case row says when its next deadline falls due: most events need no more.
            if case.next_due.is_none_or(|due| due > until) {
                return Ok((fired, late));
            }
            let deadlines = self.store.deadlines(case.id).await?;
            let Some(next) = deadlines
                .into_iter()
                .filter(|d| d.status == DeadlineStatus::Pending && d.due_at <= until)
                .min_by_key(|d| (d.due_at, d.kind, d.id))
            else {
                return Ok((fired, late));
            };
            match self.fire_one(case, &next, recorded_now).await {
                Ok(()) => {
                    fired += 1;
                    late += usize::from(recorded_now - next.due_at > LATE_AFTER);
                }
                Err(EngineError::Store(StoreError::Conflict(_))) if conflicts < RETRIES => {
                    conflicts += 1;
                }
                Err(EngineError::Refused(Refusal::StaleTimer(_))) => {
                    // The case, as read, left that deadline's state without ending it. End it
                    // with an entry in its history, guarded like any write: if the read was
                    // stale the write conflicts, and the deadline is judged again on a fresh
                    // read (where it may well apply and fire).
                    match self.withdraw_one(case, &next, recorded_now).await {
                        Ok(()) => {}
                        Err(EngineError::Store(StoreError::Conflict(_))) if conflicts < RETRIES => {
                            conflicts += 1;
                        }
                        Err(e) => return Err(e),
                    }
                }
                Err(e) => return Err(e),
            }
            *case = self.case(&case.reference).await?;
        }
    }

    /// Fires every pending deadline due at or before `now`, across all cases, claiming each
    /// with a lease so that concurrent ticks (other processes, other replicas) never fire one
    /// twice; a deadline whose time passed long ago fires once, flagged late.
    pub async fn tick(&self, now: DateTime<Utc>) -> EngineResult<TickReport> {
        self.tick_with(now, LEASE, |_, _| {}).await
    }

    /// [`Engine::tick`] with the lease length and a callback told of each case swept (its
    /// reference and how many of its deadlines fired), e.g. to log progress.
    pub async fn tick_with(
        &self,
        now: DateTime<Utc>,
        lease: TimeDelta,
        mut swept: impl FnMut(&str, usize) + Send,
    ) -> EngineResult<TickReport> {
        let now = self.check_time(now)?;
        let owner = format!(
            "{}-{}",
            std::process::id(),
            Utc::now().timestamp_nanos_opt().unwrap_or_default()
        );
        let mut report = TickReport::default();
        loop {
            // Leases run on the real clock: they are about processes, not about case time.
            let clock = Utc::now();
            let claimed = self
                .store
                .claim_due(now, &owner, clock, clock + lease, CLAIM_BATCH)
                .await?;
            if claimed.is_empty() {
                return Ok(report);
            }
            // A case's deadlines fire one after another, in due order; different cases at once.
            // The cases are read in one query; a case that changes meanwhile is read again.
            let mut ids: Vec<i64> = claimed.iter().map(|(d, _)| d.case_id).collect();
            ids.sort_unstable();
            ids.dedup();
            let mut cases: HashMap<i64, CaseRecord> = self
                .store
                .cases_by_id(&ids)
                .await?
                .into_iter()
                .map(|c| (c.id, c))
                .collect();
            let mut by_case: Vec<(String, Option<CaseRecord>, Vec<DeadlineRecord>)> = Vec::new();
            for (deadline, reference) in claimed {
                match by_case.iter_mut().find(|(r, _, _)| *r == reference) {
                    Some((_, _, list)) => list.push(deadline),
                    None => {
                        let case = cases.remove(&deadline.case_id);
                        by_case.push((reference, case, vec![deadline]));
                    }
                }
            }
            let mut results = futures_util::stream::iter(by_case)
                .map(|(reference, mut case, deadlines)| async move {
                    let mut total = (0, 0);
                    for deadline in &deadlines {
                        match self
                            .fire_claimed(&reference, case.take(), deadline, now)
                            .await
                        {
                            Ok((fired, late)) => total = (total.0 + fired, total.1 + late),
                            Err(e) => return Err(format!("{reference}: {e}")),
                        }
                    }
                    Ok((reference, total))
                })
                .buffer_unordered(TICK_CONCURRENCY);
            while let Some(result) = results.next().await {
                match result {
                    Ok((_, (0, _))) => report.skipped += 1,
                    Ok((reference, (fired, late))) => {
                        report.fired += fired;
                        report.late += late;
                        swept(&reference, fired);
                    }
                    Err(e) => report.failed.push(e),
                }
            }
        }
    }

    /// Fires a claimed deadline, given its case as read with the claim (else read now):
    /// straight away when nothing of its case falls due before it
    /// (the usual case, and the fewest queries), else the case's due deadlines in order up to it.
    async fn fire_claimed(
        &self,
        reference: &str,
        read: Option<CaseRecord>,
        deadline: &DeadlineRecord,
        now: DateTime<Utc>,
    ) -> EngineResult<(usize, usize)> {
        let mut case = match read {
            Some(case) => case,
            None => self.case(reference).await?,
        };
        if case.next_due == Some(deadline.due_at) {
            match self.fire_one(&case, deadline, now).await {
                Ok(()) => return Ok((1, usize::from(now - deadline.due_at > LATE_AFTER))),
                // Someone else moved the case on, or the case as read is no longer in the
                // deadline's state: take the careful path on a fresh read, which fires it or
                // withdraws it with a guarded write.
                Err(EngineError::Store(StoreError::Conflict(_)))
                | Err(EngineError::Refused(Refusal::StaleTimer(_))) => {
                    case = self.case(reference).await?;
                }
                Err(e) => return Err(e),
            }
        }
        self.fire_due(&mut case, deadline.due_at, now).await
    }

    /// Fires one deadline of `case` at its due time, in one transaction with its effects.
    async fn fire_one(
        &self,
        case: &CaseRecord,
        deadline: &DeadlineRecord,
        recorded_now: DateTime<Utc>,
    ) -> EngineResult<()> {
        let def = self.definition(&case.workflow, &case.workflow_hash).await?;
        // Never before the case's latest entry, even if the deadline's time is earlier.
        let at = deadline.due_at.max(case.last_at);
        let transition = fire(
            &def,
            &machine_case(case),
            &deadline.slot,
            deadline.kind,
            at,
            &self.calendar,
        )?;
        let late = recorded_now - deadline.due_at > LATE_AFTER;
        let directory = self.directory_for(&def, &transition).await?;
        let mut writes =
            vec![self.existing_write(&def, case, &transition, Some((deadline, late)), &directory)];
        self.linked(Some(case), &transition, &mut writes, at)
            .await?;
        self.store.write(&writes, recorded_now).await?;
        Ok(())
    }

    /// Cancels a deadline that no longer applies to `case` as read, with an engine entry in its
    /// history; a conflict if the case moved on since it was read.
    async fn withdraw_one(
        &self,
        case: &CaseRecord,
        deadline: &DeadlineRecord,
        recorded_now: DateTime<Utc>,
    ) -> EngineResult<()> {
        let def = self.definition(&case.workflow, &case.workflow_hash).await?;
        let at = recorded_now.min(deadline.due_at).max(case.last_at);
        let transition = withdraw(&machine_case(case), &deadline.slot, at);
        let write = self.existing_write(&def, case, &transition, None, &Directory::default());
        self.store.write(&[write], recorded_now).await?;
        Ok(())
    }

    /// What an event on `source` (`None` for a case being opened) means for linked cases, as
    /// further writes in the same transaction: the cases it opens, linked to it (refused while
    /// a case of that workflow it opened is still open), and when it closes `source`, an entry
    /// and a message on each open case linked to it.
    async fn linked(
        &self,
        source: Option<&CaseRecord>,
        transition: &Transition,
        writes: &mut Vec<CaseWrite>,
        now: DateTime<Utc>,
    ) -> EngineResult<()> {
        let opens = transition
            .effects
            .iter()
            .any(|e| matches!(e, Effect::Open { .. }));
        let links = match source {
            Some(case) if opens || transition.closes => self.store.links(case.id).await?,
            _ => Vec::new(),
        };
        for effect in &transition.effects {
            if let Effect::Open { workflow, data } = effect {
                if let (Some(case), Some(open_one)) = (
                    source,
                    links
                        .iter()
                        .find(|l| l.relation == "opened" && l.workflow == *workflow && !l.closed),
                ) {
                    return Err(EngineError::LinkedStillOpen {
                        reference: case.reference.clone(),
                        other: open_one.reference.clone(),
                    });
                }
                let def = self.current(workflow)?;
                self.store.save_workflow_version(def, real_now()).await?;
                let actor = Actor {
                    id: transition.actor.clone(),
                    roles: Vec::new(),
                };
                let (case, mut opening) = open(
                    def,
                    data.clone(),
                    None,
                    &EventFields::new(),
                    &actor,
                    now,
                    &self.calendar,
                )?;
                if let Some(source) = source {
                    // In the new case's (hashed) opening entry, and in the links table.
                    opening
                        .fields
                        .insert("opened_from".into(), source.reference.clone());
                }
                let directory = self.directory_for(def, &opening).await?;
                let mut write = self.new_case_write(def, &case, &opening, &directory);
                write.opened_by = Some(0);
                writes.push(write);
            }
        }
        if let (Some(case), true) = (source, transition.closes) {
            let outcome = transition
                .fields
                .get("outcome")
                .cloned()
                .unwrap_or_else(|| transition.to.clone());
            for link in links.iter().filter(|l| !l.closed) {
                let other = self.case(&link.reference).await?;
                let def = self
                    .definition(&other.workflow, &other.workflow_hash)
                    .await?;
                let at = now.max(other.last_at);
                let notice =
                    linked_closed(&def, &machine_case(&other), &case.reference, &outcome, at);
                let directory = self.directory_for(&def, &notice).await?;
                writes.push(self.existing_write(&def, &other, &notice, None, &directory));
            }
        }
        Ok(())
    }

    /// The agency directory if `transition` sends anything to a directory contact, else an
    /// empty one (no query).
    async fn directory_for(
        &self,
        def: &Definition,
        transition: &Transition,
    ) -> EngineResult<Directory> {
        Ok(if needs_directory(def, transition) {
            self.store.directory().await?
        } else {
            Directory::default()
        })
    }

    fn new_case_write(
        &self,
        def: &Definition,
        case: &Case,
        transition: &Transition,
        directory: &Directory,
    ) -> CaseWrite {
        let year = transition.at.with_timezone(&def.time_zone).year();
        let agency = lookup(&case.data, "raised_by.agency")
            .or_else(|| {
                def.roles.iter().find_map(|r| match &r.kind {
                    crate::workflow::RoleKind::Party { path } => {
                        lookup(&case.data, &format!("{path}.agency"))
                    }
                    _ => None,
                })
            })
            .and_then(Value::as_str)
            .map(str::to_string);
        let target = Target::New {
            prefix: def.reference_prefix.clone(),
            year,
            workflow: def.id.clone(),
            workflow_hash: def.hash.clone(),
            data: case.data.clone(),
            division: def.division_of(&case.data).to_string(),
            agency,
            data_salt: chain::new_salt(),
            parties: def.parties(&case.data),
        };
        self.case_write(def, target, case, transition, None, directory)
    }

    fn existing_write(
        &self,
        def: &Definition,
        case: &CaseRecord,
        transition: &Transition,
        fired: Option<(&DeadlineRecord, bool)>,
        directory: &Directory,
    ) -> CaseWrite {
        let target = Target::Existing {
            id: case.id,
            reference: case.reference.clone(),
            expected_seq: case.seq,
            prev_hash: case.last_hash.clone(),
        };
        let mut write = self.case_write(
            def,
            target,
            &machine_case(case),
            transition,
            fired,
            directory,
        );
        // A record-only event on a closed case (`after_close`) keeps it closed as it was.
        if !transition.closes && case.closed_at.is_some() {
            write.closed_at = case.closed_at;
            write.outcome.clone_from(&case.outcome);
        }
        write
    }

    /// The write that records `transition` on the case `before` it.
    fn case_write(
        &self,
        def: &Definition,
        target: Target,
        before: &Case,
        transition: &Transition,
        fired: Option<(&DeadlineRecord, bool)>,
        directory: &Directory,
    ) -> CaseWrite {
        let fired_slot = fired.map(|(d, _)| &d.slot);
        let mut after = before.clone();
        transition.apply_to(&mut after);
        let state_title = def
            .state(&transition.to)
            .map(|s| s.title.clone())
            .unwrap_or_default();
        let mut write = CaseWrite {
            target,
            state: after.state.clone(),
            entered_at: after.entered_at,
            closed_at: transition.closes.then_some(transition.at),
            outcome: if transition.closes {
                def.state(&transition.to).and_then(|s| s.outcome.clone())
            } else {
                None
            },
            event_times: after.event_times.clone(),
            event: NewEvent {
                at: transition.at,
                actor: transition.actor.clone(),
                event: transition.event.clone(),
                from_state: transition.from.clone(),
                to_state: transition.to.clone(),
                fields: transition.fields.clone(),
                reason: transition.fields.get("reason").cloned(),
                recorded_at: real_now(),
            },
            meet: Vec::new(),
            cancel: Vec::new(),
            start: Vec::new(),
            outbox: Vec::new(),
            fired: fired.map(|(d, late)| (d.id, late)),
            opened_by: None,
            moved: Vec::new(),
            idempotency: None,
            access: None,
        };
        for effect in &transition.effects {
            match effect {
                Effect::Start(timer) => write.start.push(NewDeadline {
                    slot: timer.slot.clone(),
                    kind: timer.kind,
                    due_at: timer.due_at,
                    explanation: self.calendar.summary(&timer.deadline),
                    data_version: timer.deadline.data_version.to_string(),
                }),
                Effect::Meet(slot) => write.meet.push(slot.clone()),
                Effect::Cancel(slot) => write.cancel.push(slot.clone()),
                Effect::Send(message) => {
                    let kind = match message.kind {
                        ActionKind::Email => "email",
                        ActionKind::Form => "form",
                    };
                    // What the template needs that the case row will not say later; the case's
                    // reference, deadlines and parties are read when the message is sent.
                    // Never the child's details.
                    let payload = json!({
                        "workflow": def.title,
                        "state": transition.to,
                        "state_title": state_title,
                        "from_state": transition.from,
                        "event": transition.event,
                        "event_title": def.event_title(&transition.from, &transition.event),
                        "by": transition.actor,
                        "reason": transition.fields.get("reason"),
                        "outcome": transition.fields.get("outcome"),
                        "entered": transition.entered,
                        "slot": fired_slot.map(|s| match s {
                            crate::workflow::Slot::State(n) => json!({"kind": "state", "name": n}),
                            crate::workflow::Slot::Task(n) => json!({"kind": "task", "name": n}),
                        }),
                    });
                    for recipient in directory.recipients(def, &after.data, &message.to) {
                        write.outbox.push(NewMessage {
                            kind: kind.into(),
                            template: message.template.clone(),
                            recipient,
                            payload: payload.clone(),
                        });
                    }
                }
                Effect::Open { .. } => {}
            }
        }
        write
    }

    /// The case with this reference.
    pub async fn case(&self, reference: &str) -> EngineResult<CaseRecord> {
        self.store
            .case_by_reference(reference)
            .await?
            .ok_or_else(|| EngineError::UnknownReference(reference.into()))
    }

    /// The case with its history, deadlines, messages and links, as of one moment (one read).
    pub async fn show(&self, reference: &str) -> EngineResult<CaseView> {
        let file = self
            .store
            .case_file(reference)
            .await?
            .ok_or_else(|| EngineError::UnknownReference(reference.into()))?;
        Ok(CaseView {
            case: file.case,
            history: file.events,
            deadlines: file.deadlines,
            outbox: file.outbox,
            links: file.links,
        })
    }

    /// Cases matching `filter`.
    pub async fn list(&self, filter: &CaseFilter) -> EngineResult<Vec<CaseRecord>> {
        Ok(self.store.list_cases(filter).await?)
    }
}

/// Whether `transition` sends anything to a directory contact (so its write needs the
/// directory to address it).
fn needs_directory(def: &Definition, transition: &Transition) -> bool {
    transition.effects.iter().any(|e| match e {
        Effect::Send(m) => m.to.iter().any(|role| {
            def.role(role)
                .is_some_and(|r| matches!(r.kind, RoleKind::Contact { .. }))
        }),
        _ => false,
    })
}

/// The state machine's view of a stored case.
fn machine_case(case: &CaseRecord) -> Case {
    Case {
        state: case.state.clone(),
        data: case.data.clone(),
        opened_at: case.opened_at,
        entered_at: case.entered_at,
        event_times: case.event_times.clone(),
    }
}
