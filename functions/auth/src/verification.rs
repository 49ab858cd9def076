//! Email verification: the link mailed at signup (and on resend), and its single-use token.
//! Also the mail and action-token helpers the password routes share.

use axum::{extract::State, http::StatusCode};
use identity::{
    IdentityState, MaybeAuthUser,
    domain::Email,
    jwt::{Claims, TokenKind},
    mail::{MailContext, MailKind, human_duration},
    store::users::User,
};
use serde::{Deserialize, Serialize};
use shared::{
    ApiError, ErrorCode, Routes,
    clock::now_s,
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

/// Sends `kind` to `user` unless the address had its share of mail this hour (counted by
/// address, over every kind, so deleting and re-creating an account does not reset it). A
/// failure is logged, never surfaced: mail never changes an answer. `true` when sent.
pub async fn mail_user(
    auth: &AuthContext,
    user: &User,
    kind: MailKind,
    ctx: &MailContext<'_>,
) -> bool {
    match auth
        .counters
        .reserve(
            "mail-to",
            &user.email,
            auth.settings.mails_per_address,
            now_s(),
        )
        .await
    {
        Ok(None) => {}
        Ok(Some(_)) => {
            tracing::info!(user_id = %user.id, ?kind, "mail to this address throttled");
            return false;
        }
        Err(err) => {
            tracing::warn!(user_id = %user.id, ?kind, error = ?err, "mail counter unavailable; not sent");
            return false;
        }
    }
    match auth.mailer.send(&user.email, kind, ctx).await {
        Ok(()) => true,
        Err(err) => {
            tracing::warn!(user_id = %user.id, ?kind, error = %format!("{err:#}"), "mail not sent");
            false
        }
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

/// Issues a verification token and mails its link. Failures are logged, never surfaced.
pub async fn send(identity: &IdentityState, auth: &AuthContext, user: &User) {
    let issued = match auth
        .signer()
        .await
        .map_err(anyhow::Error::from)
        .and_then(|signer| signer.issue(TokenKind::VerifyEmail, &user.id, None, now_s()))
    {
        Ok(issued) => issued,
        Err(err) => {
            tracing::error!(error = %format!("{err:#}"), "could not issue a verification token");
            return;
        }
    };
    let link = auth.link("verify-email", &issued.token);
    let ctx = MailContext {
        first_name: &user.first_name,
        link: &link,
        expires_in: human_duration(identity.settings.ttl(TokenKind::VerifyEmail)),
        changed_at: "",
    };
    mail_user(auth, user, MailKind::VerifyEmail, &ctx).await;
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
/// body, throttled per account; nothing is sent once verified.
/// Sends the verification link again: to the caller (Bearer), or to `email`. Same answer
/// whatever the account.
#[utoipa::path(post, path = "/api/v1/auth/verify-email/resend", tag = "auth",
    security((), ("bearer" = [])),
    request_body(content = Option<ResendBody>, description = "`{\"email\"}` without a token"),
    responses(
        (status = 202, description = "Sent if the account exists and is not verified", body = Message),
        (status = 401, description = "Neither a token nor `email` (`NOT_AUTHENTICATED`), or a bad token", body = shared::openapi::ErrorEnvelope)))]
pub(crate) async fn resend(
    State(identity): State<IdentityState>,
    State(auth): State<AuthContext>,
    MaybeAuthUser(caller): MaybeAuthUser,
    OptionalJson(body): OptionalJson<ResendBody>,
) -> Result<(StatusCode, Json<Message>), ApiError> {
    let message = "If your email is not verified yet, a new verification link has been sent.";
    let email = body.map(|b| b.check()).transpose()?.flatten();
    let target = match caller {
        Some(caller) => Target::User(Box::new(caller.user)),
        // Neither a token nor an address: nothing says whose link to resend.
        None => Target::Address(email.ok_or(ErrorCode::NotAuthenticated)?),
    };
    // Unknown, verified and unverified addresses must answer alike: the work is padded.
    let work = resend_work(identity, auth.clone(), target);
    auth.padded("verification resend", work).await;
    Ok(Message::accepted(message))
}

/// Whose verification link to resend.
enum Target {
    /// The authenticated caller.
    User(Box<User>),
    /// Whoever holds this address, if anyone.
    Address(Email),
}

async fn resend_work(
    identity: IdentityState,
    auth: AuthContext,
    target: Target,
) -> Result<(), ApiError> {
    let (identity, auth) = (&identity, &auth);
    let user = match target {
        Target::User(user) => Some(*user),
        Target::Address(email) => identity.store.users.find_by_login(email.as_str()).await?,
    };
    let Some(user) = user.filter(|u| u.is_active() && !u.email_verified) else {
        return Ok(());
    };
    if auth
        .counters
        .reserve(
            "verify-mail",
            &user.email,
            auth.settings.verify_mails,
            now_s(),
        )
        .await?
        .is_none()
    {
        send(identity, auth, &user).await;
    }
    Ok(())
}
