//! Users Lambda: `/api/v1/users/me` for everyone ([`me`]), the rest for admins ([`admin`]).
//! The contract is `docs/api.md`. This file only builds the state and merges the routes.

mod admin;
mod body;
mod me;

use axum::{Router, extract::FromRef};
use identity::IdentityState;
use shared::{AppState, Env, Routes};

pub use body::UserBody;

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

/// Every route of this function.
pub fn routes() -> Routes<State> {
    me::routes().merge(admin::routes())
}

/// The function's router, with the shared layer stack applied.
pub fn router(state: State) -> Router {
    let config = state.app.config.clone();
    shared::layers::apply(routes().into_router().with_state(state), &config)
}
