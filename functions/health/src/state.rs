//! The health function's state: the core, the probe cache, and a limiter that exempts every
//! probe (a load balancer or uptime checker must never be refused).

use std::{sync::Arc, time::Duration};

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
    /// The last round of dependency checks, reused for `HEALTH_CACHE_SECONDS`.
    pub probes: Arc<crate::cache::ProbeCache<Vec<crate::checks::Check>>>,
}

/// Nothing to read but the limiter's and the cache's settings; no network call.
pub async fn init(app: AppState, env: Env) -> anyhow::Result<State> {
    let limiter = Arc::new(RateLimiter::from_env(&app, &env, Class::Exempt, Anonymous)?);
    let ttl = Duration::from_secs(env.num("HEALTH_CACHE_SECONDS", 5, 0, 300)?);
    let probes = Arc::new(crate::cache::ProbeCache::new(ttl));
    Ok(State {
        app,
        limiter,
        probes,
    })
}
