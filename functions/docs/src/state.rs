//! The docs function's state: the core, an exempt limiter, and the pages, rendered once.

use std::sync::Arc;

use axum::extract::FromRef;
use shared::{
    AppState, Env,
    ratelimit::{Anonymous, Class, RateLimiter},
};

use crate::pages::Pages;

/// The core state, the (exempt) limiter and the pages, each reachable through `FromRef`.
#[derive(Debug, Clone, FromRef)]
pub struct State {
    /// Config and AWS clients (unused: this function makes no AWS call).
    pub app: AppState,
    /// Exempt: static documents, cheap to serve; the gateway's throttling still applies.
    pub limiter: Arc<RateLimiter>,
    /// The document and the UIs' configuration.
    pub pages: Arc<Pages>,
}

/// `DOCS_ENABLED` (default `true`): `false` answers 404 on every docs route, as production
/// deployments of the boilerplates do. The document is rendered here, once per sandbox.
pub async fn init(app: AppState, env: Env) -> anyhow::Result<State> {
    let limiter = Arc::new(RateLimiter::from_env(&app, &env, Class::Exempt, Anonymous)?);
    let enabled = env.bool("DOCS_ENABLED", true)?;
    Ok(State {
        app,
        limiter,
        pages: Arc::new(Pages::new(enabled)?),
    })
}
