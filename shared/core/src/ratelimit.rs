//! The application rate limiter: one tower layer every function applies, its state in DynamoDB
//! (on Lambda every sandbox has its own memory, so an in-memory limiter limits nothing).
//!
//! - **Algorithm**: a fixed window per policy and subject, one conditional `UpdateItem` per
//!   request: `ADD count :1` with `SET expires_at = if_not_exists(...)` under the condition
//!   `attribute_not_exists(count) OR count < :limit`; `UPDATED_NEW` gives the remaining count and
//!   `ALL_OLD` on a failed condition gives the denial's headers without a second read. Key:
//!   `RL#<policy>#<subject>#<window start>`, TTL at the window's end.
//! - **Callers counted on their own record**: a resolver that checks a credential against a
//!   record of its own (identity: the user item) counts the request there instead
//!   ([`ResolveCaller::count_caller`], [`count_on_record`]): one `UpdateItem` both counts and
//!   checks the credential, so an authenticated request is one round trip. The counters are a
//!   map [`COUNTERS`] on that record, one slot `<policy>@<window end>` per policy; each write
//!   removes its policy's previous slot, and a slot left by idle windows is removed by the next
//!   request that sees it (a second write, rarely). A credential the record refuses is counted
//!   as anonymous (`default` per IP).
//! - **Policies**: `strict` per client IP on auth routes, `default` per IP on other anonymous
//!   routes, per user on authenticated ones: the most specific rule of the token's tier for the
//!   route (`<tier>:<rule id>`, tiers as data in `TIERS_TABLE`, [`crate::tiers`]), else the
//!   environment's `user-<tier>`; health is exempt. The client IP is
//!   API Gateway's `sourceIp` ([`crate::extract::ClientIp`]), never `X-Forwarded-For`. A route
//!   that acts for a session (auth's refresh) is `refresh` per session once its credential
//!   verifies ([`ResolveCaller::session`]): an office behind one address refreshes as many
//!   sessions as it has, while a request whose credential does not verify stays `strict` per IP.
//! - **Headers** on every limited response: `X-RateLimit-Limit`, `X-RateLimit-Remaining`,
//!   `X-RateLimit-Reset` (Unix seconds), and the IETF draft's `RateLimit-Policy` and `RateLimit`.
//!   A 429 is the `RATE_LIMITED` envelope with `Retry-After`.
//! - **Tier rules** come from a per-sandbox cache ([`crate::tiers::RuleCache`]): one `Scan` of
//!   `TIERS_TABLE` per `RATE_LIMITS_CACHE_SECS` (30), none per request in the steady state. A
//!   rule seeded from the environment and untouched since counts as the environment's
//!   `user-<tier>`; an unreadable or empty table leaves the environment's policies.
//! - **Fail-open**: when the table errors or does not answer within `RATE_LIMIT_TIMEOUT_MS`, the
//!   request passes without headers and a warning is logged (`RATE_LIMIT_FAIL_OPEN`, default
//!   true): a limiter must never take the API down.

use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

use aws_sdk_dynamodb::Client;
use axum::{
    body::{Body, Bytes},
    extract::{FromRequestParts, Request, State},
    http::{HeaderMap, HeaderName, HeaderValue, request::Parts},
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::{
    clock::{fixed_window, now_s},
    config::{ConfigError, Env},
    dynamo::{self, Counted},
    error::ApiError,
    extract::ClientIp,
    tiers::RuleCache,
};

/// A named quota: `quota` requests per `window_secs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Its name in keys and in the IETF headers (`strict`, `default`, `user-pro`...).
    pub name: String,
    /// Requests per window.
    pub quota: i64,
    /// Window length in seconds.
    pub window_secs: i64,
}

/// Per-user quotas by tier (`free`, `pro`, `enterprise`).
#[derive(Debug, Clone)]
pub struct Tiers {
    /// `RATE_LIMIT_USER` (300): users without a known tier, and the `free` tier's default.
    pub user: i64,
    /// `RATE_LIMIT_TIER_FREE` (the user default).
    pub free: i64,
    /// `RATE_LIMIT_TIER_PRO` (1000).
    pub pro: i64,
    /// `RATE_LIMIT_TIER_ENTERPRISE` (5000).
    pub enterprise: i64,
}

/// The limiter's settings, from the environment of every function.
#[derive(Debug, Clone)]
pub struct RateLimitSettings {
    /// `RATE_LIMIT_ENABLED` (true).
    pub enabled: bool,
    /// `RATE_LIMIT_WINDOW` (60 s).
    pub window_secs: i64,
    /// `RATE_LIMIT_STRICT` (10 per IP): auth routes.
    pub strict: i64,
    /// `RATE_LIMIT_DEFAULT` (100 per IP): other anonymous routes.
    pub default: i64,
    /// `RATE_LIMIT_LENIENT` (1000 per IP): public routes that are cheap to serve.
    pub lenient: i64,
    /// `RATE_LIMIT_REFRESH` (defaults to `RATE_LIMIT_DEFAULT`) per session: a route that acts for
    /// a session whose credential verified (auth's refresh).
    pub refresh: i64,
    /// Per-user quotas.
    pub tiers: Tiers,
    /// `RATE_LIMIT_FAIL_OPEN` (true): pass requests when the table fails.
    pub fail_open: bool,
    /// `RATE_LIMIT_TIMEOUT_MS` (150): how long the limiter may take before it fails.
    pub timeout: Duration,
    /// `RATE_LIMITS_CACHE_SECS` (30): how long a sandbox uses the tier rules it read before it
    /// reads them again (0: every request reads them). The staleness bound of a rule change.
    pub cache_ttl: Duration,
}

impl RateLimitSettings {
    /// Reads the `RATE_LIMIT_*` variables.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let quota = |var: &'static str, default: i64| env.num(var, default, 1, 10_000_000);
        let user = quota("RATE_LIMIT_USER", 300)?;
        let default = quota("RATE_LIMIT_DEFAULT", 100)?;
        Ok(Self {
            enabled: env.bool("RATE_LIMIT_ENABLED", true)?,
            window_secs: env.num("RATE_LIMIT_WINDOW", 60, 1, 86_400)?,
            strict: quota("RATE_LIMIT_STRICT", 10)?,
            default,
            lenient: quota("RATE_LIMIT_LENIENT", 1_000)?,
            refresh: quota("RATE_LIMIT_REFRESH", default)?,
            tiers: Tiers {
                user,
                free: quota("RATE_LIMIT_TIER_FREE", user)?,
                pro: quota("RATE_LIMIT_TIER_PRO", 1_000)?,
                enterprise: quota("RATE_LIMIT_TIER_ENTERPRISE", 5_000)?,
            },
            fail_open: env.bool("RATE_LIMIT_FAIL_OPEN", true)?,
            timeout: env.millis("RATE_LIMIT_TIMEOUT_MS", 150)?,
            cache_ttl: Duration::from_secs(env.num("RATE_LIMITS_CACHE_SECS", 30u64, 0, 3_600)?),
        })
    }

    fn policy(&self, name: impl Into<String>, quota: i64) -> Policy {
        Policy {
            name: name.into(),
            quota,
            window_secs: self.window_secs,
        }
    }

    /// The environment's seed: each tier it names, with its quota per `RATE_LIMIT_WINDOW`.
    pub fn seed(&self) -> [(&'static str, i64); 3] {
        let t = &self.tiers;
        [
            ("free", t.free),
            ("pro", t.pro),
            ("enterprise", t.enterprise),
        ]
    }

    /// The per-user policy for `tier` (unknown tiers get the user default).
    pub fn for_tier(&self, tier: &str) -> Policy {
        let t = &self.tiers;
        let (name, quota) = match tier {
            "free" => ("user-free", t.free),
            "pro" => ("user-pro", t.pro),
            "enterprise" => ("user-enterprise", t.enterprise),
            _ => ("user", t.user),
        };
        self.policy(name, quota)
    }
}

/// Which policy a function's routes fall under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Not limited (health probes).
    Exempt,
    /// `strict` per IP (auth: signup, login, mail flows); `refresh` per session for a request
    /// [`ResolveCaller::session`] ties to a session.
    Strict,
    /// Per user when authenticated, `default` per IP otherwise.
    Default,
    /// `lenient` per IP (cheap public routes).
    Lenient,
}

/// Who is asking, as far as the limiter can tell without a database call: a function that
/// authenticates resolves a verified bearer token to its user and tier.
pub type Caller = Option<(String, String)>;

/// What counting a request on the caller's own record found ([`ResolveCaller::count_caller`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallerCount {
    /// Counted: `n` requests in the window so far, this one included.
    Counted(i64),
    /// The window's quota is used up: not counted (429).
    Refused,
    /// The record refused the credential (ended, revoked, the user gone or disabled): nothing
    /// counted there; the limiter counts the request as anonymous.
    Rejected,
}

/// The future of [`ResolveCaller::count_caller`].
pub type CountCaller<'a> =
    Pin<Box<dyn Future<Output = Option<Result<CallerCount, ApiError>>> + Send + 'a>>;

/// Resolves the caller of a request (a verified access token's `sub` and `tier`), if any.
pub trait ResolveCaller: Send + Sync + 'static {
    /// `Some((user id, tier))` for a valid bearer token, `None` otherwise. It may leave what it
    /// verified in the request's extensions, so the handler's extractor does not verify again.
    fn caller<'a>(
        &'a self,
        parts: &'a mut Parts,
    ) -> Pin<Box<dyn Future<Output = Caller> + Send + 'a>>;

    /// Whether [`ResolveCaller::session`] needs this request's body. The limiter then reads it
    /// (when it is at most [`SESSION_BODY_MAX`] bytes) and hands it on to the route unchanged.
    fn reads_body(&self, _parts: &Parts) -> bool {
        false
    }

    /// Counts the request of the caller [`ResolveCaller::caller`] resolved against `policy`, on
    /// the caller's own record and in the same call that checks the credential there (see
    /// [`count_on_record`]); it may leave what it read in the request's extensions for the
    /// handler's extractor. `None`: this resolver keeps no counters, the limiter counts in its
    /// table.
    fn count_caller<'a>(
        &'a self,
        _parts: &'a mut Parts,
        _policy: &'a Policy,
        _now: i64,
    ) -> CountCaller<'a> {
        Box::pin(async { None })
    }

    /// The session this request acts for, when its route is limited per session: the session
    /// id of a credential that verifies (no database call), `None` otherwise (and for a body it
    /// cannot read). `body` is empty unless [`ResolveCaller::reads_body`] asked for it.
    fn session<'a>(
        &'a self,
        _parts: &'a Parts,
        _body: &'a [u8],
    ) -> Pin<Box<dyn Future<Output = Option<String>> + Send + 'a>> {
        Box::pin(async { None })
    }
}

/// The largest body the limiter reads for [`ResolveCaller::session`]: a refresh body is a token
/// (a few hundred bytes); anything longer is counted `strict` per IP, unread.
pub const SESSION_BODY_MAX: usize = 16 * 1024;

/// No caller: functions that authenticate nobody.
#[derive(Debug, Clone, Copy)]
pub struct Anonymous;

impl ResolveCaller for Anonymous {
    fn caller<'a>(&'a self, _: &'a mut Parts) -> Pin<Box<dyn Future<Output = Caller> + Send + 'a>> {
        Box::pin(async { None })
    }
}

/// The limiter: settings, the table, and how to tell who is asking.
pub struct RateLimiter {
    settings: RateLimitSettings,
    client: Client,
    table: String,
    class: Class,
    resolve: Box<dyn ResolveCaller>,
    /// The tier rules, when this function's limiter counts users (`Class::Default`) and
    /// `TIERS_TABLE` is set.
    rules: Option<RuleCache>,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("settings", &self.settings)
            .field("table", &self.table)
            .field("class", &self.class)
            .field("rules", &self.rules.is_some())
            .finish_non_exhaustive()
    }
}

/// One counted request: the numbers every header is made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    /// The policy counted against.
    pub policy: Policy,
    /// Requests left in the window after this one (0 when refused).
    pub remaining: i64,
    /// Unix seconds when the window resets.
    pub reset_at: i64,
    /// Seconds until then (at least 1).
    pub reset_in: i64,
    /// Whether this request was refused.
    pub refused: bool,
}

impl RateLimiter {
    /// The limiter of a function whose routes fall under `class`, from `RATE_LIMIT_*` and
    /// `RATE_LIMITS_TABLE` (not needed when exempt); `resolve` tells users apart. A
    /// `Class::Default` limiter reads tier rules from `TIERS_TABLE` when it is set.
    pub fn from_env(
        app: &crate::AppState,
        env: &Env,
        class: Class,
        resolve: impl ResolveCaller,
    ) -> Result<Self, ConfigError> {
        let table = match class {
            Class::Exempt => String::new(),
            _ => app
                .config
                .require_table(crate::Table::RateLimits)?
                .to_owned(),
        };
        let settings = RateLimitSettings::from_env(env)?;
        let tiers = match class {
            Class::Default => app
                .config
                .resources
                .tables
                .get(&crate::Table::Tiers)
                .cloned(),
            _ => None,
        };
        let rules = tiers.map(|table| {
            RuleCache::new(
                app.dynamo.clone(),
                table,
                settings.cache_ttl,
                settings.timeout,
            )
        });
        let mut limiter = Self::new(settings, app.dynamo.clone(), table, class, resolve);
        limiter.rules = rules;
        Ok(limiter)
    }

    /// The tier rules' cache, when this limiter reads them (tests count its reads).
    pub fn rule_cache(&self) -> Option<&RuleCache> {
        self.rules.as_ref()
    }

    /// A limiter that limits nothing (routers built for tests of the other layers).
    pub fn exempt(client: Client) -> Self {
        Self::new(
            RateLimitSettings {
                enabled: false,
                window_secs: 60,
                strict: 1,
                default: 1,
                lenient: 1,
                refresh: 1,
                tiers: Tiers {
                    user: 1,
                    free: 1,
                    pro: 1,
                    enterprise: 1,
                },
                fail_open: true,
                timeout: Duration::from_millis(1),
                cache_ttl: Duration::ZERO,
            },
            client,
            String::new(),
            Class::Exempt,
            Anonymous,
        )
    }

    /// A limiter for a function whose routes fall under `class`; `resolve` tells users apart.
    pub fn new(
        settings: RateLimitSettings,
        client: Client,
        table: String,
        class: Class,
        resolve: impl ResolveCaller,
    ) -> Self {
        Self {
            settings,
            client,
            table,
            class,
            resolve: Box::new(resolve),
            rules: None,
        }
    }

    /// The per-user policy of a request by `tier` of `method` on `path`: the most specific
    /// rule of the tier, else (no rule, or the seeded one) the environment's.
    pub async fn user_policy(&self, tier: &str, method: &str, path: &str) -> Policy {
        if let Some(cache) = &self.rules {
            let rules = cache.current().await;
            if let Some(rule) = rules.pick(tier, method, path).filter(|r| !r.seed) {
                return Policy {
                    name: rule.policy_name(),
                    quota: rule.limit,
                    window_secs: rule.period,
                };
            }
        }
        self.settings.for_tier(tier)
    }

    /// Counts one request of `subject` against `policy`.
    pub async fn count(&self, policy: &Policy, subject: &str, now: i64) -> Result<Usage, ApiError> {
        let (start, reset_at) = fixed_window(now, policy.window_secs);
        let pk = format!("RL#{}#{subject}#{start}", policy.name);
        let counted =
            dynamo::count_one(&self.client, &self.table, pk, policy.quota, reset_at, None).await?;
        Ok(match counted {
            Counted::Added(count) => Usage::of(policy, count, false, now),
            Counted::Refused(_) => Usage::of(policy, policy.quota, true, now),
        })
    }

    /// Counts a request: a caller's on its own record when the resolver keeps counters there
    /// (one call that also checks the credential), else in the limiter's table.
    async fn count_request(
        &self,
        parts: &mut Parts,
        (policy, subject, who): &(Policy, String, Subject),
        now: i64,
    ) -> Result<Usage, ApiError> {
        if *who == Subject::Caller
            && let Some(counted) = self.resolve.count_caller(parts, policy, now).await
        {
            return match counted? {
                CallerCount::Counted(count) => Ok(Usage::of(policy, count, false, now)),
                CallerCount::Refused => Ok(Usage::of(policy, policy.quota, true, now)),
                CallerCount::Rejected => {
                    let s = &self.settings;
                    let ip = parts
                        .extensions
                        .get::<ClientIp>()
                        .map_or("unknown", ClientIp::or_unknown);
                    self.count(&s.policy("default", s.default), ip, now).await
                }
            };
        }
        self.count(policy, subject, now).await
    }

    /// The policy and subject for a request (`body`: what [`limit`] read for
    /// [`ResolveCaller::session`], if anything).
    async fn classify(
        &self,
        parts: &mut Parts,
        body: Option<&[u8]>,
    ) -> Option<(Policy, String, Subject)> {
        let s = &self.settings;
        let ip = parts
            .extensions
            .get::<ClientIp>()
            .map_or("unknown", ClientIp::or_unknown)
            .to_owned();
        match self.class {
            Class::Exempt => None,
            Class::Strict => match self.resolve.session(parts, body.unwrap_or_default()).await {
                Some(session) => Some((s.policy("refresh", s.refresh), session, Subject::Other)),
                None => Some((s.policy("strict", s.strict), ip, Subject::Other)),
            },
            Class::Lenient => Some((s.policy("lenient", s.lenient), ip, Subject::Other)),
            Class::Default => match self.resolve.caller(parts).await {
                Some((user, tier)) => {
                    let policy = self
                        .user_policy(&tier, parts.method.as_str(), parts.uri.path())
                        .await;
                    Some((policy, user, Subject::Caller))
                }
                None => Some((s.policy("default", s.default), ip, Subject::Other)),
            },
        }
    }
}

impl Usage {
    /// The usage after `count` requests of `policy`'s window at `now`.
    fn of(policy: &Policy, count: i64, refused: bool, now: i64) -> Self {
        let (_, reset_at) = fixed_window(now, policy.window_secs);
        Self {
            policy: policy.clone(),
            remaining: (policy.quota - count).max(0),
            reset_at,
            reset_in: (reset_at - now).max(1),
            refused,
        }
    }
}

/// Whose request a classified request counts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Subject {
    /// The caller [`ResolveCaller::caller`] resolved: counted on its record when the resolver
    /// keeps counters.
    Caller,
    /// An address or a session: counted in the limiter's table.
    Other,
}

/// The map attribute a caller's record keeps its counters in.
pub const COUNTERS: &str = "rl";

/// The slot of `policy`'s window at `now` in [`COUNTERS`], and the previous window's:
/// `<policy>@<window end>`, so a slot says when it stops counting.
fn slots(policy: &Policy, now: i64) -> (String, String) {
    let (_, end) = fixed_window(now, policy.window_secs);
    (
        format!("{}@{end}", policy.name),
        format!("{}@{}", policy.name, end - policy.window_secs),
    )
}

/// How many requests `item` (a caller's record, as returned) counted in `policy`'s window at
/// `now` (0 for none).
pub fn counted_on(item: &dynamo::Item, policy: &Policy, now: i64) -> i64 {
    let (slot, _) = slots(policy, now);
    match item.get(COUNTERS) {
        Some(aws_sdk_dynamodb::types::AttributeValue::M(map)) => match map.get(&slot) {
            Some(aws_sdk_dynamodb::types::AttributeValue::N(v)) => v.parse().unwrap_or(0),
            _ => 0,
        },
        _ => 0,
    }
}

/// The slots of `item`'s counters whose window ended by `now` (and any slot we cannot read).
fn ended_slots(item: &dynamo::Item, now: i64) -> Vec<String> {
    let Some(aws_sdk_dynamodb::types::AttributeValue::M(map)) = item.get(COUNTERS) else {
        return Vec::new();
    };
    map.keys()
        .filter(|slot| {
            slot.rsplit_once('@')
                .and_then(|(_, end)| end.parse::<i64>().ok())
                .is_none_or(|end| end <= now)
        })
        .cloned()
        .collect()
}

/// Counts one request against `policy` on the caller's own record (`pk` in `table`) under
/// `guard`, the conditions the caller's credential must meet there: one conditional
/// `UpdateItem` that returns the record, [`dynamo::MapCounted::Added`] with it after the write
/// or [`dynamo::MapCounted::Refused`] with it as it was (the limit or the guard refused; the
/// resolver tells which, [`counted_on`]). A slot that idle windows left behind is removed then,
/// in a second write (its failure only logged): the record never holds more than one slot per
/// policy for long.
pub async fn count_on_record(
    client: &Client,
    table: &str,
    pk: String,
    policy: &Policy,
    now: i64,
    guard: &dynamo::Guard,
) -> Result<dynamo::MapCounted, dynamo::StoreError> {
    let (slot, previous) = slots(policy, now);
    let counted = dynamo::count_in_map(
        client,
        &dynamo::MapCount {
            table,
            pk: pk.clone(),
            map: COUNTERS,
            slot: &slot,
            previous: &previous,
            limit: policy.quota,
            guard,
        },
    )
    .await?;
    if let dynamo::MapCounted::Added { item, .. } = &counted {
        let ended = ended_slots(item, now);
        if let Err(err) = dynamo::remove_map_keys(client, table, pk, COUNTERS, &ended).await {
            tracing::warn!(error = ?err, "ended rate-limit slots not removed");
        }
    }
    Ok(counted)
}

/// The middleware: counts the request (or lets it pass, fail-open), refuses it with 429 past
/// the quota, and adds the headers to the response.
pub async fn limit(State(limiter): State<Arc<RateLimiter>>, req: Request, next: Next) -> Response {
    if !limiter.settings.enabled {
        return next.run(req).await;
    }
    let (mut parts, body) = req.into_parts();
    let ip = ClientIp::from_request_parts(&mut parts, &())
        .await
        .unwrap_or(ClientIp(None));
    parts.extensions.insert(ip);
    let (body, read) = match read_for_session(&limiter, &parts, body).await {
        Ok(read) => read,
        Err(response) => return response,
    };
    let Some(classified) = limiter.classify(&mut parts, read.as_deref()).await else {
        return next.run(Request::from_parts(parts, body)).await;
    };
    let counted = tokio::time::timeout(
        limiter.settings.timeout,
        limiter.count_request(&mut parts, &classified, now_s()),
    )
    .await;
    let policy = classified.0;
    let usage = match counted {
        Ok(Ok(usage)) => usage,
        Ok(Err(err)) if limiter.settings.fail_open => {
            tracing::warn!(error = ?err, policy = %policy.name, "rate limiter failed; request passes");
            return next.run(Request::from_parts(parts, body)).await;
        }
        Err(_) if limiter.settings.fail_open => {
            tracing::warn!(policy = %policy.name, "rate limiter timed out; request passes");
            return next.run(Request::from_parts(parts, body)).await;
        }
        Ok(Err(err)) => return err.into_response(),
        Err(_) => {
            return ApiError::Unavailable(anyhow::anyhow!("rate limiter timed out"))
                .into_response();
        }
    };
    let mut response = if usage.refused {
        ApiError::RateLimited {
            retry_after_secs: u64::try_from(usage.reset_in).unwrap_or(1),
        }
        .into_response()
    } else {
        next.run(Request::from_parts(parts, body)).await
    };
    set_headers(response.headers_mut(), &usage);
    response
}

/// The body, read whole when the resolver asks for it for [`ResolveCaller::session`] and it is
/// small (its length known and at most [`SESSION_BODY_MAX`]); the route then gets the same
/// bytes. A body of unknown or larger size is not read (the request is counted per IP).
async fn read_for_session(
    limiter: &RateLimiter,
    parts: &Parts,
    body: Body,
) -> Result<(Body, Option<Bytes>), Response> {
    use axum::body::HttpBody as _;
    let small = body
        .size_hint()
        .upper()
        .is_some_and(|upper| upper <= SESSION_BODY_MAX as u64);
    if !(limiter.class == Class::Strict && small && limiter.resolve.reads_body(parts)) {
        return Ok((body, None));
    }
    match axum::body::to_bytes(body, SESSION_BODY_MAX).await {
        Ok(bytes) => Ok((Body::from(bytes.clone()), Some(bytes))),
        // The client went away mid-body, or it was longer than it said: nothing to serve.
        Err(_) => Err(crate::error::ErrorCode::BadRequest.into_response()),
    }
}

/// The rate-limit headers for `usage`.
pub fn set_headers(headers: &mut HeaderMap, usage: &Usage) {
    let p = &usage.policy;
    let pairs = [
        (X_RATELIMIT_LIMIT, p.quota.to_string()),
        (X_RATELIMIT_REMAINING, usage.remaining.to_string()),
        (X_RATELIMIT_RESET, usage.reset_at.to_string()),
        (
            RATELIMIT_POLICY,
            format!("\"{}\";q={};w={}", p.name, p.quota, p.window_secs),
        ),
        (
            RATELIMIT,
            format!("\"{}\";r={};t={}", p.name, usage.remaining, usage.reset_in),
        ),
    ];
    for (name, value) in pairs {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
}

/// `X-RateLimit-Limit`.
pub const X_RATELIMIT_LIMIT: &str = "x-ratelimit-limit";
/// `X-RateLimit-Remaining`.
pub const X_RATELIMIT_REMAINING: &str = "x-ratelimit-remaining";
/// `X-RateLimit-Reset`.
pub const X_RATELIMIT_RESET: &str = "x-ratelimit-reset";
/// `RateLimit-Policy` (draft-ietf-httpapi-ratelimit-headers).
pub const RATELIMIT_POLICY: &str = "ratelimit-policy";
/// `RateLimit` (draft-ietf-httpapi-ratelimit-headers).
pub const RATELIMIT: &str = "ratelimit";

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(remaining: i64, refused: bool) -> Usage {
        Usage {
            policy: Policy {
                name: "strict".to_owned(),
                quota: 10,
                window_secs: 60,
            },
            remaining,
            reset_at: 1_700_000_040,
            reset_in: 40,
            refused,
        }
    }

    #[test]
    fn the_headers_carry_the_contract_fields_and_the_ietf_structured_fields() {
        let mut headers = HeaderMap::new();
        set_headers(&mut headers, &usage(7, false));
        assert_eq!(headers["x-ratelimit-limit"], "10");
        assert_eq!(headers["x-ratelimit-remaining"], "7");
        assert_eq!(headers["x-ratelimit-reset"], "1700000040");
        // Structured fields (RFC 8941): a string item with integer parameters.
        assert_eq!(headers["ratelimit-policy"], "\"strict\";q=10;w=60");
        assert_eq!(headers["ratelimit"], "\"strict\";r=7;t=40");
    }

    #[test]
    fn a_refused_request_reports_nothing_remaining() {
        let mut headers = HeaderMap::new();
        set_headers(&mut headers, &usage(0, true));
        assert_eq!(headers["x-ratelimit-remaining"], "0");
        assert_eq!(headers["ratelimit"], "\"strict\";r=0;t=40");
    }

    #[test]
    fn tiers_pick_their_quota_and_unknown_tiers_the_user_default() {
        let settings = RateLimitSettings::from_env(&Env::from_pairs(&[
            ("RATE_LIMIT_USER", "300"),
            ("RATE_LIMIT_TIER_PRO", "1200"),
        ]))
        .unwrap();
        assert_eq!(settings.for_tier("pro").quota, 1200);
        assert_eq!(settings.for_tier("pro").name, "user-pro");
        assert_eq!(settings.for_tier("free").quota, 300);
        assert_eq!(settings.for_tier("platinum").quota, 300);
        assert_eq!(settings.for_tier("enterprise").quota, 5_000);
    }

    #[test]
    fn defaults_follow_the_contract() {
        let s = RateLimitSettings::from_env(&Env::from_pairs(&[])).unwrap();
        assert!(s.enabled && s.fail_open);
        assert_eq!(
            (s.strict, s.default, s.tiers.user, s.window_secs),
            (10, 100, 300, 60)
        );
        assert_eq!(s.refresh, s.default);
    }

    #[test]
    fn the_refresh_quota_follows_the_default_unless_set() {
        let lifted =
            RateLimitSettings::from_env(&Env::from_pairs(&[("RATE_LIMIT_DEFAULT", "500")]))
                .unwrap();
        assert_eq!(lifted.refresh, 500);
        let own =
            RateLimitSettings::from_env(&Env::from_pairs(&[("RATE_LIMIT_REFRESH", "20")])).unwrap();
        assert_eq!((own.refresh, own.default), (20, 100));
    }
}
