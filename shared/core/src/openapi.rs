//! What every function's OpenAPI document shares: the error envelope's schema, the security
//! schemes, and [`conventions`], which adds to every operation what the shared layers do to every
//! response (so no handler has to repeat it, and none can forget it).
//!
//! The documents are generated from the real handlers (`#[utoipa::path]`) and the real body
//! types (`#[derive(ToSchema)]`); the docs function merges them (`functions/docs`).

use utoipa::openapi::{
    ComponentsBuilder, OpenApi, RefOr, ResponseBuilder,
    header::HeaderBuilder,
    path::Operation,
    schema::{ObjectBuilder, Schema, SchemaType, Type},
    security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
};

use crate::error::{Detail, Envelope, FieldError};

/// Character classes for the patterns of text fields, in the syntax JSON Schema validators,
/// Python's `re` (schemathesis) and Rust's `regex` read alike: inside `[...]`, with `\xHH` and
/// `\uHHHH` escapes only (so only characters of the Basic Multilingual Plane).
pub mod chars {
    /// What `str::trim` removes: the Unicode `White_Space` characters.
    pub const SPACE: &str =
        r"\t\n\x0B\x0C\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";
    /// Control characters (general category Cc: C0, DEL, C1).
    pub const CONTROL: &str = r"\x00-\x1F\x7F-\x9F";
    /// Format characters (general category Cf) of the Basic Multilingual Plane, the bidi controls
    /// among them: invisible or reordering what is displayed. The few outside it cannot be
    /// written in a pattern every reader shares (the server refuses them all the same).
    pub const FORMAT: &str = r"\xAD\u0600-\u0605\u061C\u06DD\u070F\u0890\u0891\u08E2\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF\uFFF9-\uFFFB";
}

/// A string schema: `pattern`, `description`, and `null` too when `nullable` (a field whose
/// `null` means absent).
pub fn text(pattern: &str, description: &str, nullable: bool) -> utoipa::openapi::schema::Object {
    let kind = if nullable {
        SchemaType::from_iter([Type::String, Type::Null])
    } else {
        SchemaType::Type(Type::String)
    };
    ObjectBuilder::new()
        .schema_type(kind)
        .pattern(Some(pattern))
        .description(Some(description))
        .build()
}

/// The error envelope ([`Envelope`], schema `ErrorEnvelope`), for the `body = ..` of an error
/// response in `#[utoipa::path]`.
pub type ErrorEnvelope = Envelope<'static>;

/// The name of the Bearer security scheme (access tokens).
pub const BEARER: &str = "bearer";
/// The name of the API-key scheme (deployed with `RequireApiKey=true`).
pub const API_KEY: &str = "api_key";

/// What a function's layers add to every response, for [`conventions`].
#[derive(Debug, Clone, Copy)]
pub struct Layers {
    /// The function has an application rate limiter that is not exempt: every response carries
    /// the rate-limit headers and any request may be a 429.
    pub rate_limited: bool,
    /// Its `/api/v1` routes are behind the optional API key (`RequireApiKey=true`).
    pub api_key: bool,
}

impl Layers {
    /// The client-facing API (`auth`, `users`, `uploads`): rate limited, behind the optional
    /// API key.
    pub const API: Self = Self {
        rate_limited: true,
        api_key: true,
    };
    /// Neither: an exempt limiter and no API key (`health`, `webhooks`, `docs`).
    pub const OPEN: Self = Self {
        rate_limited: false,
        api_key: false,
    };
}

/// Adds to every operation of `doc` what the shared layers do: `X-Request-ID` on every response,
/// the rate-limit headers and a 429 where the limiter counts, the body errors (400, 413, 415,
/// 422) where there is a body, 401 where a Bearer token is required, 503 everywhere (a
/// dependency may be down); registers the envelope and the security schemes.
pub fn conventions(mut doc: OpenApi, layers: Layers) -> OpenApi {
    let components = doc.components.take().unwrap_or_default();
    let mut builder = ComponentsBuilder::from(components)
        .schema_from::<ErrorEnvelope>()
        .schema_from::<Detail>()
        .schema_from::<FieldError>()
        .security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("An access token from /api/v1/auth/login or /signup"))
                    .build(),
            ),
        );
    if layers.api_key {
        builder = builder.security_scheme(
            API_KEY,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "x-api-key",
                "Deployed with RequireApiKey=true only: a key of a usage plan",
            ))),
        );
    }
    doc.components = Some(builder.build());
    for (path, item) in doc.paths.paths.iter_mut() {
        let api = path.starts_with("/api/v1/");
        for operation in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            operation_conventions(operation, layers, api);
        }
    }
    doc
}

/// An optional body is sent or left out, never `null`: every JSON body is an object
/// (`crate::extract`). A handler's `request_body(content = Option<Body>)` makes a body that may
/// be left out, and a `null` beside its schema; the `null` goes.
fn no_null_body(operation: &mut Operation) {
    let Some(RefOr::T(body)) = operation.request_body.as_mut() else {
        return;
    };
    for content in body.content.values_mut() {
        let RefOr::T(content) = content else {
            continue;
        };
        let Some(RefOr::T(Schema::OneOf(one_of))) = &content.schema else {
            continue;
        };
        let mut not_null = one_of.items.iter().filter(|item| !is_null(item));
        if let (Some(only), None) = (not_null.next(), not_null.next()) {
            content.schema = Some(only.clone());
        }
    }
}

/// `{"type": "null"}`.
fn is_null(schema: &RefOr<Schema>) -> bool {
    matches!(
        schema,
        RefOr::T(Schema::Object(object)) if object.schema_type == SchemaType::Type(Type::Null)
    )
}

fn operation_conventions(operation: &mut Operation, layers: Layers, api: bool) {
    no_null_body(operation);
    // Operation ids default to the handler's name, which repeats across functions (`list`):
    // prefixed with the tag (the function), they are unique in the merged document, and SDK
    // generators name methods after them (`users_list`, `uploads_list`).
    if let (Some(tag), Some(id)) = (
        operation.tags.as_ref().and_then(|tags| tags.first()),
        operation.operation_id.as_ref(),
    ) && !id.starts_with(&format!("{tag}_"))
    {
        operation.operation_id = Some(format!("{tag}_{id}"));
    }
    // The requirement's map is private; its JSON form names its schemes.
    let bearer = operation.security.iter().flatten().any(|requirement| {
        serde_json::to_value(requirement).is_ok_and(|v| v.get(BEARER).is_some())
    });
    if layers.api_key && api {
        // RequireApiKey=true adds the key to whatever the route requires; with false it is not
        // needed. So each requirement appears twice: with the key, and as it was.
        let mut plain = operation.security.take().unwrap_or_default();
        if plain.is_empty() {
            plain.push(utoipa::openapi::security::SecurityRequirement::default());
        }
        let no_scopes: [&str; 0] = [];
        let mut requirements: Vec<_> = plain
            .iter()
            .cloned()
            .map(|requirement| requirement.add(API_KEY, no_scopes))
            .collect();
        requirements.extend(plain);
        operation.security = Some(requirements);
    }
    let mut add = |status: &str, description: &str| {
        operation
            .responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::T(envelope_response(description)));
    };
    if operation.request_body.is_some() {
        add(
            "400",
            "Malformed body: not JSON, or trailing bytes (`BAD_REQUEST`)",
        );
        add("413", "Body over the size limit (`PAYLOAD_TOO_LARGE`)");
        add(
            "415",
            "A Content-Type the route does not take (`UNSUPPORTED_MEDIA_TYPE`)",
        );
        add(
            "422",
            "A field missing, unknown, or breaking a rule (`VALIDATION_ERROR`)",
        );
    }
    if bearer {
        add(
            "401",
            "No, or an invalid, access token (`NOT_AUTHENTICATED`, `INVALID_TOKEN`)",
        );
    }
    if layers.rate_limited {
        add("429", "Rate limited (`RATE_LIMITED`), with `Retry-After`");
    }
    add(
        "503",
        "A dependency is unavailable (`SERVICE_UNAVAILABLE`); retry later",
    );

    for (status, response) in operation.responses.responses.iter_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        response
            .headers
            .entry("X-Request-ID".to_owned())
            .or_insert_with(|| {
                RefOr::T(header("The request id (echoed when sane, else generated)"))
            });
        if layers.rate_limited {
            for (name, description) in RATE_LIMIT_HEADERS {
                response
                    .headers
                    .entry((*name).to_owned())
                    .or_insert_with(|| RefOr::T(header(description)));
            }
            if status == "429" {
                response
                    .headers
                    .entry("Retry-After".to_owned())
                    .or_insert_with(|| RefOr::T(header("Seconds until a request may succeed")));
            }
        }
    }
}

/// The headers of a limited response (`functions/docs/guide/api.md`, "Rate limits").
const RATE_LIMIT_HEADERS: &[(&str, &str)] = &[
    (
        "X-RateLimit-Limit",
        "Requests allowed in the current window",
    ),
    (
        "X-RateLimit-Remaining",
        "Requests left in the current window",
    ),
    ("X-RateLimit-Reset", "When the window ends (Unix seconds)"),
    (
        "RateLimit-Policy",
        "IETF draft: the policy (`<limit>;w=<window>`)",
    ),
    (
        "RateLimit",
        "IETF draft: `limit=.., remaining=.., reset=..`",
    ),
];

fn header(description: &str) -> utoipa::openapi::header::Header {
    HeaderBuilder::new()
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .description(Some(description))
        .build()
}

/// A response whose body is the error envelope.
pub fn envelope_response(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            utoipa::openapi::ContentBuilder::new()
                .schema(Some(utoipa::openapi::Ref::from_schema_name(
                    <ErrorEnvelope as utoipa::ToSchema>::name(),
                )))
                .build(),
        )
        .build()
}
