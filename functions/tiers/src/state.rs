//! The tiers function's state: the core, identity (admin tokens), the limiter and the store.

use std::sync::Arc;

use axum::extract::FromRef;
use identity::IdentityState;
use shared::{
    AppState, Env, Table,
    ratelimit::{Class, RateLimitSettings, RateLimiter},
};

use crate::store::TiersStore;

/// What the tiers handlers need; each part is reachable through `FromRef`.
#[derive(Debug, Clone, FromRef)]
pub struct State {
    /// Config and AWS clients.
    pub app: AppState,
    /// Token verification (admin routes).
    pub identity: IdentityState,
    /// Per user (by tier and route) when authenticated, `default` per IP otherwise.
    pub limiter: Arc<RateLimiter>,
    /// Tiers and rules.
    pub store: Arc<TiersStore>,
}

/// Builds the state without a network call (the seed is written on first use).
pub async fn init(app: AppState, env: Env) -> anyhow::Result<State> {
    let identity = IdentityState::from_env(&app, &env)?;
    let limiter = Arc::new(RateLimiter::from_env(
        &app,
        &env,
        Class::Default,
        identity.clone(),
    )?);
    let store = Arc::new(TiersStore::new(
        app.dynamo.clone(),
        app.config.require_table(Table::Tiers)?.to_owned(),
        app.config.require_table(Table::Users)?.to_owned(),
        RateLimitSettings::from_env(&env)?,
    ));
    Ok(State {
        app,
        identity,
        limiter,
        store,
    })
}
