//! `AuthUser`, `MaybeAuthUser` and `RequireRole<R>`: authentication as extractors, for any
//! router state from which an [`IdentityState`] can be taken (`FromRef`).
//!
//! Every authenticated request checks the token (signature, `alg`, `typ`, `iss`, `aud`, `exp`)
//! and then, on the user item alone, that the user exists and is active and the token's session
//! is neither ended nor cut off ([`crate::store::access`]). Where the rate limiter counts the
//! request per user, that check is the limiter's own write (one round trip for both); the
//! extractor takes its outcome from the request's extensions. Elsewhere it is one `GetItem`.

use std::marker::PhantomData;

use axum::{
    extract::{FromRef, FromRequestParts, OptionalFromRequestParts},
    http::{header, request::Parts},
};
use shared::{
    error::{ApiError, ErrorCode},
    ratelimit::{CallerCount, CountCaller, Policy},
};

use crate::{
    jwt::{Claims, TokenKind},
    state::IdentityState,
    store::{access::AccessCount, users::User},
};

/// An authenticated, active user, its session, and the claims of the access token that proved it.
#[derive(Debug, Clone)]
pub struct AuthUser {
    /// The user, as stored.
    pub user: User,
    /// The session this request belongs to (the token's `sid`).
    pub session_id: String,
    /// The access token's claims (`jti`, `exp`).
    pub claims: Claims,
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

/// The bearer token of the request, if any; a non-Bearer `Authorization` is a 401.
pub fn bearer(parts: &Parts) -> Result<Option<&str>, ErrorCode> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| ErrorCode::InvalidToken)?;
    let (scheme, token) = value.split_once(' ').ok_or(ErrorCode::InvalidToken)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ErrorCode::InvalidToken);
    }
    Ok(Some(token.trim()))
}

/// Verifies an access token and checks it on its user item (one `GetItem`).
pub async fn authenticate(identity: &IdentityState, token: &str) -> Result<AuthUser, ApiError> {
    authenticate_verified(identity, token, None).await
}

/// An access token the rate limiter already verified in this request (signature and claims):
/// the extractor reuses its claims instead of checking the signature twice, an Ed25519 check
/// being a large share of an authenticated request's CPU (`bench-tokens`; the figures are in
/// functions/docs/guide/measurements.md).
#[derive(Debug, Clone)]
struct VerifiedAccess {
    token: String,
    claims: Claims,
}

/// What the rate limiter's counting write found on the user item for this request's access
/// token ([`IdentityStore::count_access`](crate::store::IdentityStore::count_access)): the
/// extractor answers from it and makes no call of its own.
#[derive(Debug, Clone)]
struct CheckedAccess {
    token: String,
    /// The user the write returned, or `None` when the token was refused.
    user: Option<AuthUser>,
}

/// The request's bearer token, if it has one, authenticated: from what the rate limiter's
/// counting write found, else verified (reusing the limiter's signature check) and checked on
/// the user item.
async fn authenticate_request(
    parts: &Parts,
    identity: &IdentityState,
) -> Result<Option<AuthUser>, ApiError> {
    let Some(token) = bearer(parts)? else {
        return Ok(None);
    };
    if let Some(checked) = parts
        .extensions
        .get::<CheckedAccess>()
        .filter(|c| c.token == token)
    {
        return match &checked.user {
            Some(user) => Ok(Some(user.clone())),
            None => {
                tracing::info!("access token refused on its user item");
                Err(ErrorCode::InvalidToken.into())
            }
        };
    }
    let verified = parts.extensions.get::<VerifiedAccess>();
    authenticate_verified(identity, token, verified)
        .await
        .map(Some)
}

async fn authenticate_verified(
    identity: &IdentityState,
    token: &str,
    verified: Option<&VerifiedAccess>,
) -> Result<AuthUser, ApiError> {
    let claims = match verified.filter(|v| v.token == token) {
        Some(v) => v.claims.clone(),
        None => identity
            .verify(TokenKind::Access, token)
            .await?
            .map_err(|reason| {
                tracing::info!(%reason, "access token refused");
                ErrorCode::InvalidToken
            })?,
    };
    let Some(user) = identity.store.check_access(&claims).await? else {
        tracing::info!("access token refused on its user item");
        return Err(ErrorCode::InvalidToken.into());
    };
    auth_user(user, claims).ok_or_else(|| ErrorCode::InvalidToken.into())
}

fn auth_user(user: User, claims: Claims) -> Option<AuthUser> {
    Some(AuthUser {
        user,
        session_id: claims.sid.clone()?,
        claims,
    })
}

/// The rate limiter's view of a request: the user and tier of a valid access token (signature
/// and claims checked, no database call), so authenticated requests are limited per user; and
/// the count itself, on the user item, in the write that checks the token there.
impl shared::ratelimit::ResolveCaller for IdentityState {
    fn caller<'a>(
        &'a self,
        parts: &'a mut Parts,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = shared::ratelimit::Caller> + Send + 'a>>
    {
        Box::pin(async move {
            let token = bearer(parts).ok().flatten()?.to_owned();
            let claims = self.verify(TokenKind::Access, &token).await.ok()?.ok()?;
            let caller = (
                claims.sub.clone(),
                claims.tier.clone().unwrap_or_else(|| "free".to_owned()),
            );
            parts.extensions.insert(VerifiedAccess { token, claims });
            Some(caller)
        })
    }

    fn count_caller<'a>(
        &'a self,
        parts: &'a mut Parts,
        policy: &'a Policy,
        now: i64,
    ) -> CountCaller<'a> {
        Box::pin(async move {
            let verified = parts.extensions.get::<VerifiedAccess>()?.clone();
            let counted = self.store.count_access(&verified.claims, policy, now).await;
            let (user, outcome) = match counted {
                Ok(AccessCount::Counted { count, user }) => (
                    auth_user(*user, verified.claims),
                    CallerCount::Counted(count),
                ),
                // Not handed on: the request is refused before any handler runs.
                Ok(AccessCount::OverQuota) => return Some(Ok(CallerCount::Refused)),
                Ok(AccessCount::Refused) => (None, CallerCount::Rejected),
                // Left to the limiter's failure handling; the extractor checks again.
                Err(err) => return Some(Err(err.into())),
            };
            parts.extensions.insert(CheckedAccess {
                token: verified.token,
                user,
            });
            Some(Ok(outcome))
        })
    }
}

impl<S> FromRequestParts<S> for AuthUser
where
    IdentityState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        authenticate_request(parts, &IdentityState::from_ref(state))
            .await?
            .ok_or_else(|| ErrorCode::NotAuthenticated.into())
    }
}

impl<S> FromRequestParts<S> for MaybeAuthUser
where
    IdentityState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        authenticate_request(parts, &IdentityState::from_ref(state))
            .await
            .map(Self)
    }
}

impl<S> OptionalFromRequestParts<S> for AuthUser
where
    IdentityState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Option<Self>, ApiError> {
        <MaybeAuthUser as FromRequestParts<S>>::from_request_parts(parts, state)
            .await
            .map(|m| m.0)
    }
}

impl<S, R: Role> FromRequestParts<S> for RequireRole<R>
where
    IdentityState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let user = <AuthUser as FromRequestParts<S>>::from_request_parts(parts, state).await?;
        if !user.user.has_role(R::NAME) {
            return Err(ErrorCode::Forbidden.into());
        }
        Ok(Self(user, PhantomData))
    }
}
