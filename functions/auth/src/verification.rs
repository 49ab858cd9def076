//! Email verification: the link mailed at signup (and on resend), and its single-use token.
//! Also the action-token helper the password routes share. The mail itself is a job: these
//! routes enqueue it, and the worker (`functions/jobs`) looks the account up, issues the link's
//! token and sends it.

use axum::{extract::State, http::StatusCode};
use identity::{
    IdentityState, MaybeAuthUser,
    domain::Email,
    jwt::{Claims, TokenKind},
    store::users::User,
};
use queue::{Job, ResendTo};
use serde::{Deserialize, Serialize};
use shared::{
    ApiError, ErrorCode, Routes,
    error::FieldError,
    extract::{Json, OptionalJson, Validate, failures},
};

use crate::context::AuthContext;

/// `verify-email`, `verify-email/resend`.
pub fn routes() -> Routes<crate::state::State> {
    Routes::new()
        .post("/api/v1/auth/verify-email", verify_email)
        .post("/api/v1/auth/verify-email/resend", resend)
}

/// `{"message"}`: the body of every answer that only says what happened.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Message {
    message: &'static str,
}

impl Message {
    /// A message body.
    pub fn new(message: &'static str) -> Self {
        Self { message }
    }

    /// 202 with a message.
    pub fn accepted(message: &'static str) -> (StatusCode, Json<Self>) {
        (StatusCode::ACCEPTED, Json(Self::new(message)))
    }
}

/// Verifies an action token of `kind`; any failure is the same 400 `INVALID_ACTION_TOKEN`.
pub async fn action_claims(
    identity: &IdentityState,
    kind: TokenKind,
    token: &str,
) -> Result<Claims, ApiError> {
    Ok(identity.verify(kind, token).await?.map_err(|reason| {
        tracing::info!(%reason, ?kind, "action token refused");
        ErrorCode::InvalidActionToken
    })?)
}

/// Enqueues the verification mail of a new account. A queue that cannot be reached costs the
/// mail, not the signup (the account exists by now): logged, and the user can ask again
/// (`/verify-email/resend`).
pub async fn send(auth: &AuthContext, user: &User) {
    let job = Job::VerifyEmail {
        user_id: user.id.clone(),
    };
    if let Err(err) = auth.queue.enqueue(job).await {
        tracing::error!(user_id = %user.id, error = ?err, "verification mail not enqueued");
    }
}

/// The token of a verification link.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct VerifyBody {
    /// The token of the verification link.
    #[schema(min_length = 1)]
    token: String,
}

/// The token is checked against the store by the handler.
impl Validate for VerifyBody {}

/// `POST /verify-email`: single-use, purpose-bound.
/// Verifies the email address of a link's account.
#[utoipa::path(post, path = "/api/v1/auth/verify-email", tag = "auth", request_body = VerifyBody,
    responses(
        (status = 200, description = "Verified", body = Message),
        (status = 400, description = "Invalid, expired or used link (`INVALID_ACTION_TOKEN`)", body = shared::openapi::ErrorEnvelope)))]
pub(crate) async fn verify_email(
    State(identity): State<IdentityState>,
    Json(body): Json<VerifyBody>,
) -> Result<Json<Message>, ApiError> {
    let claims = action_claims(&identity, TokenKind::VerifyEmail, &body.token).await?;
    let done = identity
        .store
        .verify_email(&claims.sub, &claims.jti, claims.exp, claims.iat)
        .await?;
    if !done {
        return Err(ErrorCode::InvalidActionToken.into());
    }
    Ok(Json(Message::new("Email verified")))
}

/// Without a Bearer token: the address to resend to.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResendBody {
    /// The account's address; not used with a Bearer token (but still refused when malformed).
    #[serde(default)]
    #[schema(format = Email, max_length = 254)]
    email: Option<String>,
}

impl ResendBody {
    /// `email`, when given, is an address: also with a Bearer token, which makes it unused (the
    /// body is refused as the schema refuses it, whoever calls).
    fn check(&self) -> Result<Option<Email>, ApiError> {
        Ok(self.email.as_deref().map(Email::parse).transpose()?)
    }
}

impl Validate for ResendBody {
    fn rule_errors(&self) -> Vec<FieldError> {
        failures(self.check())
    }
}

/// `POST /verify-email/resend`: with a Bearer token, for the caller; without one (an account
/// that cannot log in yet under `REQUIRE_VERIFIED_EMAIL`), for `{"email"}`. Always 202 with one
/// body after the same work (one enqueue), whatever the account: the worker looks it up, and
/// sends nothing once verified, throttled per address.
/// Sends the verification link again: to the caller (Bearer), or to `email`. Same answer
/// whatever the account.
#[utoipa::path(post, path = "/api/v1/auth/verify-email/resend", tag = "auth",
    security((), ("bearer" = [])),
    request_body(content = Option<ResendBody>, description = "`{\"email\"}` without a token"),
    responses(
        (status = 202, description = "Sent if the account exists and is not verified", body = Message),
        (status = 401, description = "Neither a token nor `email` (`NOT_AUTHENTICATED`), or a bad token", body = shared::openapi::ErrorEnvelope),
        (status = 503, description = "The jobs queue is unavailable: nothing was enqueued, ask again (`SERVICE_UNAVAILABLE`)", body = shared::openapi::ErrorEnvelope)))]
pub(crate) async fn resend(
    State(auth): State<AuthContext>,
    MaybeAuthUser(caller): MaybeAuthUser,
    OptionalJson(body): OptionalJson<ResendBody>,
) -> Result<(StatusCode, Json<Message>), ApiError> {
    let message = "If your email is not verified yet, a new verification link has been sent.";
    let email = body.map(|b| b.check()).transpose()?.flatten();
    let to = match caller {
        Some(caller) => ResendTo::User(caller.user.id),
        // Neither a token nor an address: nothing says whose link to resend.
        None => ResendTo::Email(
            email
                .ok_or(ErrorCode::NotAuthenticated)?
                .as_str()
                .to_owned(),
        ),
    };
    // Unknown, verified and unverified addresses answer alike: the same one enqueue for each.
    auth.queue.enqueue(Job::ResendVerification { to }).await?;
    Ok(Message::accepted(message))
}
