//! The one error type of the API, its codes, and the envelope it renders to.
//!
//! Every client-facing failure is an [`ErrorCode`]: one `error_code`, one status and one message,
//! everywhere (the table is in `functions/docs/guide/api.md`). Handlers return [`ApiError`]; thanks to the `From`
//! impls below, `?` works on SDK errors, store errors, `anyhow` errors, request-builder errors and
//! bare codes alike. `IntoResponse` only records *what* went wrong in the response extensions; the
//! [`crate::layers`] envelope middleware, which knows the request id, renders the JSON envelope.

use std::fmt;

pub use aws_smithy_runtime_api::client::result::SdkError;
pub use aws_smithy_types::error::display::DisplayErrorContext;
pub use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use axum::{
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;

/// One entry of a 422 `detail` list, FastAPI style.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
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

macro_rules! error_codes {
    ($($(#[$doc:meta])* $name:ident = $code:literal, $status:literal, $message:literal;)*) => {
        /// Every `error_code` the API answers with: each has exactly one status and one message.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[$doc])* $name,)*
        }

        impl ErrorCode {
            /// Every code, in the order of the contract's table.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$name,)*];

            /// The envelope's `error_code`.
            pub const fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$name => $code,)* }
            }

            /// The HTTP status.
            pub fn status(self) -> StatusCode {
                let code = match self { $(ErrorCode::$name => $status,)* };
                StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }

            /// The envelope's `detail` (422 uses its field list instead).
            pub const fn message(self) -> &'static str {
                match self { $(ErrorCode::$name => $message,)* }
            }
        }
    };
}

error_codes! {
    /// A body or parameter that cannot be read at all (malformed JSON, unreadable body).
    BadRequest = "BAD_REQUEST", 400, "Malformed request";
    /// A pagination cursor we did not sign, or one that was edited.
    InvalidCursor = "INVALID_CURSOR", 400, "Invalid pagination cursor";
    /// A password-reset or email-verification token that is invalid, expired, used or superseded.
    InvalidActionToken = "INVALID_ACTION_TOKEN", 400, "Invalid, expired or already used link";
    /// Passkeys: a register or login ceremony that is unknown, expired or already finished.
    PasskeyCeremonyInvalid = "PASSKEY_CEREMONY_INVALID", 400, "Unknown, expired or already used passkey challenge; start again";
    /// Passkeys: a registration response that did not verify (origin, RP ID, challenge, user
    /// verification, attestation, algorithm).
    PasskeyRejected = "PASSKEY_REJECTED", 400, "The passkey could not be verified";
    /// No credentials where a route requires them.
    NotAuthenticated = "NOT_AUTHENTICATED", 401, "Not authenticated";
    /// An access or refresh token that is invalid, expired or revoked.
    InvalidToken = "INVALID_TOKEN", 401, "Could not validate credentials";
    /// Unknown account or wrong password: one answer for both.
    InvalidCredentials = "INVALID_CREDENTIALS", 401, "Incorrect username or password";
    /// Login's second step, and the routes that re-check a second factor: a wrong, expired or
    /// already used authenticator code or recovery code.
    InvalidMfaCode = "INVALID_MFA_CODE", 401, "Invalid or already used authentication code";
    /// Passkey login: an unknown passkey, or an assertion that did not verify.
    InvalidPasskey = "INVALID_PASSKEY", 401, "Passkey not recognised or not verified";
    /// Passkey login: the signature counter did not increase past the stored one (a replayed
    /// assertion or a cloned authenticator); the passkey's count is left as it was.
    PasskeyCounterRegressed = "PASSKEY_COUNTER_REGRESSED", 401, "The passkey's signature counter went back: possibly a cloned authenticator";
    /// Webhooks: a missing or bad signature, a timestamp outside the window, or a source with
    /// no secret.
    InvalidSignature = "INVALID_SIGNATURE", 401, "Missing or invalid webhook signature";
    /// Authenticated, but without the role or right the route requires.
    Forbidden = "FORBIDDEN", 403, "Not allowed";
    /// `REQUIRE_VERIFIED_EMAIL` is on and the address is not verified yet.
    EmailNotVerified = "EMAIL_NOT_VERIFIED", 403, "Verify your email address before logging in";
    /// No such route or object (also an object that belongs to someone else).
    NotFound = "NOT_FOUND", 404, "Not found";
    /// The path exists, the method does not.
    MethodNotAllowed = "METHOD_NOT_ALLOWED", 405, "Method not allowed";
    /// The request took longer than the function allows.
    RequestTimeout = "REQUEST_TIMEOUT", 408, "Request timed out";
    /// Username or email is taken (case-insensitively).
    UserExists = "USER_EXISTS", 409, "Username or email already registered";
    /// A refresh token the session rotated a moment ago (a concurrent refresh, e.g. another
    /// tab): nothing is revoked; use the tokens that refresh returned.
    RefreshRace = "REFRESH_RACE", 409, "This refresh token was just rotated by a concurrent request; use the newest tokens";
    /// The last active admin cannot demote, disable or delete itself.
    LastAdmin = "LAST_ADMIN", 409, "The last active admin cannot be demoted, disabled or deleted";
    /// A password change raced a reset or a logout; nothing was changed.
    PasswordChanged = "PASSWORD_CHANGED", 409, "The account changed meanwhile; log in again";
    /// A second-factor route for a user with no authenticator app (or none confirmed yet).
    MfaNotEnrolled = "MFA_NOT_ENROLLED", 409, "No authenticator app is set up";
    /// Enrolling or confirming while an authenticator app is already confirmed.
    MfaAlreadyEnabled = "MFA_ALREADY_ENABLED", 409, "An authenticator app is already set up; disable it first";
    /// Passkeys: this credential is registered already.
    PasskeyExists = "PASSKEY_EXISTS", 409, "This passkey is registered already";
    /// Uploads: the user's file count or byte quota would be exceeded; delete files first.
    UploadQuotaExceeded = "UPLOAD_QUOTA_EXCEEDED", 409, "Upload quota reached; delete files to upload more";
    /// Uploads: `complete` before the file reached storage; upload it with the form, then retry.
    UploadNotReceived = "UPLOAD_NOT_RECEIVED", 409, "The file has not been uploaded yet";
    /// Tiers: a tier with this name exists already.
    TierExists = "TIER_EXISTS", 409, "A tier with this name exists";
    /// Tiers: a user moved to a tier that is neither the environment's nor in the tiers table.
    UnknownTier = "UNKNOWN_TIER", 409, "No such tier; create it at /api/v1/tiers first";
    /// Tiers: users still have the tier; move them to another first.
    TierInUse = "TIER_IN_USE", 409, "Users still have this tier; move them to another first";
    /// Any other conflict with the stored state.
    Conflict = "CONFLICT", 409, "Conflict";
    /// `If-Match` names a version the resource no longer has: it changed since the client read
    /// it, and nothing was written.
    PreconditionFailed = "PRECONDITION_FAILED", 412, "The resource changed since you read it; read it again";
    /// A body over `MAX_BODY_BYTES`.
    PayloadTooLarge = "PAYLOAD_TOO_LARGE", 413, "Request body too large";
    /// Uploads: a declared size over `UPLOAD_MAX_BYTES`.
    UploadTooLarge = "UPLOAD_TOO_LARGE", 413, "The file is larger than uploads allow";
    /// A body whose `Content-Type` the route does not take.
    UnsupportedMediaType = "UNSUPPORTED_MEDIA_TYPE", 415,
        "Unsupported Content-Type: send application/json (signup and login also take application/x-www-form-urlencoded)";
    /// Uploads: a declared content type outside `UPLOAD_ALLOWED_TYPES`.
    UploadTypeNotAllowed = "UPLOAD_TYPE_NOT_ALLOWED", 415, "This file type is not accepted for uploads";
    /// A well-formed body or query that breaks a rule; `detail` is the field list.
    ValidationError = "VALIDATION_ERROR", 422, "Validation failed";
    /// Uploads: the stored file's magic bytes are not its declared type; the file was removed.
    UploadContentMismatch = "UPLOAD_CONTENT_MISMATCH", 422, "The file's content does not match its declared type; it was removed";
    /// Uploads: the stored file is empty or larger than declared; the file was removed.
    UploadSizeMismatch = "UPLOAD_SIZE_MISMATCH", 422, "The file's size does not match its declared size; it was removed";
    /// Too many requests; `Retry-After` says for how long.
    RateLimited = "RATE_LIMITED", 429, "Too many requests";
    /// API Gateway, with `RequireApiKey=true`: no `x-api-key`, or one no usage plan of the stage
    /// holds. Answered by the gateway (template.yaml's `GatewayResponses`), never by a function.
    InvalidApiKey = "INVALID_API_KEY", 403, "Missing or invalid API key";
    /// API Gateway: the key's usage plan quota is spent until its period ends. Answered by the
    /// gateway, never by a function.
    QuotaExceeded = "QUOTA_EXCEEDED", 429, "API key quota exceeded";
    /// A bug on our side; the cause is only in the logs.
    InternalError = "INTERNAL_ERROR", 500, "Internal server error";
    /// A dependency (DynamoDB, S3, SES, Secrets Manager) is unavailable; retry later.
    ServiceUnavailable = "SERVICE_UNAVAILABLE", 503, "Service temporarily unavailable";
}

impl ErrorCode {
    /// The code for a bare status from axum or tower-http (a rejection, the body limit, a
    /// fallback); `None` for a status no code covers.
    pub fn for_status(status: StatusCode) -> Option<Self> {
        Some(match status.as_u16() {
            400 => Self::BadRequest,
            401 => Self::NotAuthenticated,
            403 => Self::Forbidden,
            404 => Self::NotFound,
            405 => Self::MethodNotAllowed,
            408 => Self::RequestTimeout,
            409 => Self::Conflict,
            413 => Self::PayloadTooLarge,
            415 => Self::UnsupportedMediaType,
            422 => Self::ValidationError,
            429 => Self::RateLimited,
            503 => Self::ServiceUnavailable,
            500..=599 => Self::InternalError,
            _ => return None,
        })
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A client-facing failure with its fixed status and message.
    #[error("{0}")]
    Code(ErrorCode),
    /// 422: the body or query broke these rules.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// 429 with `Retry-After` in seconds.
    #[error("rate limited")]
    RateLimited {
        /// Seconds until the client may retry.
        retry_after_secs: u64,
    },
    /// 503: a dependency is unavailable. Logged, never shown.
    #[error("dependency unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// 500: a bug on our side. Logged, never shown.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    /// A 422 for one field.
    pub fn invalid_field(loc: &[&str], msg: impl Into<String>, kind: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(loc, msg, kind)])
    }

    /// The code this error renders with.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Code(code) => *code,
            Self::Validation(_) => ErrorCode::ValidationError,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::Unavailable(_) => ErrorCode::ServiceUnavailable,
            Self::Internal(_) => ErrorCode::InternalError,
        }
    }

    /// The HTTP status this error maps to.
    pub fn status(&self) -> StatusCode {
        self.code().status()
    }

    fn detail(&self) -> Detail {
        match self {
            Self::Validation(errors) => Detail::Fields(errors.clone()),
            other => Detail::Message(other.code().message()),
        }
    }
}

impl From<ErrorCode> for ApiError {
    fn from(code: ErrorCode) -> Self {
        Self::Code(code)
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(err: anyhow::Error) -> Self {
        Self::Internal(err)
    }
}

impl From<aws_smithy_types::error::operation::BuildError> for ApiError {
    fn from(err: aws_smithy_types::error::operation::BuildError) -> Self {
        Self::Internal(anyhow::anyhow!("building an AWS request: {err}"))
    }
}

/// Classifies an AWS SDK error: throttling, timeouts and connection failures are 503, the rest
/// 500. Works for every SDK crate, since they all share smithy's `SdkError`.
impl<E, R> From<SdkError<E, R>> for ApiError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: fmt::Debug + Send + Sync + 'static,
{
    fn from(err: SdkError<E, R>) -> Self {
        match SdkFailure::from(err) {
            SdkFailure::Transient(err) => Self::Unavailable(err),
            SdkFailure::Permanent(err) => Self::Internal(err),
        }
    }
}

/// An SDK error reduced to what callers act on, its whole chain kept for the logs. The one place
/// that classifies SDK errors: `ApiError` and `dynamo::StoreError` both convert through it.
#[derive(Debug)]
pub enum SdkFailure {
    /// The dependency's passing trouble (throttling, timeouts, connection failures): 503.
    Transient(anyhow::Error),
    /// Anything else: our bug or configuration, 500.
    Permanent(anyhow::Error),
}

impl<E, R> From<SdkError<E, R>> for SdkFailure
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: fmt::Debug + Send + Sync + 'static,
{
    fn from(err: SdkError<E, R>) -> Self {
        let transient = is_transient(&err);
        let err = anyhow::anyhow!("{}", DisplayErrorContext(err));
        if transient {
            Self::Transient(err)
        } else {
            Self::Permanent(err)
        }
    }
}

fn is_transient<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    match err {
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

impl ErrorBody {
    /// The body for a bare status (no [`ApiError`] behind it).
    pub fn for_status(status: StatusCode) -> Self {
        match ErrorCode::for_status(status) {
            Some(code) => Self {
                code: code.as_str(),
                detail: Detail::Message(code.message()),
            },
            // A status no code covers (e.g. 406 from a layer): a generic body, same envelope.
            None => Self {
                code: "ERROR",
                detail: Detail::Message("Request failed"),
            },
        }
    }
}

/// `detail`: a message, or the field errors of a 422 `VALIDATION_ERROR`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = ErrorDetail)]
#[serde(untagged)]
pub enum Detail {
    /// Most errors.
    Message(&'static str),
    /// Validation errors, FastAPI style.
    Fields(Vec<FieldError>),
}

/// The error envelope every non-2xx response from our code carries (`functions/docs/guide/api.md`).
// The doc comments here are the schema's descriptions in the OpenAPI document, where every error
// response refers to it as `ErrorEnvelope` (`crate::openapi`). The `crate::layers` envelope
// middleware renders it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = ErrorEnvelope)]
pub struct Envelope<'a> {
    /// A message, or (422 `VALIDATION_ERROR`) the list of field errors.
    pub detail: &'a Detail,
    /// The machine-readable code (`functions/docs/guide/api.md`, "Error codes").
    pub error_code: &'a str,
    /// RFC 3339, when the error was answered.
    pub timestamp: String,
    /// The request id, also in `X-Request-ID`.
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
        let code = self.code();
        let mut response = code.status().into_response();
        if code.status() == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        if let Self::RateLimited { retry_after_secs } = &self {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                header::HeaderValue::from(*retry_after_secs),
            );
        }
        let detail = self.detail();
        response.extensions_mut().insert(ErrorBody {
            code: code.as_str(),
            detail,
        });
        response
    }
}

impl IntoResponse for ErrorCode {
    fn into_response(self) -> Response {
        ApiError::Code(self).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_one_status_and_a_message() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "{code} listed twice");
            assert!(!code.message().is_empty(), "{code}");
            assert!(
                code.status().is_client_error() || code.status().is_server_error(),
                "{code}"
            );
        }
    }

    #[test]
    fn bare_statuses_map_to_the_code_of_the_same_status() {
        for status in [
            400u16, 401, 403, 404, 405, 408, 409, 413, 415, 422, 429, 500, 503,
        ] {
            let status = StatusCode::from_u16(status).unwrap();
            let code = ErrorCode::for_status(status).unwrap();
            assert_eq!(code.status(), status, "{code}");
        }
    }

    #[test]
    fn every_error_renders_its_codes_status() {
        let cases = [
            (ApiError::from(ErrorCode::BadRequest), 400),
            (ErrorCode::InvalidToken.into(), 401),
            (ErrorCode::Forbidden.into(), 403),
            (ErrorCode::NotFound.into(), 404),
            (ErrorCode::UserExists.into(), 409),
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
    fn every_401_carries_www_authenticate() {
        for code in [
            ErrorCode::InvalidToken,
            ErrorCode::NotAuthenticated,
            ErrorCode::InvalidCredentials,
        ] {
            let response = code.into_response();
            assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
        }
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
        let err = ApiError::from(anyhow::anyhow!("table users-prod missing secret=hunter2"));
        assert_eq!(err.code(), ErrorCode::InternalError);
        let Detail::Message(msg) = err.detail() else {
            panic!("expected a message")
        };
        assert!(!msg.contains("hunter2"));
    }
}
