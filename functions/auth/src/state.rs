//! The auth function's state: the core, identity, and what only auth has. Each part is reachable
//! through `FromRef`, so a handler names exactly what it uses.

use axum::extract::FromRef;
use identity::IdentityState;
use shared::{AppState, Env};

use crate::context::AuthContext;

/// Everything the auth handlers need; each part is reachable through `FromRef`.
#[derive(Debug, Clone, FromRef)]
pub struct State {
    /// Config and AWS clients.
    pub app: AppState,
    /// Token verification and the identity tables.
    pub identity: IdentityState,
    /// What only this function has: password hashing, counters, mail, its settings.
    pub auth: AuthContext,
}

/// Builds the state: the key ring from Secrets Manager, then the auth-only parts.
pub async fn init(app: AppState, env: Env) -> anyhow::Result<State> {
    let identity = IdentityState::init(&app, &env).await?;
    let auth = AuthContext::from_env(&app, &identity, &env)?;
    Ok(State {
        app,
        identity,
        auth,
    })
}
