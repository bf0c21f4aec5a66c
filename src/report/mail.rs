//! The monthly report as an email to the board: what its outbox row carries (the figures and
//! the audit checkpoint's root, as computed when it was queued, so what is sent is what was
//! computed) and what the message is made of (the template's context, the chart as PNG, the
//! CSV). One row per recipient, keyed `report:MONTH:ADDRESS`, so a month's report goes to each
//! recipient once however often it is queued.

use chrono::{DateTime, Utc};
use chrono_tz::Europe::London;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Format, Month, MonthlyReport, ReportError, chart, month_title, render, sections};
use crate::calendar::local_time;
use crate::directory::Recipient;
use crate::store::{Checkpoint, NewMessage, Queued, StandaloneMessage};

/// The template (`config/templates/monthly_report.txt` and `.html`) and outbox row template.
pub const TEMPLATE: &str = "monthly_report";

/// The Content-ID of the chart inside the HTML part (`<img src="cid:…">`).
pub const CHART_CID: &str = "chart@escalate";

/// The role the report's recipients receive it in.
const ROLE: &str = "report_recipient";

/// The audit checkpoint a report carries: its root hash is the partnership's witness, outside
/// the database, of every case's history up to then.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Witness {
    /// The checkpoint's number.
    pub id: i64,
    /// Its root hash.
    pub root: String,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
    /// How many cases it covers.
    pub cases: i64,
}

impl From<&Checkpoint> for Witness {
    fn from(c: &Checkpoint) -> Self {
        Witness {
            id: c.id,
            root: c.root.clone(),
            created_at: c.created_at,
            cases: c.cases,
        }
    }
}

/// The outbox payload of a report mail: the figures (aggregates only, as in the JSON) and the
/// checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportMail {
    /// The report as computed.
    pub report: MonthlyReport,
    /// The checkpoint whose root the mail carries.
    pub checkpoint: Option<Witness>,
}

/// What the message is made of.
#[derive(Debug, Clone)]
pub struct ReportParts {
    /// What the templates see.
    pub context: Value,
    /// The chart, shown inline in the HTML part.
    pub chart_png: Vec<u8>,
    /// The attachment's file name.
    pub csv_name: String,
    /// The CSV, exactly as `escalate report monthly --format csv` prints it.
    pub csv: Vec<u8>,
}

/// The idempotency key of `month`'s report to `email`.
pub fn key(month: Month, email: &str) -> String {
    format!("report:{month}:{}", email.trim().to_lowercase())
}

impl ReportMail {
    /// One message per recipient, each keyed by [`key`].
    pub fn messages(&self, recipients: &[String]) -> Vec<StandaloneMessage> {
        let payload = serde_json::to_value(self).unwrap_or(Value::Null);
        recipients
            .iter()
            .map(|email| StandaloneMessage {
                key: key(self.report.month, email),
                message: NewMessage {
                    kind: "email".into(),
                    template: TEMPLATE.into(),
                    recipient: Recipient {
                        role: ROLE.into(),
                        title: "a recipient of the board's monthly report".into(),
                        name: String::new(),
                        email: email.trim().to_string(),
                        agency: None,
                        missing: None,
                    },
                    payload: payload.clone(),
                },
            })
            .collect()
    }

    /// The report mail an outbox row's payload holds.
    pub fn from_payload(payload: &Value) -> Result<ReportMail, ReportError> {
        ReportMail::deserialize(payload)
            .map_err(|e| ReportError::Render(format!("the queued report cannot be read: {e}")))
    }

    /// The message's parts, for `recipient`.
    pub fn parts(&self, recipient: &Recipient) -> Result<ReportParts, ReportError> {
        let r = &self.report;
        let drawn = chart::draw(&r.series)?;
        let first = r.series.first().map_or(r.month, |p| p.month);
        let title = month_title(r.month);
        let context = json!({
            "month": r.month,
            "month_title": title,
            "headline": {
                "opened": r.opened,
                "resolved": r.resolved,
                "withdrawn": r.withdrawn,
                "unresolved": r.unresolved,
                "open_at_end": r.open_at_end,
                "deadlines_missed": r.deadlines_missed,
            },
            "previous_month": r.previous_month,
            "sections": sections(r),
            "chart": {
                "cid": CHART_CID,
                "width": drawn.width,
                "height": drawn.height,
                "alt": format!(
                    "Bar chart of disputes opened, resolved and open at month end, each month from {} to {title}",
                    month_title(first)
                ),
            },
            "checkpoint": self.checkpoint.as_ref().map(|c| json!({
                "id": c.id,
                "root": c.root,
                "created": local_time(c.created_at, London),
                "cases": c.cases,
            })),
            "csv_name": csv_name(r.month),
            "recipient": {
                "email": recipient.email,
                "role": recipient.title,
                "role_name": recipient.role,
            },
        });
        Ok(ReportParts {
            context,
            chart_png: drawn.png()?,
            csv_name: csv_name(r.month),
            csv: render(r, Format::Csv)?,
        })
    }
}

/// `escalations-2026-10.csv`.
fn csv_name(month: Month) -> String {
    format!("escalations-{month}.csv")
}

/// One line on what queueing found: how many were queued now, and for those queued before,
/// whether they have gone.
pub fn summary(queued: &[Queued]) -> String {
    let new = queued.iter().filter(|q| q.new).count();
    let before: Vec<&Queued> = queued.iter().filter(|q| !q.new).collect();
    let mut parts = vec![format!("queued to {new} recipient(s)")];
    if !before.is_empty() {
        let sent = before.iter().filter(|q| q.status == "sent").count();
        let waiting = before.iter().filter(|q| q.status == "queued").count();
        let failed = before.len() - sent - waiting;
        parts.push(format!(
            "{} already queued before ({sent} sent, {waiting} waiting, {failed} failed), not again",
            before.len()
        ));
    }
    parts.join("; ")
}
