//! The worker's state: built once per sandbox, without a network call (the signing ring is read
//! on first use).

use std::time::Duration;

use identity::store::users::Users;
use queue::{JobQueue, Tasks};
use shared::{AppState, ConfigError, Env, Table};

use crate::{idempotency::Idempotency, mail::MailJobs};

/// Settings of the worker itself.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// `JOBS_RETRY_BASE_SECS` (10): a failed message comes back after this, doubled for each
    /// receive after the first, at most 15 minutes (a `ChangeMessageVisibility` on the
    /// message; without it, after the queue's visibility timeout). 0 retries at once.
    pub retry_base: Duration,
    /// `JOBS_IDEMPOTENCY_TTL_SECS` (86400): how long a completed job's record keeps copies of
    /// its message from running again.
    pub idempotency_ttl: Duration,
    /// `JOBS_DEAD_LETTER_QUEUE_URL`: where a message that cannot be read goes at once.
    pub dead_letter_url: String,
}

impl WorkerSettings {
    /// Reads the worker's variables.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            retry_base: Duration::from_secs(env.num("JOBS_RETRY_BASE_SECS", 10_u64, 0, 900)?),
            idempotency_ttl: Duration::from_secs(env.num(
                "JOBS_IDEMPOTENCY_TTL_SECS",
                86_400_u64,
                60,
                30 * 86_400,
            )?),
            dead_letter_url: env.required("JOBS_DEAD_LETTER_QUEUE_URL")?,
        })
    }

    /// How long the `receive`-th receive of a failed message hides it: the base, doubled for
    /// each receive after the first, at most 15 minutes.
    pub fn backoff(&self, receive: u32) -> Duration {
        let doublings = receive.saturating_sub(1).min(16);
        self.retry_base
            .saturating_mul(1 << doublings)
            .min(Duration::from_secs(900))
    }
}

/// Everything the jobs need; cheap to share by reference across a batch.
#[derive(Debug)]
pub struct Worker {
    /// Settings.
    pub settings: WorkerSettings,
    /// The jobs queue (its SQS client, for visibility changes and the dead-letter queue).
    pub queue: JobQueue,
    /// Claims and completions.
    pub idempotency: Idempotency,
    /// The mail jobs.
    pub mail: MailJobs,
    /// Users, for the tier effect.
    pub users: Users,
    /// Task records, for the sample job.
    pub tasks: Tasks,
}

/// Builds the worker from the core state and `env`; no network call.
pub async fn init(app: AppState, env: Env) -> anyhow::Result<Worker> {
    let settings = WorkerSettings::from_env(&env)?;
    let jobs_table = app.config.require_table(Table::Jobs)?.to_owned();
    let users = Users::new(
        app.dynamo.clone(),
        app.config.require_table(Table::Users)?.to_owned(),
    );
    Ok(Worker {
        queue: JobQueue::from_env(&app, &env)?,
        idempotency: Idempotency::new(
            app.dynamo.clone(),
            jobs_table.clone(),
            settings.idempotency_ttl,
        ),
        mail: MailJobs::from_env(&app, &env, users.clone())?,
        tasks: Tasks::new(app.dynamo.clone(), jobs_table),
        users,
        settings,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn retries_back_off_exponentially_up_to_fifteen_minutes() {
        let settings = WorkerSettings::from_env(&Env::from_pairs(&[(
            "JOBS_DEAD_LETTER_QUEUE_URL",
            "http://dlq",
        )]))
        .unwrap();
        let secs: Vec<u64> = (1..=9).map(|r| settings.backoff(r).as_secs()).collect();
        assert_eq!(secs, [10, 20, 40, 80, 160, 320, 640, 900, 900]);
        assert_eq!(settings.backoff(u32::MAX).as_secs(), 900);
    }
}
