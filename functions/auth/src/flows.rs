//! Account recovery and verification, after OWASP's Forgot Password cheat sheet: the same 202
//! whatever the account, single-use purpose-bound short-lived tokens, all sessions ended on
//! reset, links built from `PUBLIC_APP_URL` only.

use std::time::Instant;

use axum::{Json, extract::State, http::StatusCode};
use secrecy::SecretString;
use serde::Deserialize;
use shared::{
    ApiError, AppState,
    auth::{AuthUser, auth_of, jwt::TokenKind},
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

fn accepted(message: &str) -> (StatusCode, Json<serde_json::Value>) {
    (
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "message": message })),
    )
}

const FORGOT_MESSAGE: &str =
    "If an account exists for that email, a password reset link has been sent.";

fn link(state: &AppState, path: &str, token: &str) -> String {
    format!("{}/{path}?token={token}", state.config.auth.public_app_url)
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
    if let Err(err) = auth
        .mailer
        .send(&user.email, MailKind::VerifyEmail, &ctx)
        .await
    {
        tracing::warn!(user_id = %user.id, error = %format!("{err:#}"), "verification mail not sent");
    }
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
    if let Err(err) = forgot_work(&state, &email).await {
        // Even a failing store must not change the answer: that would tell accounts apart.
        tracing::warn!(error = %err, "password reset request not processed");
    }
    let floor = state.config.auth.forgot_response_floor;
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
    let count = auth
        .counters
        .hit("reset-mail", email.as_str(), window, now)
        .await?;
    if count > window.max {
        tracing::info!("password reset mail throttled");
        return Ok(());
    }
    let Some(user) = auth.users.find_by_login(email.as_str()).await? else {
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
    if let Err(err) = auth
        .mailer
        .send(&user.email, MailKind::PasswordReset, &ctx)
        .await
    {
        tracing::warn!(user_id = %user.id, error = %format!("{err:#}"), "reset mail not sent");
    }
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
    let claims = auth
        .tokens
        .verify(TokenKind::PasswordReset, &body.token)
        .map_err(|reason| {
            tracing::info!(%reason, "reset token refused");
            invalid_token()
        })?;
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
    v.finish()?;
    let password = password.ok_or_else(|| ApiError::bad_request("Invalid password"))?;
    let hash = auth
        .passwords
        .hash(password.secret())
        .await
        .map_err(ApiError::Internal)?;
    auth.users.set_password_hash(&u.id, &hash).await?;
    let ended = auth
        .sessions
        .revoke_all(&u.id, Some(user.session_id()))
        .await?;

    let link = format!("{}/forgot-password", state.config.auth.public_app_url);
    let changed_at = now_rfc3339();
    let ctx = MailContext {
        first_name: &u.first_name,
        link: &link,
        expires_in: String::new(),
        changed_at: &changed_at,
    };
    if let Err(err) = auth
        .mailer
        .send(&u.email, MailKind::PasswordChanged, &ctx)
        .await
    {
        tracing::warn!(user_id = %u.id, error = %format!("{err:#}"), "password change notice not sent");
    }
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
    let claims = auth
        .tokens
        .verify(TokenKind::VerifyEmail, &body.token)
        .map_err(|reason| {
            tracing::info!(%reason, "verification token refused");
            invalid_token()
        })?;
    let done = auth
        .users
        .verify_email(&claims.sub, &claims.jti, claims.exp, auth.revoked.table())
        .await?;
    if !done {
        return Err(invalid_token());
    }
    Ok(Json(serde_json::json!({ "message": "Email verified" })))
}

/// `POST /verify-email/resend`: 202, throttled per account; nothing is sent once verified.
pub(crate) async fn resend_verification(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let auth = auth_of(&state)?;
    let message = "If your email is not verified yet, a new verification link has been sent.";
    if user.user.email_verified {
        return Ok(accepted(message));
    }
    let window = Window {
        max: state.config.auth.verify_mails_per_hour,
        window_secs: 3_600,
    };
    let count = auth
        .counters
        .hit("verify-mail", &user.user.id, window, now_s())
        .await?;
    if count <= window.max {
        send_verification(&state, &user.user).await;
    }
    Ok(accepted(message))
}
