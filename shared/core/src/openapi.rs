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
    schema::{ObjectBuilder, Type},
    security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
};

use crate::error::{Detail, Envelope, FieldError};

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

fn operation_conventions(operation: &mut Operation, layers: Layers, api: bool) {
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
