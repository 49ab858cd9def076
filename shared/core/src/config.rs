//! Typed configuration, read from the environment once at init.
//!
//! [`Env`] is the one reader every settings struct uses, so each crate parses its own settings
//! where they are used: a malformed `ARGON2_*` stops `auth`, never `health`. [`Config`] holds
//! only what every function needs.

mod env;

use std::{collections::BTreeMap, time::Duration};

use http::HeaderValue;

pub use env::{ConfigError, Env};

/// The DynamoDB tables this project declares in `template.yaml`.
///
/// Each one is configured by its own environment variable so a function only needs the ones it uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table {
    /// Users plus their username/email uniqueness guard items.
    Users,
    /// Login sessions (refresh-token families).
    Sessions,
    /// Consumed single-use tokens, with TTL.
    RevokedTokens,
    /// Fixed-window rate-limit counters, with TTL.
    RateLimits,
    /// Webhook delivery ids for de-duplication, with TTL.
    WebhookDeliveries,
    /// Upload records.
    Uploads,
    /// The job worker's idempotency records and the tasks of `/api/v1/tasks`, with TTL.
    Jobs,
    /// Tiers and their per-path rate limits (`/api/v1/tiers`, read by the rate limiter).
    Tiers,
    /// Passkeys and started WebAuthn ceremonies, with TTL (auth's passkey routes).
    Passkeys,
}

impl Table {
    /// Every table, in a stable order.
    pub const ALL: [Table; 9] = [
        Table::Users,
        Table::Sessions,
        Table::RevokedTokens,
        Table::RateLimits,
        Table::WebhookDeliveries,
        Table::Uploads,
        Table::Jobs,
        Table::Tiers,
        Table::Passkeys,
    ];

    /// The environment variable that names this table.
    pub const fn env_var(self) -> &'static str {
        match self {
            Table::Users => "USERS_TABLE",
            Table::Sessions => "SESSIONS_TABLE",
            Table::RevokedTokens => "REVOKED_TOKENS_TABLE",
            Table::RateLimits => "RATE_LIMITS_TABLE",
            Table::WebhookDeliveries => "WEBHOOK_DELIVERIES_TABLE",
            Table::Uploads => "UPLOADS_TABLE",
            Table::Jobs => "JOBS_TABLE",
            Table::Tiers => "TIERS_TABLE",
            Table::Passkeys => "PASSKEYS_TABLE",
        }
    }

    /// A short stable name, used in health check entries and logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            Table::Users => "users",
            Table::Sessions => "sessions",
            Table::RevokedTokens => "revoked_tokens",
            Table::RateLimits => "rate_limits",
            Table::WebhookDeliveries => "webhook_deliveries",
            Table::Uploads => "uploads",
            Table::Jobs => "jobs",
            Table::Tiers => "tiers",
            Table::Passkeys => "passkeys",
        }
    }
}

/// Where the app runs; it only changes defaults (log format, CORS strictness, mail links).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    /// A developer machine or CI, against the emulator.
    Local,
    /// A deployed stage.
    Deployed,
}

impl AppEnv {
    /// `APP_ENV`: `local` or `deployed` (the default, the safe one).
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        match env.string("APP_ENV").as_deref() {
            None | Some("deployed" | "prod" | "production" | "staging" | "dev") => {
                Ok(AppEnv::Deployed)
            }
            Some("local" | "test") => Ok(AppEnv::Local),
            Some(_) => Err(ConfigError::new("APP_ENV", "must be `local` or `deployed`")),
        }
    }
}

/// Which browser origins may call the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigins {
    /// `*`: any origin, and therefore never with credentials.
    Any,
    /// An explicit allow-list.
    List(Vec<HeaderValue>),
}

/// AWS client settings.
#[derive(Debug, Clone)]
pub struct AwsSettings {
    /// `AWS_ENDPOINT_URL`: send every SDK call here (the local emulator) and use path-style S3.
    pub endpoint_url: Option<String>,
    /// `AWS_REGION`, falling back to the SDK's own chain when unset.
    pub region: Option<String>,
    /// `AWS_CONNECT_TIMEOUT_MS`: TCP/TLS connect timeout per attempt.
    pub connect_timeout: Duration,
    /// `AWS_OPERATION_TIMEOUT_MS`: ceiling for one SDK call including retries.
    pub operation_timeout: Duration,
    /// `AWS_MAX_ATTEMPTS`: attempts per SDK call (1 = no retry).
    pub max_attempts: u32,
}

/// The AWS resources a function may use. Absent ones are simply not configured for this
/// function; a crate that needs one asks for it with [`Config::require_table`] or
/// [`Env::required`] at init, so a missing name stops start-up with the variable named.
#[derive(Debug, Clone, Default)]
pub struct Resources {
    /// Table name per table kind.
    pub tables: BTreeMap<Table, String>,
    /// `UPLOADS_BUCKET`.
    pub bucket: Option<String>,
    /// Secrets Manager ids by role: `signing_keys` (`SIGNING_KEYS_SECRET_ID`), `verifying_keys`
    /// (`VERIFYING_KEYS_SECRET_ID`), `cursor_key` (`CURSOR_KEY_SECRET_ID`), `webhook_secrets`
    /// (`WEBHOOK_SECRETS_SECRET_ID`), `mfa_key` (`MFA_KEY_SECRET_ID`). Readiness describes each;
    /// the crate that reads one reads its variable itself.
    pub secrets: BTreeMap<&'static str, String>,
    /// `MAIL_FROM`: the SES sender address (its identity is checked for readiness).
    pub mail_from: Option<String>,
}

/// What every function reads from its environment; nothing identity-, mail- or
/// password-specific lives here.
#[derive(Debug, Clone)]
pub struct Config {
    /// `APP_ENV`.
    pub app_env: AppEnv,
    /// `AWS_LAMBDA_FUNCTION_NAME` or the crate name: who is logging.
    pub service_name: String,
    /// The crate version, reported by `/health`.
    pub version: &'static str,
    /// SDK settings.
    pub aws: AwsSettings,
    /// Resources this function may touch.
    pub resources: Resources,
    /// `CORS_ALLOWED_ORIGINS`: comma separated, or `*`.
    pub cors_origins: CorsOrigins,
    /// `CORS_ALLOW_CREDENTIALS`: refused together with `*`.
    pub cors_allow_credentials: bool,
    /// `MAX_BODY_BYTES`: request bodies above this get 413.
    pub max_body_bytes: usize,
    /// `READINESS_TIMEOUT_MS`: budget for all readiness checks together.
    pub readiness_timeout: Duration,
    /// `LOCAL_HTTP_ADDR`: serve plain HTTP on this address instead of the Lambda runtime API.
    pub local_http_addr: Option<String>,
}

/// The secrets a function may be configured with: role and variable.
const SECRETS: [(&str, &str); 5] = [
    ("signing_keys", "SIGNING_KEYS_SECRET_ID"),
    ("verifying_keys", "VERIFYING_KEYS_SECRET_ID"),
    ("cursor_key", "CURSOR_KEY_SECRET_ID"),
    ("webhook_secrets", "WEBHOOK_SECRETS_SECRET_ID"),
    ("mfa_key", "MFA_KEY_SECRET_ID"),
];

/// Default request body limit: 1 MiB, well above any JSON this API accepts (uploads go to S3 directly).
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

impl Config {
    /// Reads the process environment. `service` and `version` come from the calling crate.
    pub fn from_process(service: &str, version: &'static str) -> Result<Self, ConfigError> {
        Self::from_env(&Env::process(), service, version)
    }

    /// Reads configuration through `env`.
    pub fn from_env(env: &Env, service: &str, version: &'static str) -> Result<Self, ConfigError> {
        let app_env = AppEnv::from_env(env)?;
        let endpoint_url = env.http_url("AWS_ENDPOINT_URL").map_err(|_| {
            ConfigError::new("AWS_ENDPOINT_URL", "must start with http:// or https://")
        })?;
        let aws = AwsSettings {
            endpoint_url,
            region: env
                .string("AWS_REGION")
                .or_else(|| env.string("AWS_DEFAULT_REGION")),
            connect_timeout: env.millis("AWS_CONNECT_TIMEOUT_MS", 1_000)?,
            operation_timeout: env.millis("AWS_OPERATION_TIMEOUT_MS", 5_000)?,
            max_attempts: env.num("AWS_MAX_ATTEMPTS", 3u32, 1, 10)?,
        };

        let tables = Table::ALL
            .into_iter()
            .filter_map(|table| env.string(table.env_var()).map(|name| (table, name)))
            .collect();
        let resources = Resources {
            tables,
            bucket: env.string("UPLOADS_BUCKET"),
            secrets: SECRETS
                .into_iter()
                .filter_map(|(role, var)| env.string(var).map(|id| (role, id)))
                .collect(),
            mail_from: env.string("MAIL_FROM"),
        };
        if let Some(from) = &resources.mail_from
            && !from.contains('@')
        {
            return Err(ConfigError::new("MAIL_FROM", "must be an email address"));
        }

        let cors_origins = cors_origins(env)?;
        let cors_allow_credentials = env.bool("CORS_ALLOW_CREDENTIALS", false)?;
        if cors_allow_credentials && cors_origins == CorsOrigins::Any {
            return Err(ConfigError::new(
                "CORS_ALLOW_CREDENTIALS",
                "cannot be true while CORS_ALLOWED_ORIGINS is `*`; list the origins instead",
            ));
        }

        Ok(Self {
            app_env,
            service_name: env
                .string("AWS_LAMBDA_FUNCTION_NAME")
                .unwrap_or_else(|| service.to_owned()),
            version,
            aws,
            resources,
            cors_origins,
            cors_allow_credentials,
            max_body_bytes: env.num(
                "MAX_BODY_BYTES",
                DEFAULT_MAX_BODY_BYTES,
                1,
                6 * 1024 * 1024,
            )?,
            readiness_timeout: env.millis("READINESS_TIMEOUT_MS", 2_500)?,
            local_http_addr: env.string("LOCAL_HTTP_ADDR"),
        })
    }

    /// The name of `table`, or a start-up error naming its variable when this function needs it.
    pub fn require_table(&self, table: Table) -> Result<&str, ConfigError> {
        self.resources
            .tables
            .get(&table)
            .map(String::as_str)
            .ok_or_else(|| ConfigError::new(table.env_var(), "is required by this function"))
    }
}

fn cors_origins(env: &Env) -> Result<CorsOrigins, ConfigError> {
    let invalid = |reason: &str| ConfigError::new("CORS_ALLOWED_ORIGINS", reason);
    match env.string("CORS_ALLOWED_ORIGINS") {
        None => Ok(CorsOrigins::List(Vec::new())),
        Some(v) if v == "*" => Ok(CorsOrigins::Any),
        Some(v) => v
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(|o| {
                if o == "*" || !(o.starts_with("http://") || o.starts_with("https://")) {
                    return Err(invalid(
                        "must be `*` alone or a comma-separated list of http(s) origins",
                    ));
                }
                HeaderValue::from_str(o.trim_end_matches('/'))
                    .map_err(|_| invalid("contains an invalid origin"))
            })
            .collect::<Result<_, _>>()
            .map(CorsOrigins::List),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_from(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_env(&Env::from_pairs(pairs), "test", "0.0.0")
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let config = config_from(&[]).unwrap();
        assert_eq!(config.app_env, AppEnv::Deployed);
        assert_eq!(config.max_body_bytes, DEFAULT_MAX_BODY_BYTES);
        assert!(config.resources.tables.is_empty());
    }

    #[test]
    fn a_bad_number_names_its_variable() {
        let err = config_from(&[("AWS_OPERATION_TIMEOUT_MS", "soon")]).unwrap_err();
        assert_eq!(err.var, "AWS_OPERATION_TIMEOUT_MS");
        assert!(err.to_string().contains("AWS_OPERATION_TIMEOUT_MS"));
    }

    #[test]
    fn wildcard_cors_with_credentials_is_refused() {
        let err = config_from(&[
            ("CORS_ALLOWED_ORIGINS", "*"),
            ("CORS_ALLOW_CREDENTIALS", "true"),
        ])
        .unwrap_err();
        assert_eq!(err.var, "CORS_ALLOW_CREDENTIALS");
    }

    #[test]
    fn a_missing_required_table_names_its_variable() {
        let config = config_from(&[("USERS_TABLE", "users")]).unwrap();
        assert_eq!(config.require_table(Table::Users).unwrap(), "users");
        let err = config.require_table(Table::Sessions).unwrap_err();
        assert_eq!(err.var, "SESSIONS_TABLE");
    }

    #[test]
    fn settings_of_other_crates_do_not_concern_the_core_config() {
        // A malformed identity setting must not stop a function that never reads it (health).
        assert!(config_from(&[("ARGON2_MEMORY_KIB", "lots"), ("JWT_ISSUER", "")]).is_ok());
    }

    #[test]
    fn endpoint_url_must_be_http() {
        let err = config_from(&[("AWS_ENDPOINT_URL", "127.0.0.1:5000")]).unwrap_err();
        assert_eq!(err.var, "AWS_ENDPOINT_URL");
    }
}
