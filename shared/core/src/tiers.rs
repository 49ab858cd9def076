//! Tiers and their per-path rate limits as data (`TIERS_TABLE`), as the limiter reads them.
//!
//! - **Items** (key `pk` only; the table holds tens of items, so it is read whole with `Scan`):
//!   a tier `TIER#<name>` (`kind = tier`), its rules `TIER#<name>#RULE#<id>` (`kind = rule`:
//!   `path`, `limit`, `period`, and `seed = true` while no admin has touched a seeded rule), and
//!   the marker `SEEDED` (the environment's tiers were written once; an admin who deletes them
//!   all does not see them come back). Every write bumps `version`.
//! - **Patterns** ([`Pattern`], `tiers/pattern.rs`): `[METHOD ]PATH`, the method one of
//!   `GET POST PUT PATCH DELETE` or absent (any method); `PATH` is `*` (every path) or starts
//!   with `/`, each segment a literal of `[A-Za-z0-9._~-]` or `*`: one segment in the middle, one
//!   or more segments at the end.
//! - **Specificity** ([`Pattern::specificity`]): of the rules of a tier that match a request, the
//!   one with the most literal segments wins; then a pattern of fixed length over one ending in
//!   `*`; then a method-qualified one over one for any method; then more segments; then the
//!   longer text; then the smaller id (a stable order, never the scan's).
//! - **Rules** ([`Rule`], [`RuleSet`], `tiers/rules.rs`): the stored items, read with `Scan`,
//!   each tier's sorted most specific first.
//! - **The cache** ([`RuleCache`], `tiers/cache.rs`): every rule of every tier, read with one
//!   `Scan` per `RATE_LIMITS_CACHE_SECS` per sandbox, single-flight, keeping the last good set
//!   when a read fails.
//!
//! This file holds the keys and the tier-name rule; the submodules are private and their items
//! re-exported here, so each has one path: `shared::tiers::<item>`.

mod cache;
mod pattern;
mod rules;

pub use cache::RuleCache;
pub use pattern::{METHODS, PATTERN_MAX_LEN, Pattern};
pub use rules::{Rule, RuleSet, is_rule, read_rules, scan_all};

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tier_names_follow_the_users_rule() {
        assert!(valid_tier_name("pro") && valid_tier_name("team_2-b"));
        assert!(
            !valid_tier_name("") && !valid_tier_name("Pro") && !valid_tier_name(&"a".repeat(33))
        );
        assert!(!valid_tier_name("a#b") && !valid_tier_name("a b"));
    }
}
