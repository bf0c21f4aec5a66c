//! `audit verify` and `audit checkpoint`: the event log's hash chains, the case rows replayed
//! from their histories, and checkpoints (root hashes over every case's head, chained, witnessed
//! outside the database) that reveal a case deleted whole.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;

use super::{Engine, EngineResult, real_now};
use crate::store::chain::{self, GENESIS, Opening};
use crate::store::{CaseFilter, CaseRecord, Checkpoint, EventRecord, StoreError};

/// What `audit verify` found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AuditReport {
    /// Cases checked.
    pub cases: usize,
    /// Entries checked.
    pub entries: usize,
    /// Of those, entries written before the full hash (scheme 1: reason, `recorded_at` and the
    /// opening data not covered).
    pub legacy_entries: usize,
    /// Checkpoints checked.
    pub checkpoints: usize,
    /// The newest checkpoint's root, to compare with the witnessed copy.
    pub latest_root: Option<String>,
    /// Every problem found, one line each; empty when all is intact.
    pub problems: Vec<String>,
}

/// At most this many missing references are named one by one.
const MISSING_NAMED: usize = 20;

impl Engine {
    /// Checks every case: its hash chain (every column of every entry, the opening data through
    /// its digest), its row and its report summary against a replay of its history, every
    /// checkpoint's root and that each case a checkpoint recorded is still there and still
    /// extends the head recorded.
    pub async fn verify_audit(&self) -> EngineResult<AuditReport> {
        let mut report = AuditReport::default();
        let mut expected = self.checkpoint_heads(&mut report).await?;
        let cases = self.store.list_cases(&CaseFilter::default()).await?;
        let mut present = HashSet::with_capacity(cases.len());
        for case in cases.iter().rev() {
            let log = self.store.events(case.id).await?;
            self.verify_case(case, &log, &mut report).await;
            for (checkpoint, seq, hash) in expected.remove(&case.reference).unwrap_or_default() {
                let extends = usize::try_from(seq - 1)
                    .ok()
                    .and_then(|i| log.get(i))
                    .is_some_and(|e| e.hash == hash);
                if !extends {
                    report.problems.push(format!(
                        "{}: its history no longer extends entry {seq} recorded at checkpoint {checkpoint}",
                        case.reference
                    ));
                }
            }
            present.insert(case.reference.clone());
            report.cases += 1;
        }
        let mut missing: Vec<(String, i64)> = expected
            .into_iter()
            .map(|(reference, heads)| (reference, heads[0].0))
            .collect();
        missing.sort();
        for (reference, checkpoint) in missing {
            report.problems.push(format!(
                "{reference}: recorded at checkpoint {checkpoint} but missing from the database"
            ));
        }
        self.verify_references(&present, &mut report).await?;
        // The report's summary is derived from the log: checked against it, like the case rows.
        report
            .problems
            .extend(crate::store::summary::verify(self.store.as_ref()).await?);
        Ok(report)
    }

    /// Checks the checkpoints' chain and roots; returns the heads they recorded, by reference.
    async fn checkpoint_heads(
        &self,
        report: &mut AuditReport,
    ) -> Result<HashMap<String, Vec<(i64, i64, String)>>, StoreError> {
        let mut expected: HashMap<String, Vec<(i64, i64, String)>> = HashMap::new();
        let mut prev_root = GENESIS.to_string();
        for cp in self.store.checkpoints().await? {
            let mut heads = self.store.checkpoint_heads(cp.id).await?;
            // Byte order, whatever the database's collation.
            heads.sort();
            if cp.prev_root != prev_root {
                report.problems.push(format!(
                    "checkpoint {}: does not follow the checkpoint before it",
                    cp.id
                ));
            }
            let root = chain::checkpoint_root(
                &cp.prev_root,
                cp.created_at,
                heads.iter().map(|(r, s, h)| (r.as_str(), *s, h.as_str())),
            );
            if root != cp.root || i64::try_from(heads.len()).ok() != Some(cp.cases) {
                report.problems.push(format!(
                    "checkpoint {}: the heads it recorded do not give its root {}",
                    cp.id, cp.root
                ));
            }
            for (reference, seq, hash) in heads {
                expected
                    .entry(reference)
                    .or_default()
                    .push((cp.id, seq, hash));
            }
            prev_root = cp.root.clone();
            report.latest_root = Some(cp.root);
            report.checkpoints += 1;
        }
        Ok(expected)
    }

    /// A reference the store handed out (the counters) whose case is gone was deleted: the
    /// counter moves in the same transaction that writes the case.
    async fn verify_references(
        &self,
        present: &HashSet<String>,
        report: &mut AuditReport,
    ) -> Result<(), StoreError> {
        let mut missing = Vec::new();
        for (prefix, year, last) in self.store.reference_counters().await? {
            for n in 1..=last {
                let reference = format!("{prefix}-{year}-{n:06}");
                if !present.contains(&reference) {
                    missing.push(reference);
                }
            }
        }
        for reference in missing.iter().take(MISSING_NAMED) {
            report.problems.push(format!(
                "{reference}: the reference was given to a case that is missing from the database"
            ));
        }
        if missing.len() > MISSING_NAMED {
            report.problems.push(format!(
                "and {} more references given to cases that are missing",
                missing.len() - MISSING_NAMED
            ));
        }
        Ok(())
    }

    /// One case: its chain, its data digest, and its row replayed from the history.
    async fn verify_case(&self, case: &CaseRecord, log: &[EventRecord], report: &mut AuditReport) {
        let reference = &case.reference;
        let mut problem = |text: String| report.problems.push(format!("{reference}: {text}"));
        let mut prev = GENESIS.to_string();
        for (i, e) in log.iter().enumerate() {
            let entry = format!(
                "entry {} ({} by {} at {})",
                e.seq,
                e.event,
                crate::text::for_terminal(&e.actor),
                e.at.to_rfc3339()
            );
            if e.seq != i as i64 + 1 {
                problem(format!("{entry}: entries are missing before it"));
                return;
            }
            if e.prev_hash != prev {
                problem(format!("{entry}: does not link to the entry before it"));
            }
            let recomputed = match e.hash_version {
                1 => chain::entry_hash_v1(&prev, reference, e.seq, &e.content()),
                chain::HASH_VERSION => {
                    let digest = e.data_digest.clone().unwrap_or_default();
                    let opening = Opening {
                        workflow: &case.workflow,
                        workflow_hash: &case.workflow_hash,
                        division: &case.division,
                        agency: case.agency.as_deref(),
                        data_digest: &digest,
                    };
                    let opening = (e.seq == 1).then_some(&opening);
                    chain::entry_hash(&prev, reference, e.seq, &e.content(), opening)
                }
                other => {
                    problem(format!("{entry}: unknown hash scheme {other}"));
                    String::new()
                }
            };
            if recomputed != e.hash {
                problem(format!("{entry}: its content does not match its hash"));
            }
            if e.hash_version == 1 {
                report.legacy_entries += 1;
            }
            prev = e.hash.clone();
            report.entries += 1;
        }
        let mut problem = |text: String| report.problems.push(format!("{reference}: {text}"));
        let (Some(first), Some(last)) = (log.first(), log.last()) else {
            problem("has no history".into());
            return;
        };
        // The opening data, through the digest the opening entry's hash covers.
        match (&case.data_salt, &first.data_digest) {
            (Some(salt), Some(digest)) if chain::data_digest(salt, &case.data) != *digest => {
                problem(
                    "its opening data does not match the digest its opening entry recorded".into(),
                )
            }
            (None, Some(_)) => problem("the salt of its data digest is missing".into()),
            (Some(_), None) if first.hash_version != 1 => {
                problem("its opening entry records no data digest".into())
            }
            _ => {}
        }
        // The row's head and state, replayed from the history.
        if case.seq != last.seq || case.last_hash != last.hash || case.last_at != last.at {
            problem(format!(
                "the case's latest entry is {} but the log ends at entry {}",
                case.seq, last.seq
            ));
        }
        if case.opened_at != first.at {
            problem("its opening time differs from its opening entry's".into());
        }
        if case.state != last.to_state {
            problem(format!(
                "its state is '{}' but its history ends in '{}'",
                case.state, last.to_state
            ));
        }
        let mut times = BTreeMap::new();
        for e in log {
            times.insert(e.event.clone(), e.at);
        }
        // To the microsecond, as the log stores times: cases written before times were cut to
        // it at the edge keep nanoseconds in their event times.
        let micros = |t: &chrono::DateTime<chrono::Utc>| {
            use chrono::SubsecRound;
            t.trunc_subsecs(6)
        };
        let recorded: BTreeMap<&String, _> = case
            .event_times
            .iter()
            .map(|(k, t)| (k, micros(t)))
            .collect();
        let replayed: BTreeMap<&String, _> = times.iter().map(|(k, t)| (k, micros(t))).collect();
        if recorded != replayed {
            problem("its event times differ from its history".into());
        }
        // Entered its state: at an entry into that state since the state last changed.
        let changed = log
            .iter()
            .rposition(|e| e.from_state != e.to_state)
            .unwrap_or(0);
        if !log[changed..]
            .iter()
            .any(|e| e.to_state == case.state && e.at == case.entered_at)
        {
            problem("the time it entered its state differs from its history".into());
        }
        match self.definition(&case.workflow, &case.workflow_hash).await {
            Ok(def) => {
                let state = def.state(&last.to_state);
                let terminal = state.is_some_and(|s| s.is_terminal());
                let closed_at = terminal.then(|| log[changed].at);
                if case.closed_at != closed_at {
                    problem(format!(
                        "it is recorded as {} but its history says {}",
                        if case.closed_at.is_some() {
                            "closed"
                        } else {
                            "open"
                        },
                        if terminal { "closed" } else { "open" }
                    ));
                }
                let outcome = if terminal {
                    state.and_then(|s| s.outcome.clone())
                } else {
                    None
                };
                if case.outcome != outcome {
                    problem("its outcome differs from its history".into());
                }
            }
            Err(e) => problem(format!("cannot replay its closure: {e}")),
        }
    }

    /// A checkpoint over every case's head as it is now: the latest one when no case has
    /// changed (or appeared) since it was recorded, else a new one. The monthly report carries
    /// it, so the witness it mails covers everything the report counted.
    pub async fn current_checkpoint(&self) -> EngineResult<Checkpoint> {
        if let Some(latest) = self.store.checkpoints().await?.pop() {
            let mut now = self.store.heads().await?;
            let mut then = self.store.checkpoint_heads(latest.id).await?;
            now.sort();
            then.sort();
            if now == then {
                return Ok(latest);
            }
        }
        self.checkpoint().await
    }

    /// Records and returns a checkpoint: one root hash over every case's head, chained to the
    /// previous checkpoint. Two at once chain one after the other.
    pub async fn checkpoint(&self) -> EngineResult<Checkpoint> {
        let mut attempt = 0;
        loop {
            let prev_root = self
                .store
                .checkpoints()
                .await?
                .pop()
                .map_or_else(|| GENESIS.to_string(), |c| c.root);
            let mut heads = self.store.heads().await?;
            heads.sort();
            let created_at = real_now();
            let root = chain::checkpoint_root(
                &prev_root,
                created_at,
                heads.iter().map(|(r, s, h)| (r.as_str(), *s, h.as_str())),
            );
            let mut checkpoint = Checkpoint {
                id: 0,
                created_at,
                cases: heads.len() as i64,
                prev_root,
                root,
            };
            match self.store.save_checkpoint(&checkpoint, &heads).await {
                Ok(id) => {
                    checkpoint.id = id;
                    return Ok(checkpoint);
                }
                // Another checkpoint followed the same one first: chain to it instead.
                Err(StoreError::Conflict(_)) if attempt < super::RETRIES => attempt += 1,
                Err(e) => return Err(e.into()),
            }
        }
    }
}
