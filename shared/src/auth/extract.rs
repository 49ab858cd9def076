//! `AuthUser`, `MaybeAuthUser` and `RequireRole<R>`: authentication as extractors.
//!
//! Every authenticated request checks the token (signature, `alg`, `typ`, `iss`, `aud`, `exp`)
//! and then, in one `BatchGetItem`, that its `jti` is not blacklisted, its session is live and
//! newer than the user's `tokens_valid_after`, and the user exists and is active.

use std::{collections::HashMap, marker::PhantomData};

use aws_sdk_dynamodb::types::KeysAndAttributes;
use axum::{
    extract::{FromRequestParts, OptionalFromRequestParts},
    http::{header, request::Parts},
};

use super::{
    Auth, auth_of,
    jwt::{Claims, TokenKind},
};
use crate::{
    AppState,
    error::{ApiError, from_sdk},
    store::{
        Item, now_s, s,
        sessions::Session,
        tokens::{is_revoked, jti_key},
        users::{User, Users, user_key},
    },
};

/// An authenticated, active user and the claims of the access token that proved it.
#[derive(Debug, Clone)]
pub struct AuthUser {
    /// The user, as stored.
    pub user: User,
    /// The access token's claims (`jti`, `sid`, `exp`).
    pub claims: Claims,
}

impl AuthUser {
    /// The session this request belongs to.
    pub fn session_id(&self) -> &str {
        self.claims.sid.as_deref().unwrap_or_default()
    }
}

/// `Some(user)` with valid credentials, `None` without an `Authorization` header; a present but
/// invalid token is still a 401 (silently ignoring it would hide client bugs).
#[derive(Debug, Clone)]
pub struct MaybeAuthUser(pub Option<AuthUser>);

/// A role name for [`RequireRole`].
pub trait Role: Send + Sync {
    /// The role string stored on users.
    const NAME: &'static str;
}

/// The `admin` role.
#[derive(Debug)]
pub struct Admin;

impl Role for Admin {
    const NAME: &'static str = "admin";
}

/// An authenticated user holding role `R`; others get 403.
#[derive(Debug)]
pub struct RequireRole<R: Role>(pub AuthUser, PhantomData<R>);

fn invalid_token() -> ApiError {
    ApiError::unauthorized("INVALID_TOKEN", "Could not validate credentials")
}

/// The bearer token of the request, if any; a non-Bearer `Authorization` is a 401.
pub fn bearer(parts: &Parts) -> Result<Option<&str>, ApiError> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| invalid_token())?;
    let (scheme, token) = value.split_once(' ').ok_or_else(invalid_token)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(invalid_token());
    }
    Ok(Some(token.trim()))
}

/// Verifies an access token and loads its user, session and blacklist entry in one round trip.
pub async fn authenticate(auth: &Auth, token: &str) -> Result<AuthUser, ApiError> {
    let claims = auth
        .tokens
        .verify(TokenKind::Access, token)
        .map_err(|reason| {
            tracing::info!(%reason, "access token refused");
            invalid_token()
        })?;
    let sid = claims.sid.clone().ok_or_else(invalid_token)?;

    let key = |v: String| HashMap::from([("pk".to_owned(), s(v))]);
    let keys = |k: HashMap<String, _>| {
        KeysAndAttributes::builder()
            .keys(k)
            .consistent_read(true)
            .build()
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("batch request: {e}")))
    };
    let mut request: HashMap<String, KeysAndAttributes> = HashMap::from([
        (
            auth.revoked.table().to_owned(),
            keys(key(jti_key(&claims.jti)))?,
        ),
        (auth.sessions.table().to_owned(), keys(key(sid.clone()))?),
        (
            auth.users.table().to_owned(),
            keys(key(user_key(&claims.sub)))?,
        ),
    ]);
    let mut found: HashMap<String, Vec<Item>> = HashMap::new();
    // Unprocessed keys only appear under throttling; two more tries, then 503.
    for _ in 0..3 {
        let out = auth
            .users_client()
            .batch_get_item()
            .set_request_items(Some(request))
            .send()
            .await
            .map_err(from_sdk)?;
        for (table, items) in out.responses().cloned().unwrap_or_default() {
            found.entry(table).or_default().extend(items);
        }
        match out.unprocessed_keys() {
            Some(rest) if !rest.is_empty() => request = rest.clone(),
            _ => {
                request = HashMap::new();
                break;
            }
        }
    }
    if !request.is_empty() {
        return Err(ApiError::Unavailable(anyhow::anyhow!(
            "batch read left keys unprocessed"
        )));
    }
    let first = |table: &str| found.get(table).and_then(|items| items.first());

    if is_revoked(first(auth.revoked.table())) {
        tracing::info!("access token is blacklisted");
        return Err(invalid_token());
    }
    let user = Users::parse(first(auth.users.table()))?
        .filter(User::is_active)
        .ok_or_else(invalid_token)?;
    let session = Session::parse(first(auth.sessions.table()))?.ok_or_else(invalid_token)?;
    if !session.is_live(now_s())
        || session.user_id != user.id
        || session.created_at_ms <= user.tokens_valid_after_ms
    {
        tracing::info!("session ended");
        return Err(invalid_token());
    }
    Ok(AuthUser { user, claims })
}

impl Auth {
    fn users_client(&self) -> &aws_sdk_dynamodb::Client {
        self.users.client()
    }
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let auth = auth_of(state)?;
        let token = bearer(parts)?
            .ok_or_else(|| ApiError::unauthorized("NOT_AUTHENTICATED", "Not authenticated"))?;
        authenticate(auth, token).await
    }
}

impl FromRequestParts<AppState> for MaybeAuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match bearer(parts)? {
            None => Ok(Self(None)),
            Some(token) => Ok(Self(Some(authenticate(auth_of(state)?, token).await?))),
        }
    }
}

impl OptionalFromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, ApiError> {
        <MaybeAuthUser as FromRequestParts<AppState>>::from_request_parts(parts, state)
            .await
            .map(|m| m.0)
    }
}

impl<R: Role> FromRequestParts<AppState> for RequireRole<R> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let user =
            <AuthUser as FromRequestParts<AppState>>::from_request_parts(parts, state).await?;
        if !user.user.has_role(R::NAME) {
            return Err(ApiError::forbidden(format!(
                "Requires the {} role",
                R::NAME
            )));
        }
        Ok(Self(user, PhantomData))
    }
}
