//! The outbox dispatcher: claims queued messages with a lease, renders and sends each, and
//! records the outcome; temporary failures are retried with exponential backoff and jitter.

use chrono::{DateTime, TimeDelta, Utc};
use futures_util::StreamExt;
use lettre::Address;
use lettre::Message;
use lettre::message::header::{ContentTransferEncoding, ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, Body, Mailbox, MultiPart, SinglePart};
use serde::Serialize;
use serde_json::{Value, json};

use super::form::{self, ActionRow, DecisionRow, MonitoringForm, Party, StageRow};
use super::{Mailer, NotifyError, Templates};
use crate::calendar::local_time;
use crate::engine::Engine;
use crate::report::mail as report_mail;
use crate::store::{
    CaseRecord, DeadlineRecord, DeliveryOutcome, EventRecord, OutboxRecord, StoreError,
};
use crate::text;
use crate::workflow::{
    Definition, LAPSE_EVENT, OPEN_EVENT, Slot, TimerKind, WARNING_EVENT, lookup,
};

/// The longest a recipient's display name may be: a header line, not a document.
const MAX_NAME: usize = 200;
/// The longest an email address may be (RFC 5321's path limit).
const MAX_EMAIL: usize = 254;

/// What an emailed monitoring form shows where free text was typed (unless
/// `[mail] form_free_text` is on): practitioners type children's names into summaries.
pub const WITHHELD: &str = "Not in emailed copies: read it on the case page.";

/// Who mail comes from, where links point, and how long to keep trying.
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// The From: mailbox, e.g. `Safeguarding partnership <escalate@partnership.example.org>`.
    pub from: Mailbox,
    /// Base URL of the web UI; a case's page is `{base_url}/cases/{reference}`.
    pub base_url: String,
    /// After this long failing temporarily, a message is marked failed.
    pub retry_for: TimeDelta,
    /// The first retry waits this long; each later one twice as long, up to `max_backoff`.
    pub first_backoff: TimeDelta,
    /// The longest wait between attempts.
    pub max_backoff: TimeDelta,
    /// How long a claimed message stays leased to this dispatcher.
    pub lease: TimeDelta,
    /// How many messages are sent at once (the SMTP pool's size). A pass claims this many at a
    /// time, so every claimed message is being sent while its lease runs.
    pub in_flight: usize,
    /// The longest one message may take to compose and send: shorter than the lease, so a
    /// message is never still being sent when another dispatcher may take it over. lettre
    /// bounds only each step; a server that stalls mid-conversation is cut off here.
    pub send_timeout: std::time::Duration,
    /// Whether the emailed monitoring form carries the free text typed into the case (the
    /// summary, reasons, actions, learning). Off by default.
    pub form_free_text: bool,
}

/// One delivery pass: which messages are due, who holds their leases, and the clock its
/// attempts are timed by (the real clock, shifted as far as `now` was from it), so each
/// retry waits from its own attempt, however long the pass.
struct Pass {
    due_by: DateTime<Utc>,
    offset: TimeDelta,
    owner: String,
}

impl Pass {
    fn starting(now: DateTime<Utc>) -> Pass {
        let clock = Utc::now();
        Pass {
            due_by: now,
            offset: now - clock,
            owner: format!(
                "{}-{}",
                std::process::id(),
                clock.timestamp_nanos_opt().unwrap_or_default()
            ),
        }
    }

    fn clock(&self) -> DateTime<Utc> {
        Utc::now() + self.offset
    }
}

/// What a delivery pass did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DeliveryReport {
    /// Accepted by the server.
    pub sent: usize,
    /// Failed for now; queued again with backoff.
    pub retrying: usize,
    /// Failed for good (refused, or failing for too long).
    pub failed: usize,
    /// Of those, the ones that failed because their case's workflow version could not be
    /// loaded: a fault of the deployment, not of the message (`outbox retry` once fixed).
    pub no_workflow: usize,
    /// One line per message that did not go, with why.
    pub problems: Vec<String>,
}

/// Delivers the outbox.
pub struct Dispatcher<'a> {
    engine: &'a Engine,
    mailer: Mailer,
    templates: Templates,
    settings: MailSettings,
}

/// The wait before attempt `attempts + 1`: doubling from `first`, capped at `max`, then
/// spread by ±25% so a crowd of messages that failed together does not retry together.
pub fn backoff(attempts: i64, first: TimeDelta, max: TimeDelta, jitter: f64) -> TimeDelta {
    let doubled = first.num_milliseconds() as f64 * 2f64.powi(attempts.clamp(0, 30) as i32);
    let capped = doubled.min(max.num_milliseconds() as f64);
    TimeDelta::milliseconds((capped * (0.75 + 0.5 * jitter.clamp(0.0, 1.0))) as i64)
}

impl<'a> Dispatcher<'a> {
    /// A dispatcher sending through `mailer` with `templates`.
    pub fn new(
        engine: &'a Engine,
        mailer: Mailer,
        templates: Templates,
        settings: MailSettings,
    ) -> Self {
        Dispatcher {
            engine,
            mailer,
            templates,
            settings,
        }
    }

    /// Delivers every queued message due by `now`, each once; returns what happened.
    pub async fn deliver_due(&self, now: DateTime<Utc>) -> Result<DeliveryReport, NotifyError> {
        let pass = Pass::starting(now);
        let mut report = DeliveryReport::default();
        while self.deliver_batch(&pass, &mut report).await? > 0 {}
        Ok(report)
    }

    /// Delivers at most one batch (`in_flight` messages) of those due now on the real clock,
    /// adding to `report`; returns how many were claimed (0: nothing is due). Takes at most
    /// about the send timeout, so a daemon calling it in a loop stops promptly when asked.
    pub async fn deliver_next(&self, report: &mut DeliveryReport) -> Result<usize, NotifyError> {
        self.deliver_batch(&Pass::starting(Utc::now()), report)
            .await
    }

    /// Claims one batch and sends it, recording each message's outcome as soon as it is known.
    async fn deliver_batch(
        &self,
        pass: &Pass,
        report: &mut DeliveryReport,
    ) -> Result<usize, NotifyError> {
        let store = self.engine.store();
        // Leases run on the real clock: they are about processes, not case time.
        let clock = Utc::now();
        let claimed = store
            .claim_outbox(
                pass.due_by,
                &pass.owner,
                clock,
                clock + self.settings.lease,
                self.settings.in_flight.max(1) as i64,
            )
            .await?;
        let count = claimed.len();
        let timeout = self.settings.send_timeout;
        let mut results = futures_util::stream::iter(claimed)
            .map(|row| async move {
                let (outcome, no_workflow) =
                    match tokio::time::timeout(timeout, self.attempt(&row, pass)).await {
                        Ok(attempt) => attempt,
                        Err(_) => (
                            self.retry_or_give_up(
                                &row,
                                format!(
                                    "no answer from the mail server within {} s",
                                    timeout.as_secs()
                                ),
                                pass.clock(),
                            ),
                            false,
                        ),
                    };
                let recorded = store
                    .record_delivery(row.id, &pass.owner, &outcome, pass.clock())
                    .await;
                (row, outcome, no_workflow, recorded)
            })
            .buffer_unordered(self.settings.in_flight.max(1));
        while let Some((row, outcome, no_workflow, recorded)) = results.next().await {
            let who = text::for_terminal(&row.recipient.email);
            // Keep going: the other messages in flight must be recorded too.
            match recorded {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(id = row.id, "lease lost before the outcome was recorded");
                    report.problems.push(format!(
                        "#{} {}: its lease ran out before the outcome was recorded",
                        row.id, row.idempotency_key
                    ));
                    continue;
                }
                Err(e) => {
                    tracing::error!(id = row.id, "outcome not recorded: {e}");
                    report.problems.push(format!(
                        "#{} {}: outcome not recorded: {e}",
                        row.id, row.idempotency_key
                    ));
                    continue;
                }
            }
            match outcome {
                DeliveryOutcome::Sent(reply) => {
                    tracing::info!(id = row.id, key = %row.idempotency_key, to = %who, %reply, "sent");
                    report.sent += 1;
                }
                DeliveryOutcome::Retry(why, at) => {
                    tracing::warn!(id = row.id, to = %who, next = %at, "not sent, will retry: {why}");
                    report.retrying += 1;
                    report.problems.push(format!(
                        "#{} {} to {who}: {why} (retrying from {})",
                        row.id,
                        row.idempotency_key,
                        at.to_rfc3339()
                    ));
                }
                DeliveryOutcome::Failed(why) => {
                    tracing::error!(id = row.id, to = %who, "not sent, gave up: {why}");
                    report.failed += 1;
                    report.no_workflow += usize::from(no_workflow);
                    report.problems.push(format!(
                        "#{} {} to {who}: {why}",
                        row.id, row.idempotency_key
                    ));
                }
            }
        }
        Ok(count)
    }

    /// One delivery attempt of a claimed row, as the outcome to record, and whether it failed
    /// because the case's workflow version could not be loaded.
    async fn attempt(&self, row: &OutboxRecord, pass: &Pass) -> (DeliveryOutcome, bool) {
        use crate::engine::EngineError;
        // Nobody to send to (e.g. a row from before recipients were resolved): say why.
        if let Some(why) = &row.recipient.missing {
            return (DeliveryOutcome::Failed(why.clone()), false);
        }
        let message = match self.compose(row, pass.clock()).await {
            Ok(m) => m,
            // A database hiccup: try again later. A template or form that cannot be made:
            // stop and show it (`outbox retry` once it is fixed).
            Err(NotifyError::Store(e)) | Err(NotifyError::Engine(EngineError::Store(e))) => {
                return (
                    self.retry_or_give_up(row, e.to_string(), pass.clock()),
                    false,
                );
            }
            Err(e) => {
                let no_workflow = matches!(e, NotifyError::Engine(EngineError::UnknownVersion(..)));
                return (DeliveryOutcome::Failed(e.to_string()), no_workflow);
            }
        };
        let outcome = match self.mailer.send(message).await {
            Ok(reply) => DeliveryOutcome::Sent(reply),
            Err(e) if e.permanent => DeliveryOutcome::Failed(e.message),
            // Timed from the end of this attempt, not the start of the pass.
            Err(e) => self.retry_or_give_up(row, e.message, pass.clock()),
        };
        (outcome, false)
    }

    fn retry_or_give_up(
        &self,
        row: &OutboxRecord,
        why: String,
        now: DateTime<Utc>,
    ) -> DeliveryOutcome {
        // How long it has been trying counts on the real clock from when it was queued, so a
        // back-dated event's message (or one retried by hand) gets its full window.
        let trying = Utc::now() - row.queued_at.unwrap_or(row.created_at);
        if trying >= self.settings.retry_for {
            return DeliveryOutcome::Failed(format!(
                "gave up after {} attempts over {}: {why}",
                row.attempts + 1,
                human_span(trying)
            ));
        }
        let wait = backoff(
            row.attempts,
            self.settings.first_backoff,
            self.settings.max_backoff,
            fastrand::f64(),
        );
        DeliveryOutcome::Retry(why, now + wait)
    }

    /// The email for an outbox row: rendered template, addresses, Message-ID, and for a form
    /// the PDF attachment and the form as the HTML part. A row about no case is composed
    /// from its payload alone ([`Dispatcher::standalone_body`]).
    pub async fn compose(
        &self,
        row: &OutboxRecord,
        now: DateTime<Utc>,
    ) -> Result<Message, NotifyError> {
        let to = recipient_mailbox(row)?;
        let (subject, body) = match row.case_id {
            Some(case_id) => self.case_body(row, case_id, now).await?,
            None => self.standalone_body(row)?,
        };
        let mut builder = Message::builder()
            .from(self.settings.from.clone())
            .to(to)
            .subject(subject);
        if let Some(id) = &row.message_id {
            builder = builder.message_id(Some(id.clone()));
        }
        let mut message = builder
            .multipart(body)
            .map_err(|e| NotifyError::Unsendable(e.to_string()))?;
        // Tell mail systems this is automatic, so out-of-office replies are not sent back.
        message.headers_mut().insert_raw(HeaderValue::new(
            HeaderName::new_from_ascii_str("Auto-Submitted"),
            "auto-generated".into(),
        ));
        Ok(message)
    }

    /// The subject and body of a message about a case.
    async fn case_body(
        &self,
        row: &OutboxRecord,
        case_id: i64,
        now: DateTime<Utc>,
    ) -> Result<(String, MultiPart), NotifyError> {
        let store = self.engine.store();
        let case =
            store.cases_by_id(&[case_id]).await?.pop().ok_or_else(|| {
                StoreError::Damaged(format!("outbox row {} names no case", row.id))
            })?;
        let def = self
            .engine
            .definition(&case.workflow, &case.workflow_hash)
            .await?;
        let deadlines = store.deadlines(case.id).await?;
        let mut context = self.context(&def, &case, &deadlines, row);
        let form = if row.kind == "form" {
            let history = store.events(case.id).await?;
            Some(monitoring_form(
                &def,
                &case,
                &history,
                &self.link(&case.reference),
                now,
                self.settings.form_free_text,
            ))
        } else {
            None
        };
        let rendered = match &form {
            Some(f) => {
                context["form"] = serde_json::to_value(f).unwrap_or(Value::Null);
                let mut r = self.templates.render_text(&row.template, &context)?;
                r.html = form::html(f);
                r
            }
            None => self.templates.render(&row.template, &context)?,
        };
        let alternative = MultiPart::alternative_plain_html(rendered.text, rendered.html);
        let body = match &form {
            Some(f) => MultiPart::mixed().multipart(alternative).singlepart(
                Attachment::new(format!("monitoring-form-{}.pdf", case.reference))
                    .body(form::pdf(f)?, content_type("application/pdf")),
            ),
            None => alternative,
        };
        Ok((rendered.subject, body))
    }

    /// The subject and body of a message about no one case, composed from its payload alone
    /// and chosen by its template's name: the monthly report (the chart inline, the CSV
    /// attached); any other template (a digest to one person, say) is rendered with the
    /// payload's fields and `recipient` as its context.
    fn standalone_body(&self, row: &OutboxRecord) -> Result<(String, MultiPart), NotifyError> {
        let unsendable = |e: crate::report::ReportError| NotifyError::Unsendable(e.to_string());
        if row.template != report_mail::TEMPLATE {
            let mut context = match &row.payload {
                Value::Object(fields) => fields.clone(),
                _ => serde_json::Map::new(),
            };
            // Links are made in the template from the base URL, so the payload holds no
            // deployment setting.
            context.insert(
                "base_url".into(),
                json!(self.settings.base_url.trim_end_matches('/')),
            );
            context.insert(
                "recipient".into(),
                json!({
                    "name": row.recipient.name,
                    "email": row.recipient.email,
                    "role": row.recipient.title,
                    "role_name": row.recipient.role,
                }),
            );
            let rendered = self.templates.render(&row.template, &context)?;
            return Ok((
                rendered.subject,
                MultiPart::alternative_plain_html(rendered.text, rendered.html),
            ));
        }
        let parts = report_mail::ReportMail::from_payload(&row.payload)
            .and_then(|mail| mail.parts(&row.recipient))
            .map_err(unsendable)?;
        let rendered = self
            .templates
            .render(report_mail::TEMPLATE, &parts.context)?;
        // The chart travels inside the message (multipart/related, by Content-ID): mail
        // clients block remote images, and the report must read the same offline.
        let html = MultiPart::related()
            .singlepart(SinglePart::html(rendered.html))
            .singlepart(
                Attachment::new_inline(report_mail::CHART_CID.to_string())
                    .body(parts.chart_png, content_type("image/png")),
            );
        let alternative = MultiPart::alternative()
            .singlepart(SinglePart::plain(rendered.text))
            .multipart(html);
        // Base64, so the attachment is the CSV exactly: lettre would send text with bare
        // line feeds as it is, and SMTP reads those as one over-long line.
        let csv = Body::new_with_encoding(parts.csv, ContentTransferEncoding::Base64)
            .map_err(|_| NotifyError::Unsendable("the CSV cannot be attached".into()))?;
        let body = MultiPart::mixed().multipart(alternative).singlepart(
            Attachment::new(parts.csv_name).body(csv, content_type("text/csv; charset=utf-8")),
        );
        Ok((rendered.subject, body))
    }

    fn link(&self, reference: &str) -> String {
        format!(
            "{}/cases/{reference}",
            self.settings.base_url.trim_end_matches('/')
        )
    }

    /// What templates see (see `config/templates/README.md`). Never the child's details.
    fn context(
        &self,
        def: &Definition,
        case: &CaseRecord,
        deadlines: &[DeadlineRecord],
        row: &OutboxRecord,
    ) -> Value {
        let p = &row.payload;
        let text = |key: &str| {
            p.get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let to_state = text("state");
        // The deadline the message is about: the one that fired, else the new state's.
        let slot = match p.get("slot") {
            Some(s) if s.get("kind").and_then(Value::as_str) == Some("task") => Slot::Task(
                s.get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .into(),
            ),
            Some(Value::Object(s)) => Slot::State(
                s.get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .into(),
            ),
            _ => Slot::State(to_state.clone()),
        };
        let lapse_of = |slot: &Slot| {
            deadlines
                .iter()
                .filter(|d| d.slot == *slot && d.kind == TimerKind::Lapse)
                .max_by_key(|d| (d.started_at, d.id))
        };
        let tz = def.time_zone;
        let deadline_json = |d: Option<&DeadlineRecord>| match d {
            Some(d) => json!({
                "due": d.due_at.with_timezone(&tz).format("%a %-d %b %H:%M").to_string(),
                "due_full": local_time(d.due_at, tz),
                "explanation": d.explanation,
                "status": d.status.as_str(),
            }),
            None => Value::Null,
        };
        let state_json = |slot: &Slot| {
            let (name, title) = match slot {
                Slot::State(n) => (n.clone(), def.state(n).map(|s| s.title.clone())),
                Slot::Task(n) => (n.clone(), def.task(n).map(|t| t.title.clone())),
            };
            let title = title.unwrap_or_else(|| name.clone());
            let short = title.split(':').next().unwrap_or(&title).trim().to_string();
            json!({ "name": name, "title": title, "short": short })
        };
        let to_slot = Slot::State(to_state.clone());
        let entered = p.get("entered").and_then(Value::as_bool).unwrap_or(false);
        json!({
            "case": {
                "reference": case.reference,
                "workflow": def.title,
                "state": case.state,
            },
            "state": state_json(&slot),
            "deadline": deadline_json(lapse_of(&slot)),
            "to_state": state_json(&to_slot),
            "new_deadline": if entered { deadline_json(lapse_of(&to_slot)) } else { Value::Null },
            "event": {
                "name": text("event"),
                "title": text("event_title"),
                "reason": p.get("reason"),
                "outcome": p.get("outcome").and_then(Value::as_str).map(|o| o.replace('_', " ")),
                "by": text("by"),
            },
            "recipient": {
                "name": row.recipient.name,
                "role": row.recipient.title,
                "role_name": row.recipient.role,
            },
            "link": self.link(&case.reference),
        })
    }
}

/// `3 days 4 h`, for messages.
fn human_span(span: TimeDelta) -> String {
    let hours = span.num_hours();
    match (hours / 24, hours % 24) {
        (0, h) => format!("{h} h"),
        (d, 0) => format!("{d} days"),
        (d, h) => format!("{d} days {h} h"),
    }
}

/// The `To:` mailbox of a row, checked as the boundary checks typed text: a name or address
/// that is not one line of plain text (a line break would make lettre's header writer panic,
/// a bidirectional override would disguise it) or that is longer than any real one fails
/// this message, with the reason, and no other.
fn recipient_mailbox(row: &OutboxRecord) -> Result<Mailbox, NotifyError> {
    let (name, email) = (&row.recipient.name, &row.recipient.email);
    let refused = |what: &str, e: text::TextError| {
        NotifyError::Unsendable(format!("the recipient's {what} {e}"))
    };
    text::single_line(name, MAX_NAME).map_err(|e| refused("name", e))?;
    text::single_line(email, MAX_EMAIL).map_err(|e| refused("email address", e))?;
    let address: Address = email.parse().map_err(|_| {
        NotifyError::Unsendable(format!(
            "the recipient's email address '{email}' is not valid"
        ))
    })?;
    let name = name.trim();
    Ok(Mailbox::new(
        (!name.is_empty()).then(|| name.to_string()),
        address,
    ))
}

/// A content type written here as text (always a valid one).
fn content_type(text: &str) -> ContentType {
    ContentType::parse(text).unwrap_or(ContentType::TEXT_PLAIN)
}

/// The monitoring form of a case as far as it has gone: parties, stages with their dates, what
/// was decided and done. No child identifiers. Without `free_text`, what people typed (the
/// summary, actions, learning, and the values recorded with each decision) is replaced by
/// [`WITHHELD`]: a child's name typed there must not travel by email.
pub fn monitoring_form(
    def: &Definition,
    case: &CaseRecord,
    history: &[EventRecord],
    link: &str,
    now: DateTime<Utc>,
    free_text: bool,
) -> MonitoringForm {
    let typed = |value: String| {
        if free_text || value.is_empty() {
            value
        } else {
            WITHHELD.to_string()
        }
    };
    let tz = def.time_zone;
    let when = |t: DateTime<Utc>| {
        t.with_timezone(&tz)
            .format("%a %-d %b %Y %H:%M")
            .to_string()
    };
    let party = |role: &str| {
        let path = def.roles.iter().find_map(|r| match &r.kind {
            crate::workflow::RoleKind::Party { path } if r.name == role => {
                Some((path.clone(), r.title.clone()))
            }
            _ => None,
        });
        let Some((path, title)) = path else {
            return Party::default();
        };
        let get = |key: &str| {
            lookup(&case.data, &format!("{path}.{key}"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let role = get("role");
        Party {
            agency: get("agency"),
            name: get("name"),
            role: if role.is_empty() { title } else { role },
            email: get("email"),
        }
    };
    let parties: Vec<&str> = def
        .roles
        .iter()
        .filter(|r| matches!(r.kind, crate::workflow::RoleKind::Party { .. }))
        .map(|r| r.name.as_str())
        .collect();
    let mut stages: Vec<StageRow> = Vec::new();
    let mut decisions = Vec::new();
    let mut actions = Vec::new();
    let (mut child_at_risk, mut learning) = (None, None);
    for e in history {
        let title_of = |state: &str| {
            def.state(state)
                .map(|s| s.title.clone())
                .unwrap_or_else(|| state.to_string())
        };
        if e.event == OPEN_EVENT || e.from_state != e.to_state {
            if let Some(last) = stages.last_mut() {
                last.exited = Some(when(e.at));
            }
            stages.push(StageRow {
                stage: title_of(&e.to_state),
                entered: when(e.at),
                exited: None,
            });
        }
        if e.event == OPEN_EVENT || e.event == WARNING_EVENT {
            continue;
        }
        // An action agreed (`agree_action`: action, owner, due) or listed on the form.
        if let Some(a) = e.fields.get("action").or_else(|| e.fields.get("actions")) {
            actions.push(ActionRow {
                action: typed(a.clone()),
                by_whom: e
                    .fields
                    .get("owner")
                    .cloned()
                    .unwrap_or_else(|| e.actor.clone()),
                by_when: e.fields.get("due").cloned().unwrap_or_default(),
            });
        }
        if let Some(v) = e.fields.get("child_at_risk") {
            child_at_risk = Some(v.clone());
        }
        if let Some(v) = e.fields.get("learning") {
            learning = Some(typed(v.clone()));
        }
        let mut what = if e.event == LAPSE_EVENT {
            "Deadline passed".to_string()
        } else {
            def.event_title(&e.from_state, &e.event)
        };
        let mut withheld = false;
        for (k, v) in &e.fields {
            if ![
                "action",
                "actions",
                "owner",
                "due",
                "learning",
                "child_at_risk",
                "deadline",
            ]
            .contains(&k.as_str())
            {
                if free_text {
                    what.push_str(&format!("; {}: {v}", k.replace('_', " ")));
                } else {
                    withheld = true;
                }
            }
        }
        if withheld {
            what.push_str(" (details on the case page)");
        }
        decisions.push(DecisionRow {
            when: when(e.at),
            who: e.actor.clone(),
            what,
        });
    }
    let category = lookup(&case.data, "category")
        .and_then(Value::as_str)
        .map(category_label)
        .unwrap_or_default();
    let immediate = lookup(&case.data, "immediate_risk").and_then(Value::as_bool);
    MonitoringForm {
        reference: case.reference.clone(),
        workflow: def.title.clone(),
        partnership: String::new(),
        raising: party(parties.first().copied().unwrap_or("raiser")),
        receiving: party(parties.get(1).copied().unwrap_or("respondent")),
        first_raised: when(case.opened_at),
        category,
        summary: typed(
            lookup(&case.data, "summary")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        ),
        stages,
        actions,
        decisions,
        outcome: case.outcome.clone().map(|o| o.replace('_', " ")),
        resolution_date: case.closed_at.map(when),
        child_at_risk: child_at_risk.or(immediate.filter(|r| *r).map(|_| "yes".to_string())),
        learning,
        generated: when(now),
        link: link.to_string(),
    }
}

/// `need_for_action` → the form's wording.
fn category_label(category: &str) -> String {
    match category {
        "threshold" => "Threshold / level of need".into(),
        "roles_and_responsibilities" => "Roles and responsibilities".into(),
        "need_for_action" => "Need for action".into(),
        "information_sharing" => "Information sharing".into(),
        "case_progress" => "Case progress".into(),
        "service_provision" => "Service provision".into(),
        other => other.replace('_', " "),
    }
}
