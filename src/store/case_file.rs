//! A case with everything recorded about it (history, deadlines, messages, links) in ONE
//! statement: the case row, and each of its lists as a JSON array of objects that the database
//! builds beside it, keyed by column name, so each decodes into the backend's own row type. One
//! round trip instead of five, and one snapshot, so the history always ends at the case row's
//! own entry. The SQL differs between the backends only in the names of the JSON functions.

use std::sync::OnceLock;

use serde::de::DeserializeOwned;
use sqlx::FromRow;

use super::{
    Backend, CaseRecord, DeadlineRecord, EventRecord, LinkRecord, OutboxRecord, StoreError,
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

/// The case row's lists as the statement returns them: each a JSON array of objects.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct FileLists {
    history: String,
    deadline_list: String,
    message_list: String,
    links_out: String,
    links_in: String,
}

/// How a backend writes the JSON a statement builds (here, and for the lists' deadlines).
pub(super) struct Dialect {
    /// The function that makes an object of keys and values.
    pub(super) object: &'static str,
    /// Aggregates items into an array, as text.
    pub(super) group: fn(&str) -> String,
    /// A boolean, as JSON's own `true` or `false`.
    pub(super) flag: fn(&str) -> String,
    /// A column of JSON, embedded as JSON (not as a string).
    pub(super) embed: fn(&str) -> String,
}

impl Dialect {
    /// `backend`'s JSON functions.
    pub(super) fn of(backend: Backend) -> Dialect {
        match backend {
            Backend::Sqlite => Dialect {
                object: "json_object",
                group: |items| format!("json_group_array({items})"),
                // SQLite keeps booleans as 0 and 1.
                flag: |column| format!("json(CASE WHEN {column} THEN 'true' ELSE 'false' END)"),
                // Kept as JSON text.
                embed: |column| format!("json({column})"),
            },
            Backend::Postgres => Dialect {
                object: "json_build_object",
                group: |items| format!("COALESCE(json_agg({items}), '[]')::text"),
                flag: |column| column.to_string(),
                embed: |column| column.to_string(),
            },
        }
    }
}

/// The columns of a deadline row, as both backends' deadline rows decode them.
pub(super) const DEADLINE_COLUMNS: &str = "id, case_id, slot_kind, slot, kind, due_at, status, \
     explanation, data_version, started_at, ended_at, late";

/// A deadline of `{prefix}` (e.g. `d.`) as a JSON object of [`DEADLINE_COLUMNS`], as the
/// backends' deadline rows decode it.
pub(super) fn deadline_object(dialect: &Dialect, prefix: &str) -> String {
    let pairs: Vec<String> = DEADLINE_COLUMNS
        .split(',')
        .map(str::trim)
        .map(|name| {
            let column = format!("{prefix}{name}");
            // The one boolean: SQLite keeps it as 0 or 1.
            let value = if name == "late" {
                (dialect.flag)(&column)
            } else {
                column
            };
            format!("'{name}', {value}")
        })
        .collect();
    format!("{}({})", dialect.object, pairs.join(", "))
}

/// The statement for `backend`: the case `$1` (by reference) with `case_columns` (of
/// `cases c`) and its lists (the columns of [`FileLists`]); built once per backend.
fn query(backend: Backend, case_columns: &str) -> &'static str {
    static SQLITE: OnceLock<String> = OnceLock::new();
    static POSTGRES: OnceLock<String> = OnceLock::new();
    let cell = match backend {
        Backend::Sqlite => &SQLITE,
        Backend::Postgres => &POSTGRES,
    };
    let dialect = Dialect::of(backend);
    let Dialect {
        object,
        group,
        flag,
        embed,
    } = dialect;
    cell.get_or_init(|| {
        // Each list in no particular order: they are sorted as decoded.
        let list = |columns: &[(&str, String)], from: &str| {
            let pairs: Vec<String> = columns
                .iter()
                .map(|(key, value)| format!("'{key}', {value}"))
                .collect();
            format!(
                "(SELECT {} FROM {from})",
                group(&format!("{object}({})", pairs.join(", ")))
            )
        };
        fn plain(names: &'static str) -> Vec<(&'static str, String)> {
            names
                .split(", ")
                .map(|name| (name.trim(), name.trim().to_string()))
                .collect()
        }
        let mut event = plain("seq, at, recorded_at, actor, event, from_state, to_state");
        event.push(("fields", embed("fields")));
        event.extend(plain("reason, prev_hash, hash, hash_version, data_digest"));
        let message = plain(
            "id, case_id, idempotency_key, message_id, kind, template, recipients, payload, \
             status, attempts, next_attempt_at, last_error, reply, created_at, sent_at, queued_at",
        );
        let link = |relation: &str, other: &str, this: &str| {
            let columns = [
                ("relation", format!("'{relation}'")),
                ("reference", "o.reference".into()),
                ("workflow", "o.workflow".into()),
                ("state", "o.state".into()),
                ("closed", flag("o.closed_at IS NOT NULL")),
                ("event", "l.event".into()),
                ("at", "l.created_at".into()),
            ];
            list(
                &columns,
                &format!("case_links l JOIN cases o ON o.id = l.{other} WHERE l.{this} = c.id"),
            )
        };
        let deadlines = format!(
            "(SELECT {} FROM deadlines WHERE case_id = c.id)",
            group(&deadline_object(&dialect, ""))
        );
        format!(
            "SELECT {case_columns}, {} AS history, {} AS deadline_list, {} AS message_list, \
             {} AS links_out, {} AS links_in FROM cases c WHERE c.reference = $1",
            list(&event, "events WHERE case_id = c.id"),
            deadlines,
            list(&message, "outbox WHERE case_id = c.id"),
            link("opened", "target_id", "source_id"),
            link("opened_by", "source_id", "target_id"),
        )
    })
}

fn parse<T: DeserializeOwned>(what: &str, text: &str) -> Result<Vec<T>, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Damaged(format!("a case's {what}: {e}")))
}

/// The case `reference` with its lists, in one statement on `pool` (a `backend` store whose
/// case columns are `case_columns`), each list in the order its own read gives it; `rows`
/// makes records of the backend's case, deadline and outbox rows.
pub(super) async fn read<DB, C, D, M>(
    pool: &sqlx::Pool<DB>,
    backend: Backend,
    case_columns: &str,
    reference: &str,
    rows: (
        impl Fn(C) -> Result<CaseRecord, StoreError>,
        impl Fn(D) -> Result<DeadlineRecord, StoreError>,
        impl Fn(M) -> Result<OutboxRecord, StoreError>,
    ),
) -> Result<Option<CaseFile>, StoreError>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    DB::Arguments: sqlx::IntoArguments<DB>,
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    C: for<'r> sqlx::FromRow<'r, DB::Row>,
    FileLists: for<'r> sqlx::FromRow<'r, DB::Row>,
    D: DeserializeOwned,
    M: DeserializeOwned,
{
    let sql = query(backend, case_columns);
    let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(reference.to_string())
        .fetch_optional(pool)
        .await?
    else {
        return Ok(None);
    };
    let lists = FileLists::from_row(&row)?;
    let (case, deadline, message) = rows;
    let mut events: Vec<EventRecord> = parse("history", &lists.history)?;
    events.sort_by_key(|e| e.seq);
    let mut deadlines = parse("deadlines", &lists.deadline_list)?
        .into_iter()
        .map(deadline)
        .collect::<Result<Vec<_>, _>>()?;
    deadlines.sort_by_key(|d| (d.due_at, d.id));
    let mut outbox = parse("messages", &lists.message_list)?
        .into_iter()
        .map(message)
        .collect::<Result<Vec<_>, _>>()?;
    outbox.sort_by_key(|m| m.id);
    let mut links: Vec<LinkRecord> = parse("links", &lists.links_out)?;
    links.extend(parse::<LinkRecord>("links", &lists.links_in)?);
    links.sort_by_key(|l| l.at);
    Ok(Some(CaseFile {
        case: case(C::from_row(&row)?)?,
        events,
        deadlines,
        outbox,
        links,
    }))
}
