//! The webhooks function's state: the core, an exempt limiter, and [`WebhooksContext`]. No
//! identity state: deliveries authenticate by signature, not by token; effects are jobs, which
//! the worker applies.

use std::sync::Arc;

use axum::extract::FromRef;
use queue::JobQueue;
use shared::{
    AppState, Env,
    config::Table,
    ratelimit::{Anonymous, Class, RateLimiter},
    secrets::LazySecret,
};

use crate::{
    deliveries::Deliveries, handlers::Handlers, settings::WebhookSettings, verifiers::Verifiers,
};

/// What the webhooks handlers need; each part is reachable through `FromRef`.
#[derive(Debug, Clone, FromRef)]
pub struct State {
    /// Config and AWS clients.
    pub app: AppState,
    /// Exempt: senders retry on their own schedule and a refused delivery is only delayed; an
    /// unsigned flood costs one HMAC per request, and the gateway's throttling caps it.
    pub limiter: Arc<RateLimiter>,
    /// Verifiers, deliveries, handlers.
    pub webhooks: Arc<WebhooksContext>,
}

/// Verifiers, the deliveries table and the handlers.
#[derive(Debug)]
pub struct WebhooksContext {
    /// Body cap, replay window, retention.
    pub settings: WebhookSettings,
    /// Built from the webhook-secrets secret on first use, and again once older than
    /// `SECRETS_CACHE_SECS`.
    pub verifiers: LazySecret<Verifiers>,
    /// Exactly-once records.
    pub deliveries: Deliveries,
    /// Typed handlers.
    pub handlers: Handlers,
}

/// Builds the state without a network call: the secret is read on first use.
pub async fn init(app: AppState, env: Env) -> anyhow::Result<State> {
    let limiter = Arc::new(RateLimiter::from_env(&app, &env, Class::Exempt, Anonymous)?);
    let settings = WebhookSettings::from_env(&env)?;
    let tolerance = settings.tolerance_secs;
    let webhooks = Arc::new(WebhooksContext {
        verifiers: LazySecret::new(
            app.secrets.clone(),
            env.required("WEBHOOK_SECRETS_SECRET_ID")?,
            move |secret| Verifiers::from_secret(secret, tolerance),
        )
        .with_max_age(shared::secrets::max_age(&env)?),
        deliveries: Deliveries::new(
            app.dynamo.clone(),
            app.config
                .require_table(Table::WebhookDeliveries)?
                .to_owned(),
            settings.retention,
            settings.lease,
        ),
        handlers: Handlers::new(JobQueue::from_env(&app, &env)?),
        settings,
    });
    Ok(State {
        app,
        limiter,
        webhooks,
    })
}
