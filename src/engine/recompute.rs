//! When the holiday data changes, open deadlines are recomputed and each move is audited.
//!
//! A deadline row keeps the data version (`sha256:…` over the feed and closures) it was
//! computed with. At `serve` and `tick` start-up and on `escalate calendar reload`, every
//! pending deadline computed with other data is recomputed from its rule in the case's
//! workflow version and the time it started ([`crate::workflow::recompute`]):
//! - due at the same time: only its explanation and data version are brought up to date;
//! - moved: one guarded write per deadline (its lapse and warning together) records a
//!   `deadline_moved` entry with the old and new due times and the holidays that appeared or
//!   went, updates the rows, and, when it now falls due earlier, emails its owners;
//! - already due at `now` (lapsed, not yet fired) or fired: never moved; the tick fires it as
//!   computed. A deadline the case has left is left for the tick to withdraw.

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::json;

use super::{
    CLAIM_BATCH, Engine, EngineError, EngineResult, RETRIES, TICK_CONCURRENCY, machine_case,
};
use crate::calendar::local_time;
use crate::store::{CaseRecord, DeadlineRecord, DeadlineStatus, MovedDeadline, StoreError};
use crate::workflow::{Move, Refusal, Slot, Timer, TimerKind, moved, recompute};

/// What recomputing open deadlines did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RecomputeReport {
    /// The holiday data version in use, which every pending deadline now carries (but those
    /// left and failed).
    pub data_version: String,
    /// Pending deadlines computed with other holiday data.
    pub checked: usize,
    /// Of those, moved: each move is an entry in its case's history.
    pub moved: usize,
    /// Deadlines (lapses) moved earlier: their owners are emailed.
    pub earlier: usize,
    /// Due at the same time as before: only their data version and explanation changed.
    pub unchanged: usize,
    /// Left as they were: already due at `now` (they fire as computed), or no longer
    /// applying (the next tick withdraws them).
    pub left: usize,
    /// References of the cases with a moved deadline.
    pub cases: Vec<String>,
    /// Cases that could not be recomputed, with why; their deadlines stay as they were.
    pub failed: Vec<String>,
}

/// A stale pending deadline and what the new data makes of it.
struct Plan {
    row: DeadlineRecord,
    timer: Timer,
}

impl Plan {
    fn moves(&self) -> bool {
        self.timer.due_at != self.row.due_at
    }
}

fn slot_json(slot: &Slot) -> serde_json::Value {
    match slot {
        Slot::State(n) => json!({"kind": "state", "name": n}),
        Slot::Task(n) => json!({"kind": "task", "name": n}),
    }
}

impl Engine {
    /// Recomputes every pending deadline computed with holiday data other than the calendar's
    /// (see the module documentation), as of `now`. Safe to run at any time and from several
    /// processes at once: each move is a guarded case write, retried on a fresh read if the
    /// case changed meanwhile; a second run changes nothing. Fails only when the database
    /// does; a case that cannot be recomputed is reported in [`RecomputeReport::failed`].
    pub async fn recompute_deadlines(&self, now: DateTime<Utc>) -> EngineResult<RecomputeReport> {
        let now = self.check_time(now)?;
        let version = self.calendar.version().to_string();
        let mut report = RecomputeReport {
            data_version: version.clone(),
            ..RecomputeReport::default()
        };
        let ids = self.store.stale_deadline_cases(&version).await?;
        // Different cases at once, as a tick fires them: a holiday added to the feed's last year
        // can touch every open case.
        for chunk in ids.chunks(CLAIM_BATCH as usize) {
            let cases = self.store.cases_by_id(chunk).await?;
            let mut results = futures_util::stream::iter(cases)
                .map(|case| {
                    let version = &version;
                    async move {
                        let reference = case.reference.clone();
                        let mut one = RecomputeReport::default();
                        let result = self.recompute_case(case, version, now, &mut one).await;
                        (reference, one, result)
                    }
                })
                .buffer_unordered(TICK_CONCURRENCY);
            let mut fatal = None;
            while let Some((reference, one, result)) = results.next().await {
                report.moved += one.moved;
                report.earlier += one.earlier;
                report.unchanged += one.unchanged;
                report.left += one.left;
                report.cases.extend(one.cases);
                match result {
                    Ok(()) => {}
                    // The database failing is the run failing; the cases in flight finish first.
                    Err(EngineError::Store(
                        e @ (StoreError::Unreachable { .. } | StoreError::Database(_)),
                    )) => fatal = fatal.or(Some(e)),
                    Err(e) => report.failed.push(format!("{reference}: {e}")),
                }
            }
            if let Some(e) = fatal {
                return Err(e.into());
            }
        }
        report.cases.sort();
        report.failed.sort();
        report.checked = report.moved + report.unchanged + report.left;
        Ok(report)
    }

    /// One case: a guarded write per moved deadline, each on a fresh read, then the
    /// unchanged ones brought up to date.
    async fn recompute_case(
        &self,
        mut case: CaseRecord,
        version: &str,
        now: DateTime<Utc>,
        report: &mut RecomputeReport,
    ) -> EngineResult<()> {
        let mut conflicts = 0;
        loop {
            let stale: Vec<DeadlineRecord> = self
                .store
                .deadlines(case.id)
                .await?
                .into_iter()
                .filter(|d| d.status == DeadlineStatus::Pending && d.data_version != version)
                .collect();
            if stale.is_empty() {
                return Ok(());
            }
            let def = self.definition(&case.workflow, &case.workflow_hash).await?;
            let history = self.store.events(case.id).await?;
            let current = machine_case(&case);
            let mut plans = Vec::new();
            let mut left = 0;
            for row in stale {
                // Lapsed (due, not yet fired): it fires as computed; it never moves.
                if row.due_at <= now {
                    left += 1;
                    continue;
                }
                // The case as it was when the deadline started, for rules measured from an
                // event: the latest time of each event up to then.
                let mut then = current.clone();
                then.event_times = history
                    .iter()
                    .filter(|e| e.at <= row.started_at)
                    .map(|e| (e.event.clone(), e.at))
                    .collect();
                match recompute(
                    &def,
                    &then,
                    &row.slot,
                    row.kind,
                    row.started_at,
                    &self.calendar,
                ) {
                    Ok(timer) => plans.push(Plan { row, timer }),
                    Err(Refusal::StaleTimer(_)) => left += 1,
                    Err(e) => return Err(e.into()),
                }
            }
            let Some(slot) = plans.iter().find(|p| p.moves()).map(|p| p.row.slot.clone()) else {
                let stamps: Vec<MovedDeadline> =
                    plans.iter().map(|p| self.stamp(p, version)).collect();
                self.store.restamp_deadlines(&stamps).await?;
                report.unchanged += stamps.len();
                report.left += left;
                return Ok(());
            };
            let group: Vec<&Plan> = plans.iter().filter(|p| p.row.slot == slot).collect();
            let lapse = group.iter().find(|p| p.row.kind == TimerKind::Lapse);
            let warning = group
                .iter()
                .find(|p| p.row.kind == TimerKind::Warning && p.moves());
            // The deadline's own row, else (only its warning is pending) the warning's.
            let main = lapse.or(warning).copied().unwrap_or(group[0]);
            let due = match lapse {
                Some(p) => (p.row.due_at, p.timer.due_at),
                None => (main.timer.deadline.due_at, main.timer.deadline.due_at),
            };
            let tz = main.timer.deadline.explanation.hours.time_zone;
            let changes =
                self.calendar
                    .holiday_changes(&main.timer.deadline, due.0, &main.row.explanation);
            let what = if changes.is_empty() {
                "the holiday data changed".to_string()
            } else {
                changes.to_string()
            };
            let reason = if due.0 == due.1 {
                format!(
                    "{what}: its warning is now {}",
                    warning.map_or(String::new(), |w| local_time(w.timer.due_at, tz))
                )
            } else {
                format!(
                    "{what}: due {}, was {}",
                    local_time(due.1, tz),
                    local_time(due.0, tz)
                )
            };
            let reason = format!(
                "{reason} (holiday data {} → {version})",
                main.row.data_version
            );
            let change = Move {
                slot: slot.clone(),
                due,
                warning: warning.map(|p| (p.row.due_at, p.timer.due_at)),
                reason,
            };
            // Never before the case's latest entry: a case's time never runs backwards.
            let at = now.max(case.last_at);
            let transition = moved(&def, &current, &change, at);
            let directory = self.directory_for(&def, &transition).await?;
            let mut write = self.existing_write(&def, &case, &transition, None, &directory);
            write.moved = group.iter().map(|p| self.stamp(p, version)).collect();
            // The message is about the moved deadline, which may be a task's.
            for message in &mut write.outbox {
                message.payload["slot"] = slot_json(&slot);
            }
            match self.store.write(&[write], at).await {
                Ok(_) => {
                    report.moved += group.iter().filter(|p| p.moves()).count();
                    report.earlier += usize::from(due.1 < due.0);
                    if !report.cases.contains(&case.reference) {
                        report.cases.push(case.reference.clone());
                    }
                }
                // Another writer got there first: judge the case again as it is now.
                Err(StoreError::Conflict(_)) if conflicts < RETRIES => conflicts += 1,
                Err(e) => return Err(e.into()),
            }
            case = self.case(&case.reference).await?;
        }
    }

    /// A plan's row as the new data computes it.
    fn stamp(&self, plan: &Plan, version: &str) -> MovedDeadline {
        MovedDeadline {
            id: plan.row.id,
            due_at: plan.timer.due_at,
            explanation: self.calendar.summary(&plan.timer.deadline),
            data_version: version.to_string(),
        }
    }
}
