//! The API's OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]`
//! annotations and the types they answer with: the routes and the document come from one list
//! ([`routes`]), so a route cannot be served undocumented. Served at `/api/v1/openapi.json`
//! and committed as `docs/openapi.json` (`escalate openapi > docs/openapi.json`; a test fails
//! when the two differ).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{IntoResponses, Modify, OpenApi, ToResponse};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ErrorBody;
use super::{AppState, cases, feed, lists, metrics, reference, signin};

/// Where the document is served.
pub const PATH: &str = "/api/v1/openapi.json";

/// The name of the bearer-token security scheme.
pub const BEARER: &str = "bearer";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "escalate",
        description = "The JSON API of `escalate serve`: safeguarding escalation cases, their \
            deadlines and events, as the access policy allows. Every error is \
            `{\"error\": code, \"message\": …}`. A case the caller may not see is answered 404, \
            exactly as one that does not exist."
    ),
    modifiers(&Bearer),
    components(schemas(ErrorBody), responses(
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        TooLarge,
        UnsupportedMediaType,
        Unprocessable,
        RateLimited,
        Internal,
        Unavailable
    )),
    tags(
        (name = "probes", description = "Liveness and readiness, unauthenticated."),
        (name = "sign-in", description = "A bearer token for an email address and password."),
        (name = "cases", description = "Opening, reading and acting on cases."),
        (name = "reference", description = "Workflows, agencies and the calendar: no case data."),
        (name = "reports", description = "The board's monthly report."),
        (name = "calendar feed", description = "Each person's deadlines as an iCalendar feed."),
        (name = "operations", description = "Metrics for an administrator's token."),
        (name = "openapi", description = "This document.")
    )
)]
struct ApiDoc;

/// Adds the bearer-token scheme (`Authorization: Bearer esc_…`, from `escalate tokens create`).
struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("esc_ and 64 hex digits, from `escalate tokens create`")
                    .build(),
            ),
        );
    }
}

/// 400: the request does not parse (its body, path, query or a header).
#[derive(ToResponse)]
#[response(description = "The request is malformed: its body, path, query or a header.")]
pub struct BadRequest(pub ErrorBody);

/// 401: no credentials, or ones that sign nobody in.
#[derive(ToResponse)]
#[response(
    description = "No bearer token, or one that is unknown, revoked, expired or of a disabled user.",
    headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"escalate\"`"))
)]
pub struct Unauthorized(pub ErrorBody);

/// 403: the caller's role may not do this.
#[derive(ToResponse)]
#[response(description = "The caller's role may not do this (on a case they may see).")]
pub struct Forbidden(pub ErrorBody);

/// 404: no such thing, or a case the caller may not see.
#[derive(ToResponse)]
#[response(
    description = "No such resource; for a case, also one the caller may not see (answered alike)."
)]
pub struct NotFound(pub ErrorBody);

/// 409: the case moved on, or changed meanwhile.
#[derive(ToResponse)]
#[response(
    description = "The case is no longer at the version `If-Match` names (`stale`), or changed while \
        this was being written (`conflict`): nothing was written; read it again."
)]
pub struct Conflict(pub ErrorBody);

/// 413: the body is larger than the server takes.
#[derive(ToResponse)]
#[response(description = "The body is larger than 256 KiB.")]
pub struct TooLarge(pub ErrorBody);

/// 415: the body is not JSON.
#[derive(ToResponse)]
#[response(description = "The body is not sent as `application/json`.")]
pub struct UnsupportedMediaType(pub ErrorBody);

/// 422: well formed, but refused.
#[derive(ToResponse)]
#[response(
    description = "Well formed, but refused: by the workflow (with its own message: an unknown \
        workflow or event, a missing or bad field, a closed case, a time before the case's last \
        entry), or an `Idempotency-Key` sent before with another request."
)]
pub struct Unprocessable(pub ErrorBody);

/// 429: too many failed sign-ins from this address.
#[derive(ToResponse)]
#[response(
    description = "Too many failed sign-ins from this address: wait and try again.",
    headers(("Retry-After" = String, description = "Seconds to wait."))
)]
pub struct RateLimited(pub ErrorBody);

/// 500: stored data is damaged or does not read back, or the workflow files cannot be read.
#[derive(ToResponse)]
#[response(
    description = "The service cannot do this now (stored data damaged or not readable, \
        workflow files broken); the operator has been told."
)]
pub struct Internal(pub ErrorBody);

/// 503: the database does not answer (or, for `/readyz`, is not migrated).
#[derive(ToResponse)]
#[response(description = "The database is not answering; try again shortly.")]
pub struct Unavailable(pub ErrorBody);

/// A status and a reference to the shared response `R`.
fn shared<'a, R: ToResponse<'a>>(status: u16) -> (String, RefOr<utoipa::openapi::Response>) {
    (
        status.to_string(),
        RefOr::Ref(Ref::from_response_name(R::response().0)),
    )
}

/// What every route behind a token may answer besides its own: 401, 429, 500, 503.
pub struct NeedsToken;

impl IntoResponses for NeedsToken {
    fn responses() -> BTreeMap<String, RefOr<utoipa::openapi::Response>> {
        BTreeMap::from([
            shared::<Unauthorized>(401),
            shared::<RateLimited>(429),
            shared::<Internal>(500),
            shared::<Unavailable>(503),
        ])
    }
}

/// What a route about one case may answer besides: 400 (a malformed reference), 403, 404
/// (no such case, or one the caller may not see) and 500.
pub struct AboutACase;

impl IntoResponses for AboutACase {
    fn responses() -> BTreeMap<String, RefOr<utoipa::openapi::Response>> {
        BTreeMap::from([
            shared::<BadRequest>(400),
            shared::<Forbidden>(403),
            shared::<NotFound>(404),
            shared::<Internal>(500),
        ])
    }
}

/// What a write may answer besides: 400, 409, 413, 415, 422 and 500.
pub struct Writes;

impl IntoResponses for Writes {
    fn responses() -> BTreeMap<String, RefOr<utoipa::openapi::Response>> {
        BTreeMap::from([
            shared::<BadRequest>(400),
            shared::<Conflict>(409),
            shared::<TooLarge>(413),
            shared::<UnsupportedMediaType>(415),
            shared::<Unprocessable>(422),
            shared::<Internal>(500),
        ])
    }
}

/// The schema of a one-line text value: what [`crate::text::single_line_pattern`] matches.
pub fn one_line(min: usize, max: usize) -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .pattern(Some(crate::text::single_line_pattern(min, max)))
        .build()
}

/// [`one_line`], or null (a body's optional field, absent when null).
pub fn one_line_or_null(min: usize, max: usize) -> utoipa::openapi::Object {
    use utoipa::openapi::schema::{SchemaType, Type};
    let mut schema = one_line(min, max);
    schema.schema_type = SchemaType::from_iter([Type::String, Type::Null]);
    schema
}

/// Every documented route, with the document they make.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(super::healthz))
        .routes(routes!(super::readyz))
        .routes(routes!(metrics::metrics))
        .routes(routes!(document))
        .routes(routes!(signin::sign_in))
        .routes(routes!(feed::create, feed::revoke))
        .routes(routes!(feed::feed))
        .routes(routes!(cases::open, lists::cases))
        .routes(routes!(cases::preview))
        .routes(routes!(lists::deadlines))
        .routes(routes!(cases::read))
        .routes(routes!(cases::act))
        .routes(routes!(cases::allowed))
        .routes(routes!(reference::workflows))
        .routes(routes!(reference::workflow))
        .routes(routes!(reference::agencies))
        .routes(routes!(reference::due))
        .routes(routes!(reference::monthly_report))
}

/// The document, as JSON (pretty, ending in a newline): what is served and committed.
pub fn json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        let document = routes().into_openapi();
        let mut text = document
            .to_pretty_json()
            .expect("an OpenAPI document serialises");
        text.push('\n');
        text
    })
}

/// `GET /api/v1/openapi.json`: this document.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "openapi",
    operation_id = "openapi",
    responses((status = 200, description = "The OpenAPI 3.1 document.", body = Object))
)]
async fn document() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        json(),
    )
        .into_response()
}
