//! The users function's state: the core and identity, each reachable through `FromRef`. No
//! mailer, no password hashing: this function never sends mail or checks a password.

use std::sync::Arc;

use axum::extract::FromRef;
use identity::{IdentityState, pagination::CursorKey};
use shared::{
    AppState, Env,
    ratelimit::{Class, RateLimiter},
    secrets::LazySecret,
};

/// What the users handlers need; each part is reachable through `FromRef`.
#[derive(Debug, Clone, FromRef)]
pub struct State {
    /// Config and AWS clients.
    pub app: AppState,
    /// Token verification and the identity tables.
    pub identity: IdentityState,
    /// The key that signs the admin listing's cursors, read on first use.
    pub cursor_key: Arc<LazySecret<CursorKey>>,
    /// Per user (by the access token's tier) when authenticated, `default` per IP otherwise.
    pub limiter: Arc<RateLimiter>,
}

/// Builds the state without a network call: the public keys and the cursor key are read on
/// first use. No mailer, no password hashing.
pub async fn init(app: AppState, env: Env) -> anyhow::Result<State> {
    let identity = IdentityState::from_env(&app, &env)?;
    let cursor_key = Arc::new(CursorKey::from_env(&app, &env)?);
    let limiter = Arc::new(RateLimiter::from_env(
        &app,
        &env,
        Class::Default,
        identity.clone(),
    )?);
    Ok(State {
        app,
        identity,
        cursor_key,
        limiter,
    })
}
