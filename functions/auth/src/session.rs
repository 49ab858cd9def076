//! Sessions: signup, login (OAuth2 password flow or JSON), refresh rotation, logout and
//! logout-all.

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use identity::{
    AuthUser, IdentityState,
    domain::{Email, LoginName, NewPassword, PersonName, Username, Validator},
    jwt::{SessionStamp, Signer, TokenKind},
    password::Verified,
    store::{
        sessions::{RotateError, token_hash},
        users::{NewUser, User},
    },
};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use shared::{
    ApiError, ErrorCode, Routes,
    clock::{now_ms, now_rfc3339, now_s},
    dynamo::StoreError,
    error::FieldError,
    extract::{ClientIp, Json, JsonOrForm, OptionalJson, Validate, failures},
};

use crate::{
    context::AuthContext,
    cookies::{self, TokenPair},
    mfa::{MfaContext, login::step_up},
    verification,
};

/// `signup`, `login`, `refresh`, `logout`, `logout-all`.
pub fn routes() -> Routes<crate::state::State> {
    Routes::new()
        .post("/api/v1/auth/signup", signup)
        .post("/api/v1/auth/login", login)
        .post("/api/v1/auth/refresh", refresh)
        .post("/api/v1/auth/logout", logout)
        .post("/api/v1/auth/logout-all", logout_all)
}

/// A new account (JSON or form).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignupBody {
    #[schema(schema_with = identity::domain::schema::username)]
    username: String,
    /// An email address (unique, case-insensitively).
    #[schema(format = Email, max_length = 254)]
    email: String,
    /// 8-128 characters; refused if common or built from the other fields.
    #[schema(value_type = String, format = Password, min_length = 8, max_length = 128)]
    password: SecretString,
    #[schema(schema_with = identity::domain::schema::person_name)]
    first_name: String,
    #[schema(schema_with = identity::domain::schema::person_name)]
    last_name: String,
}

/// The fields of a signup, each by its rule.
type NewAccount = (Username, Email, PersonName, PersonName, NewPassword);

impl SignupBody {
    /// Every field by its rule, the password also against the other fields (one 422 naming every
    /// field that breaks one).
    fn check(&self) -> Result<NewAccount, ApiError> {
        let mut v = Validator::default();
        let username = v.check(Username::parse(&self.username));
        let email = v.check(Email::parse(&self.email));
        let first_name = v.check(PersonName::parse(&self.first_name, "first_name"));
        let last_name = v.check(PersonName::parse(&self.last_name, "last_name"));
        let context = [
            self.username.as_str(),
            self.email.as_str(),
            self.first_name.as_str(),
            self.last_name.as_str(),
        ];
        let password = v.check(NewPassword::parse(&self.password, "password", &context));
        v.finish_with((username, email, first_name, last_name, password))
    }
}

impl Validate for SignupBody {
    fn rule_errors(&self) -> Vec<FieldError> {
        failures(self.check())
    }
}

/// Signup under `REQUIRE_VERIFIED_EMAIL`: the account exists, the mail is on its way, no tokens.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct SignupPending {
    message: &'static str,
    email_verified: bool,
}

/// Creates an account and a session.
#[utoipa::path(post, path = "/api/v1/auth/signup", tag = "auth", request_body(content((SignupBody = "application/json"), (SignupBody = "application/x-www-form-urlencoded"))),
    responses(
        (status = 201, description = "The token pair (or, under `REQUIRE_VERIFIED_EMAIL`, a pending body)", body = TokenPair),
        (status = 409, description = "Username or email taken (`USER_EXISTS`)", body = shared::openapi::ErrorEnvelope)))]
pub(crate) async fn signup(
    State(identity): State<IdentityState>,
    State(auth): State<AuthContext>,
    JsonOrForm(body): JsonOrForm<SignupBody>,
) -> Result<Response, ApiError> {
    let (username, email, first_name, last_name, password) = body.check()?;

    let password_hash = auth.passwords.hash(password.secret()).await?;
    let user = identity
        .store
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
            StoreError::ConditionFailed => ErrorCode::UserExists.into(),
            other => ApiError::from(other),
        })?;
    tracing::info!(user_id = %user.id, "user signed up");
    // A failed send leaves the account in place; the user can ask for a resend.
    verification::send(&auth, &user).await;
    if auth.settings.require_verified_email {
        let body = SignupPending {
            message: "Account created. Confirm your email address, then log in.",
            email_verified: false,
        };
        return Ok((StatusCode::CREATED, Json(body)).into_response());
    }
    let pair = start_session(&identity, &auth, &user).await?;
    Ok(cookies::tokens_response(
        &auth.settings,
        StatusCode::CREATED,
        pair,
    ))
}

/// OAuth2 password-flow compatible: `grant_type`, `scope`, `client_id`, `client_secret` are
/// accepted (and ignored) so standard clients work.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginBody {
    /// The username or the email.
    #[schema(min_length = 1)]
    username: String,
    /// The password.
    #[schema(value_type = String, format = Password, min_length = 1)]
    password: SecretString,
    /// `password`, or absent. Not `null`: a form cannot send one, so the schema that both
    /// share has none.
    #[serde(default, deserialize_with = "given")]
    #[schema(schema_with = grant_type_schema)]
    grant_type: Option<String>,
    #[serde(default, rename = "scope")]
    _scope: Option<String>,
    #[serde(default, rename = "client_id")]
    _client_id: Option<String>,
    #[serde(default, rename = "client_secret")]
    #[schema(value_type = Option<String>, format = Password)]
    _client_secret: Option<SecretString>,
}

/// A field that may be left out, but is a string when given (`null` is a 422).
fn given<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    String::deserialize(deserializer).map(Some)
}

/// `grant_type`: `password` (the OAuth2 password flow), if given.
fn grant_type_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["password"]))
        .description(Some(
            "`password` if given (OAuth2 password flow); not `null`.",
        ))
        .build()
}

impl LoginBody {
    /// `grant_type`, when given, is `password`.
    fn check(&self) -> Result<(), ApiError> {
        if self.grant_type.as_deref().is_some_and(|g| g != "password") {
            return Err(ApiError::invalid_field(
                &["body", "grant_type"],
                "grant_type must be \"password\"",
                "value_error",
            ));
        }
        Ok(())
    }
}

impl Validate for LoginBody {
    fn rule_errors(&self) -> Vec<FieldError> {
        failures(self.check())
    }
}

/// Logs in: a new session and its token pair.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth",
    request_body(content((LoginBody = "application/x-www-form-urlencoded"), (LoginBody = "application/json"))),
    responses(
        (status = 200, description = "The token pair; for a user with an authenticator app, `{\"mfa_required\": true, \"mfa_token\"}` and no token: send it with a code to `/login/mfa`", body = crate::mfa::login::LoginAnswer),
        (status = 401, description = "Unknown account or wrong password, one answer (`INVALID_CREDENTIALS`)", body = shared::openapi::ErrorEnvelope),
        (status = 403, description = "Email not verified under `REQUIRE_VERIFIED_EMAIL` (`EMAIL_NOT_VERIFIED`)", body = shared::openapi::ErrorEnvelope)))]
pub(crate) async fn login(
    State(identity): State<IdentityState>,
    State(auth): State<AuthContext>,
    State(mfa): State<MfaContext>,
    client: ClientIp,
    JsonOrForm(body): JsonOrForm<LoginBody>,
) -> Result<Response, ApiError> {
    body.check()?;
    // Found and counted under one key, so no spelling of a name gets a counter of its own.
    let name = LoginName::parse(&body.username);
    let key = name.key();
    let user = identity.store.users.find_login(&name).await?;
    // Unknown names get an account counter of their own, so both behave the same.
    let account = user
        .as_ref()
        .map_or_else(|| format!("name:{key}"), |u| u.id.clone());
    let guess = auth.guess(&key, &client, &account).await?;

    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let verified = auth.passwords.verify(&body.password, stored).await?;
    let (mut user, rehash) = match (user, verified) {
        (Some(user), Verified::Yes { rehash }) if user.is_active() => (user, rehash),
        _ => return Err(auth.wrong_guess(&guess).await),
    };
    auth.right_guess(&guess).await?;
    if auth.settings.require_verified_email && !user.email_verified {
        // Only after the password proved who is asking, so this reveals nothing to strangers.
        return Err(ErrorCode::EmailNotVerified.into());
    }
    if let Some(hash) = rehash
        && identity
            .store
            .users
            .rehash_password(&user.id, &user.password_hash, &hash)
            .await?
    {
        // The session below is conditioned on the hash as stored now, not the one verified.
        user.password_hash = hash;
    }
    // A password alone never yields tokens for a user with a second factor.
    if let Some(challenge) = step_up(&mfa, &auth, &user, &client).await? {
        return Ok(challenge);
    }
    let pair = start_session(&identity, &auth, &user).await?;
    Ok(cookies::tokens_response(
        &auth.settings,
        StatusCode::OK,
        pair,
    ))
}

/// The refresh token. With `REFRESH_COOKIE=true` it may be left out (or `null`), and so may the
/// whole body: the `refresh_token` cookie is used instead. Without the cookie mode it is
/// required (422 `missing`), which is what the schema says.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RefreshBody {
    /// The refresh token of the token pair.
    #[serde(default)]
    #[schema(value_type = String, required = true)]
    refresh_token: Option<String>,
}

/// Its one field is checked by the handler (the token is verified there).
impl Validate for RefreshBody {}

/// Rotates the session: a new access and refresh token; the old refresh token is spent.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth",
    request_body(content = RefreshBody, description = "Required, unless `REFRESH_COOKIE=true`: then an empty body (or one without `refresh_token`) uses the `refresh_token` cookie"),
    responses(
        (status = 200, description = "The new token pair", body = TokenPair),
        (status = 401, description = "Invalid, expired, revoked or reused refresh token (`INVALID_TOKEN`)", body = shared::openapi::ErrorEnvelope),
        (status = 403, description = "Email not verified under `REQUIRE_VERIFIED_EMAIL`", body = shared::openapi::ErrorEnvelope),
        (status = 409, description = "Rotated by a concurrent refresh a moment ago (`REFRESH_RACE`)", body = shared::openapi::ErrorEnvelope)))]
pub(crate) async fn refresh(
    State(identity): State<IdentityState>,
    State(auth): State<AuthContext>,
    headers: HeaderMap,
    OptionalJson(body): OptionalJson<RefreshBody>,
) -> Result<Response, ApiError> {
    // No body, or a body without the token (`{}`, as many client libraries send): the cookie.
    let token = body
        .and_then(|b| b.refresh_token)
        .or_else(|| cookies::refresh_token(&auth.settings, &headers))
        .ok_or_else(|| {
            ApiError::invalid_field(&["body", "refresh_token"], "Field required", "missing")
        })?;

    let claims = identity
        .verify(TokenKind::Refresh, &token)
        .await?
        .map_err(|reason| {
            tracing::info!(%reason, "refresh token refused");
            ErrorCode::InvalidToken
        })?;
    let sid = claims.sid.as_deref().ok_or(ErrorCode::InvalidToken)?;
    let user = identity
        .store
        .users
        .get(&claims.sub)
        .await?
        .filter(User::is_active)
        .ok_or(ErrorCode::InvalidToken)?;
    if auth.settings.require_verified_email && !user.email_verified {
        return Err(ErrorCode::EmailNotVerified.into());
    }
    let session = identity
        .store
        .sessions
        .get(sid)
        .await?
        .ok_or(ErrorCode::InvalidToken)?;
    if session.user_id != user.id || session.created_at_ms <= user.tokens_valid_after_ms {
        return Err(ErrorCode::InvalidToken.into());
    }

    let now = now_s();
    let signer = auth.signer().await?;
    let next = signer.issue(TokenKind::Refresh, &user.id, Some(sid), now)?;
    match identity
        .store
        .sessions
        .rotate(
            sid,
            &token_hash(&token),
            &token_hash(&next.token),
            auth.settings.refresh_grace,
        )
        .await
    {
        Ok(()) => {}
        Err(RotateError::Race) => return Err(ErrorCode::RefreshRace.into()),
        Err(RotateError::Reused) => {
            // Its access tokens stop too, as the session item's `revoked` alone no longer
            // reaches the access check (which reads the user item).
            identity.end_session(&user, sid).await?;
            tracing::warn!(user_id = %user.id, session = %sid, "refresh token reuse: session revoked");
            return Err(ErrorCode::InvalidToken.into());
        }
        Err(RotateError::Dead) => return Err(ErrorCode::InvalidToken.into()),
        Err(RotateError::Store(e)) => return Err(e.into()),
    }
    let stamp = SessionStamp {
        id: sid,
        created_at_ms: session.created_at_ms,
        expires_at: session.expires_at,
    };
    let pair = pair(&signer, &user, &stamp, next.token, now)?;
    Ok(cookies::tokens_response(
        &auth.settings,
        StatusCode::OK,
        pair,
    ))
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct LoggedOut {
    message: &'static str,
    revoked_at: String,
}

/// Ends the caller's session: its access and refresh tokens stop working at once.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 200, description = "Logged out", body = LoggedOut)))]
pub(crate) async fn logout(
    State(identity): State<IdentityState>,
    State(auth): State<AuthContext>,
    user: AuthUser,
) -> Result<Response, ApiError> {
    identity.end_session(&user.user, &user.session_id).await?;
    let body = LoggedOut {
        message: "Successfully logged out",
        revoked_at: now_rfc3339(),
    };
    Ok(cookies::with_cleared_cookie(
        &auth.settings,
        Json(body).into_response(),
    ))
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct LoggedOutEverywhere {
    message: &'static str,
    revoked_at: String,
    sessions_revoked: usize,
}

/// Ends every session of the caller.
#[utoipa::path(post, path = "/api/v1/auth/logout-all", tag = "auth", security(("bearer" = [])),
    responses((status = 200, description = "Logged out everywhere", body = LoggedOutEverywhere)))]
pub(crate) async fn logout_all(
    State(identity): State<IdentityState>,
    State(auth): State<AuthContext>,
    user: AuthUser,
) -> Result<Response, ApiError> {
    let store = &identity.store;
    // One atomic write ends them all; revoking each session then keeps the table truthful.
    store
        .users
        .invalidate_tokens(&user.user.id, now_ms())
        .await?;
    let ended = store.sessions.revoke_all(&user.user.id, None).await?;
    let body = LoggedOutEverywhere {
        message: "Logged out of all sessions",
        revoked_at: now_rfc3339(),
        sessions_revoked: ended,
    };
    Ok(cookies::with_cleared_cookie(
        &auth.settings,
        Json(body).into_response(),
    ))
}

/// Starts a session for `user` and issues its first token pair. The session is written only if
/// the user is still as read when its password was checked (see `create_session`).
pub(crate) async fn start_session(
    identity: &IdentityState,
    auth: &AuthContext,
    user: &User,
) -> Result<TokenPair, ApiError> {
    let sid = uuid::Uuid::new_v4().to_string();
    let now = now_s();
    let signer = auth.signer().await?;
    let refresh = signer.issue(TokenKind::Refresh, &user.id, Some(&sid), now)?;
    // Strictly after tokens_valid_after, even within the same millisecond as a logout-all.
    let created = now_ms().max(user.tokens_valid_after_ms + 1);
    let stored = identity
        .store
        .create_session(
            &sid,
            &token_hash(&refresh.token),
            created,
            refresh.claims.exp,
            user,
        )
        .await?;
    if !stored {
        // The user changed between the password check and now (reset, disable, logout-all).
        return Err(ErrorCode::InvalidCredentials.into());
    }
    let stamp = SessionStamp {
        id: &sid,
        created_at_ms: created,
        expires_at: refresh.claims.exp,
    };
    pair(&signer, user, &stamp, refresh.token, now)
}

/// Issues an access token for `session` and pairs it with `refresh_token`.
fn pair(
    signer: &Signer,
    user: &User,
    session: &SessionStamp<'_>,
    refresh_token: String,
    now: i64,
) -> Result<TokenPair, ApiError> {
    let access = signer.issue_access(&user.id, session, &user.tier, now)?;
    Ok(TokenPair {
        access_token: access.token,
        refresh_token,
        token_type: "bearer",
        expires_in: signer.ttl(TokenKind::Access).as_secs(),
    })
}
