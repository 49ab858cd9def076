//! The task quota: at most `TASK_RATE_LIMIT` (default 10) `POST /api/v1/tasks` per user per
//! `RATE_LIMIT_WINDOW`, on top of the function-wide limit every route has (per user by tier).
//! Each accepted POST enqueues a job, which costs a worker invocation, so creating tasks gets a
//! quota of its own, far below the tier's. It is counted by the same limiter, in the same table
//! (`RL#task#<user>#<window>`), under the same switches: off with `RATE_LIMIT_ENABLED=false`, and
//! a table that errors or does not answer within `RATE_LIMIT_TIMEOUT_MS` lets the request pass
//! when `RATE_LIMIT_FAIL_OPEN` (a limiter must never take the API down).

use std::time::Duration;

use shared::{
    ApiError, ConfigError, Env,
    clock::now_s,
    ratelimit::{Policy, RateLimitSettings, RateLimiter},
};

/// The quota and the limiter switches it follows.
#[derive(Debug, Clone)]
pub struct TaskQuota {
    policy: Policy,
    enabled: bool,
    fail_open: bool,
    timeout: Duration,
}

impl TaskQuota {
    /// `TASK_RATE_LIMIT` (10) per `RATE_LIMIT_WINDOW`, and the limiter's switches.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let settings = RateLimitSettings::from_env(env)?;
        Ok(Self {
            policy: Policy {
                name: "task".to_owned(),
                quota: env.num("TASK_RATE_LIMIT", 10, 1, 10_000_000)?,
                window_secs: settings.window_secs,
            },
            enabled: settings.enabled,
            fail_open: settings.fail_open,
            timeout: settings.timeout,
        })
    }

    /// Counts one task of `user`: a 429 `RATE_LIMITED` with `Retry-After` (the seconds left in
    /// the window) past the quota.
    pub async fn take(&self, limiter: &RateLimiter, user: &str) -> Result<(), ApiError> {
        if !self.enabled {
            return Ok(());
        }
        let counted =
            tokio::time::timeout(self.timeout, limiter.count(&self.policy, user, now_s())).await;
        match counted {
            Ok(Ok(usage)) if usage.refused => Err(ApiError::RateLimited {
                retry_after_secs: u64::try_from(usage.reset_in).unwrap_or(1),
            }),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(err)) if self.fail_open => {
                tracing::warn!(error = ?err, policy = %self.policy.name, "task quota failed; request passes");
                Ok(())
            }
            Err(_) if self.fail_open => {
                tracing::warn!(policy = %self.policy.name, "task quota timed out; request passes");
                Ok(())
            }
            Ok(Err(err)) => Err(err),
            Err(_) => Err(ApiError::Unavailable(anyhow::anyhow!(
                "task quota timed out"
            ))),
        }
    }

    /// Tasks per window.
    pub fn quota(&self) -> i64 {
        self.policy.quota
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_quota_defaults_to_ten_per_window_of_the_limiter() {
        let quota = TaskQuota::from_env(&Env::from_pairs(&[("RATE_LIMIT_WINDOW", "30")])).unwrap();
        assert_eq!(quota.quota(), 10);
        assert_eq!(quota.policy.window_secs, 30);
        assert_eq!(quota.policy.name, "task");
    }

    #[test]
    fn the_quota_is_read_from_task_rate_limit_and_refuses_zero() {
        let quota = TaskQuota::from_env(&Env::from_pairs(&[("TASK_RATE_LIMIT", "3")])).unwrap();
        assert_eq!(quota.quota(), 3);
        assert!(TaskQuota::from_env(&Env::from_pairs(&[("TASK_RATE_LIMIT", "0")])).is_err());
    }
}
