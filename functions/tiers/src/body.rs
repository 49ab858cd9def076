//! The bodies this function takes and answers with, their rules, and `ETag`/`If-Match`.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use shared::{
    ApiError,
    conditional::ETag,
    error::FieldError,
    extract::{Json, Validate, failures},
    ratelimit::RateLimitSettings,
    tiers::{Pattern, Rule, valid_tier_name},
};

use crate::store::Tier;

/// The longest description.
pub const DESCRIPTION_MAX: usize = 200;

/// A tier.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TierBody {
    /// 1-32 of `[a-z0-9_-]`: what `PATCH /api/v1/users/{id}` sets as a user's `tier`.
    pub name: String,
    /// Free text for admins.
    pub description: Option<String>,
    /// How many rate-limit rules it has.
    pub rate_limits: i64,
    /// Bumped by every write to the tier (an edit, a rule created or deleted); the `ETag`.
    pub version: i64,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl From<&Tier> for TierBody {
    fn from(t: &Tier) -> Self {
        Self {
            name: t.name.clone(),
            description: t.description.clone(),
            rate_limits: t.rules,
            version: t.version,
            created_at: t.created_at.clone(),
            updated_at: t.updated_at.clone(),
        }
    }
}

/// Every tier, by name.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TierList {
    /// The tiers.
    pub items: Vec<TierBody>,
}

/// A tier's rate limit for the requests its pattern matches.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RateLimitBody {
    /// Its id in the tier (8 hex digits; `all` for a seeded rule).
    pub id: String,
    /// The tier.
    pub tier: String,
    /// The route pattern: `[METHOD ]PATH`, e.g. `POST /api/v1/uploads`, `GET /api/v1/users/*`, `*`.
    pub path: String,
    /// Requests per period.
    pub limit: i64,
    /// Period in seconds.
    pub period: i64,
    /// The policy the requests count under, as `RateLimit-Policy` names it: `<tier>:<id>`, or
    /// `user-<tier>` for a seeded rule.
    pub policy: String,
    /// Seeded from the environment and untouched since: it applies the environment's quota
    /// (`limit` and `period` show it); any edit makes it the table's.
    pub seed: bool,
    /// Bumped by every write to the rule; the `ETag`.
    pub version: i64,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl RateLimitBody {
    /// The body of `rule`, a seeded one with the environment's values (what the limiter applies).
    pub fn new(rule: &Rule, settings: &RateLimitSettings) -> Self {
        let (policy, limit, period) = if rule.seed {
            let env = settings.for_tier(&rule.tier);
            (env.name, env.quota, env.window_secs)
        } else {
            (rule.policy_name(), rule.limit, rule.period)
        };
        Self {
            id: rule.id.clone(),
            tier: rule.tier.clone(),
            path: rule.pattern.as_str().to_owned(),
            limit,
            period,
            policy,
            seed: rule.seed,
            version: rule.version,
            created_at: rule.created_at.clone(),
            updated_at: rule.updated_at.clone(),
        }
    }
}

/// A tier's rules, oldest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RateLimitList {
    /// The rules.
    pub items: Vec<RateLimitBody>,
}

/// A new tier.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTier {
    /// 1-32 of `[a-z0-9_-]`.
    #[schema(pattern = "^[a-z0-9_-]{1,32}$")]
    pub name: String,
    /// At most 200 characters.
    pub description: Option<String>,
}

/// What a tier edit may change: its description (its name is its identity; users carry it).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchTier {
    /// At most 200 characters; `""` removes it.
    pub description: Option<String>,
}

/// A new rule.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRateLimit {
    /// `[METHOD ]PATH`: the method one of GET, POST, PUT, PATCH, DELETE or absent; the path `*`
    /// or from `/`, each segment a literal of `[A-Za-z0-9._~-]` or `*` (one segment; at the end,
    /// one or more); at most 200 characters.
    pub path: String,
    /// Requests per period, at least 1.
    #[schema(minimum = 1, maximum = 10_000_000)]
    pub limit: i64,
    /// Seconds, 1-86400.
    #[schema(minimum = 1, maximum = 86_400)]
    pub period: i64,
}

/// What a rule edit may change.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchRateLimit {
    /// A new pattern (the rule keeps its id and its policy name).
    pub path: Option<String>,
    /// Requests per period, at least 1.
    #[schema(minimum = 1, maximum = 10_000_000)]
    pub limit: Option<i64>,
    /// Seconds, 1-86400.
    #[schema(minimum = 1, maximum = 86_400)]
    pub period: Option<i64>,
}

fn field(name: &str, msg: impl Into<String>) -> FieldError {
    FieldError::new(&["body", name], msg, "value_error")
}

fn outcome(errors: Vec<FieldError>) -> Result<(), ApiError> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

fn check_description(errors: &mut Vec<FieldError>, d: Option<&String>) {
    if d.is_some_and(|d| d.chars().count() > DESCRIPTION_MAX || d.chars().any(char::is_control)) {
        errors.push(field(
            "description",
            format!(
                "description must be at most {DESCRIPTION_MAX} characters, none a control character"
            ),
        ));
    }
}

fn check_rule(
    errors: &mut Vec<FieldError>,
    path: Option<&String>,
    limit: Option<i64>,
    period: Option<i64>,
) {
    if let Some(Err(why)) = path.map(|p| Pattern::parse(p)) {
        errors.push(field("path", why));
    }
    if limit.is_some_and(|l| !(1..=10_000_000).contains(&l)) {
        errors.push(field("limit", "limit must be 1-10000000 requests"));
    }
    if period.is_some_and(|p| !(1..=86_400).contains(&p)) {
        errors.push(field("period", "period must be 1-86400 seconds"));
    }
}

impl CreateTier {
    /// The name and description by their rules.
    pub fn check(&self) -> Result<(), ApiError> {
        let mut errors = Vec::new();
        if !valid_tier_name(&self.name) {
            errors.push(field("name", "name must be 1-32 of [a-z0-9_-]"));
        }
        check_description(&mut errors, self.description.as_ref());
        outcome(errors)
    }
}

impl PatchTier {
    /// The description by its rule.
    pub fn check(&self) -> Result<(), ApiError> {
        let mut errors = Vec::new();
        check_description(&mut errors, self.description.as_ref());
        outcome(errors)
    }
}

impl CreateRateLimit {
    /// The pattern, limit and period by their rules.
    pub fn check(&self) -> Result<(), ApiError> {
        let mut errors = Vec::new();
        check_rule(
            &mut errors,
            Some(&self.path),
            Some(self.limit),
            Some(self.period),
        );
        outcome(errors)
    }
}

impl PatchRateLimit {
    /// The pattern, limit and period by their rules.
    pub fn check(&self) -> Result<(), ApiError> {
        let mut errors = Vec::new();
        check_rule(&mut errors, self.path.as_ref(), self.limit, self.period);
        outcome(errors)
    }
}

macro_rules! validate {
    ($($body:ty),*) => {$(
        impl Validate for $body {
            fn rule_errors(&self) -> Vec<FieldError> {
                failures(self.check())
            }
        }
    )*};
}
validate!(CreateTier, PatchTier, CreateRateLimit, PatchRateLimit);

/// `body` with `ETag: "<version>"` (a strong validator: the version every write bumps).
pub fn tagged<T: Serialize>(status: StatusCode, version: i64, body: T) -> Response {
    let mut response = (status, Json(body)).into_response();
    ETag::version(version).set(&mut response);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_422_names_every_broken_field_of_a_rule() {
        let body = CreateRateLimit {
            path: "FETCH /x".to_owned(),
            limit: 0,
            period: 86_401,
        };
        let Err(ApiError::Validation(errors)) = body.check() else {
            panic!("accepted");
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.loc[1].as_str()).collect();
        assert_eq!(fields, ["path", "limit", "period"]);
    }
}
