//! Typed configuration, read from the environment once at init.

use std::{collections::BTreeMap, fmt, time::Duration};

use http::HeaderValue;
use secrecy::SecretString;

/// A variable was missing or could not be parsed; start-up fails with this message.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: environment variable {var} {reason}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub var: &'static str,
    /// Why it was refused (never the value itself: it may be a secret).
    pub reason: String,
}

impl ConfigError {
    fn new(var: &'static str, reason: impl Into<String>) -> Self {
        Self {
            var,
            reason: reason.into(),
        }
    }
}

/// The DynamoDB tables this project declares in `template.yaml`.
///
/// Each one is configured by its own environment variable so a function only needs the ones it uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table {
    /// Users plus their username/email uniqueness guard items.
    Users,
    /// Login sessions (refresh-token families).
    Sessions,
    /// Revoked access-token `jti`s and consumed single-use tokens, with TTL.
    RevokedTokens,
    /// Fixed-window rate-limit counters, with TTL.
    RateLimits,
    /// Webhook delivery ids for de-duplication, with TTL.
    WebhookDeliveries,
    /// Upload records.
    Uploads,
}

impl Table {
    /// Every table, in a stable order.
    pub const ALL: [Table; 6] = [
        Table::Users,
        Table::Sessions,
        Table::RevokedTokens,
        Table::RateLimits,
        Table::WebhookDeliveries,
        Table::Uploads,
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
        }
    }
}

/// Where the app runs; it only changes defaults (log format, CORS strictness).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    /// A developer machine or CI, against the emulator.
    Local,
    /// A deployed stage.
    Deployed,
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

/// The AWS resources a function may use. Absent ones are simply not configured for this function.
#[derive(Debug, Clone, Default)]
pub struct Resources {
    /// Table name per table kind.
    pub tables: BTreeMap<Table, String>,
    /// `UPLOADS_BUCKET`.
    pub bucket: Option<String>,
    /// `SIGNING_KEYS_SECRET_ID`: Secrets Manager id of the JWT key ring.
    pub signing_secret_id: Option<String>,
    /// `WEBHOOK_SECRETS_SECRET_ID`: Secrets Manager id of the webhook secrets.
    pub webhook_secret_id: Option<String>,
    /// `MAIL_FROM`: the SES sender address (its identity is checked for readiness).
    pub mail_from: Option<String>,
}

/// Identity settings (tokens, passwords, brute-force lockout). All have production defaults.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// `JWT_ISSUER`.
    pub issuer: String,
    /// `JWT_AUDIENCE`.
    pub audience: String,
    /// `ACCESS_TOKEN_TTL_SECS` (900).
    pub access_ttl: Duration,
    /// `REFRESH_TOKEN_TTL_SECS` (7 days).
    pub refresh_ttl: Duration,
    /// `RESET_TOKEN_TTL_SECS` (900).
    pub reset_ttl: Duration,
    /// `VERIFY_TOKEN_TTL_SECS` (24 h).
    pub verify_ttl: Duration,
    /// `ARGON2_MEMORY_KIB` (19456).
    pub argon2_memory_kib: u32,
    /// `ARGON2_ITERATIONS` (2).
    pub argon2_iterations: u32,
    /// `ARGON2_PARALLELISM` (1).
    pub argon2_parallelism: u32,
    /// `LOGIN_MAX_FAILURES` (5) per account per window.
    pub login_max_failures: i64,
    /// `LOGIN_FAILURE_WINDOW_SECS` (900).
    pub login_failure_window_secs: i64,
    /// `REFRESH_COOKIE` (false): also set the refresh token as an HttpOnly cookie.
    pub refresh_cookie: bool,
    /// `PUBLIC_APP_URL`: base of the links in mails (never the request's Host header). Required
    /// when `APP_ENV=deployed` (checked where mail is set up); `http://localhost:3000` locally.
    pub public_app_url: Option<String>,
    /// `REFRESH_COOKIE_PATH` (`/api/v1/auth`): prefix it with the stage (`/v1/api/v1/auth`) when
    /// clients use the default execute-api URL rather than a custom domain.
    pub refresh_cookie_path: String,
    /// `APP_NAME`: shown in mails.
    pub app_name: String,
    /// `MAIL_CONFIGURATION_SET`: optional SES configuration set.
    pub mail_configuration_set: Option<String>,
    /// `REQUIRE_VERIFIED_EMAIL` (false): unverified accounts cannot log in (403).
    pub require_verified_email: bool,
    /// `RESET_MAILS_PER_HOUR` (3) per address.
    pub reset_mails_per_hour: i64,
    /// `VERIFY_MAILS_PER_HOUR` (3) per account, for resends.
    pub verify_mails_per_hour: i64,
    /// `FORGOT_RESPONSE_FLOOR_MS` (600): `/password/forgot` never answers sooner, so its timing
    /// does not tell whether the account exists.
    pub forgot_response_floor: Duration,
}

/// Everything a function reads from its environment.
#[derive(Clone)]
pub struct Config {
    /// `APP_ENV`: `local` or `deployed` (default `deployed`, the safe one).
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
    /// `PAGINATION_KEY`: optional; secret material, never printed.
    pub pagination_key: Option<SecretString>,
    /// Identity settings.
    pub auth: AuthSettings,
}

impl fmt::Debug for Config {
    // Written by hand so a secret added later cannot leak through a derived Debug.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("app_env", &self.app_env)
            .field("service_name", &self.service_name)
            .field("version", &self.version)
            .field("aws", &self.aws)
            .field("resources", &self.resources)
            .field("cors_origins", &self.cors_origins)
            .field("cors_allow_credentials", &self.cors_allow_credentials)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("readiness_timeout", &self.readiness_timeout)
            .field("local_http_addr", &self.local_http_addr)
            .field(
                "pagination_key",
                &self.pagination_key.as_ref().map(|_| "[REDACTED]"),
            )
            .finish()
    }
}

/// Default request body limit: 1 MiB, well above any JSON this API accepts (uploads go to S3 directly).
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

impl Config {
    /// Reads the process environment. `service` and `version` come from the calling crate.
    pub fn from_env(service: &str, version: &'static str) -> Result<Self, ConfigError> {
        Self::from_lookup(service, version, |k| std::env::var(k).ok())
    }

    /// Reads configuration through `lookup`, so tests can supply a map instead of the process env.
    pub fn from_lookup(
        service: &str,
        version: &'static str,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let get = |k: &str| {
            lookup(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };

        let app_env = match get("APP_ENV").as_deref() {
            None | Some("deployed" | "prod" | "production" | "staging" | "dev") => AppEnv::Deployed,
            Some("local" | "test") => AppEnv::Local,
            Some(_) => return Err(ConfigError::new("APP_ENV", "must be `local` or `deployed`")),
        };

        let endpoint_url = get("AWS_ENDPOINT_URL");
        if let Some(url) = &endpoint_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(ConfigError::new(
                "AWS_ENDPOINT_URL",
                "must start with http:// or https://",
            ));
        }
        let aws = AwsSettings {
            endpoint_url,
            region: get("AWS_REGION").or_else(|| get("AWS_DEFAULT_REGION")),
            connect_timeout: millis(&get, "AWS_CONNECT_TIMEOUT_MS", 1_000)?,
            operation_timeout: millis(&get, "AWS_OPERATION_TIMEOUT_MS", 5_000)?,
            max_attempts: parse_num(&get, "AWS_MAX_ATTEMPTS", 3u32, 1, 10)?,
        };

        let mut tables = BTreeMap::new();
        for table in Table::ALL {
            if let Some(name) = get(table.env_var()) {
                tables.insert(table, name);
            }
        }
        let resources = Resources {
            tables,
            bucket: get("UPLOADS_BUCKET"),
            signing_secret_id: get("SIGNING_KEYS_SECRET_ID"),
            webhook_secret_id: get("WEBHOOK_SECRETS_SECRET_ID"),
            mail_from: get("MAIL_FROM"),
        };
        if let Some(from) = &resources.mail_from
            && !from.contains('@')
        {
            return Err(ConfigError::new("MAIL_FROM", "must be an email address"));
        }

        let cors_origins = match get("CORS_ALLOWED_ORIGINS") {
            None => CorsOrigins::List(Vec::new()),
            Some(v) if v == "*" => CorsOrigins::Any,
            Some(v) => CorsOrigins::List(
                v.split(',')
                    .map(str::trim)
                    .filter(|o| !o.is_empty())
                    .map(|o| {
                        if o == "*" || !(o.starts_with("http://") || o.starts_with("https://")) {
                            return Err(ConfigError::new(
                                "CORS_ALLOWED_ORIGINS",
                                "must be `*` alone or a comma-separated list of http(s) origins",
                            ));
                        }
                        HeaderValue::from_str(o.trim_end_matches('/')).map_err(|_| {
                            ConfigError::new("CORS_ALLOWED_ORIGINS", "contains an invalid origin")
                        })
                    })
                    .collect::<Result<_, _>>()?,
            ),
        };
        let cors_allow_credentials = parse_bool(&get, "CORS_ALLOW_CREDENTIALS", false)?;
        if cors_allow_credentials && cors_origins == CorsOrigins::Any {
            return Err(ConfigError::new(
                "CORS_ALLOW_CREDENTIALS",
                "cannot be true while CORS_ALLOWED_ORIGINS is `*`; list the origins instead",
            ));
        }

        let pagination_key = get("PAGINATION_KEY").map(SecretString::from);
        if let Some(key) = &pagination_key {
            use secrecy::ExposeSecret;
            if key.expose_secret().len() < 32 {
                return Err(ConfigError::new(
                    "PAGINATION_KEY",
                    "must be at least 32 characters",
                ));
            }
        }

        let secs = |var: &'static str, default: u64| {
            parse_num(&get, var, default, 1, 365 * 86_400).map(Duration::from_secs)
        };
        let auth = AuthSettings {
            issuer: get("JWT_ISSUER").unwrap_or_else(|| "rust-serverless-starter".to_owned()),
            audience: get("JWT_AUDIENCE")
                .unwrap_or_else(|| "rust-serverless-starter-api".to_owned()),
            access_ttl: secs("ACCESS_TOKEN_TTL_SECS", 900)?,
            refresh_ttl: secs("REFRESH_TOKEN_TTL_SECS", 7 * 86_400)?,
            reset_ttl: secs("RESET_TOKEN_TTL_SECS", 900)?,
            verify_ttl: secs("VERIFY_TOKEN_TTL_SECS", 86_400)?,
            argon2_memory_kib: parse_num(&get, "ARGON2_MEMORY_KIB", 19_456, 8, 4 * 1024 * 1024)?,
            argon2_iterations: parse_num(&get, "ARGON2_ITERATIONS", 2, 1, 100)?,
            argon2_parallelism: parse_num(&get, "ARGON2_PARALLELISM", 1, 1, 64)?,
            login_max_failures: parse_num(&get, "LOGIN_MAX_FAILURES", 5, 1, 1_000)?,
            login_failure_window_secs: parse_num(
                &get,
                "LOGIN_FAILURE_WINDOW_SECS",
                900,
                1,
                86_400,
            )?,
            refresh_cookie: parse_bool(&get, "REFRESH_COOKIE", false)?,
            public_app_url: match get("PUBLIC_APP_URL") {
                Some(url) if !(url.starts_with("http://") || url.starts_with("https://")) => {
                    return Err(ConfigError::new("PUBLIC_APP_URL", "must be an http(s) URL"));
                }
                Some(url) => Some(url.trim_end_matches('/').to_owned()),
                None if app_env == AppEnv::Local => Some("http://localhost:3000".to_owned()),
                None => None,
            },
            refresh_cookie_path: get("REFRESH_COOKIE_PATH")
                .unwrap_or_else(|| "/api/v1/auth".to_owned()),
            app_name: get("APP_NAME").unwrap_or_else(|| "Rust Serverless Starter".to_owned()),
            mail_configuration_set: get("MAIL_CONFIGURATION_SET"),
            require_verified_email: parse_bool(&get, "REQUIRE_VERIFIED_EMAIL", false)?,
            reset_mails_per_hour: parse_num(&get, "RESET_MAILS_PER_HOUR", 3, 1, 1_000)?,
            verify_mails_per_hour: parse_num(&get, "VERIFY_MAILS_PER_HOUR", 3, 1, 1_000)?,
            forgot_response_floor: millis(&get, "FORGOT_RESPONSE_FLOOR_MS", 600)?,
        };

        Ok(Self {
            auth,
            app_env,
            service_name: get("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|| service.to_owned()),
            version,
            aws,
            resources,
            cors_origins,
            cors_allow_credentials,
            max_body_bytes: parse_num(
                &get,
                "MAX_BODY_BYTES",
                DEFAULT_MAX_BODY_BYTES,
                1,
                6 * 1024 * 1024,
            )?,
            readiness_timeout: millis(&get, "READINESS_TIMEOUT_MS", 2_500)?,
            local_http_addr: get("LOCAL_HTTP_ADDR"),
            pagination_key,
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

fn parse_num<T>(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: T,
    min: T,
    max: T,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + fmt::Display + Copy,
{
    let Some(raw) = get(var) else {
        return Ok(default);
    };
    let value: T = raw
        .parse()
        .map_err(|_| ConfigError::new(var, "must be a whole number"))?;
    if value < min || value > max {
        return Err(ConfigError::new(
            var,
            format!("must be between {min} and {max}"),
        ));
    }
    Ok(value)
}

fn millis(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: u64,
) -> Result<Duration, ConfigError> {
    parse_num(get, var, default, 1, 900_000).map(Duration::from_millis)
}

fn parse_bool(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: bool,
) -> Result<bool, ConfigError> {
    match get(var).map(|v| v.to_ascii_lowercase()).as_deref() {
        None => Ok(default),
        Some("true" | "1" | "yes") => Ok(true),
        Some("false" | "0" | "no") => Ok(false),
        Some(_) => Err(ConfigError::new(var, "must be true or false")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config_from(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup("test", "0.0.0", |k| map.get(k).cloned())
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
    fn secrets_never_appear_in_debug_output() {
        let key = "k".repeat(40);
        let config = config_from(&[("PAGINATION_KEY", key.as_str())]).unwrap();
        let printed = format!("{config:?}");
        assert!(!printed.contains(&key));
        assert!(printed.contains("[REDACTED]"));
    }

    #[test]
    fn endpoint_url_must_be_http() {
        let err = config_from(&[("AWS_ENDPOINT_URL", "127.0.0.1:5000")]).unwrap_err();
        assert_eq!(err.var, "AWS_ENDPOINT_URL");
    }
}
