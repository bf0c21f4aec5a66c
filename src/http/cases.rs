//! `/api/v1/cases`: reading cases and recording events, as the access policy allows, each
//! request about a case in its access log.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::Caller;
use super::error::ApiError;
use super::extract::{Path, Query};
use super::openapi::{AboutACase, Forbidden, NeedsToken, Writes};
use crate::access::policy::{self, CaseAction, Verdict};
use crate::directory::Directory;
use crate::engine::EngineError;
use crate::engine::{CaseView, OpenPreview, Recording};
use crate::ids::{CaseRef, UserEmail};
use crate::store::{AccessEntry, CaseRecord, IdempotencyKey, Recalled, StoreError};
use crate::text;
use crate::workflow::describe::EventInfo;
use crate::workflow::{Definition, EventFields};

/// The longest reason an administrator may give.
const MAX_REASON: usize = 500;
/// The longest event name (workflow names are short identifiers).
const MAX_EVENT: usize = 64;
/// The most fields one event may carry.
const MAX_FIELDS: usize = 50;

/// Query of `GET /api/v1/cases/{reference}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReadQuery {
    /// Why an administrator reads the case: required of them (one line, at most 500
    /// characters), and recorded in the access log; ignored for other roles.
    #[param(value_type = String, required = false)]
    pub reason: Option<String>,
}

/// The `{reference}` path parameter.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ReferencePath {
    /// The case's reference, e.g. `DSP-2026-000042`.
    #[param(
        pattern = "^[A-Za-z0-9]{1,10}-[0-9]{4}-[0-9]{1,12}$",
        example = "DSP-2026-000042"
    )]
    pub reference: String,
}

/// A path's case reference, or 400 saying what one looks like.
fn reference(text: &str) -> Result<CaseRef, ApiError> {
    CaseRef::parse(text).map_err(|e| ApiError::bad_request(e.to_string()))
}

/// The case as answered: its view, with its version as the `ETag`.
fn answer(view: CaseView) -> Response {
    let mut headers = HeaderMap::new();
    if let Ok(tag) = HeaderValue::from_str(&format!("\"{}\"", view.case.seq)) {
        headers.insert(header::ETAG, tag);
    }
    (StatusCode::OK, headers, Json(view)).into_response()
}

/// A case the caller may see, with what deciding so read.
struct Visible {
    case: CaseRecord,
    def: Arc<Definition>,
    directory: Directory,
    relation: policy::Relation,
}

/// One request about one case, for the access log.
struct Access<'a> {
    state: &'a AppState,
    caller: &'a Caller,
    reference: &'a str,
    action: String,
}

impl Access<'_> {
    /// The log entry of this request answered with `status`.
    fn entry(&self, status: StatusCode, reason: Option<String>) -> AccessEntry {
        AccessEntry {
            at: Utc::now(),
            user_id: Some(self.caller.user.id),
            email: self.caller.user.email.clone(),
            reference: self.reference.to_string(),
            action: self.action.clone(),
            status: status.as_u16(),
            address: self.caller.address.clone(),
            reason,
        }
    }

    /// Records how it was answered. A log that cannot be written fails the request (503)
    /// before anything is shown: an unrecorded read of a child's case must not happen.
    async fn log(&self, status: StatusCode, reason: Option<String>) -> Result<(), ApiError> {
        self.state
            .engine
            .store()
            .log_access(&[self.entry(status, reason)])
            .await?;
        Ok(())
    }

    /// The case, if this caller may do `action` with it; an unseen case is answered (and
    /// logged) exactly as one that does not exist, after the same reads.
    async fn case(&self, action: CaseAction) -> Result<Visible, ApiError> {
        let engine = &self.state.engine;
        // Read before the case, whether or not it exists, so that a hidden case takes no
        // longer to refuse than a missing one.
        let directory = engine.store().directory().await?;
        let Some(case) = engine.store().case_by_reference(self.reference).await? else {
            self.log(StatusCode::NOT_FOUND, None).await?;
            return Err(ApiError::no_case(self.reference));
        };
        let (verdict, def, relation) =
            verdict(self.state, self.caller, &case, &directory, action).await?;
        match verdict {
            Verdict::Allow | Verdict::WithReason => Ok(Visible {
                case,
                def,
                directory,
                relation,
            }),
            Verdict::Hidden => {
                self.log(StatusCode::NOT_FOUND, None).await?;
                Err(ApiError::no_case(self.reference))
            }
            Verdict::Forbidden => {
                self.log(StatusCode::FORBIDDEN, None).await?;
                Err(ApiError::forbidden("you may not do this with this case"))
            }
        }
    }
}

/// The policy's verdict on `action` by `caller` with `case` (read with `directory`), with the
/// case's workflow version and how the caller stands to it: what [`Access::case`] decides on
/// and what leaves out of a case's links those the caller may not read (a list checks its
/// cases with [`verdict_on`]).
pub(super) async fn verdict(
    state: &AppState,
    caller: &Caller,
    case: &CaseRecord,
    directory: &Directory,
    action: CaseAction,
) -> Result<(Verdict, Arc<Definition>, policy::Relation), ApiError> {
    verdict_on(
        state,
        caller,
        (&case.workflow, &case.workflow_hash, &case.data),
        directory,
        action,
    )
    .await
}

/// [`verdict`] on a case known by its workflow, workflow version and opening data.
pub(super) async fn verdict_on(
    state: &AppState,
    caller: &Caller,
    (workflow, hash, data): (&str, &str, &serde_json::Value),
    directory: &Directory,
    action: CaseAction,
) -> Result<(Verdict, Arc<Definition>, policy::Relation), ApiError> {
    let def = state.engine.definition(workflow, hash).await?;
    let relation = policy::relation(
        &caller.user.email,
        caller.user.agency.as_deref(),
        &def,
        data,
        directory,
    );
    let verdict = policy::case_verdict(caller.user.role, relation, action);
    Ok((verdict, def, relation))
}

/// `view` with only the linked cases `caller` may read: one they may not is not named, as it
/// would not be found (its reference, workflow and stage are its own to hide). An
/// administrator's read with a reason counts as one they may make. Asking writes nothing to
/// the access log: no linked case is read for the caller. `directory` as read for the case,
/// else read here (only if there are links).
async fn readable_links(
    state: &AppState,
    caller: &Caller,
    mut view: CaseView,
    directory: Option<&Directory>,
) -> Result<CaseView, ApiError> {
    if view.links.is_empty() {
        return Ok(view);
    }
    let read;
    let directory = match directory {
        Some(d) => d,
        None => {
            read = state.engine.store().directory().await?;
            &read
        }
    };
    let mut kept = Vec::with_capacity(view.links.len());
    for link in std::mem::take(&mut view.links) {
        let Some(other) = state
            .engine
            .store()
            .case_by_reference(&link.reference)
            .await?
        else {
            continue;
        };
        let (verdict, _, _) = verdict(state, caller, &other, directory, CaseAction::Read).await?;
        if matches!(verdict, Verdict::Allow | Verdict::WithReason) {
            kept.push(link);
        }
    }
    view.links = kept;
    Ok(view)
}

/// `GET /api/v1/cases/{reference}`: the case with its history, deadlines (with their
/// explanations), messages and links; `ETag` is its sequence number.
#[utoipa::path(
    get,
    path = "/api/v1/cases/{reference}",
    tag = "cases",
    operation_id = "read_case",
    params(ReferencePath, ReadQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The case: its state, opening data, history, deadlines with \
            their explanations, messages and links.", body = CaseView,
            headers(("ETag" = String, description = "The case's version (its latest entry's number), \
                e.g. `\"7\"`: send it back as `If-Match` when acting."))),
        NeedsToken,
        AboutACase
    )
)]
pub async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path(path): Path<ReferencePath>,
    Query(query): Query<ReadQuery>,
) -> Result<Response, ApiError> {
    let view = case_view(&state, &caller, &path.reference, query.reason.as_deref()).await?;
    Ok(answer(view))
}

/// The case `reference` as `caller` may read it, the read logged (with an administrator's
/// `reason`, which they must give): shared by the API's and the web UI's case pages.
pub async fn case_view(
    state: &AppState,
    caller: &Caller,
    reference: &str,
    reason: Option<&str>,
) -> Result<CaseView, ApiError> {
    let reference = self::reference(reference)?;
    let access = Access {
        state,
        caller,
        reference: reference.as_str(),
        action: "read".into(),
    };
    // An administrator says why before anything is looked up, so that without a reason a
    // case that exists and one that does not are answered alike.
    let reason = if policy::reason_required(caller.user.role, CaseAction::Read) {
        let given = reason.map(str::trim).unwrap_or_default();
        if given.is_empty() || text::single_line(given, MAX_REASON).is_err() {
            access.log(StatusCode::FORBIDDEN, None).await?;
            return Err(ApiError::forbidden(format!(
                "an administrator reads a case only with a reason of one line (at most {MAX_REASON} characters): add ?reason=…"
            )));
        }
        Some(given.to_string())
    } else {
        None
    };
    let visible = access.case(CaseAction::Read).await?;
    let view = state.engine.show(reference.as_str()).await?;
    let view = readable_links(state, caller, view, Some(&visible.directory)).await?;
    access.log(StatusCode::OK, reason).await?;
    Ok(view)
}

/// What `GET /api/v1/cases/{reference}/events/allowed` answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct AllowedEvents {
    /// The case.
    pub reference: String,
    /// Its state.
    pub state: String,
    /// The workflow roles the case gives the caller.
    pub roles: Vec<String>,
    /// The events those roles may take now, each with its fields.
    pub events: Vec<EventInfo>,
}

/// `GET /api/v1/cases/{reference}/events/allowed`: the events the caller may take on the case
/// now, by the roles the case gives them, each with the fields it takes: what a client needs
/// to draw its buttons and forms. Logged as a read.
#[utoipa::path(
    get,
    path = "/api/v1/cases/{reference}/events/allowed",
    tag = "cases",
    operation_id = "allowed_events",
    params(ReferencePath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The events the caller may take on the case now.",
            body = AllowedEvents,
            headers(("ETag" = String, description = "The case's version, as `GET /api/v1/cases/{reference}` gives it."))),
        NeedsToken,
        AboutACase
    )
)]
pub async fn allowed(
    State(state): State<AppState>,
    caller: Caller,
    Path(path): Path<ReferencePath>,
) -> Result<Response, ApiError> {
    let (allowed, seq) = allowed_events(&state, &caller, &path.reference).await?;
    let mut headers = HeaderMap::new();
    if let Ok(tag) = HeaderValue::from_str(&format!("\"{seq}\"")) {
        headers.insert(header::ETAG, tag);
    }
    Ok((StatusCode::OK, headers, Json(allowed)).into_response())
}

/// The events `caller` may take on case `reference` now, with the case's version (its
/// sequence number), the read logged: shared by the API and the web UI's buttons.
pub async fn allowed_events(
    state: &AppState,
    caller: &Caller,
    reference: &str,
) -> Result<(AllowedEvents, i64), ApiError> {
    let reference = self::reference(reference)?;
    let access = Access {
        state,
        caller,
        reference: reference.as_str(),
        action: "read:allowed".into(),
    };
    if !policy::acts_on_cases(caller.user.role) {
        access.log(StatusCode::FORBIDDEN, None).await?;
        return Err(ApiError::forbidden("your role takes no events on cases"));
    }
    let Visible {
        case,
        def,
        directory,
        relation,
    } = access.case(CaseAction::Act).await?;
    let email = caller.user.email.as_str();
    let mut roles = def.party_roles(&case.data, email);
    roles.extend(directory.contact_roles(&def, &case.data, email));
    debug_assert_eq!(
        policy::case_verdict(caller.user.role, relation, CaseAction::Act),
        Verdict::Allow
    );
    let events: Vec<EventInfo> = if case.closed_at.is_some() {
        def.after_close
            .iter()
            .filter_map(|name| def.after_close_event(name))
            .filter(|e| e.by.iter().any(|r| roles.contains(r)))
            .map(crate::workflow::describe::event)
            .collect()
    } else {
        def.state(&case.state)
            .map(|s| {
                s.events
                    .iter()
                    .filter(|e| e.by.iter().any(|r| roles.contains(r)))
                    .map(crate::workflow::describe::event)
                    .collect()
            })
            .unwrap_or_default()
    };
    access.log(StatusCode::OK, None).await?;
    Ok((
        AllowedEvents {
            reference: case.reference,
            state: case.state,
            roles,
            events,
        },
        case.seq,
    ))
}

/// Body of `POST /api/v1/cases/{reference}/events`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventRequest {
    /// The event, e.g. `escalate` (`GET …/events/allowed` lists those the caller may take).
    #[schema(pattern = "^[A-Za-z0-9_]{1,64}$", example = "escalate")]
    pub event: String,
    /// Its fields, at most 50: text; numbers and booleans are taken as their text.
    #[serde(default)]
    #[schema(schema_with = scalar_fields)]
    pub fields: BTreeMap<String, Value>,
    /// Why: the `reason` field (give it here or in `fields`, not in both).
    pub reason: Option<String>,
}

/// The schema of an event's `fields`: at most [`MAX_FIELDS`] text, number or boolean values.
fn scalar_fields() -> utoipa::openapi::Object {
    use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, SchemaType, Type};
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .additional_properties(Some(AdditionalProperties::RefOr(
            ObjectBuilder::new()
                .schema_type(SchemaType::from_iter([
                    Type::String,
                    Type::Number,
                    Type::Boolean,
                ]))
                .into(),
        )))
        .max_properties(Some(MAX_FIELDS))
        .build()
}

/// The version an `If-Match` header names: the case's strong `ETag`, `"7"` (or, as some
/// clients send it, `7`); `*` or none, any version.
fn if_match(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default().trim();
    if text == "*" {
        return Ok(None);
    }
    let unquoted = text.strip_prefix('"').and_then(|t| t.strip_suffix('"'));
    unquoted
        .or_else(|| (!text.contains('"')).then_some(text))
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|n| n.parse::<i64>().ok())
        .map(Some)
        .ok_or_else(|| ApiError::bad_request("If-Match must be the case's ETag, e.g. \"7\""))
}

/// The event's fields as the engine takes them: text, each once, `reason` included.
fn event_fields(request: &EventRequest) -> Result<EventFields, ApiError> {
    if request.fields.len() > MAX_FIELDS {
        return Err(ApiError::bad_request(format!(
            "an event takes at most {MAX_FIELDS} fields"
        )));
    }
    let mut fields = EventFields::new();
    for (name, value) in &request.fields {
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "field '{}' must be text, a number or true/false",
                    text::for_terminal(name)
                        .chars()
                        .take(80)
                        .collect::<String>()
                )));
            }
        };
        fields.insert(name.clone(), text);
    }
    if let Some(reason) = &request.reason
        && fields.insert("reason".into(), reason.clone()).is_some()
    {
        return Err(ApiError::bad_request(
            "the reason is given twice (as reason and as fields.reason)",
        ));
    }
    Ok(fields)
}

/// The longest idempotency key accepted.
const MAX_KEY: usize = 200;

/// The `Idempotency-Key` header: 1 to 200 visible ASCII characters (a UUID, say).
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    parse_key(value.as_bytes()).map(Some)
}

/// An idempotency key as given (a header, or a web form's hidden field): 1 to 200 visible
/// ASCII characters.
pub fn parse_key(bytes: &[u8]) -> Result<String, ApiError> {
    if bytes.is_empty() || bytes.len() > MAX_KEY || !bytes.iter().all(|b| (0x21..=0x7e).contains(b))
    {
        return Err(ApiError::bad_request(format!(
            "Idempotency-Key must be 1 to {MAX_KEY} visible ASCII characters, e.g. a UUID"
        )));
    }
    Ok(String::from_utf8_lossy(bytes).into_owned())
}

/// What identifies a request beyond its key: the case, the event and its fields.
fn fingerprint(reference: &CaseRef, event: &str, fields: &EventFields) -> String {
    digest(&serde_json::json!([reference.as_str(), event, fields]).to_string())
}

/// SHA-256 of a request's canonical form, hex.
fn digest(canonical: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(canonical.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The answer to a request whose key was recorded before: the case as it is now, marked as a
/// replay, and nothing recorded again; the same key with another request is refused.
async fn replay(
    access: &Access<'_>,
    claim: &IdempotencyKey,
    done: Recalled,
) -> Result<EventOutcome, ApiError> {
    if done.fingerprint != claim.fingerprint {
        let e = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "this Idempotency-Key was used for another request; send a new key",
        );
        access.log(e.status, None).await?;
        return Err(e);
    }
    access.log(StatusCode::OK, None).await?;
    let view = access.state.engine.show(&done.reference).await?;
    let view = readable_links(access.state, access.caller, view, None).await?;
    Ok(EventOutcome {
        reference: done.reference,
        view: Some(view),
        replayed: Some(done.seq),
    })
}

/// A body that is not the JSON asked for: 400, or the status that says why (413 too large,
/// 415 not JSON), in the API's error shape.
pub(crate) fn rejected(e: JsonRejection) -> ApiError {
    let message = e
        .body_text()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    match e {
        JsonRejection::JsonDataError(_) | JsonRejection::JsonSyntaxError(_) => {
            ApiError::bad_request(message)
        }
        e if e.status() == StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ApiError::new(e.status(), "unsupported_media_type", message)
        }
        e if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(e.status(), "too_large", message)
        }
        _ => ApiError::bad_request(message),
    }
}

/// What `POST /api/v1/cases/{reference}/events` answers when the event was recorded but the
/// case could not be read back (the database went away in between): do not send it again.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordedOnly {
    /// The case.
    pub reference: String,
    /// Always true: the event is recorded.
    pub recorded: bool,
}

/// What `POST /api/v1/cases/{reference}/events` answers: the case as it is now, or, when it
/// could not be read back, that the event was recorded.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum EventAnswer {
    /// The case after the event.
    Case(Box<CaseView>),
    /// Recorded, not read back.
    Recorded(RecordedOnly),
}

/// Headers an event or an opening takes.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)] // Read from the HeaderMap; here for the document.
struct WriteHeaders {
    /// A key of the client's (1 to 200 visible ASCII characters, e.g. a UUID) that makes a
    /// retry safe: the same key with the same request answers what the first one did, marked
    /// `Idempotent-Replayed: true`, and records nothing again; with another request, 422.
    #[param(rename = "Idempotency-Key", value_type = String, required = false, pattern = "^[!-~]{1,200}$")]
    idempotency_key: Option<String>,
}

/// The `If-Match` header of an event.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)] // Read from the HeaderMap; here for the document.
struct MatchHeader {
    /// The case's `ETag` (e.g. `"7"`, or its number without the quotes): the event is recorded
    /// only if the case is still at that version, else 409 and nothing is written; `*` or
    /// none, at any version.
    #[param(rename = "If-Match", value_type = String, required = false, pattern = "^(\\*|\"[0-9]{1,18}\"|[0-9]{1,18})$")]
    if_match: Option<String>,
}

/// `POST /api/v1/cases/{reference}/events`: records an event as the signed-in user, only if
/// the case is still at the version `If-Match` names (409 otherwise, nothing written).
#[utoipa::path(
    post,
    path = "/api/v1/cases/{reference}/events",
    tag = "cases",
    operation_id = "record_event",
    params(ReferencePath, MatchHeader, WriteHeaders),
    request_body = EventRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Recorded (or, with a replayed `Idempotency-Key`, recorded \
            before): the case as it is now.", body = EventAnswer,
            headers(
                ("ETag" = String, description = "The case's new version."),
                ("Idempotent-Replayed" = String, description = "`true` when this answers a \
                    replayed `Idempotency-Key` and nothing was recorded again."),
                ("Recorded-Version" = String, description = "On a replay: the version the first \
                    request recorded.")
            )),
        NeedsToken,
        AboutACase,
        Writes
    )
)]
pub async fn act(
    State(state): State<AppState>,
    caller: Caller,
    Path(path): Path<ReferencePath>,
    headers: HeaderMap,
    body: Result<Json<EventRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(request) = body.map_err(rejected)?;
    let expected = if_match(&headers)?;
    let key = idempotency_key(&headers)?;
    let outcome = record_event(&state, &caller, &path.reference, expected, &request, key).await?;
    let mut response = match outcome.view {
        Some(view) => answer(view),
        None => (
            StatusCode::OK,
            Json(RecordedOnly {
                reference: outcome.reference,
                recorded: true,
            }),
        )
            .into_response(),
    };
    if let Some(seq) = outcome.replayed {
        response.headers_mut().insert(
            axum::http::HeaderName::from_static("idempotent-replayed"),
            HeaderValue::from_static("true"),
        );
        if let Ok(v) = HeaderValue::from_str(&seq.to_string()) {
            response
                .headers_mut()
                .insert(axum::http::HeaderName::from_static("recorded-version"), v);
        }
    }
    Ok(response)
}

/// What recording an event through [`record_event`] came to.
#[derive(Debug)]
pub struct EventOutcome {
    /// The case.
    pub reference: String,
    /// The case as it is now; none when it was recorded but could not be read back (the
    /// database went away in between): it must not be sent again.
    pub view: Option<CaseView>,
    /// When the idempotency key was used before: the version that request recorded, and
    /// nothing was recorded now.
    pub replayed: Option<i64>,
}

/// Records `request` on case `reference` as `caller` (never anyone the request names), only if
/// the case is still at version `expected` (else 409, nothing written), once per idempotency
/// `key`; every attempt logged. Shared by the API and the web UI's event forms.
pub async fn record_event(
    state: &AppState,
    caller: &Caller,
    reference: &str,
    expected: Option<i64>,
    request: &EventRequest,
    key: Option<String>,
) -> Result<EventOutcome, ApiError> {
    let reference = self::reference(reference)?;
    if request.event.is_empty()
        || request.event.chars().count() > MAX_EVENT
        || !request
            .event
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(ApiError::bad_request(format!(
            "event must be a workflow event's name (letters, digits and _, at most {MAX_EVENT})"
        )));
    }
    let fields = event_fields(request)?;
    let access = Access {
        state,
        caller,
        reference: reference.as_str(),
        action: format!("act:{}", request.event),
    };
    // Said before the case is looked up, so the refusal tells nothing of whether it exists.
    if !policy::acts_on_cases(caller.user.role) {
        access.log(StatusCode::FORBIDDEN, None).await?;
        return Err(ApiError::forbidden("your role takes no events on cases"));
    }
    let visible = access.case(CaseAction::Act).await?;
    let by = UserEmail::parse(&caller.user.email)
        .map_err(|_| ApiError::forbidden("this account has no usable email address"))?;
    let claim = key.map(|key| IdempotencyKey {
        user_id: caller.user.id,
        key,
        fingerprint: fingerprint(&reference, &request.event, &fields),
    });
    if let Some(claim) = &claim
        && let Some(done) = state
            .engine
            .store()
            .recall(claim.user_id, &claim.key)
            .await?
    {
        return replay(&access, claim, done).await;
    }
    // Dated by the clock as the engine writes it (not as the request arrived), so a writer
    // that loses a race to a later entry is decided again, not refused as back-dated. The
    // access-log entry goes in the event's own transaction: a recorded event is never missing
    // from the log, and one commit serves both. The case as the policy check read it is what
    // the first attempt decides on.
    let recorded = state
        .engine
        .record_with(
            &reference,
            &request.event,
            &fields,
            &by,
            Recording {
                expected,
                at: None,
                key: claim.as_ref(),
                access: Some(access.entry(StatusCode::OK, None)),
                read: Some((visible.case, &visible.directory)),
            },
        )
        .await;
    // The same key again at the same moment: the other request recorded it first. That shows
    // as a duplicate key or, with If-Match (which the web's forms always send), as a stale
    // version, the first request's entry having moved the case on: whichever, once the key is
    // recorded this request is its replay, not a refusal.
    if let (Err(_), Some(claim)) = (&recorded, &claim)
        && let Ok(Some(done)) = state.engine.store().recall(claim.user_id, &claim.key).await
    {
        return replay(&access, claim, done).await;
    }
    if let Err(e) = recorded {
        let e = ApiError::from(e);
        access.log(e.status, None).await?;
        return Err(e);
    }
    // The event and its log entry are written: a failure to read the case back must not look
    // like a failure to record it (a client would send it again).
    let shown = match state.engine.show(reference.as_str()).await {
        Ok(view) => readable_links(state, caller, view, Some(&visible.directory))
            .await
            .map_err(|e| e.message),
        Err(e) => Err(e.to_string()),
    };
    let view = match shown {
        Ok(view) => Some(view),
        Err(e) => {
            tracing::error!(reference = %reference, "an event was recorded but the case could not be read back: {e}");
            None
        }
    };
    Ok(EventOutcome {
        reference: reference.as_str().to_string(),
        view,
        replayed: None,
    })
}

/// Body of `POST /api/v1/cases`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
// The shipped example (examples/dispute.json): invented people, no real child.
#[schema(example = json!({
    "workflow": "dispute",
    "data": {
        "division": "england-and-wales",
        "category": "threshold",
        "summary": "Referral about neglect concerns was not accepted for assessment; school believes the threshold for a section 17 assessment is met.",
        "child": { "name": "Sam Example", "reference": "LCS-204417" },
        "raised_by": {
            "name": "Priya Shah",
            "email": "priya.shah@school.example.org",
            "agency": "Riverside Primary School"
        },
        "respondent": {
            "name": "Tom Hughes",
            "email": "tom.hughes@council.example.gov.uk",
            "agency": "Children's Social Care"
        }
    }
}))]
pub struct OpenRequest {
    /// The workflow, e.g. `dispute`.
    #[schema(example = "dispute")]
    pub workflow: String,
    /// The opening data (see `GET /api/v1/workflows/{name}`).
    #[schema(value_type = Object)]
    pub data: Value,
    /// A starting state other than the default (e.g. `stage2` when the child is at immediate
    /// risk), if the workflow allows it.
    pub start: Option<String>,
    /// Why, when the start needs it.
    pub reason: Option<String>,
}

/// `POST /api/v1/cases`: opens a case as the signed-in user (a party the data names, or a
/// directory contact of a party's agency): 201 with the case and its `Location`.
#[utoipa::path(
    post,
    path = "/api/v1/cases",
    tag = "cases",
    operation_id = "open_case",
    params(WriteHeaders),
    request_body = OpenRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Opened (or, with a replayed `Idempotency-Key`, opened \
            before): the case.", body = CaseView,
            headers(
                ("Location" = String, description = "The case: `/api/v1/cases/{reference}`."),
                ("ETag" = String, description = "The case's version."),
                ("Idempotent-Replayed" = String, description = "`true` when this answers a \
                    replayed `Idempotency-Key` and nothing was opened again.")
            )),
        (status = 403, response = Forbidden),
        NeedsToken,
        Writes
    )
)]
pub async fn open(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Json<OpenRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(request) = body.map_err(rejected)?;
    let key = idempotency_key(&headers)?;
    let (view, replayed) = open_case(&state, &caller, &request, key).await?;
    Ok(created(view, replayed))
}

/// Opens a case as `caller`, once per idempotency `key`, the opening logged: the case, and
/// whether the key had opened it before (nothing opened now). Shared by the API and the web
/// UI's form.
pub async fn open_case(
    state: &AppState,
    caller: &Caller,
    request: &OpenRequest,
    key: Option<String>,
) -> Result<(CaseView, bool), ApiError> {
    let (fields, by) = opening(caller, request)?;
    let claim = key.map(|key| {
        let canonical = serde_json::json!([
            "open",
            request.workflow,
            request.data,
            request.start,
            fields
        ])
        .to_string();
        IdempotencyKey {
            user_id: caller.user.id,
            key,
            fingerprint: digest(&canonical),
        }
    });
    let engine = &state.engine;
    if let Some(claim) = &claim
        && let Some(done) = engine.store().recall(claim.user_id, &claim.key).await?
    {
        return reopened(state, caller, claim, done).await;
    }
    let opened = engine
        .open_keyed(
            &request.workflow,
            request.data.clone(),
            request.start.as_deref(),
            &fields,
            &by,
            Utc::now(),
            claim.as_ref(),
        )
        .await;
    let case = match opened {
        Ok(case) => case,
        Err(EngineError::Store(StoreError::Duplicate(_))) if claim.is_some() => {
            let claim = claim.as_ref().expect("checked");
            let done = engine
                .store()
                .recall(claim.user_id, &claim.key)
                .await?
                .ok_or_else(|| ApiError::from(StoreError::Duplicate(claim.key.clone())))?;
            return reopened(state, caller, claim, done).await;
        }
        // Not someone this case names or whose agency it involves: not theirs to open.
        Err(e @ EngineError::NotInvolved { .. }) => {
            return Err(ApiError::forbidden(e.to_string()));
        }
        Err(e) => return Err(e.into()),
    };
    let access = Access {
        state,
        caller,
        reference: &case.reference,
        action: "open".into(),
    };
    if let Err(e) = access.log(StatusCode::CREATED, None).await {
        tracing::error!(reference = %case.reference, "a case was opened but not its access: {}", e.message);
    }
    let view = engine.show(&case.reference).await?;
    Ok((readable_links(state, caller, view, None).await?, false))
}

/// Who opens a case, and with what opening fields, when their role may open one and the
/// request is an object of data.
fn opening(caller: &Caller, request: &OpenRequest) -> Result<(EventFields, UserEmail), ApiError> {
    if !policy::may_open(caller.user.role) {
        return Err(ApiError::forbidden("your role opens no cases"));
    }
    if !request.data.is_object() {
        return Err(ApiError::bad_request("data must be a JSON object"));
    }
    let mut fields = EventFields::new();
    if let Some(reason) = &request.reason {
        fields.insert("reason".into(), reason.clone());
    }
    let by = UserEmail::parse(&caller.user.email)
        .map_err(|_| ApiError::forbidden("this account has no usable email address"))?;
    Ok((fields, by))
}

/// `POST /api/v1/cases/preview`: what `POST /api/v1/cases` with the same body would do now,
/// with nothing written: the state the case would start in and its deadlines, each with why
/// it falls then (a form shows them before the case is opened). Refused as the opening would be.
#[utoipa::path(
    post,
    path = "/api/v1/cases/preview",
    tag = "cases",
    operation_id = "preview_case",
    request_body = OpenRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "What opening it would do; nothing is written.",
            body = OpenPreview),
        (status = 403, response = Forbidden),
        NeedsToken,
        Writes
    )
)]
pub async fn preview(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<OpenRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(request) = body.map_err(rejected)?;
    Ok(Json(preview_case(&state, &caller, request).await?).into_response())
}

/// What opening `request` as `caller` would do now, with nothing written; refused as the
/// opening would be. Shared by the API and the web UI's check-your-answers page.
pub async fn preview_case(
    state: &AppState,
    caller: &Caller,
    request: OpenRequest,
) -> Result<OpenPreview, ApiError> {
    let (fields, by) = opening(caller, &request)?;
    state
        .engine
        .preview_open(
            &request.workflow,
            request.data,
            request.start.as_deref(),
            &fields,
            &by,
            Utc::now(),
        )
        .await
        .map_err(|e| match e {
            e @ EngineError::NotInvolved { .. } => ApiError::forbidden(e.to_string()),
            e => e.into(),
        })
}

/// The answer to an opening: 201, the case, its `Location`.
fn created(view: CaseView, replayed: bool) -> Response {
    let location = format!("/api/v1/cases/{}", view.case.reference);
    let mut response = answer(view);
    *response.status_mut() = StatusCode::CREATED;
    if let Ok(location) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    if replayed {
        response.headers_mut().insert(
            axum::http::HeaderName::from_static("idempotent-replayed"),
            HeaderValue::from_static("true"),
        );
    }
    response
}

/// An opening whose key was recorded before: the case it opened, or 422 for another request.
async fn reopened(
    state: &AppState,
    caller: &Caller,
    claim: &IdempotencyKey,
    done: Recalled,
) -> Result<(CaseView, bool), ApiError> {
    if done.fingerprint != claim.fingerprint {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "this Idempotency-Key was used for another request; send a new key",
        ));
    }
    let access = Access {
        state,
        caller,
        reference: &done.reference,
        action: "open".into(),
    };
    access.log(StatusCode::CREATED, None).await?;
    let view = state.engine.show(&done.reference).await?;
    Ok((readable_links(state, caller, view, None).await?, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matching(value: Option<&str>) -> Result<Option<i64>, u16> {
        let mut headers = HeaderMap::new();
        if let Some(v) = value {
            headers.insert(header::IF_MATCH, HeaderValue::from_str(v).unwrap());
        }
        if_match(&headers).map_err(|e| e.status.as_u16())
    }

    #[test]
    fn if_match_takes_the_etag_or_its_number() {
        assert_eq!(matching(None), Ok(None));
        assert_eq!(matching(Some("*")), Ok(None));
        assert_eq!(matching(Some("\"7\"")), Ok(Some(7)));
        assert_eq!(matching(Some("7")), Ok(Some(7)));
        assert_eq!(matching(Some(" \"12\" ")), Ok(Some(12)));
        for bad in [
            "",
            "\"7",
            "7\"",
            "W/\"7\"",
            "\"\"",
            "\"-1\"",
            "\"7\", \"8\"",
            "seven",
            "99999999999999999999",
        ] {
            assert_eq!(matching(Some(bad)), Err(400), "{bad:?}");
        }
    }
}
