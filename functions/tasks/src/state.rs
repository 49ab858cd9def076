//! The tasks function's state: the core, identity (to verify tokens and roles), the limiter, the
//! task API's store, queue and quota ([`TaskApi`]), and the dead-letter queue ([`DeadLetters`]).
//! Each part is reachable through `FromRef`. No mailer, no password hashing, no token signing.

use std::sync::Arc;

use axum::extract::FromRef;
use identity::IdentityState;
use queue::{JobQueue, Tasks};
use shared::{
    AppState, Env, Table,
    ratelimit::{Class, RateLimiter},
};

use crate::{dlq::DeadLetters, quota::TaskQuota};

/// What the tasks handlers need; each part is reachable through `FromRef`.
#[derive(Debug, Clone, FromRef)]
pub struct State {
    /// Config and AWS clients.
    pub app: AppState,
    /// Token verification.
    pub identity: IdentityState,
    /// Per user (by the access token's tier) when authenticated, `default` per IP otherwise;
    /// it also counts the task quota ([`TaskQuota`]).
    pub limiter: Arc<RateLimiter>,
    /// The task records, the jobs queue and the task quota.
    pub tasks: Arc<TaskApi>,
    /// The jobs' dead-letter queue, for the admin routes.
    pub dead_letters: Arc<DeadLetters>,
}

/// What `POST` and `GET /api/v1/tasks` work with.
#[derive(Debug)]
pub struct TaskApi {
    /// `TASK#<id>` records in the jobs table.
    pub store: Tasks,
    /// The producer (`JOBS_QUEUE_URL`).
    pub queue: JobQueue,
    /// `TASK_RATE_LIMIT` per user per window.
    pub quota: TaskQuota,
}

/// Builds the state without a network call: the public keys are read on first use, the queue
/// ARNs on the first redrive.
pub async fn init(app: AppState, env: Env) -> anyhow::Result<State> {
    let identity = IdentityState::from_env(&app, &env)?;
    let limiter = Arc::new(RateLimiter::from_env(
        &app,
        &env,
        Class::Default,
        identity.clone(),
    )?);
    let queue = JobQueue::from_env(&app, &env)?;
    let dead_letters = Arc::new(DeadLetters::new(
        queue.client().clone(),
        env.required("JOBS_DEAD_LETTER_QUEUE_URL")?,
        queue.url().to_owned(),
    ));
    let tasks = Arc::new(TaskApi {
        store: Tasks::new(
            app.dynamo.clone(),
            app.config.require_table(Table::Jobs)?.to_owned(),
        ),
        queue,
        quota: TaskQuota::from_env(&env)?,
    });
    Ok(State {
        app,
        identity,
        limiter,
        tasks,
        dead_letters,
    })
}
