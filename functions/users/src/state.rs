//! The users function's state: the core and identity, each reachable through `FromRef`. No
//! mailer, no password hashing: this function never sends mail or checks a password.

use axum::extract::FromRef;
use identity::IdentityState;
use shared::{AppState, Env};

/// What the users handlers need; each part is reachable through `FromRef`.
#[derive(Debug, Clone, FromRef)]
pub struct State {
    /// Config and AWS clients.
    pub app: AppState,
    /// Token verification and the identity tables.
    pub identity: IdentityState,
}

/// Builds the state: the key ring from Secrets Manager. No mailer, no password hashing.
pub async fn init(app: AppState, env: Env) -> anyhow::Result<State> {
    let identity = IdentityState::init(&app, &env).await?;
    Ok(State { app, identity })
}
