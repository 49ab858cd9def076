//! The webhooks rules, read once from the environment.

use std::time::Duration;

use shared::{Env, config::ConfigError};

/// Body cap, replay window, retention.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Largest body accepted (`WEBHOOK_MAX_BODY_BYTES`, default 256 KiB); larger is 413 before
    /// any other work.
    pub max_body_bytes: usize,
    /// How far a signed timestamp may be from now, either way (`WEBHOOK_TOLERANCE_SECS`,
    /// default 300, as Stripe and Standard Webhooks recommend).
    pub tolerance_secs: u32,
    /// How long delivery records are kept for de-duplication (`WEBHOOK_RETENTION_DAYS`,
    /// default 30; longer than any sender retries).
    pub retention: Duration,
    /// How long a delivery being handled blocks its copies (`WEBHOOK_LEASE_SECS`, default 60):
    /// past it, a handler that died mid-way is taken over by the sender's retry.
    pub lease: Duration,
}

impl WebhookSettings {
    /// Reads and checks every `WEBHOOK_*` variable.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            max_body_bytes: env.num("WEBHOOK_MAX_BODY_BYTES", 256 * 1024, 1, 6 * 1024 * 1024)?,
            tolerance_secs: env.num("WEBHOOK_TOLERANCE_SECS", 300, 1, 3600)?,
            retention: Duration::from_secs(
                env.num("WEBHOOK_RETENTION_DAYS", 30_u64, 1, 365)? * 86_400,
            ),
            lease: Duration::from_secs(env.num("WEBHOOK_LEASE_SECS", 60, 1, 900)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_256_kib_300_s_and_30_days() {
        let s = WebhookSettings::from_env(&Env::from_pairs(&[])).unwrap();
        assert_eq!(s.max_body_bytes, 256 * 1024);
        assert_eq!(s.tolerance_secs, 300);
        assert_eq!(s.retention, Duration::from_secs(30 * 86_400));
    }

    #[test]
    fn out_of_range_values_are_refused_at_start_up() {
        for (var, value) in [
            ("WEBHOOK_MAX_BODY_BYTES", "0"),
            ("WEBHOOK_TOLERANCE_SECS", "0"),
            ("WEBHOOK_RETENTION_DAYS", "0"),
        ] {
            let err = WebhookSettings::from_env(&Env::from_pairs(&[(var, value)])).unwrap_err();
            assert_eq!(err.var, var);
        }
    }
}
