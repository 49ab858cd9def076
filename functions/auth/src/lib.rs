//! Auth Lambda: `/api/v1/auth/{signup,login,refresh,logout,logout-all}` and the mail flows
//! (`password/forgot`, `password/reset`, `password/change`, `verify-email`, `verify-email/resend`).

mod flows;

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use secrecy::SecretString;
use serde::Deserialize;
use shared::{
    ApiError, AppState,
    auth::{AuthUser, TokenPair, auth_of, jwt::TokenKind},
    domain::{Email, NewPassword, PersonName, Username, Validator},
    extract::{JsonOrForm, parse_json},
    layers::now_rfc3339,
    store::{
        now_ms, now_s,
        sessions::{RotateError, token_hash},
        users::{NewUser, UniqueError},
    },
};

/// The prefix of every route here (and the default refresh cookie path).
pub const BASE: &str = "/api/v1/auth";
const REFRESH_COOKIE: &str = "refresh_token";

/// The function's router, with the shared layer stack applied.
pub fn router(state: AppState) -> Router {
    let routes = Router::new()
        .route(&format!("{BASE}/signup"), post(signup))
        .route(&format!("{BASE}/login"), post(login))
        .route(&format!("{BASE}/refresh"), post(refresh))
        .route(&format!("{BASE}/logout"), post(logout))
        .route(&format!("{BASE}/logout-all"), post(logout_all))
        .route(&format!("{BASE}/password/forgot"), post(flows::forgot))
        .route(&format!("{BASE}/password/reset"), post(flows::reset))
        .route(&format!("{BASE}/password/change"), post(flows::change))
        .route(&format!("{BASE}/verify-email"), post(flows::verify_email))
        .route(
            &format!("{BASE}/verify-email/resend"),
            post(flows::resend_verification),
        )
        .with_state(state.clone());
    shared::layers::apply(routes, &state.config)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignupBody {
    username: String,
    email: String,
    password: SecretString,
    first_name: String,
    last_name: String,
}

async fn signup(
    State(state): State<AppState>,
    JsonOrForm(body): JsonOrForm<SignupBody>,
) -> Result<Response, ApiError> {
    let auth = auth_of(&state)?;
    let mut v = Validator::default();
    let username = v.check(Username::parse(&body.username));
    let email = v.check(Email::parse(&body.email));
    let first_name = v.check(PersonName::parse(&body.first_name, "first_name"));
    let last_name = v.check(PersonName::parse(&body.last_name, "last_name"));
    let context = [
        body.username.as_str(),
        body.email.as_str(),
        body.first_name.as_str(),
        body.last_name.as_str(),
    ];
    let password = v.check(NewPassword::parse(&body.password, "password", &context));
    v.finish()?;
    let (Some(username), Some(email), Some(first_name), Some(last_name), Some(password)) =
        (username, email, first_name, last_name, password)
    else {
        return Err(ApiError::bad_request("Invalid signup"));
    };

    let password_hash = auth
        .passwords
        .hash(password.secret())
        .await
        .map_err(ApiError::Internal)?;
    let user = auth
        .users
        .create(NewUser {
            username,
            email,
            first_name,
            last_name,
            password_hash,
            roles: vec!["user".to_owned()],
        })
        .await
        .map_err(|err| match err {
            UniqueError::Taken => ApiError::Conflict {
                code: "USER_EXISTS",
                detail: "Username or email already registered".into(),
            },
            UniqueError::Store(e) => e,
        })?;
    tracing::info!(user_id = %user.id, "user signed up");
    // A failed send leaves the account in place; the user can ask for a resend.
    flows::send_verification(&state, &user).await;
    if state.config.auth.require_verified_email {
        // No tokens until the address is confirmed: the account exists, the mail is on its way.
        let body = serde_json::json!({
            "message": "Account created. Confirm your email address, then log in.",
            "email_verified": false,
        });
        return Ok((StatusCode::CREATED, Json(body)).into_response());
    }
    let pair = auth.start_session(&user).await?;
    Ok(tokens_response(&state, StatusCode::CREATED, pair))
}

/// OAuth2 password-flow compatible: `grant_type`, `scope`, `client_id`, `client_secret` are
/// accepted (and ignored) so standard clients work.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    username: String,
    password: SecretString,
    #[serde(default)]
    grant_type: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    scope: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    client_id: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    client_secret: Option<SecretString>,
}

pub(crate) fn invalid_credentials() -> ApiError {
    ApiError::unauthorized("INVALID_CREDENTIALS", "Incorrect username or password")
}

async fn login(
    State(state): State<AppState>,
    JsonOrForm(body): JsonOrForm<LoginBody>,
) -> Result<Response, ApiError> {
    let auth = auth_of(&state)?;
    if body.grant_type.as_deref().is_some_and(|g| g != "password") {
        return Err(ApiError::invalid_field(
            &["body", "grant_type"],
            "grant_type must be \"password\"",
            "value_error",
        ));
    }
    // Longer than any username or email: never an account, and kept out of lookups.
    let identifier = body.username.trim().to_lowercase();
    let user = if identifier.len() <= 254 {
        auth.users.find_by_login(&identifier).await?
    } else {
        None
    };
    // Counted per account; unknown names get their own counter so both behave the same.
    let subject = user
        .as_ref()
        .map_or_else(|| format!("name:{identifier}"), |u| u.id.clone());
    let now = now_s();
    // Reserve the attempt before checking it: parallel guesses cannot all pass a stale count.
    if let Some(retry_after_secs) = auth
        .counters
        .reserve(LOGIN_SCOPE, &subject, auth.login_window, now)
        .await?
    {
        return Err(ApiError::RateLimited { retry_after_secs });
    }

    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let verified = auth
        .passwords
        .verify(&body.password, stored)
        .await
        .map_err(ApiError::Internal)?;
    let (user, rehash) = match (user, verified) {
        (Some(user), shared::auth::password::Verified::Yes { rehash }) if user.is_active() => {
            (user, rehash)
        }
        _ => return Err(invalid_credentials()),
    };
    auth.counters
        .reset(LOGIN_SCOPE, &subject, auth.login_window, now)
        .await?;
    if state.config.auth.require_verified_email && !user.email_verified {
        // Only after the password proved who is asking, so this reveals nothing to strangers.
        return Err(email_not_verified());
    }
    if let Some(hash) = rehash {
        auth.users
            .rehash_password(&user.id, &user.password_hash, &hash)
            .await?;
    }
    let pair = auth.start_session(&user).await?;
    Ok(tokens_response(&state, StatusCode::OK, pair))
}

/// Counter scope for login attempts (also used by password change's current-password check).
pub(crate) const LOGIN_SCOPE: &str = "login";

pub(crate) fn email_not_verified() -> ApiError {
    ApiError::Forbidden {
        code: "EMAIL_NOT_VERIFIED",
        detail: "Verify your email address before logging in".into(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefreshBody {
    refresh_token: String,
}

async fn refresh(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> Result<Response, ApiError> {
    let auth = auth_of(&state)?;
    let token = if body.iter().all(u8::is_ascii_whitespace) {
        let cookie = auth
            .refresh_cookie
            .then(|| cookie_value(&headers, REFRESH_COOKIE))
            .flatten();
        cookie.ok_or_else(|| {
            ApiError::invalid_field(&["body", "refresh_token"], "Field required", "missing")
        })?
    } else {
        parse_json::<RefreshBody>(&body)?.refresh_token
    };

    let invalid = || ApiError::unauthorized("INVALID_TOKEN", "Invalid or expired refresh token");
    let claims = auth
        .tokens
        .verify(TokenKind::Refresh, &token)
        .map_err(|reason| {
            tracing::info!(%reason, "refresh token refused");
            invalid()
        })?;
    let sid = claims.sid.as_deref().ok_or_else(invalid)?;
    let user = auth
        .users
        .get(&claims.sub)
        .await?
        .filter(shared::store::users::User::is_active)
        .ok_or_else(invalid)?;
    if state.config.auth.require_verified_email && !user.email_verified {
        return Err(email_not_verified());
    }
    let session = auth.sessions.get(sid).await?.ok_or_else(invalid)?;
    if session.user_id != user.id || session.created_at_ms <= user.tokens_valid_after_ms {
        return Err(invalid());
    }

    let now = now_s();
    // The new refresh token keeps the session's expiry: rotation never extends a family's life.
    let next = auth
        .tokens
        .issue(TokenKind::Refresh, &user.id, Some(sid), now)
        .map_err(ApiError::Internal)?;
    match auth
        .sessions
        .rotate(sid, &token_hash(&token), &token_hash(&next.token))
        .await
    {
        Ok(()) => {}
        Err(RotateError::Reused) => {
            tracing::warn!(user_id = %user.id, session = %sid, "refresh token reuse: session revoked");
            return Err(invalid());
        }
        Err(RotateError::Dead) => return Err(invalid()),
        Err(RotateError::Store(e)) => return Err(e),
    }
    let pair = auth.pair(&user, sid, next.token, now)?;
    Ok(tokens_response(&state, StatusCode::OK, pair))
}

async fn logout(State(state): State<AppState>, user: AuthUser) -> Result<Response, ApiError> {
    let auth = auth_of(&state)?;
    auth.revoked
        .revoke(&user.claims.jti, user.claims.exp)
        .await?;
    auth.sessions.revoke(user.session_id()).await?;
    let body = serde_json::json!({
        "message": "Successfully logged out",
        "revoked_at": now_rfc3339(),
    });
    Ok(with_cleared_cookie(&state, Json(body).into_response()))
}

async fn logout_all(State(state): State<AppState>, user: AuthUser) -> Result<Response, ApiError> {
    let auth = auth_of(&state)?;
    // One atomic write ends them all; revoking each session then keeps the table truthful.
    auth.users
        .invalidate_tokens(&user.user.id, now_ms())
        .await?;
    auth.revoked
        .revoke(&user.claims.jti, user.claims.exp)
        .await?;
    let ended = auth.sessions.revoke_all(&user.user.id, None).await?;
    let body = serde_json::json!({
        "message": "Logged out of all sessions",
        "revoked_at": now_rfc3339(),
        "sessions_revoked": ended,
    });
    Ok(with_cleared_cookie(&state, Json(body).into_response()))
}

fn tokens_response(state: &AppState, status: StatusCode, pair: TokenPair) -> Response {
    let cookie = state
        .auth
        .as_ref()
        .is_some_and(|a| a.refresh_cookie)
        .then(|| {
            format!(
                "{REFRESH_COOKIE}={}; HttpOnly; Secure; SameSite=Strict; Path={}; Max-Age={}",
                pair.refresh_token,
                state.config.auth.refresh_cookie_path,
                state.config.auth.refresh_ttl.as_secs()
            )
        });
    let mut response = (status, Json(pair)).into_response();
    // Tokens must never be cached by a proxy or the browser.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(value) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

fn with_cleared_cookie(state: &AppState, mut response: Response) -> Response {
    if state.auth.as_ref().is_some_and(|a| a.refresh_cookie) {
        let value = format!(
            "{REFRESH_COOKIE}=; HttpOnly; Secure; SameSite=Strict; Path={}; Max-Age=0",
            state.config.auth.refresh_cookie_path
        );
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}
