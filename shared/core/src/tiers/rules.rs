//! Tier rules as stored in `TIERS_TABLE` ([`Rule`]), reading them with `Scan`, and the set the
//! limiter picks from ([`RuleSet`]: each tier's rules sorted most specific first, ties by id).

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;

use super::pattern::Pattern;
use crate::dynamo::{Item, StoreError, get_n, get_s, opt_s};

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

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(tier: &str, id: &str, path: &str) -> Rule {
        Rule {
            tier: tier.to_owned(),
            id: id.to_owned(),
            pattern: Pattern::parse(path).unwrap(),
            limit: 1,
            period: 60,
            version: 1,
            seed: false,
            created_at: String::new(),
            updated_at: String::new(),
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

    #[test]
    fn equally_specific_rules_are_ordered_by_id_not_by_arrival() {
        let one = RuleSet::new([rule("t", "bbb", "/a/*"), rule("t", "aaa", "/a/*")]);
        let other = RuleSet::new([rule("t", "aaa", "/a/*"), rule("t", "bbb", "/a/*")]);
        assert_eq!(one.pick("t", "GET", "/a/b").unwrap().id, "aaa");
        assert_eq!(other.pick("t", "GET", "/a/b").unwrap().id, "aaa");
    }
}
