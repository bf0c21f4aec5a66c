//! A case with everything recorded about it (history, deadlines, messages, links) in ONE
//! statement: the case row, and each of its lists as a JSON array that the database builds
//! beside it. One round trip instead of five, and one snapshot, so the history always ends at
//! the case row's own entry. The SQL differs between the backends only in the names of the JSON
//! functions; the decoding is shared.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::records::{slot_from, timer_kind_from};
use super::{
    Backend, CaseRecord, DeadlineRecord, DeadlineStatus, EventRecord, LinkRecord, OutboxRecord,
    StoreError, recipient_from,
};

/// A case with everything recorded about it, as [`super::Store::case_file`] reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseFile {
    /// The case.
    pub case: CaseRecord,
    /// Its event log, oldest first.
    pub events: Vec<EventRecord>,
    /// Its deadlines, by due time.
    pub deadlines: Vec<DeadlineRecord>,
    /// Its messages, oldest first.
    pub outbox: Vec<OutboxRecord>,
    /// The cases it opened or that opened it, oldest link first.
    pub links: Vec<LinkRecord>,
}

/// The case row's lists as the statement returns them: each a JSON array of arrays.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct FileLists {
    history: String,
    deadline_list: String,
    message_list: String,
    links_out: String,
    links_in: String,
}

/// The statement, for `backend`: the case `$1` (by reference) with `case_columns` (on
/// `cases c`) and its lists (the columns of [`FileLists`]).
pub(super) fn query(backend: Backend, case_columns: &str) -> String {
    // Each list is an aggregate of arrays, in no particular order: they are sorted as decoded.
    let (array, group, embed): (&str, fn(&str) -> String, fn(&str) -> String) = match backend {
        Backend::Sqlite => (
            "json_array",
            |items| format!("json_group_array({items})"),
            // Stored as JSON text: embedded as JSON, not as a string.
            |column| format!("json({column})"),
        ),
        Backend::Postgres => (
            "json_build_array",
            |items| format!("COALESCE(json_agg({items}), '[]')::text"),
            |column| column.to_string(),
        ),
    };
    let list = |columns: &str, from: &str| {
        format!(
            "(SELECT {} FROM {from})",
            group(&format!("{array}({columns})"))
        )
    };
    let history = list(
        &format!(
            "seq, at, recorded_at, actor, event, from_state, to_state, {}, reason, prev_hash, \
             hash, hash_version, data_digest",
            embed("fields")
        ),
        "events WHERE case_id = c.id",
    );
    let deadlines = list(
        "id, case_id, slot_kind, slot, kind, due_at, status, explanation, data_version, \
         started_at, ended_at, late",
        "deadlines WHERE case_id = c.id",
    );
    let messages = list(
        &format!(
            "id, case_id, idempotency_key, message_id, kind, template, {}, {}, status, attempts, \
             next_attempt_at, last_error, reply, created_at, sent_at, queued_at",
            embed("recipients"),
            embed("payload")
        ),
        "outbox WHERE case_id = c.id",
    );
    let link = |other: &str, this: &str| {
        list(
            "o.reference, o.workflow, o.state, o.closed_at IS NOT NULL, l.event, l.created_at",
            &format!("case_links l JOIN cases o ON o.id = l.{other} WHERE l.{this} = c.id"),
        )
    };
    format!(
        "SELECT {case_columns}, {history} AS history, {deadlines} AS deadline_list, \
         {messages} AS message_list, {} AS links_out, {} AS links_in \
         FROM cases c WHERE c.reference = $1",
        link("target_id", "source_id"),
        link("source_id", "target_id"),
    )
}

/// A boolean as either backend puts it in JSON: `true`/`false`, or SQLite's 1/0.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Flag {
    Bool(bool),
    Int(i64),
}

impl Flag {
    fn get(self) -> bool {
        match self {
            Flag::Bool(b) => b,
            Flag::Int(n) => n != 0,
        }
    }
}

type EventJson = (
    i64,
    DateTime<Utc>,
    DateTime<Utc>,
    String,
    String,
    String,
    String,
    BTreeMap<String, String>,
    Option<String>,
    String,
    String,
    i64,
    Option<String>,
);

type DeadlineJson = (
    i64,
    i64,
    String,
    String,
    String,
    DateTime<Utc>,
    String,
    String,
    String,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Flag,
);

type MessageJson = (
    i64,
    Option<i64>,
    String,
    Option<String>,
    String,
    String,
    Value,
    Value,
    String,
    i64,
    DateTime<Utc>,
    Option<String>,
    Option<String>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
);

type LinkJson = (String, String, String, Flag, String, DateTime<Utc>);

fn parse<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<Vec<T>, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Damaged(format!("a case's {what}: {e}")))
}

/// The file of `case` from its lists, each in the order its own read gives it.
pub(super) fn assemble(case: CaseRecord, lists: &FileLists) -> Result<CaseFile, StoreError> {
    let mut events = parse::<EventJson>("history", &lists.history)?
        .into_iter()
        .map(|r| EventRecord {
            seq: r.0,
            at: r.1,
            recorded_at: r.2,
            actor: r.3,
            event: r.4,
            from_state: r.5,
            to_state: r.6,
            fields: r.7,
            reason: r.8,
            prev_hash: r.9,
            hash: r.10,
            hash_version: r.11,
            data_digest: r.12,
        })
        .collect::<Vec<_>>();
    events.sort_by_key(|e| e.seq);
    let mut deadlines = parse::<DeadlineJson>("deadlines", &lists.deadline_list)?
        .into_iter()
        .map(|r| {
            Ok(DeadlineRecord {
                id: r.0,
                case_id: r.1,
                slot: slot_from(&r.2, r.3)?,
                kind: timer_kind_from(&r.4)?,
                due_at: r.5,
                status: DeadlineStatus::parse(&r.6)
                    .ok_or_else(|| StoreError::Damaged(format!("deadline status '{}'", r.6)))?,
                explanation: r.7,
                data_version: r.8,
                started_at: r.9,
                ended_at: r.10,
                late: r.11.get(),
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    deadlines.sort_by_key(|d| (d.due_at, d.id));
    let mut outbox = parse::<MessageJson>("messages", &lists.message_list)?
        .into_iter()
        .map(|r| OutboxRecord {
            id: r.0,
            case_id: r.1,
            idempotency_key: r.2,
            message_id: r.3,
            kind: r.4,
            template: r.5,
            recipient: recipient_from(&r.6),
            payload: r.7,
            status: r.8,
            attempts: r.9,
            next_attempt_at: r.10,
            last_error: r.11,
            reply: r.12,
            created_at: r.13,
            sent_at: r.14,
            queued_at: r.15,
        })
        .collect::<Vec<_>>();
    outbox.sort_by_key(|m| m.id);
    let link = |relation: &str, r: LinkJson| LinkRecord {
        relation: relation.into(),
        reference: r.0,
        workflow: r.1,
        state: r.2,
        closed: r.3.get(),
        event: r.4,
        at: r.5,
    };
    let mut links: Vec<LinkRecord> = parse::<LinkJson>("links", &lists.links_out)?
        .into_iter()
        .map(|r| link("opened", r))
        .chain(
            parse::<LinkJson>("links", &lists.links_in)?
                .into_iter()
                .map(|r| link("opened_by", r)),
        )
        .collect();
    links.sort_by_key(|l| l.at);
    Ok(CaseFile {
        case,
        events,
        deadlines,
        outbox,
        links,
    })
}
