//! The one error type of the API and the envelope it renders to.
//!
//! Handlers return [`ApiError`]; its `IntoResponse` only records *what* went wrong in the
//! response extensions. The [`crate::layers`] envelope middleware, which knows the request id,
//! turns that (and any bare error response from axum or tower-http) into the JSON envelope.

use std::borrow::Cow;

pub use aws_smithy_runtime_api::client::result::SdkError;
pub use aws_smithy_types::error::display::DisplayErrorContext;
pub use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use axum::{
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;

/// One entry of a 422 `detail` list, FastAPI style.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FieldError {
    /// Where: `["body", "email"]`, `["query", "limit"]`.
    pub loc: Vec<String>,
    /// Human readable message.
    pub msg: String,
    /// Machine readable kind, e.g. `value_error.missing`.
    #[serde(rename = "type")]
    pub kind: String,
}

impl FieldError {
    /// A field error at `loc` (joined with the leading source, e.g. `body`).
    pub fn new(loc: &[&str], msg: impl Into<String>, kind: impl Into<String>) -> Self {
        Self {
            loc: loc.iter().map(|s| (*s).to_owned()).collect(),
            msg: msg.into(),
            kind: kind.into(),
        }
    }
}

/// Everything a handler can fail with; each variant maps to one status of the contract.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 malformed request.
    #[error("bad request: {detail}")]
    BadRequest {
        /// `error_code` of the envelope.
        code: &'static str,
        /// Client-facing message.
        detail: Cow<'static, str>,
    },
    /// 401 missing, invalid, expired or revoked credentials (adds `WWW-Authenticate: Bearer`).
    #[error("unauthorized: {detail}")]
    Unauthorized {
        /// `error_code` of the envelope.
        code: &'static str,
        /// Client-facing message.
        detail: Cow<'static, str>,
    },
    /// 403 authenticated but not allowed.
    #[error("forbidden: {detail}")]
    Forbidden {
        /// `error_code` of the envelope.
        code: &'static str,
        /// Client-facing message.
        detail: Cow<'static, str>,
    },
    /// 404 not found (also for objects owned by someone else).
    #[error("not found")]
    NotFound,
    /// 405 method not allowed on an existing path.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 409 conflict.
    #[error("conflict: {detail}")]
    Conflict {
        /// `error_code` of the envelope.
        code: &'static str,
        /// Client-facing message.
        detail: Cow<'static, str>,
    },
    /// 413 body or declared size too large.
    #[error("payload too large")]
    PayloadTooLarge,
    /// 415 unsupported media type.
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(Cow<'static, str>),
    /// 422 validation failed; `detail` is a list.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// 429 rate limited; `Retry-After` in seconds.
    #[error("rate limited")]
    RateLimited {
        /// Seconds until the client may retry.
        retry_after_secs: u64,
    },
    /// 503 a dependency (DynamoDB, S3, SES, Secrets Manager) is unavailable. Logged, never shown.
    #[error("dependency unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// 500 a bug on our side. Logged, never shown.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    /// A 400 with the generic `BAD_REQUEST` code.
    pub fn bad_request(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::BadRequest {
            code: "BAD_REQUEST",
            detail: detail.into(),
        }
    }

    /// A 401 with a specific code.
    pub fn unauthorized(code: &'static str, detail: impl Into<Cow<'static, str>>) -> Self {
        Self::Unauthorized {
            code,
            detail: detail.into(),
        }
    }

    /// A 403 with the generic `FORBIDDEN` code.
    pub fn forbidden(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::Forbidden {
            code: "FORBIDDEN",
            detail: detail.into(),
        }
    }

    /// A 422 for one field.
    pub fn invalid_field(loc: &[&str], msg: impl Into<String>, kind: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(loc, msg, kind)])
    }

    /// The HTTP status this error maps to.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The envelope's `error_code` and `detail` for this error.
    fn code_and_detail(&self) -> (&'static str, Detail) {
        match self {
            Self::BadRequest { code, detail }
            | Self::Unauthorized { code, detail }
            | Self::Forbidden { code, detail }
            | Self::Conflict { code, detail } => (code, Detail::Message(detail.clone())),
            Self::UnsupportedMediaType(detail) => {
                ("UNSUPPORTED_MEDIA_TYPE", Detail::Message(detail.clone()))
            }
            Self::Validation(errors) => ("VALIDATION_ERROR", Detail::Fields(errors.clone())),
            other => {
                let status = other.status();
                (
                    default_code(status),
                    Detail::Message(default_detail(status).into()),
                )
            }
        }
    }
}

/// What the envelope middleware needs to render a body; stored in the response extensions.
#[derive(Debug, Clone)]
pub struct ErrorBody {
    /// `error_code`.
    pub code: &'static str,
    /// `detail`.
    pub detail: Detail,
}

/// `detail` is a message, or a list of field errors for 422.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Detail {
    /// Most errors.
    Message(Cow<'static, str>),
    /// Validation errors.
    Fields(Vec<FieldError>),
}

/// The error envelope of CONVENTIONS.md.
#[derive(Debug, Serialize)]
pub struct Envelope<'a> {
    /// Message or field list.
    pub detail: &'a Detail,
    /// Stable machine-readable code.
    pub error_code: &'a str,
    /// RFC 3339 UTC.
    pub timestamp: String,
    /// The `X-Request-ID` of this request.
    pub request_id: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            // The chain goes to the logs only; the client sees a generic message.
            Self::Unavailable(err) => {
                tracing::error!(error = format!("{err:#}"), "dependency unavailable");
            }
            Self::Internal(err) => tracing::error!(error = format!("{err:#}"), "internal error"),
            _ => {}
        }
        let status = self.status();
        let (code, detail) = self.code_and_detail();
        let mut response = status.into_response();
        match &self {
            Self::Unauthorized { .. } => {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static("Bearer"),
                );
            }
            Self::RateLimited { retry_after_secs } => {
                response.headers_mut().insert(
                    header::RETRY_AFTER,
                    header::HeaderValue::from(*retry_after_secs),
                );
            }
            _ => {}
        }
        response.extensions_mut().insert(ErrorBody { code, detail });
        response
    }
}

/// The `error_code` used when only a status is known (bare responses from axum or tower-http).
pub fn default_code(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "BAD_REQUEST",
        401 => "UNAUTHORIZED",
        403 => "FORBIDDEN",
        404 => "NOT_FOUND",
        405 => "METHOD_NOT_ALLOWED",
        408 => "REQUEST_TIMEOUT",
        409 => "CONFLICT",
        413 => "PAYLOAD_TOO_LARGE",
        415 => "UNSUPPORTED_MEDIA_TYPE",
        422 => "VALIDATION_ERROR",
        429 => "RATE_LIMITED",
        503 => "SERVICE_UNAVAILABLE",
        500..=599 => "INTERNAL_ERROR",
        _ => "ERROR",
    }
}

/// The `detail` used when only a status is known.
pub fn default_detail(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "Malformed request",
        401 => "Not authenticated",
        403 => "Not allowed",
        404 => "Not found",
        405 => "Method not allowed",
        408 => "Request timed out",
        409 => "Conflict",
        413 => "Request body too large",
        415 => "Unsupported media type",
        422 => "Validation failed",
        429 => "Too many requests",
        503 => "Service temporarily unavailable",
        500..=599 => "Internal server error",
        _ => "Request failed",
    }
}

/// Classifies an AWS SDK error: throttling, timeouts and connection failures are 503, the rest 500.
///
/// Works for every SDK crate, since they all share smithy's `SdkError`.
pub fn from_sdk<E, R>(err: SdkError<E, R>) -> ApiError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let transient = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(e) => matches!(
            e.err().code(),
            Some(
                "ThrottlingException"
                    | "ProvisionedThroughputExceededException"
                    | "RequestLimitExceeded"
                    | "ServiceUnavailable"
                    | "InternalServerError"
                    | "SlowDown"
                    | "TooManyRequestsException"
            )
        ),
        _ => false,
    };
    let err = anyhow::anyhow!("{}", DisplayErrorContext(err));
    if transient {
        ApiError::Unavailable(err)
    } else {
        ApiError::Internal(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_contract_status_has_a_variant() {
        let cases = [
            (ApiError::bad_request("x"), 400),
            (ApiError::unauthorized("INVALID_TOKEN", "x"), 401),
            (ApiError::forbidden("x"), 403),
            (ApiError::NotFound, 404),
            (ApiError::MethodNotAllowed, 405),
            (
                ApiError::Conflict {
                    code: "CONFLICT",
                    detail: "x".into(),
                },
                409,
            ),
            (ApiError::PayloadTooLarge, 413),
            (ApiError::UnsupportedMediaType("x".into()), 415),
            (
                ApiError::invalid_field(&["body", "email"], "bad", "value_error"),
                422,
            ),
            (
                ApiError::RateLimited {
                    retry_after_secs: 3,
                },
                429,
            ),
            (ApiError::Unavailable(anyhow::anyhow!("down")), 503),
            (ApiError::Internal(anyhow::anyhow!("bug")), 500),
        ];
        for (err, status) in cases {
            assert_eq!(err.into_response().status().as_u16(), status);
        }
    }

    #[test]
    fn unauthorized_carries_www_authenticate() {
        let response = ApiError::unauthorized("INVALID_TOKEN", "bad token").into_response();
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
    }

    #[test]
    fn rate_limited_carries_retry_after() {
        let response = ApiError::RateLimited {
            retry_after_secs: 42,
        }
        .into_response();
        assert_eq!(response.headers()[header::RETRY_AFTER], "42");
    }

    #[test]
    fn internal_errors_hide_their_cause() {
        let err = ApiError::Internal(anyhow::anyhow!("table users-prod missing secret=hunter2"));
        let (code, detail) = err.code_and_detail();
        assert_eq!(code, "INTERNAL_ERROR");
        let Detail::Message(msg) = detail else {
            panic!("expected a message")
        };
        assert!(!msg.contains("hunter2"));
    }
}
