//! Account recovery and verification, after OWASP's Forgot Password cheat sheet: the same 202
//! whatever the account, single-use purpose-bound short-lived tokens, all sessions ended on
//! reset, links built from `PUBLIC_APP_URL` only.

use std::time::Instant;

use axum::{Json, extract::State, http::StatusCode};
use secrecy::SecretString;
use serde::Deserialize;
use shared::{
    ApiError, AppState,
    auth::{AuthUser, MaybeAuthUser, auth_of, jwt::TokenKind},
    domain::{Email, NewPassword, Validator},
    extract::Json as JsonBody,
    layers::now_rfc3339,
    mail::{MailContext, MailKind, human_duration},
    store::{counters::Window, now_s, users::User},
};

fn invalid_token() -> ApiError {
    ApiError::BadRequest {
        code: "INVALID_TOKEN",
        detail: "Invalid or expired token".into(),
    }
}

/// Sends `kind` to `user`; a failure is logged, never surfaced (mail never changes an answer).
async fn mail_user(
    auth: &shared::auth::Auth,
    user: &User,
    kind: MailKind,
    ctx: &MailContext<'_>,
    what: &str,
) {
    if let Err(err) = auth.mailer.send(&user.email, kind, ctx).await {
        tracing::warn!(user_id = %user.id, error = %format!("{err:#}"), "{what}");
    }
}

/// Verifies an action token of `kind`; any failure is the same 400 `INVALID_TOKEN`.
fn action_claims(
    auth: &shared::auth::Auth,
    kind: TokenKind,
    token: &str,
) -> Result<shared::auth::jwt::Claims, ApiError> {
    auth.tokens.verify(kind, token).map_err(|reason| {
        tracing::info!(%reason, ?kind, "action token refused");
        invalid_token()
    })
}

fn accepted(message: &str) -> (StatusCode, Json<serde_json::Value>) {
    (
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "message": message })),
    )
}

const FORGOT_MESSAGE: &str =
    "If an account exists for that email, a password reset link has been sent.";

fn link(state: &AppState, path: &str, token: &str) -> String {
    let base = state
        .auth
        .as_ref()
        .map_or("", |a| a.public_app_url.as_str());
    format!("{base}/{path}?token={token}")
}

/// Issues a verification token and mails its link. Failures are logged, never surfaced.
pub(crate) async fn send_verification(state: &AppState, user: &User) {
    let Ok(auth) = auth_of(state) else { return };
    let issued = match auth
        .tokens
        .issue(TokenKind::VerifyEmail, &user.id, None, now_s())
    {
        Ok(issued) => issued,
        Err(err) => {
            tracing::error!(error = %err, "could not issue a verification token");
            return;
        }
    };
    let link = link(state, "verify-email", &issued.token);
    let ctx = MailContext {
        first_name: &user.first_name,
        link: &link,
        expires_in: human_duration(auth.tokens.ttl(TokenKind::VerifyEmail)),
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
pub(crate) struct ForgotBody {
    email: String,
}

/// `POST /password/forgot`: always 202 with one body, never sooner than the response floor.
pub(crate) async fn forgot(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<ForgotBody>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let started = Instant::now();
    let email = Email::parse(&body.email)?;
    let floor = state.config.auth.forgot_response_floor;
    // The work is bounded by the floor, so a slow SES or table cannot stretch the response for
    // existing accounts only; an unfinished request is logged (the user can ask again).
    match tokio::time::timeout(floor, forgot_work(&state, &email)).await {
        Ok(Ok(())) => {}
        // Even a failing store must not change the answer: that would tell accounts apart.
        Ok(Err(err)) => tracing::warn!(error = %err, "password reset request not processed"),
        Err(_) => tracing::warn!("password reset request exceeded the response floor; dropped"),
    }
    if let Some(rest) = floor.checked_sub(started.elapsed()) {
        tokio::time::sleep(rest).await;
    }
    Ok(accepted(FORGOT_MESSAGE))
}

async fn forgot_work(state: &AppState, email: &Email) -> Result<(), ApiError> {
    let auth = auth_of(state)?;
    let now = now_s();
    // Counted for every address, known or not, so throttling reveals nothing either.
    let window = Window {
        max: state.config.auth.reset_mails_per_hour,
        window_secs: 3_600,
    };
    if auth
        .counters
        .reserve("reset-mail", email.as_str(), window, now)
        .await?
        .is_some()
    {
        tracing::info!("password reset mail throttled");
        return Ok(());
    }
    let Some(user) = auth
        .users
        .find_by_login(email.as_str())
        .await?
        .filter(User::is_active)
    else {
        return Ok(());
    };
    let issued = auth
        .tokens
        .issue(TokenKind::PasswordReset, &user.id, None, now)
        .map_err(ApiError::Internal)?;
    auth.users
        .set_reset_jti(&user.id, &issued.claims.jti)
        .await?;
    let link = link(state, "reset-password", &issued.token);
    let ctx = MailContext {
        first_name: &user.first_name,
        link: &link,
        expires_in: human_duration(auth.tokens.ttl(TokenKind::PasswordReset)),
        changed_at: "",
    };
    mail_user(
        auth,
        &user,
        MailKind::PasswordReset,
        &ctx,
        "reset mail not sent",
    )
    .await;
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResetBody {
    token: String,
    new_password: SecretString,
}

/// `POST /password/reset`: consumes the token and sets the password in one transaction, ends
/// every session, and does not log in.
pub(crate) async fn reset(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<ResetBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let auth = auth_of(&state)?;
    let claims = action_claims(auth, TokenKind::PasswordReset, &body.token)?;
    let user = auth
        .users
        .get(&claims.sub)
        .await?
        .filter(|u| !u.deleted)
        .ok_or_else(invalid_token)?;
    // The password is checked before the token is spent, so a weak choice can be retried.
    let password = NewPassword::parse(
        &body.new_password,
        "new_password",
        &[
            user.username.as_str(),
            user.email.as_str(),
            user.first_name.as_str(),
            user.last_name.as_str(),
        ],
    )?;
    let hash = auth
        .passwords
        .hash(password.secret())
        .await
        .map_err(ApiError::Internal)?;
    let done = auth
        .users
        .reset_password(
            &user.id,
            &claims.jti,
            claims.exp,
            &hash,
            auth.revoked.table(),
        )
        .await?;
    if !done {
        return Err(invalid_token());
    }
    auth.sessions.revoke_all(&user.id, None).await?;
    tracing::info!(user_id = %user.id, "password reset");
    Ok(Json(
        serde_json::json!({ "message": "Password has been reset. Please log in." }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChangeBody {
    current_password: SecretString,
    new_password: SecretString,
}

/// `POST /password/change`: wrong current password is 401; other sessions end, this one lives.
pub(crate) async fn change(
    State(state): State<AppState>,
    user: AuthUser,
    JsonBody(body): JsonBody<ChangeBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let auth = auth_of(&state)?;
    let u = &user.user;
    // The current-password check is a password guess like a login: same counter, same limit.
    let now = now_s();
    if let Some(retry_after_secs) = auth
        .counters
        .reserve(crate::LOGIN_SCOPE, &u.id, auth.login_window, now)
        .await?
    {
        return Err(ApiError::RateLimited { retry_after_secs });
    }
    let mut v = Validator::default();
    let password = v.check(NewPassword::parse(
        &body.new_password,
        "new_password",
        &[
            u.username.as_str(),
            u.email.as_str(),
            u.first_name.as_str(),
            u.last_name.as_str(),
        ],
    ));
    let verified = auth
        .passwords
        .verify(&body.current_password, Some(u.password_hash.clone()))
        .await
        .map_err(ApiError::Internal)?;
    if verified == shared::auth::password::Verified::No {
        return Err(crate::invalid_credentials());
    }
    auth.counters
        .reset(crate::LOGIN_SCOPE, &u.id, auth.login_window, now)
        .await?;
    v.finish()?;
    let password = password.ok_or_else(|| ApiError::bad_request("Invalid password"))?;
    let hash = auth
        .passwords
        .hash(password.secret())
        .await
        .map_err(ApiError::Internal)?;
    let changed = auth
        .users
        .change_password(
            &u.id,
            &u.password_hash,
            &hash,
            user.session_id(),
            auth.sessions.table(),
        )
        .await?;
    if !changed {
        // The password or the session changed under us (a concurrent reset or logout).
        return Err(ApiError::Conflict {
            code: "PASSWORD_CHANGED",
            detail: "The account changed meanwhile; log in again".into(),
        });
    }
    // Every other session is already dead (tokens_valid_after); marking them keeps the table true.
    let ended = match auth
        .sessions
        .revoke_all(&u.id, Some(user.session_id()))
        .await
    {
        Ok(ended) => ended,
        Err(err) => {
            tracing::warn!(error = %err, "could not mark old sessions revoked");
            0
        }
    };

    let link = format!("{}/forgot-password", auth.public_app_url);
    let changed_at = now_rfc3339();
    let ctx = MailContext {
        first_name: &u.first_name,
        link: &link,
        expires_in: String::new(),
        changed_at: &changed_at,
    };
    mail_user(
        auth,
        u,
        MailKind::PasswordChanged,
        &ctx,
        "password change notice not sent",
    )
    .await;
    Ok(Json(serde_json::json!({
        "message": "Password changed",
        "sessions_revoked": ended,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct VerifyBody {
    token: String,
}

/// `POST /verify-email`: single-use, purpose-bound.
pub(crate) async fn verify_email(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<VerifyBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let auth = auth_of(&state)?;
    let claims = action_claims(auth, TokenKind::VerifyEmail, &body.token)?;
    let done = auth
        .users
        .verify_email(&claims.sub, &claims.jti, claims.exp, auth.revoked.table())
        .await?;
    if !done {
        return Err(invalid_token());
    }
    Ok(Json(serde_json::json!({ "message": "Email verified" })))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResendBody {
    #[serde(default)]
    email: Option<String>,
}

/// `POST /verify-email/resend`: with a Bearer token, for the caller; without one (an account
/// that cannot log in yet under `REQUIRE_VERIFIED_EMAIL`), for `{"email"}`. Always 202 with one
/// body, throttled per account; nothing is sent once verified.
pub(crate) async fn resend_verification(
    State(state): State<AppState>,
    MaybeAuthUser(caller): MaybeAuthUser,
    body: bytes::Bytes,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let auth = auth_of(&state)?;
    let message = "If your email is not verified yet, a new verification link has been sent.";
    let user = match caller {
        Some(caller) => Some(caller.user),
        None => {
            let body: ResendBody = if body.iter().all(u8::is_ascii_whitespace) {
                ResendBody::default()
            } else {
                shared::extract::parse_json(&body)?
            };
            let Some(email) = body.email else {
                return Err(ApiError::unauthorized(
                    "NOT_AUTHENTICATED",
                    "Send a Bearer token, or {\"email\"} to resend for an address",
                ));
            };
            let email = Email::parse(&email)?;
            auth.users.find_by_login(email.as_str()).await?
        }
    };
    let Some(user) = user.filter(|u| u.is_active() && !u.email_verified) else {
        return Ok(accepted(message));
    };
    let window = Window {
        max: state.config.auth.verify_mails_per_hour,
        window_secs: 3_600,
    };
    if auth
        .counters
        .reserve("verify-mail", &user.id, window, now_s())
        .await?
        .is_none()
    {
        send_verification(&state, &user).await;
    }
    Ok(accepted(message))
}
