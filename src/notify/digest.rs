//! The weekly digest: to each person a case names (a party, or a contact who owns its current
//! stage), their open cases and when each must next move. A pure core: it takes the open cases,
//! their deadlines and the directory, and returns one [`Digest`] per person, which the
//! scheduler queues as outbox messages.
//!
//! Like every message it names no child: references, workflows, stages and times only.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::calendar::local_time;
use crate::directory::Directory;
use crate::store::{CaseRecord, DeadlineRecord, DeadlineStatus};
use crate::workflow::{Definition, RoleKind, TimerKind};

/// One person's digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Digest {
    /// Their address, as the directory or case data gives it.
    pub email: String,
    /// Their name, if known.
    pub name: String,
    /// The week it is for, e.g. `Mon 30 Nov 2026`.
    pub week_of: String,
    /// Their open cases, the soonest deadline first, then by reference.
    pub cases: Vec<DigestCase>,
    /// Of those, how many are past their deadline.
    pub overdue: usize,
}

/// One open case in a digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DigestCase {
    /// E.g. `DSP-2026-000042`.
    pub reference: String,
    /// The workflow's title.
    pub workflow: String,
    /// The current stage's title.
    pub state: String,
    /// The roles the person holds on it, by title.
    pub roles: Vec<String>,
    /// The next pending deadline (a stage's or a task's lapse): what it is.
    pub deadline: Option<String>,
    /// When it falls, e.g. `Wed 2 Dec 2026 17:00 GMT`.
    pub due: Option<String>,
    /// It has already passed.
    pub overdue: bool,
    /// For ordering: the deadline's instant.
    pub due_at: Option<DateTime<Utc>>,
}

/// The digests for the open cases `open` (each with its workflow version and deadlines) as at
/// `now`, one per person, ordered by address. A closed case in `open` is ignored.
pub fn digests<'a>(
    open: impl IntoIterator<Item = (&'a Definition, &'a CaseRecord, &'a [DeadlineRecord])>,
    directory: &Directory,
    now: DateTime<Utc>,
    week_of: &str,
) -> Vec<Digest> {
    // Keyed by the address in lower case: one person, one message.
    let mut people: BTreeMap<String, Digest> = BTreeMap::new();
    for (def, case, deadlines) in open {
        if case.closed_at.is_some() {
            continue;
        }
        let Some(state) = def.state(&case.state) else {
            continue;
        };
        // The parties, and whoever owns the stage the case is at.
        let roles: Vec<String> = def
            .roles
            .iter()
            .filter(|r| matches!(r.kind, RoleKind::Party { .. }) || state.owners.contains(&r.name))
            .map(|r| r.name.clone())
            .collect();
        let next = deadlines
            .iter()
            .filter(|d| d.status == DeadlineStatus::Pending && d.kind == TimerKind::Lapse)
            .min_by_key(|d| (d.due_at, d.id));
        let (deadline, due) = match next {
            Some(d) => {
                let what = match &d.slot {
                    crate::workflow::Slot::State(n) => def.state(n).map(|s| s.title.clone()),
                    crate::workflow::Slot::Task(n) => def.task(n).map(|t| t.title.clone()),
                };
                (what, Some(local_time(d.due_at, def.time_zone)))
            }
            None => (None, None),
        };
        for recipient in directory.recipients(def, &case.data, &roles) {
            if recipient.missing.is_some() || recipient.email.trim().is_empty() {
                continue;
            }
            let digest = people
                .entry(recipient.email.trim().to_lowercase())
                .or_insert_with(|| Digest {
                    email: recipient.email.trim().to_string(),
                    name: String::new(),
                    week_of: week_of.to_string(),
                    cases: Vec::new(),
                    overdue: 0,
                });
            if digest.name.is_empty() {
                digest.name = recipient.name.clone();
            }
            match digest
                .cases
                .iter_mut()
                .find(|c| c.reference == case.reference)
            {
                // Named twice on one case (a party who is also a stage's owner): one line.
                Some(line) => {
                    if !line.roles.contains(&recipient.title) {
                        line.roles.push(recipient.title.clone());
                    }
                }
                None => digest.cases.push(DigestCase {
                    reference: case.reference.clone(),
                    workflow: def.title.clone(),
                    state: state.title.clone(),
                    roles: vec![recipient.title.clone()],
                    deadline: deadline.clone(),
                    due: due.clone(),
                    overdue: next.is_some_and(|d| d.due_at <= now),
                    due_at: next.map(|d| d.due_at),
                }),
            }
        }
    }
    people
        .into_values()
        .map(|mut d| {
            // Soonest first; cases with no deadline last.
            d.cases.sort_by(|a, b| {
                (a.due_at.is_none(), a.due_at, &a.reference).cmp(&(
                    b.due_at.is_none(),
                    b.due_at,
                    &b.reference,
                ))
            });
            d.overdue = d.cases.iter().filter(|c| c.overdue).count();
            d
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::json;

    use super::*;
    use crate::workflow::{Slot, Workflows};

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn dispute() -> Definition {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        Workflows::load_dir(&root.join("workflows"), &root.join("config/templates"))
            .unwrap()
            .get("dispute")
            .unwrap()
            .clone()
    }

    fn directory() -> Directory {
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/agencies.yaml");
        Directory::parse(&file, &std::fs::read_to_string(&file).unwrap()).unwrap()
    }

    fn case(id: i64, state: &str, raiser: &str) -> CaseRecord {
        CaseRecord {
            id,
            reference: format!("DSP-2026-{id:06}"),
            workflow: "dispute".into(),
            workflow_hash: String::new(),
            state: state.into(),
            data: json!({
                "category": "threshold",
                "summary": "About Sam Example",
                "child": { "name": "Sam Example", "reference": "LCS-1" },
                "raised_by": { "name": "Priya Shah", "email": raiser, "agency": "Riverside Primary School" },
                "respondent": { "name": "Tom Hughes", "email": "TOM.hughes@council.example.gov.uk", "agency": "Children's Social Care" },
            }),
            division: "england-and-wales".into(),
            agency: None,
            opened_at: t("2026-11-02T10:00:00Z"),
            entered_at: t("2026-11-02T10:00:00Z"),
            closed_at: None,
            outcome: None,
            event_times: Default::default(),
            seq: 1,
            last_at: t("2026-11-02T10:00:00Z"),
            last_hash: String::new(),
            next_due: None,
            data_salt: None,
        }
    }

    fn lapse(id: i64, case_id: i64, state: &str, due: &str) -> DeadlineRecord {
        DeadlineRecord {
            id,
            case_id,
            slot: Slot::State(state.into()),
            kind: TimerKind::Lapse,
            due_at: t(due),
            status: DeadlineStatus::Pending,
            explanation: String::new(),
            data_version: String::new(),
            started_at: t("2026-11-02T10:00:00Z"),
            ended_at: None,
            late: false,
        }
    }

    #[test]
    fn each_person_gets_their_open_cases_soonest_first_and_no_child() {
        let def = dispute();
        let dir = directory();
        let stage1 = case(1, "stage1", "priya.shah@school.example.org");
        let stage2 = case(2, "stage2", "Priya.Shah@school.example.org");
        let mut closed = case(3, "resolved", "priya.shah@school.example.org");
        closed.closed_at = Some(t("2026-11-20T10:00:00Z"));
        let d1 = [lapse(10, 1, "stage1", "2026-12-01T17:00:00Z")];
        let mut d2 = vec![lapse(20, 2, "stage2", "2026-11-27T17:00:00Z")];
        // A warning and a met deadline are not the next deadline.
        d2.push(DeadlineRecord {
            kind: TimerKind::Warning,
            ..lapse(21, 2, "stage2", "2026-11-26T17:00:00Z")
        });
        d2.push(DeadlineRecord {
            status: DeadlineStatus::Met,
            ..lapse(22, 2, "stage1", "2026-11-20T17:00:00Z")
        });
        let now = t("2026-11-30T08:00:00Z");
        let out = digests(
            [
                (&def, &stage1, &d1[..]),
                (&def, &stage2, &d2[..]),
                (&def, &closed, &[][..]),
            ],
            &dir,
            now,
            "Mon 30 Nov 2026",
        );
        let by = |email: &str| out.iter().find(|d| d.email.eq_ignore_ascii_case(email));
        // The raiser, once, however the case data spells the address; the stage-2 case (its
        // deadline passed) first.
        let priya = by("priya.shah@school.example.org").unwrap();
        assert_eq!(
            priya
                .cases
                .iter()
                .map(|c| c.reference.as_str())
                .collect::<Vec<_>>(),
            ["DSP-2026-000002", "DSP-2026-000001"]
        );
        assert_eq!(priya.overdue, 1);
        assert!(priya.cases[0].overdue && !priya.cases[1].overdue);
        assert_eq!(
            priya.cases[0].due.as_deref(),
            Some("Fri 27 Nov 2026 17:00 GMT")
        );
        assert_eq!(
            priya.cases[0].deadline.as_deref(),
            Some("Stage 2: line managers or designated safeguarding leads")
        );
        // Line managers own stage 2 only: the school's DSL sees the stage-2 case, not stage 1.
        let dsl = by("dsl@school.example.org").unwrap();
        assert_eq!(dsl.cases.len(), 1);
        assert_eq!(dsl.cases[0].reference, "DSP-2026-000002");
        assert_eq!(
            dsl.cases[0].roles,
            ["Line managers or designated safeguarding leads of both agencies"]
        );
        // Senior managers own no open case's stage.
        assert!(by("head@school.example.org").is_none());
        assert_eq!(
            by("tom.hughes@council.example.gov.uk").unwrap().cases.len(),
            2
        );
        let text = serde_json::to_string(&out).unwrap();
        assert!(
            !text.contains("Sam Example") && !text.contains("LCS-1"),
            "{text}"
        );
    }
}
