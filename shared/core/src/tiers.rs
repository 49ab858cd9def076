//! Tiers and their per-path rate limits as data (`TIERS_TABLE`), as the limiter reads them.
//!
//! - **Items** (key `pk` only; the table holds tens of items, so it is read whole with `Scan`):
//!   a tier `TIER#<name>` (`kind = tier`), its rules `TIER#<name>#RULE#<id>` (`kind = rule`:
//!   `path`, `limit`, `period`, and `seed = true` while no admin has touched a seeded rule), and
//!   the marker `SEEDED` (the environment's tiers were written once; an admin who deletes them
//!   all does not see them come back). Every write bumps `version`.
//! - **Patterns** ([`Pattern`]): `[METHOD ]PATH`, the method one of `GET POST PUT PATCH DELETE`
//!   or absent (any method); `PATH` is `*` (every path) or starts with `/`, each segment a literal
//!   of `[A-Za-z0-9._~-]` or `*`: one segment in the middle, one or more segments at the end.
//! - **Specificity** ([`Pattern::specificity`]): of the rules of a tier that match a request, the
//!   one with the most literal segments wins; then a pattern of fixed length over one ending in
//!   `*`; then a method-qualified one over one for any method; then more segments; then the
//!   longer text; then the smaller id (a stable order, never the scan's).
//! - **The cache** ([`RuleCache`]): every rule of every tier, read with one `Scan` per
//!   `RATE_LIMITS_CACHE_SECS` per sandbox, single-flight, keeping the last good set when a read
//!   fails.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use aws_sdk_dynamodb::Client;

use crate::dynamo::{Item, StoreError, get_n, get_s, opt_s};

/// The longest pattern accepted.
pub const PATTERN_MAX_LEN: usize = 200;

/// The methods a pattern may name.
pub const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// One segment of a pattern's path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// Exactly this text.
    Literal(String),
    /// Any one segment.
    One,
}

/// A rule's route pattern, parsed: `POST /api/v1/uploads`, `GET /api/v1/users/*`, `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    text: String,
    method: Option<String>,
    /// `None`: `*`, every path.
    segments: Option<Vec<Segment>>,
    /// The path ends in `/*`: one or more further segments.
    rest: bool,
}

impl Pattern {
    /// Parses `text`, or says what is wrong with it (the 422's message).
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() || text.len() > PATTERN_MAX_LEN {
            return Err(format!("path must be 1-{PATTERN_MAX_LEN} characters"));
        }
        let (method, path) = match text.split_once(' ') {
            Some((method, path)) => {
                if !METHODS.contains(&method) {
                    return Err(format!(
                        "the method must be one of {} (or absent for any method)",
                        METHODS.join(", ")
                    ));
                }
                (Some(method.to_owned()), path)
            }
            None => (None, text),
        };
        if path == "*" {
            return Ok(Self {
                text: text.to_owned(),
                method,
                segments: None,
                rest: false,
            });
        }
        let Some(tail) = path.strip_prefix('/') else {
            return Err("the path must be `*` or start with `/`".to_owned());
        };
        let mut segments = Vec::new();
        let mut rest = false;
        if !tail.is_empty() {
            let parts: Vec<&str> = tail.split('/').collect();
            for (i, part) in parts.iter().enumerate() {
                let last = i + 1 == parts.len();
                match *part {
                    "" => {
                        return Err(
                            "the path has an empty segment (`//` or a trailing `/`)".to_owned()
                        );
                    }
                    "*" if last => rest = true,
                    "*" => segments.push(Segment::One),
                    lit if lit
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"._~-".contains(&b)) =>
                    {
                        segments.push(Segment::Literal(lit.to_owned()));
                    }
                    _ => {
                        return Err(
                            "each segment must be `*` or made of [A-Za-z0-9._~-]".to_owned()
                        );
                    }
                }
            }
        }
        Ok(Self {
            text: text.to_owned(),
            method,
            segments: Some(segments),
            rest,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether a request of `method` on `path` (its URI path, no query) falls under it.
    pub fn matches(&self, method: &str, path: &str) -> bool {
        if self.method.as_deref().is_some_and(|m| m != method) {
            return false;
        }
        let Some(segments) = &self.segments else {
            return true;
        };
        let Some(tail) = path.strip_prefix('/') else {
            return false;
        };
        let given: Vec<&str> = if tail.is_empty() {
            Vec::new()
        } else {
            tail.split('/').collect()
        };
        let fits = if self.rest {
            given.len() > segments.len()
        } else {
            given.len() == segments.len()
        };
        fits && segments.iter().zip(&given).all(|(s, g)| match s {
            Segment::Literal(lit) => lit == g,
            Segment::One => !g.is_empty(),
        })
    }

    /// How specific the pattern is; of two matching patterns the greater wins (the order is in
    /// the module's documentation).
    pub fn specificity(&self) -> (usize, bool, bool, usize, usize) {
        let segments = self.segments.as_deref().unwrap_or_default();
        let literals = segments
            .iter()
            .filter(|s| matches!(s, Segment::Literal(_)))
            .count();
        let fixed = self.segments.is_some() && !self.rest;
        (
            literals,
            fixed,
            self.method.is_some(),
            segments.len(),
            self.text.len(),
        )
    }
}

/// A tier name: 1-32 of `[a-z0-9_-]` (what `PATCH /users/{id}` accepts as a tier).
pub fn valid_tier_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// The key of tier `name`.
pub fn tier_key(name: &str) -> String {
    format!("TIER#{name}")
}

/// The key of rule `id` of tier `name`.
pub fn rule_key(name: &str, id: &str) -> String {
    format!("TIER#{name}#RULE#{id}")
}

/// The key of the marker written once the environment's tiers were seeded.
pub const SEEDED_KEY: &str = "SEEDED";

/// One rate-limit rule of a tier, as stored.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The tier it belongs to.
    pub tier: String,
    /// Its id (8 hex digits), unique in its tier.
    pub id: String,
    /// The route pattern.
    pub pattern: Pattern,
    /// Requests per period (>= 1).
    pub limit: i64,
    /// Period in seconds (1..=86400).
    pub period: i64,
    /// Bumped by every write.
    pub version: i64,
    /// Seeded from the environment and untouched since: the limiter applies the environment's
    /// policy for it (so a redeploy with another `RATE_LIMIT_TIER_*` still changes the quota).
    pub seed: bool,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl Rule {
    /// The policy name it counts under and the `RateLimit-Policy` header names:
    /// `<tier>:<id>` (the seeded, untouched rules count as the environment's `user-<tier>`).
    pub fn policy_name(&self) -> String {
        format!("{}:{}", self.tier, self.id)
    }
}

impl TryFrom<&Item> for Rule {
    type Error = StoreError;

    fn try_from(item: &Item) -> Result<Self, StoreError> {
        let path = get_s(item, "path")?;
        Ok(Self {
            tier: get_s(item, "tier")?,
            id: get_s(item, "id")?,
            pattern: Pattern::parse(&path).map_err(|_| StoreError::malformed("path", "pattern"))?,
            limit: get_n(item, "limit")?,
            period: get_n(item, "period")?,
            version: get_n(item, "version")?,
            seed: matches!(
                item.get("seed"),
                Some(aws_sdk_dynamodb::types::AttributeValue::Bool(true))
            ),
            created_at: get_s(item, "created_at")?,
            updated_at: get_s(item, "updated_at")?,
        })
    }
}

/// Whether a scanned item is a rule (tiers and the marker are skipped).
pub fn is_rule(item: &Item) -> bool {
    opt_s(item, "kind").ok().flatten().as_deref() == Some("rule")
}

/// Every rule of every tier, each tier's sorted most specific first.
#[derive(Debug, Default)]
pub struct RuleSet {
    by_tier: HashMap<String, Vec<Rule>>,
}

impl RuleSet {
    /// The set of `rules`, sorted.
    pub fn new(rules: impl IntoIterator<Item = Rule>) -> Self {
        let mut by_tier: HashMap<String, Vec<Rule>> = HashMap::new();
        for rule in rules {
            by_tier.entry(rule.tier.clone()).or_default().push(rule);
        }
        for rules in by_tier.values_mut() {
            rules.sort_by(|a, b| {
                b.pattern
                    .specificity()
                    .cmp(&a.pattern.specificity())
                    .then_with(|| a.id.cmp(&b.id))
            });
        }
        Self { by_tier }
    }

    /// The most specific rule of `tier` for a request of `method` on `path`.
    pub fn pick(&self, tier: &str, method: &str, path: &str) -> Option<&Rule> {
        self.by_tier
            .get(tier)?
            .iter()
            .find(|r| r.pattern.matches(method, path))
    }

    /// How many rules the set holds.
    pub fn len(&self) -> usize {
        self.by_tier.values().map(Vec::len).sum()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Every item of the table, page by page (one `Scan` call per page of 1 MB; the table holds
/// tens of small items, so one call).
pub async fn scan_all(client: &Client, table: &str) -> Result<Vec<Item>, StoreError> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let out = client
            .scan()
            .table_name(table)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await?;
        items.extend(out.items.unwrap_or_default());
        match out.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => return Ok(items),
        }
    }
}

/// Every rule of the table.
pub async fn read_rules(client: &Client, table: &str) -> Result<RuleSet, StoreError> {
    let items = scan_all(client, table).await?;
    let rules = items
        .iter()
        .filter(|item| is_rule(item))
        .map(Rule::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RuleSet::new(rules))
}

/// What the cache holds: the last good set and when it was last read (or tried).
#[derive(Debug, Default)]
struct Snapshot {
    rules: Arc<RuleSet>,
    read_at: Option<Instant>,
}

/// The rules of `TIERS_TABLE`, read with one `Scan` at most once per `ttl` per sandbox.
///
/// - Fresh (read less than `ttl` ago): no DynamoDB call.
/// - Expired: the first request to notice reads (single-flight); the requests that arrive while
///   it reads use the previous set. With nothing read yet, they wait for that one read.
/// - A failed read keeps the last good set (empty at first: the environment's policies apply)
///   and is tried again after `ttl`.
/// - `ttl` zero: every request reads (one at a time).
#[derive(Debug)]
pub struct RuleCache {
    client: Client,
    table: String,
    ttl: Duration,
    timeout: Duration,
    snapshot: Mutex<Snapshot>,
    reading: tokio::sync::Mutex<()>,
    reads: AtomicU64,
}

impl RuleCache {
    /// A cache of `table`'s rules, read again after `ttl`, each read bounded by `timeout`.
    pub fn new(client: Client, table: String, ttl: Duration, timeout: Duration) -> Self {
        Self {
            client,
            table,
            ttl,
            timeout,
            snapshot: Mutex::new(Snapshot::default()),
            reading: tokio::sync::Mutex::new(()),
            reads: AtomicU64::new(0),
        }
    }

    /// The `Scan`s this cache started (tests count them).
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// The set read less than `ttl` ago (`None`: expired or never read), and the last good one.
    fn cached(&self) -> (Option<Arc<RuleSet>>, Arc<RuleSet>, bool) {
        // A poisoned lock only means a panic elsewhere while holding it; the snapshot is whole.
        let snapshot = self.snapshot.lock().unwrap_or_else(|e| e.into_inner());
        let fresh = snapshot
            .read_at
            .is_some_and(|at| !self.ttl.is_zero() && at.elapsed() < self.ttl);
        (
            fresh.then(|| snapshot.rules.clone()),
            snapshot.rules.clone(),
            snapshot.read_at.is_some(),
        )
    }

    /// The rules to apply now.
    pub async fn current(&self) -> Arc<RuleSet> {
        let (fresh, last, ever_read) = self.cached();
        if let Some(rules) = fresh {
            return rules;
        }
        // Single flight: one request reads; while it does, the others use the last set
        // (or, before the first read and with `ttl` zero, wait for it).
        let _reading = if ever_read && !self.ttl.is_zero() {
            match self.reading.try_lock() {
                Ok(guard) => guard,
                Err(_) => return last,
            }
        } else {
            self.reading.lock().await
        };
        // Another request may have read while this one waited.
        if let (Some(rules), _, _) = self.cached() {
            return rules;
        }
        self.reads.fetch_add(1, Ordering::Relaxed);
        let read = tokio::time::timeout(self.timeout, read_rules(&self.client, &self.table)).await;
        let mut snapshot = self.snapshot.lock().unwrap_or_else(|e| e.into_inner());
        snapshot.read_at = Some(Instant::now());
        match read {
            Ok(Ok(rules)) => snapshot.rules = Arc::new(rules),
            Ok(Err(err)) => {
                tracing::warn!(error = ?err, table = %self.table, "reading the tier rules failed; the last rules apply");
            }
            Err(_) => {
                tracing::warn!(table = %self.table, "reading the tier rules timed out; the last rules apply");
            }
        }
        snapshot.rules.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Pattern {
        Pattern::parse(text).unwrap()
    }

    fn rule(tier: &str, id: &str, path: &str) -> Rule {
        Rule {
            tier: tier.to_owned(),
            id: id.to_owned(),
            pattern: p(path),
            limit: 1,
            period: 60,
            version: 1,
            seed: false,
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    #[test]
    fn patterns_match_by_method_literal_segments_and_wildcards() {
        assert!(p("POST /api/v1/uploads").matches("POST", "/api/v1/uploads"));
        assert!(!p("POST /api/v1/uploads").matches("GET", "/api/v1/uploads"));
        assert!(!p("POST /api/v1/uploads").matches("POST", "/api/v1/uploads/x"));
        assert!(p("/api/v1/uploads").matches("DELETE", "/api/v1/uploads"));
        // A `*` in the middle is one segment; at the end, one or more.
        assert!(p("/api/v1/uploads/*/complete").matches("POST", "/api/v1/uploads/ab/complete"));
        assert!(!p("/api/v1/uploads/*/complete").matches("POST", "/api/v1/uploads/complete"));
        assert!(p("GET /api/v1/users/*").matches("GET", "/api/v1/users/me"));
        assert!(p("GET /api/v1/users/*").matches("GET", "/api/v1/users/a/b"));
        assert!(!p("GET /api/v1/users/*").matches("GET", "/api/v1/users"));
        assert!(p("*").matches("PATCH", "/anything/at/all"));
        assert!(p("GET *").matches("GET", "/x") && !p("GET *").matches("POST", "/x"));
        assert!(p("/").matches("GET", "/") && !p("/").matches("GET", "/a"));
    }

    #[test]
    fn malformed_patterns_are_refused_with_a_reason() {
        for bad in [
            "",
            "api/v1/uploads",
            "FETCH /api/v1/uploads",
            "post /api/v1/uploads",
            "POST  /api/v1/uploads",
            "/api//v1",
            "/api/v1/",
            "/api/v1/up*",
            "/api/v1/{id}",
            "/api/v1/ü",
            &format!("/{}", "a".repeat(PATTERN_MAX_LEN)),
        ] {
            assert!(Pattern::parse(bad).is_err(), "{bad:?} was accepted");
        }
        for good in ["*", "GET *", "/", "DELETE /api/v1/uploads/*", "/a/*/b/*"] {
            assert!(Pattern::parse(good).is_ok(), "{good:?} was refused");
        }
    }

    #[test]
    fn the_most_specific_rule_wins_in_the_documented_order() {
        let set = RuleSet::new([
            rule("pro", "a-all", "*"),
            rule("pro", "b-get-all", "GET *"),
            rule("pro", "c-users-rest", "/api/v1/users/*"),
            rule("pro", "d-users-one", "/api/v1/users/*/x"),
            rule("pro", "e-users-me", "/api/v1/users/me"),
            rule("pro", "f-get-users-me", "GET /api/v1/users/me"),
            rule("pro", "g-get-users-rest", "GET /api/v1/users/*"),
            rule("free", "z", "*"),
        ]);
        let pick = |method: &str, path: &str| set.pick("pro", method, path).map(|r| r.id.clone());
        // Literal segments first, then fixed length, then the method.
        assert_eq!(
            pick("GET", "/api/v1/users/me").as_deref(),
            Some("f-get-users-me")
        );
        assert_eq!(
            pick("PATCH", "/api/v1/users/me").as_deref(),
            Some("e-users-me")
        );
        // Four literals beat three, whatever the wildcards.
        assert_eq!(
            pick("DELETE", "/api/v1/users/7/x").as_deref(),
            Some("d-users-one")
        );
        // Same literals (three), both ending in `*`: the method-qualified one.
        assert_eq!(
            pick("GET", "/api/v1/users/7").as_deref(),
            Some("g-get-users-rest")
        );
        assert_eq!(
            pick("DELETE", "/api/v1/users/7").as_deref(),
            Some("c-users-rest")
        );
        // No literal anywhere: `GET *` over `*`.
        assert_eq!(pick("GET", "/api/v1/uploads").as_deref(), Some("b-get-all"));
        assert_eq!(pick("POST", "/api/v1/uploads").as_deref(), Some("a-all"));
        // Other tiers' rules never apply; an unknown tier has none.
        assert_eq!(
            set.pick("free", "GET", "/x").map(|r| r.id.as_str()),
            Some("z")
        );
        assert!(set.pick("gold", "GET", "/x").is_none());
    }

    #[test]
    fn with_as_many_literals_a_fixed_length_beats_a_final_wildcard() {
        let set = RuleSet::new([rule("t", "a", "GET /a/b/*"), rule("t", "b", "/a/*/c")]);
        assert_eq!(set.pick("t", "GET", "/a/b/c").unwrap().id, "b");
        assert_eq!(set.pick("t", "GET", "/a/b/d").unwrap().id, "a");
    }

    #[tokio::test]
    async fn a_failed_read_leaves_no_rules_and_is_retried_after_the_ttl_not_per_request() {
        // No credentials and a closed port: every read fails at once.
        let client = Client::from_conf(
            aws_sdk_dynamodb::Config::builder()
                .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
                .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
                .endpoint_url("http://127.0.0.1:9")
                .build(),
        );
        let cache = RuleCache::new(
            client,
            "tiers".to_owned(),
            Duration::from_millis(300),
            Duration::from_millis(500),
        );
        for _ in 0..5 {
            assert!(
                cache.current().await.is_empty(),
                "the environment's policies apply"
            );
        }
        assert_eq!(cache.reads(), 1, "one read per TTL, failed or not");
        tokio::time::sleep(Duration::from_millis(350)).await;
        cache.current().await;
        assert_eq!(cache.reads(), 2, "tried again after the TTL");
    }

    #[test]
    fn equally_specific_rules_are_ordered_by_id_not_by_arrival() {
        let one = RuleSet::new([rule("t", "bbb", "/a/*"), rule("t", "aaa", "/a/*")]);
        let other = RuleSet::new([rule("t", "aaa", "/a/*"), rule("t", "bbb", "/a/*")]);
        assert_eq!(one.pick("t", "GET", "/a/b").unwrap().id, "aaa");
        assert_eq!(other.pick("t", "GET", "/a/b").unwrap().id, "aaa");
    }

    #[test]
    fn tier_names_follow_the_users_rule() {
        assert!(valid_tier_name("pro") && valid_tier_name("team_2-b"));
        assert!(
            !valid_tier_name("") && !valid_tier_name("Pro") && !valid_tier_name(&"a".repeat(33))
        );
        assert!(!valid_tier_name("a#b") && !valid_tier_name("a b"));
    }
}
