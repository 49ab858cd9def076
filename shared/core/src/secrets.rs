//! Secrets read lazily from Secrets Manager and cached for a bounded time.
//!
//! Reading a secret at init made a cold start fail outright while Secrets Manager was briefly
//! unreachable: deployed, every request then paid a failed init and got a bare 502; locally,
//! `cargo lambda watch` stopped. A [`LazySecret`] is read on first use instead. Until it can be
//! read, requests answer the 503 envelope (one attempt per request, bounded by the SDK's
//! timeouts, and none within `RETRY_GAP` of a failed one); once read, it is cached, and the
//! function recovers without a restart.
//!
//! The copy is kept for its maximum age ([`max_age`]: `SECRETS_CACHE_SECS`, default
//! [`DEFAULT_MAX_AGE`]), then read again, so that a rotated secret (a signing key removed, a
//! webhook secret replaced) reaches running sandboxes within that bound instead of living as long
//! as they do. The common case is one timestamp comparison under a read lock. The first request
//! that finds the copy too old reads the secret; requests arriving meanwhile keep the old copy
//! rather than wait. If the read or the parse fails, the old copy stays in use (logged, retried
//! after `RENEW_RETRY_GAP`): an unreachable Secrets Manager or a mistyped secret must not take a
//! running function down.

use std::{
    fmt,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use secrecy::SecretString;

use crate::config::{ConfigError, Env};
use crate::error::{ApiError, DisplayErrorContext};

/// After a failed read, requests within this gap answer 503 at once instead of trying again.
const RETRY_GAP: Duration = Duration::from_secs(1);

/// After a failed renewal (an old copy is still served), the next attempt waits this long.
const RENEW_RETRY_GAP: Duration = Duration::from_secs(5);

/// How long a secret is kept unless `SECRETS_CACHE_SECS` says otherwise.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(300);

/// How long a cached secret is kept before it is read again: `SECRETS_CACHE_SECS` (1 to 86,400;
/// default [`DEFAULT_MAX_AGE`]). It bounds how long a rotated or removed key keeps working in
/// a running sandbox.
///
/// # Errors
/// [`ConfigError`] when the variable is not a whole number in range.
pub fn max_age(env: &Env) -> Result<Duration, ConfigError> {
    env.num("SECRETS_CACHE_SECS", DEFAULT_MAX_AGE.as_secs(), 1, 86_400)
        .map(Duration::from_secs)
}

type Parse<T> = dyn Fn(&SecretString) -> anyhow::Result<T> + Send + Sync;

/// A secret parsed into `T` on first use, and again once older than its maximum age.
pub struct LazySecret<T> {
    client: aws_sdk_secretsmanager::Client,
    id: String,
    parse: Box<Parse<T>>,
    max_age: Duration,
    cached: RwLock<Option<(Arc<T>, Instant)>>,
    // Serializes reads and remembers the last failed one.
    gate: tokio::sync::Mutex<Option<Instant>>,
}

impl<T: Send + Sync + 'static> fmt::Debug for LazySecret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LazySecret")
            .field("id", &self.id)
            .field("max_age", &self.max_age)
            .field("loaded", &self.current().is_some())
            .finish_non_exhaustive()
    }
}

impl<T: Send + Sync + 'static> LazySecret<T> {
    /// The secret `id`, parsed by `parse` when first needed and kept for [`DEFAULT_MAX_AGE`]
    /// (see [`LazySecret::with_max_age`]). Makes no call.
    pub fn new(
        client: aws_sdk_secretsmanager::Client,
        id: String,
        parse: impl Fn(&SecretString) -> anyhow::Result<T> + Send + Sync + 'static,
    ) -> Self {
        Self {
            client,
            id,
            parse: Box::new(parse),
            max_age: DEFAULT_MAX_AGE,
            cached: RwLock::new(None),
            gate: tokio::sync::Mutex::new(None),
        }
    }

    /// The same secret, kept for `max_age` (normally [`max_age`] of the function's
    /// environment) before it is read again.
    #[must_use]
    pub fn with_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// A secret that is already known (tests, `PAGINATION_KEY`-style overrides): never read,
    /// never too old.
    pub fn ready(client: aws_sdk_secretsmanager::Client, value: T) -> Self {
        let secret = Self::new(client, String::new(), |_| {
            anyhow::bail!("a ready secret is never read")
        })
        .with_max_age(Duration::MAX);
        if let Ok(mut cached) = secret.cached.write() {
            *cached = Some((Arc::new(value), Instant::now()));
        }
        secret
    }

    fn current(&self) -> Option<(Arc<T>, Instant)> {
        self.cached.read().ok().and_then(|c| c.clone())
    }

    /// The parsed secret: the cached copy while younger than the maximum age, else read now.
    /// 503 while Secrets Manager cannot be reached, 500 when the secret does not parse, unless
    /// an older copy is at hand (then that copy, until a read succeeds).
    pub async fn get(&self) -> Result<Arc<T>, ApiError> {
        match self.current() {
            Some((value, at)) if at.elapsed() < self.max_age => Ok(value),
            Some((stale, _)) => Ok(self.renew(stale).await),
            None => self.load(None).await,
        }
    }

    /// Reads the secret again if the cached copy is older than `min_age` (a key ring that may
    /// have rotated); otherwise the cached copy.
    pub async fn refresh(&self, min_age: Duration) -> Result<Arc<T>, ApiError> {
        self.load(Some(min_age)).await
    }

    /// A copy past its maximum age: read again by the first request that finds it so; every
    /// other outcome (a read in flight, a failed read, a recent failure) serves `stale`.
    async fn renew(&self, stale: Arc<T>) -> Arc<T> {
        let Ok(mut last_failure) = self.gate.try_lock() else {
            return stale;
        };
        // Someone else may have read it between our look and the gate.
        if let Some((value, at)) = self.current()
            && at.elapsed() < self.max_age
        {
            return value;
        }
        if let Some(failed) = *last_failure
            && failed.elapsed() < RENEW_RETRY_GAP
        {
            return stale;
        }
        match self.read().await {
            Ok(value) => {
                *last_failure = None;
                value
            }
            Err(err) => {
                *last_failure = Some(Instant::now());
                tracing::warn!(
                    secret = %self.id,
                    error = %format!("{err:#}"),
                    "secret not renewed; the copy read before stays in use"
                );
                stale
            }
        }
    }

    async fn load(&self, min_age: Option<Duration>) -> Result<Arc<T>, ApiError> {
        let mut last_failure = self.gate.lock().await;
        // Someone else may have read it while this request waited for the gate.
        if let Some((value, at)) = self.current()
            && min_age.is_none_or(|min| at.elapsed() < min)
        {
            return Ok(value);
        }
        if let Some(failed) = *last_failure
            && failed.elapsed() < RETRY_GAP
        {
            return Err(ApiError::Unavailable(anyhow::anyhow!(
                "secret {} unreadable a moment ago; not retried yet",
                self.id
            )));
        }
        let value = self.read().await;
        *last_failure = match &value {
            Err(ApiError::Unavailable(_)) => Some(Instant::now()),
            _ => None,
        };
        value
    }

    /// Reads and parses the secret, and caches it. The caller holds the gate.
    async fn read(&self) -> Result<Arc<T>, ApiError> {
        let read = self
            .client
            .get_secret_value()
            .secret_id(&self.id)
            .send()
            .await;
        let value = match read {
            Ok(out) => out.secret_string.map(SecretString::from),
            Err(err) => {
                return Err(ApiError::Unavailable(anyhow::anyhow!(
                    "reading secret {}: {}",
                    self.id,
                    DisplayErrorContext(err)
                )));
            }
        };
        let value = value
            .ok_or_else(|| anyhow::anyhow!("secret {} has no string value", self.id))
            .and_then(|v| (self.parse)(&v))
            .map_err(|e| ApiError::Internal(e.context(format!("parsing secret {}", self.id))))?;
        let value = Arc::new(value);
        if let Ok(mut cached) = self.cached.write() {
            *cached = Some((value.clone(), Instant::now()));
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client whose endpoint is a closed loopback port: every read fails at once.
    fn unreachable_client() -> aws_sdk_secretsmanager::Client {
        use aws_sdk_secretsmanager::config::{Credentials, Region};
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap();
        let config = aws_sdk_secretsmanager::Config::builder()
            .behavior_version_latest()
            .endpoint_url(format!("http://{closed}"))
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .build();
        aws_sdk_secretsmanager::Client::from_conf(config)
    }

    #[test]
    fn the_cache_bound_defaults_to_five_minutes_and_is_checked() {
        assert_eq!(
            max_age(&Env::from_pairs(&[])).unwrap(),
            Duration::from_secs(300)
        );
        assert_eq!(
            max_age(&Env::from_pairs(&[("SECRETS_CACHE_SECS", "2")])).unwrap(),
            Duration::from_secs(2)
        );
        for bad in ["0", "86401", "soon"] {
            let err = max_age(&Env::from_pairs(&[("SECRETS_CACHE_SECS", bad)])).unwrap_err();
            assert_eq!(err.var, "SECRETS_CACHE_SECS", "{bad}");
        }
    }

    #[tokio::test]
    async fn a_copy_past_its_age_stays_in_use_while_the_secret_cannot_be_read() {
        let secret = LazySecret::ready(unreachable_client(), 7).with_max_age(Duration::ZERO);

        let first = secret.get().await.unwrap();
        let again = secret.get().await.unwrap();

        assert_eq!((*first, *again), (7, 7));
    }

    #[tokio::test]
    async fn a_ready_secret_is_never_too_old() {
        let secret = LazySecret::ready(unreachable_client(), "fixed");
        assert_eq!(*secret.get().await.unwrap(), "fixed");
    }
}
