//! Passwords, after OWASP's Forgot Password cheat sheet: `forgot` answers the same 202 after
//! the same work (one enqueue; the worker looks the account up) whatever the account; reset tokens are single-use, purpose-bound and short-lived; a reset ends every
//! session; a change needs the current password and keeps only the caller's session.

use axum::{extract::State, http::StatusCode};
use identity::{
    AuthUser, IdentityState,
    domain::{Email, NewPassword, Validator},
    jwt::TokenKind,
    password::Verified,
    store::users::User,
};
use queue::Job;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use shared::{
    ApiError, ErrorCode, Routes,
    clock::now_rfc3339,
    extract::{ClientIp, Json, Validate},
};

use crate::{
    context::AuthContext,
    verification::{Message, action_claims},
};

/// `password/forgot`, `password/reset`, `password/change`.
pub fn routes() -> Routes<crate::state::State> {
    Routes::new()
        .post("/api/v1/auth/password/forgot", forgot)
        .post("/api/v1/auth/password/reset", reset)
        .post("/api/v1/auth/password/change", change)
}

const FORGOT_MESSAGE: &str =
    "If an account exists for that email, a password reset link has been sent.";

/// The account's email.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ForgotBody {
    #[schema(format = Email, max_length = 254)]
    email: String,
}

/// Its one field is checked by the handler.
impl Validate for ForgotBody {}

/// `POST /password/forgot`: always 202 with one body after one enqueue, whatever the account.
#[utoipa::path(post, path = "/api/v1/auth/password/forgot", tag = "auth", request_body = ForgotBody,
    responses(
        (status = 202, description = "Same answer whatever the account", body = Message),
        (status = 503, description = "The jobs queue is unavailable: nothing was enqueued, ask again (`SERVICE_UNAVAILABLE`)", body = shared::openapi::ErrorEnvelope)))]
pub(crate) async fn forgot(
    State(auth): State<AuthContext>,
    Json(body): Json<ForgotBody>,
) -> Result<(StatusCode, Json<Message>), ApiError> {
    let email = Email::parse(&body.email)?;
    // The worker reserves the per-address limit, looks the account up and sends the link; the
    // request does the same for every address, so neither its answer nor its timing tells
    // accounts apart. A queue that cannot be reached fails alike for every address too.
    auth.queue
        .enqueue(Job::PasswordReset {
            email: email.as_str().to_owned(),
        })
        .await?;
    Ok(Message::accepted(FORGOT_MESSAGE))
}

/// A reset link's token and the new password.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResetBody {
    /// The token of the reset link.
    #[schema(min_length = 1)]
    token: String,
    #[schema(value_type = String, format = Password, min_length = 8, max_length = 128)]
    new_password: SecretString,
}

/// The token is checked first, against the store, and the password against its account: no
/// rule the body can be judged by alone.
impl Validate for ResetBody {}

/// The user's own inputs, which make a password guessable too.
fn personal(user: &User) -> [&str; 4] {
    [
        user.username.as_str(),
        user.email.as_str(),
        user.first_name.as_str(),
        user.last_name.as_str(),
    ]
}

/// `POST /password/reset`: consumes the token and sets the password in one transaction, ends
/// every session, and does not log in.
/// Sets a new password with a reset link's token; ends every session.
#[utoipa::path(post, path = "/api/v1/auth/password/reset", tag = "auth", request_body = ResetBody,
    responses(
        (status = 200, description = "Reset", body = Message),
        (status = 400, description = "Invalid, expired or used link (`INVALID_ACTION_TOKEN`)", body = shared::openapi::ErrorEnvelope)))]
pub(crate) async fn reset(
    State(identity): State<IdentityState>,
    State(auth): State<AuthContext>,
    Json(body): Json<ResetBody>,
) -> Result<Json<Message>, ApiError> {
    let claims = action_claims(&identity, TokenKind::PasswordReset, &body.token).await?;
    let user = identity
        .store
        .users
        .get(&claims.sub)
        .await?
        .filter(|u| !u.deleted)
        .ok_or(ErrorCode::InvalidActionToken)?;
    // The password is checked before the token is spent, so a weak choice can be retried.
    let password = NewPassword::parse(&body.new_password, "new_password", &personal(&user))?;
    let hash = auth.passwords.hash(password.secret()).await?;
    let done = identity
        .store
        .reset_password(&user.id, &claims.jti, claims.exp, &hash)
        .await?;
    if !done {
        return Err(ErrorCode::InvalidActionToken.into());
    }
    identity.store.sessions.revoke_all(&user.id, None).await?;
    tracing::info!(user_id = %user.id, "password reset");
    Ok(Json(Message::new(
        "Password has been reset. Please log in.",
    )))
}

/// The current password and the new one.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChangeBody {
    #[schema(value_type = String, format = Password, min_length = 1)]
    current_password: SecretString,
    #[schema(value_type = String, format = Password, min_length = 8, max_length = 128)]
    new_password: SecretString,
}

/// The current password is checked first (a wrong one is a 401 before any 422), and the new
/// one against the account: no rule the body can be judged by alone.
impl Validate for ChangeBody {}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Changed {
    message: &'static str,
    sessions_revoked: usize,
}

/// `POST /password/change`: wrong current password is 401; other sessions end, this one lives.
/// Changes the caller's password; ends the other sessions.
#[utoipa::path(post, path = "/api/v1/auth/password/change", tag = "auth", security(("bearer" = [])),
    request_body = ChangeBody,
    responses(
        (status = 200, description = "Changed", body = Changed),
        (status = 409, description = "The account changed meanwhile (`PASSWORD_CHANGED`)", body = shared::openapi::ErrorEnvelope)))]
pub(crate) async fn change(
    State(identity): State<IdentityState>,
    State(auth): State<AuthContext>,
    user: AuthUser,
    client: ClientIp,
    Json(body): Json<ChangeBody>,
) -> Result<Json<Changed>, ApiError> {
    let u = &user.user;
    // The current-password check is a password guess like a login, with the same limits.
    let guess = auth
        .guess(&format!("change:{}", u.id), &client, &u.id)
        .await?;
    let mut v = Validator::default();
    let password = v.check(NewPassword::parse(
        &body.new_password,
        "new_password",
        &personal(u),
    ));
    let verified = auth
        .passwords
        .verify(&body.current_password, Some(u.password_hash.clone()))
        .await?;
    if verified == Verified::No {
        return Err(auth.wrong_guess(&guess).await);
    }
    auth.right_guess(&guess).await?;
    let (password,) = v.finish_with((password,))?;
    let hash = auth.passwords.hash(password.secret()).await?;
    let changed = identity
        .store
        .change_password(&u.id, &u.password_hash, &hash, &user.session_id)
        .await?;
    if !changed {
        // The password or the session changed under us (a concurrent reset or logout).
        return Err(ErrorCode::PasswordChanged.into());
    }
    // Every other session is already dead (tokens_valid_after); marking them keeps the table true.
    let ended = match identity
        .store
        .sessions
        .revoke_all(&u.id, Some(&user.session_id))
        .await
    {
        Ok(ended) => ended,
        Err(err) => {
            tracing::warn!(error = ?err, "could not mark old sessions revoked");
            0
        }
    };

    // The notice is a job; a queue that cannot be reached costs the notice, not the change.
    let notice = Job::PasswordChanged {
        user_id: u.id.clone(),
        changed_at: now_rfc3339(),
    };
    if let Err(err) = auth.queue.enqueue(notice).await {
        tracing::warn!(user_id = %u.id, error = ?err, "password change notice not enqueued");
    }
    Ok(Json(Changed {
        message: "Password changed",
        sessions_revoked: ended,
    }))
}
