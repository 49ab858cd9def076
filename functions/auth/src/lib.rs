//! Auth Lambda: sessions (`signup`, `login`, `refresh`, `logout`, `logout-all`), passwords
//! (`password/forgot`, `password/reset`, `password/change`) and email verification
//! (`verify-email`, `verify-email/resend`) under `/api/v1/auth`. The contract is `docs/api.md`.
//!
//! Each module exposes `routes()`; this file only builds the state and merges them.

mod context;
mod cookies;
mod password;
mod session;
mod verification;

use axum::{Router, extract::FromRef};
use identity::IdentityState;
use shared::{AppState, Env, Routes};

pub use context::{AuthContext, AuthSettings};

/// The prefix of every route here (and the default refresh cookie path).
pub const BASE: &str = "/api/v1/auth";

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

/// Every route of this function.
pub fn routes() -> Routes<State> {
    session::routes()
        .merge(password::routes())
        .merge(verification::routes())
}

/// The function's router, with the shared layer stack applied.
pub fn router(state: State) -> Router {
    let config = state.app.config.clone();
    shared::layers::apply(routes().into_router().with_state(state), &config)
}
