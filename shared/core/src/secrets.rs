//! Secrets read lazily from Secrets Manager and cached for the sandbox's life.
//!
//! Reading a secret at init made a cold start fail outright while Secrets Manager was briefly
//! unreachable: deployed, every request then paid a failed init and got a bare 502; locally,
//! `cargo lambda watch` stopped. A [`LazySecret`] is read on first use instead. Until it can be
//! read, requests answer the 503 envelope (one attempt per request, bounded by the SDK's
//! timeouts, and none within `RETRY_GAP` of a failed one); once read, it is cached, and the
//! function recovers without a restart.

use std::{
    fmt,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use secrecy::SecretString;

use crate::error::{ApiError, DisplayErrorContext};

/// After a failed read, requests within this gap answer 503 at once instead of trying again.
const RETRY_GAP: Duration = Duration::from_secs(1);

type Parse<T> = dyn Fn(&SecretString) -> anyhow::Result<T> + Send + Sync;

/// A secret parsed into `T` on first use.
pub struct LazySecret<T> {
    client: aws_sdk_secretsmanager::Client,
    id: String,
    parse: Box<Parse<T>>,
    cached: RwLock<Option<(Arc<T>, Instant)>>,
    // Serializes reads and remembers the last failed one.
    gate: tokio::sync::Mutex<Option<Instant>>,
}

impl<T: Send + Sync + 'static> fmt::Debug for LazySecret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LazySecret")
            .field("id", &self.id)
            .field("loaded", &self.current().is_some())
            .finish_non_exhaustive()
    }
}

impl<T: Send + Sync + 'static> LazySecret<T> {
    /// The secret `id`, parsed by `parse` when first needed. Makes no call.
    pub fn new(
        client: aws_sdk_secretsmanager::Client,
        id: String,
        parse: impl Fn(&SecretString) -> anyhow::Result<T> + Send + Sync + 'static,
    ) -> Self {
        Self {
            client,
            id,
            parse: Box::new(parse),
            cached: RwLock::new(None),
            gate: tokio::sync::Mutex::new(None),
        }
    }

    /// A secret that is already known (tests, `PAGINATION_KEY`-style overrides).
    pub fn ready(client: aws_sdk_secretsmanager::Client, value: T) -> Self {
        let secret = Self::new(client, String::new(), |_| {
            anyhow::bail!("a ready secret is never read")
        });
        if let Ok(mut cached) = secret.cached.write() {
            *cached = Some((Arc::new(value), Instant::now()));
        }
        secret
    }

    fn current(&self) -> Option<(Arc<T>, Instant)> {
        self.cached.read().ok().and_then(|c| c.clone())
    }

    /// The parsed secret: cached, or read now. 503 while Secrets Manager cannot be reached,
    /// 500 when the secret does not parse.
    pub async fn get(&self) -> Result<Arc<T>, ApiError> {
        match self.current() {
            Some((value, _)) => Ok(value),
            None => self.load(None).await,
        }
    }

    /// Reads the secret again if the cached copy is older than `min_age` (a key ring that may
    /// have rotated); otherwise the cached copy.
    pub async fn refresh(&self, min_age: Duration) -> Result<Arc<T>, ApiError> {
        self.load(Some(min_age)).await
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
        let read = self
            .client
            .get_secret_value()
            .secret_id(&self.id)
            .send()
            .await;
        let value = match read {
            Ok(out) => out.secret_string.map(SecretString::from),
            Err(err) => {
                *last_failure = Some(Instant::now());
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
        *last_failure = None;
        if let Ok(mut cached) = self.cached.write() {
            *cached = Some((value.clone(), Instant::now()));
        }
        Ok(value)
    }
}
