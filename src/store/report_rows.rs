//! The per-case facts the monthly report is computed from ([`super::Store::report_facts`]):
//! read as one stream ordered by case, folded here into one [`CaseFacts`] at a time, so memory
//! does not grow with the number of cases.

use chrono::{DateTime, Utc};

use super::StoreError;

/// What the report needs of one case: no free text, no child data.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseFacts {
    /// Row id.
    pub id: i64,
    /// Workflow id (`dispute`, `referral`, `transfer`).
    pub workflow: String,
    /// Bank-holiday division, e.g. `england-and-wales`.
    pub division: String,
    /// The opening data's `category`, if any.
    pub category: Option<String>,
    /// The raising (or referring, originating) agency as the case data names it.
    pub raised_by: Option<String>,
    /// The receiving agency as the case data names it.
    pub respondent: Option<String>,
    /// When it was opened (event time).
    pub opened_at: DateTime<Utc>,
    /// When it closed (event time), if it has.
    pub closed_at: Option<DateTime<Utc>>,
    /// The closing state's outcome (`resolved`, `unresolved`, `withdrawn`), if closed.
    pub outcome: Option<String>,
    /// Its event log, in order.
    pub entries: Vec<EntryFact>,
    /// Its state deadlines' lapse timers.
    pub lapses: Vec<LapseFact>,
}

/// One event-log entry, without who, why or what was typed.
#[derive(Debug, Clone, PartialEq)]
pub struct EntryFact {
    /// Its number in the case's log (1 = the opening).
    pub seq: i64,
    /// Event time.
    pub at: DateTime<Utc>,
    /// The event.
    pub event: String,
    /// State before.
    pub from_state: String,
    /// State after.
    pub to_state: String,
    /// The `outcome` field given (`resolved`, `partly_resolved`), if any.
    pub outcome: Option<String>,
}

/// A state deadline's lapse timer.
#[derive(Debug, Clone, PartialEq)]
pub struct LapseFact {
    /// The state it times.
    pub slot: String,
    /// When it falls (or fell) due.
    pub due_at: DateTime<Utc>,
    /// `pending`, `fired`, `met` or `cancelled`.
    pub status: String,
    /// When it fired, was met or was cancelled (event time).
    pub ended_at: Option<DateTime<Utc>>,
}

/// One row of the report stream, in either backend's decoding: kind 0 is the case, 1 an
/// entry, 2 a lapse timer; the text columns mean what [`Folder::push`] says for each kind.
pub(crate) struct FactRow {
    pub case_id: i64,
    pub kind: i64,
    pub n: i64,
    pub at: DateTime<Utc>,
    pub t2: Option<DateTime<Utc>>,
    pub s1: Option<String>,
    pub s2: Option<String>,
    pub s3: Option<String>,
    pub s4: Option<String>,
    pub s5: Option<String>,
    pub s6: Option<String>,
}

/// Folds the stream's rows into one case at a time.
#[derive(Default)]
pub(crate) struct Folder {
    current: Option<CaseFacts>,
}

impl Folder {
    /// Takes the next row; returns the previous case once the stream has moved past it.
    pub fn push(&mut self, row: FactRow) -> Result<Option<CaseFacts>, StoreError> {
        let text = |v: Option<String>, what: &str| {
            v.ok_or_else(|| StoreError::Damaged(format!("case {}: no {what}", row.case_id)))
        };
        if row.kind == 0 {
            let next = CaseFacts {
                id: row.case_id,
                workflow: text(row.s1, "workflow")?,
                division: text(row.s2, "division")?,
                category: row.s3,
                raised_by: row.s4,
                respondent: row.s5,
                opened_at: row.at,
                closed_at: row.t2,
                outcome: row.s6,
                entries: Vec::new(),
                lapses: Vec::new(),
            };
            return Ok(self.current.replace(next));
        }
        let Some(case) = self.current.as_mut().filter(|c| c.id == row.case_id) else {
            return Err(StoreError::Damaged(format!(
                "report rows of case {} out of order",
                row.case_id
            )));
        };
        if row.kind == 1 {
            case.entries.push(EntryFact {
                seq: row.n,
                at: row.at,
                event: text(row.s1, "event")?,
                from_state: text(row.s2, "from_state")?,
                to_state: text(row.s3, "to_state")?,
                outcome: row.s4,
            });
        } else {
            case.lapses.push(LapseFact {
                slot: text(row.s1, "slot")?,
                due_at: row.at,
                status: text(row.s2, "status")?,
                ended_at: row.t2,
            });
        }
        Ok(None)
    }

    /// The last case, at the end of the stream.
    pub fn finish(self) -> Option<CaseFacts> {
        self.current
    }
}
