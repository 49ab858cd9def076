//! Email verification: the link mailed at signup (and on resend), and its single-use token.
//! Also the mail and action-token helpers the password routes share.

use axum::{Json, extract::State, http::StatusCode};
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
    extract::{Json as JsonBody, parse_json},
};

use crate::context::AuthContext;

/// `verify-email`, `verify-email/resend`.
pub fn routes() -> Routes<crate::state::State> {
    Routes::new()
        .post("/api/v1/auth/verify-email", verify_email)
        .post("/api/v1/auth/verify-email/resend", resend)
}

/// `{"message"}`: the body of every answer that only says what happened.
#[derive(Debug, Serialize)]
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

/// Sends `kind` to `user`; a failure is logged, never surfaced (mail never changes an answer).
pub async fn mail_user(
    auth: &AuthContext,
    user: &User,
    kind: MailKind,
    ctx: &MailContext<'_>,
    what: &str,
) {
    if let Err(err) = auth.mailer.send(&user.email, kind, ctx).await {
        tracing::warn!(user_id = %user.id, error = %format!("{err:#}"), "{what}");
    }
}

/// Verifies an action token of `kind`; any failure is the same 400 `INVALID_ACTION_TOKEN`.
pub fn action_claims(
    identity: &IdentityState,
    kind: TokenKind,
    token: &str,
) -> Result<Claims, ErrorCode> {
    identity.tokens.verify(kind, token).map_err(|reason| {
        tracing::info!(%reason, ?kind, "action token refused");
        ErrorCode::InvalidActionToken
    })
}

/// Issues a verification token and mails its link. Failures are logged, never surfaced.
pub async fn send(identity: &IdentityState, auth: &AuthContext, user: &User) {
    let issued = match identity
        .tokens
        .issue(TokenKind::VerifyEmail, &user.id, None, now_s())
    {
        Ok(issued) => issued,
        Err(err) => {
            tracing::error!(error = %err, "could not issue a verification token");
            return;
        }
    };
    let link = auth.link("verify-email", &issued.token);
    let ctx = MailContext {
        first_name: &user.first_name,
        link: &link,
        expires_in: human_duration(identity.tokens.ttl(TokenKind::VerifyEmail)),
        changed_at: "",
    };
    mail_user(
        auth,
        user,
        MailKind::VerifyEmail,
        &ctx,
        "verification mail not sent",
    )
    .await;
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyBody {
    token: String,
}

/// `POST /verify-email`: single-use, purpose-bound.
async fn verify_email(
    State(identity): State<IdentityState>,
    JsonBody(body): JsonBody<VerifyBody>,
) -> Result<Json<Message>, ApiError> {
    let claims = action_claims(&identity, TokenKind::VerifyEmail, &body.token)?;
    let done = identity
        .store
        .verify_email(&claims.sub, &claims.jti, claims.exp)
        .await?;
    if !done {
        return Err(ErrorCode::InvalidActionToken.into());
    }
    Ok(Json(Message::new("Email verified")))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ResendBody {
    #[serde(default)]
    email: Option<String>,
}

/// `POST /verify-email/resend`: with a Bearer token, for the caller; without one (an account
/// that cannot log in yet under `REQUIRE_VERIFIED_EMAIL`), for `{"email"}`. Always 202 with one
/// body, throttled per account; nothing is sent once verified.
async fn resend(
    State(identity): State<IdentityState>,
    State(auth): State<AuthContext>,
    MaybeAuthUser(caller): MaybeAuthUser,
    body: bytes::Bytes,
) -> Result<(StatusCode, Json<Message>), ApiError> {
    let message = "If your email is not verified yet, a new verification link has been sent.";
    let user = match caller {
        Some(caller) => Some(caller.user),
        None => {
            let body: ResendBody = if body.iter().all(u8::is_ascii_whitespace) {
                ResendBody::default()
            } else {
                parse_json(&body)?
            };
            // Neither a token nor an address: nothing says whose link to resend.
            let email = body.email.ok_or(ErrorCode::NotAuthenticated)?;
            let email = Email::parse(&email)?;
            identity.store.users.find_by_login(email.as_str()).await?
        }
    };
    let Some(user) = user.filter(|u| u.is_active() && !u.email_verified) else {
        return Ok(Message::accepted(message));
    };
    if auth
        .counters
        .reserve("verify-mail", &user.id, auth.settings.verify_mails, now_s())
        .await?
        .is_none()
    {
        send(&identity, &auth, &user).await;
    }
    Ok(Message::accepted(message))
}
