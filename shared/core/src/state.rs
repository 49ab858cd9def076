//! `AppState`: the core every function has (configuration and AWS clients), built once per
//! Lambda sandbox. Functions that need more (identity, mail) keep it in a state of their own
//! next to this one and reach both through `FromRef`; nothing here is optional.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use aws_config::{
    BehaviorVersion, Region, retry::RetryConfig,
    stalled_stream_protection::StalledStreamProtectionConfig, timeout::TimeoutConfig,
};
use aws_smithy_runtime_api::client::interceptors::OverriddenHooks;

use crate::config::{Config, ConfigError, Env};

/// Shared by every request of a sandbox; cheap to clone (the SDK clients are `Arc`s inside).
#[derive(Clone)]
pub struct AppState {
    /// Typed configuration.
    pub config: Arc<Config>,
    /// DynamoDB client.
    pub dynamo: aws_sdk_dynamodb::Client,
    /// S3 client (path-style when an endpoint override is set).
    pub s3: aws_sdk_s3::Client,
    /// SES v2 client.
    pub ses: aws_sdk_sesv2::Client,
    /// Secrets Manager client.
    pub secrets: aws_sdk_secretsmanager::Client,
    /// DynamoDB operations started by this sandbox (measurements, tests).
    pub dynamo_calls: CallCounter,
    /// The SDK configuration the clients were built from: its credentials provider and region
    /// are what presigned POST forms are signed with (the clients' own configs do not expose
    /// their credentials). Behind an `Arc`: the state is cloned for every extractor of every
    /// request, and the SDK configuration is a few dozen fields.
    pub sdk: Arc<aws_config::SdkConfig>,
}

/// Counts DynamoDB operations; an atomic increment per call, cheap enough to keep in production.
#[derive(Debug, Clone, Default)]
pub struct CallCounter(Arc<AtomicU64>);

impl CallCounter {
    /// Operations so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl aws_sdk_dynamodb::config::Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    // Only this hook: the orchestrator then skips the counter at its other hooks of every call.
    fn overridden_hooks(&self) -> OverriddenHooks {
        OverriddenHooks::READ_BEFORE_EXECUTION
    }

    fn read_before_execution(
        &self,
        _context: &aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef<
            '_,
        >,
        _cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Loads the SDK configuration once and builds every client from it.
    ///
    /// Creating clients makes no network call, so this stays cheap in the cold start.
    pub async fn init(config: Config) -> Self {
        let sdk = sdk_config(&config).await;
        let s3_config = aws_sdk_s3::config::Builder::from(&sdk)
            // The emulator serves buckets by path, not by virtual host.
            .force_path_style(config.aws.endpoint_url.is_some())
            .build();
        let dynamo_calls = CallCounter::default();
        let dynamo_config = aws_sdk_dynamodb::config::Builder::from(&sdk)
            .interceptor(dynamo_calls.clone())
            // DynamoDB answers small JSON bodies, never a stream; the operation timeout already
            // bounds a stalled one, so the per-body throughput monitor only costs time.
            .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
            .build();
        Self {
            dynamo: aws_sdk_dynamodb::Client::from_conf(dynamo_config),
            dynamo_calls,
            s3: aws_sdk_s3::Client::from_conf(s3_config),
            ses: aws_sdk_sesv2::Client::new(&sdk),
            secrets: aws_sdk_secretsmanager::Client::new(&sdk),
            config: Arc::new(config),
            sdk: Arc::new(sdk),
        }
    }

    /// Reads the core [`Config`] from `env`, then builds every client.
    pub async fn from_env(
        env: &Env,
        service: &str,
        version: &'static str,
    ) -> Result<Self, ConfigError> {
        let config = Config::from_env(env, service, version)?;
        Ok(Self::init(config).await)
    }
}

async fn sdk_config(config: &Config) -> aws_config::SdkConfig {
    // The operation timeout bounds a whole call, retries and reads included; per-attempt and
    // read timeouts of the same length could never fire first, and each was one more timer
    // armed and dropped per call.
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(config.aws.connect_timeout)
        .operation_timeout(config.aws.operation_timeout)
        .build();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(timeouts)
        .retry_config(RetryConfig::standard().with_max_attempts(config.aws.max_attempts));
    if let Some(region) = &config.aws.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(url) = &config.aws.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Duration;

    use super::AppState;
    use crate::config::Env;

    async fn state(pairs: &[(&str, &str)]) -> AppState {
        let mut all = vec![
            ("AWS_REGION", "us-east-1"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
        ];
        all.extend_from_slice(pairs);
        AppState::from_env(&Env::from_pairs(&all), "test", "0.0.0")
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn the_dynamodb_client_is_bounded_by_the_operation_and_connect_timeouts_alone() {
        let app = state(&[
            ("AWS_OPERATION_TIMEOUT_MS", "1234"),
            ("AWS_CONNECT_TIMEOUT_MS", "321"),
        ])
        .await;
        let config = app.dynamo.config();
        let timeouts = config.timeout_config().unwrap();
        assert_eq!(
            timeouts.operation_timeout(),
            Some(Duration::from_millis(1234))
        );
        assert_eq!(timeouts.connect_timeout(), Some(Duration::from_millis(321)));
        assert_eq!(timeouts.operation_attempt_timeout(), None);
        assert_eq!(timeouts.read_timeout(), None);
        assert_eq!(config.retry_config().unwrap().max_attempts(), 3);
    }

    #[tokio::test]
    async fn the_dynamodb_client_has_no_stalled_stream_monitor_and_s3_keeps_the_default() {
        let app = state(&[]).await;
        let dynamo = app.dynamo.config().stalled_stream_protection().unwrap();
        assert!(!dynamo.is_enabled());
        // Unset on S3: the SDK's default (on, for uploads and downloads) applies.
        assert!(app.s3.config().stalled_stream_protection().is_none());
    }
}
