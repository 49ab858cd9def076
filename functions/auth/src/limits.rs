//! Which session a refresh acts for, so that the rate limiter counts refreshes per session (its
//! `refresh` policy) instead of per client IP, which would throttle a whole office behind one
//! address: the session id (`sid`) of the refresh token the request carries, the body's
//! `refresh_token` or else, in cookie mode, the refresh cookie (the handler's order), once the
//! token verifies (signature and claims; no database call). A request whose token does not
//! verify, or that carries none, stays `strict` per client IP like every other auth route.

use std::{future::Future, pin::Pin};

use axum::http::{Method, request::Parts};
use identity::{IdentityState, jwt::TokenKind};
use shared::ratelimit::{Caller, ResolveCaller};

use crate::{context::AuthContext, cookies};

/// The route limited per session.
const REFRESH: &str = "/api/v1/auth/refresh";

/// Tells the limiter the session of a refresh (see the module's documentation).
pub(crate) struct RefreshSessions {
    /// Verifies the refresh token.
    pub(crate) identity: IdentityState,
    /// Whether the refresh cookie counts (cookie mode).
    pub(crate) auth: AuthContext,
}

impl ResolveCaller for RefreshSessions {
    fn caller<'a>(&'a self, _: &'a mut Parts) -> Pin<Box<dyn Future<Output = Caller> + Send + 'a>> {
        Box::pin(async { None })
    }

    fn reads_body(&self, parts: &Parts) -> bool {
        parts.method == Method::POST && parts.uri.path() == REFRESH
    }

    fn session<'a>(
        &'a self,
        parts: &'a Parts,
        body: &'a [u8],
    ) -> Pin<Box<dyn Future<Output = Option<String>> + Send + 'a>> {
        Box::pin(async move {
            if !self.reads_body(parts) {
                return None;
            }
            let token = body_token(body)
                .or_else(|| cookies::refresh_token(&self.auth.settings, &parts.headers))?;
            let claims = self
                .identity
                .verify(TokenKind::Refresh, &token)
                .await
                .ok()?
                .ok()?;
            claims.sid
        })
    }
}

/// The `refresh_token` of a JSON body, read leniently: the route reads the body again and
/// answers for whatever is wrong with it.
fn body_token(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Token {
        refresh_token: Option<String>,
    }
    serde_json::from_slice::<Token>(body).ok()?.refresh_token
}
