//! The health function's state: the core, and a limiter that exempts every probe (a load
//! balancer or uptime checker must never be refused).

use std::sync::Arc;

use axum::extract::FromRef;
use shared::{
    AppState, Env,
    ratelimit::{Anonymous, Class, RateLimiter},
};

/// The core state and the (exempt) limiter, each reachable through `FromRef`.
#[derive(Debug, Clone, FromRef)]
pub struct State {
    /// Config and AWS clients.
    pub app: AppState,
    /// Health probes are exempt from rate limits.
    pub limiter: Arc<RateLimiter>,
}

/// Nothing to read but the limiter's settings; no network call.
pub async fn init(app: AppState, env: Env) -> anyhow::Result<State> {
    let limiter = Arc::new(RateLimiter::from_env(&app, &env, Class::Exempt, Anonymous)?);
    Ok(State { app, limiter })
}
