//! The auth function's state: the core, identity, and what only auth has. Each part is reachable
//! through `FromRef`, so a handler names exactly what it uses.

use std::sync::Arc;

use axum::extract::FromRef;
use identity::IdentityState;
use shared::{
    AppState, Env,
    ratelimit::{Class, RateLimiter},
};

use crate::{context::AuthContext, limits::RefreshSessions, mfa::MfaContext, passkeys::Passkeys};

/// Everything the auth handlers need; each part is reachable through `FromRef`.
#[derive(Debug, Clone, FromRef)]
pub struct State {
    /// Config and AWS clients.
    pub app: AppState,
    /// Token verification and the identity tables.
    pub identity: IdentityState,
    /// What only this function has: password hashing, counters, mail, its settings.
    pub auth: AuthContext,
    /// The second factor: its key ring and items.
    pub mfa: MfaContext,
    /// Every auth route is `strict`, per client IP (signup, login and the mail flows are what
    /// attackers script), but a refresh whose token verifies: `refresh`, per session
    /// (`crate::limits`).
    pub limiter: Arc<RateLimiter>,
    /// The WebAuthn relying party and the passkeys table.
    pub passkeys: Passkeys,
}

/// Builds the state without a network call: the signing ring is read on first use (see
/// `shared::secrets`), and verifying here uses its own public keys.
pub async fn init(app: AppState, env: Env) -> anyhow::Result<State> {
    let auth = AuthContext::from_env(&app, &env)?;
    let identity = IdentityState::with_signer(&app, &env, auth.signer_source())?;
    let sessions = RefreshSessions {
        identity: identity.clone(),
        auth: auth.clone(),
    };
    let limiter = Arc::new(RateLimiter::from_env(&app, &env, Class::Strict, sessions)?);
    let mfa = MfaContext::from_env(&app, &env)?;
    let passkeys = Passkeys::from_env(&app, &env)?;
    Ok(State {
        app,
        identity,
        auth,
        mfa,
        limiter,
        passkeys,
    })
}
