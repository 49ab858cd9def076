//! `TIERS_TABLE`: tiers, their rules and the seed marker (the item layout is in
//! [`shared::tiers`]), and the in-use check on `USERS_TABLE`'s `by_tier` index.
//!
//! A tier item counts its rules (`rules`): creating or deleting a rule updates it in the same
//! transaction (so the count is exact, capped at [`MAX_RULES`], and the tier's `version` moves),
//! and deleting a tier deletes it and its rules in one transaction conditioned on the version
//! it read, so a rule created meanwhile is never orphaned.

use aws_sdk_dynamodb::{
    Client,
    types::{AttributeValue, Delete, Put, TransactWriteItem, Update},
};
use shared::{
    clock::now_rfc3339,
    dynamo::{self, Item, StoreError, get_n, get_s, n, opt_s, s},
    ratelimit::RateLimitSettings,
    tiers::{Rule, SEEDED_KEY, is_rule, rule_key, scan_all, tier_key},
};

/// The most rules a tier holds: the tier and its rules are deleted in one transaction of at
/// most 100 items.
pub const MAX_RULES: i64 = 99;

/// A stored tier.
#[derive(Debug, Clone)]
pub struct Tier {
    /// 1-32 of `[a-z0-9_-]`.
    pub name: String,
    /// Free text for admins.
    pub description: Option<String>,
    /// How many rules it has.
    pub rules: i64,
    /// Bumped by every write to the tier, including a rule's creation or deletion.
    pub version: i64,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl TryFrom<&Item> for Tier {
    type Error = StoreError;

    fn try_from(item: &Item) -> Result<Self, StoreError> {
        Ok(Self {
            name: get_s(item, "name")?,
            description: opt_s(item, "description")?,
            rules: get_n(item, "rules")?,
            version: get_n(item, "version")?,
            created_at: get_s(item, "created_at")?,
            updated_at: get_s(item, "updated_at")?,
        })
    }
}

/// What a new rule is.
#[derive(Debug)]
pub struct NewRule<'a> {
    /// The pattern, validated.
    pub path: &'a str,
    /// Requests per period.
    pub limit: i64,
    /// Seconds.
    pub period: i64,
}

/// What a rule edit changes.
#[derive(Debug, Default)]
pub struct RuleChanges {
    /// A new pattern, validated.
    pub path: Option<String>,
    /// A new limit.
    pub limit: Option<i64>,
    /// A new period.
    pub period: Option<i64>,
}

/// The table, the users table (for the in-use check) and the environment's seed.
#[derive(Debug)]
pub struct TiersStore {
    client: Client,
    table: String,
    users_table: String,
    /// The environment's limits: the seed, and what seeded rules apply.
    pub settings: RateLimitSettings,
    seeded: tokio::sync::OnceCell<()>,
}

fn kind_rule(tier: &str, id: &str) -> Item {
    Item::from([
        ("pk".into(), s(rule_key(tier, id))),
        ("kind".into(), s("rule")),
        ("tier".into(), s(tier)),
        ("id".into(), s(id)),
    ])
}

impl TiersStore {
    /// The store over `table`, checking tiers in use in `users_table`.
    pub fn new(
        client: Client,
        table: String,
        users_table: String,
        settings: RateLimitSettings,
    ) -> Self {
        Self {
            client,
            table,
            users_table,
            settings,
            seeded: tokio::sync::OnceCell::new(),
        }
    }

    /// Writes the environment's tiers (`free`, `pro`, `enterprise`, each with one rule `*` of
    /// its `RATE_LIMIT_TIER_*` quota per `RATE_LIMIT_WINDOW`) unless the seed marker says they
    /// were written once (here or by the local bootstrap). Every put is conditional on the item
    /// being absent: an admin's edits are never overwritten. Once per sandbox; a failure is
    /// retried by the next request.
    pub async fn ensure_seeded(&self) -> Result<(), StoreError> {
        self.seeded
            .get_or_try_init(|| async {
                if dynamo::get(&self.client, &self.table, SEEDED_KEY.to_owned())
                    .await?
                    .is_some()
                {
                    return Ok(());
                }
                let now = now_rfc3339();
                for (name, quota) in self.settings.seed() {
                    let mut tier = tier_item(name, &now);
                    tier.insert("rules".into(), n(1));
                    dynamo::applied(self.put_new(tier).await)?;
                    let mut rule = kind_rule(name, "all");
                    rule.extend([
                        ("path".into(), s("*")),
                        ("limit".into(), n(quota)),
                        ("period".into(), n(self.settings.window_secs)),
                        ("seed".into(), dynamo::b(true)),
                        ("version".into(), n(1)),
                        ("created_at".into(), s(&now)),
                        ("updated_at".into(), s(&now)),
                    ]);
                    dynamo::applied(self.put_new(rule).await)?;
                }
                let marker = Item::from([
                    ("pk".into(), s(SEEDED_KEY)),
                    ("kind".into(), s("seeded")),
                    ("at".into(), s(&now)),
                ]);
                dynamo::applied(self.put_new(marker).await)?;
                Ok(())
            })
            .await
            .map(|_| ())
    }

    async fn put_new(&self, item: Item) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await?;
        Ok(())
    }

    /// Every tier and every rule.
    pub async fn all(&self) -> Result<(Vec<Tier>, Vec<Rule>), StoreError> {
        let items = scan_all(&self.client, &self.table).await?;
        let mut tiers = Vec::new();
        let mut rules = Vec::new();
        for item in &items {
            match opt_s(item, "kind")?.as_deref() {
                Some("tier") => tiers.push(Tier::try_from(item)?),
                _ if is_rule(item) => rules.push(Rule::try_from(item)?),
                _ => {}
            }
        }
        tiers.sort_by(|a, b| a.name.cmp(&b.name));
        rules.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        Ok((tiers, rules))
    }

    /// The rules of tier `name`, oldest first.
    pub async fn rules_of(&self, name: &str) -> Result<Vec<Rule>, StoreError> {
        let (_, rules) = self.all().await?;
        Ok(rules.into_iter().filter(|r| r.tier == name).collect())
    }

    /// Tier `name`.
    pub async fn tier(&self, name: &str) -> Result<Option<Tier>, StoreError> {
        dynamo::get(&self.client, &self.table, tier_key(name))
            .await?
            .as_ref()
            .map(Tier::try_from)
            .transpose()
    }

    /// Rule `id` of tier `name`.
    pub async fn rule(&self, name: &str, id: &str) -> Result<Option<Rule>, StoreError> {
        dynamo::get(&self.client, &self.table, rule_key(name, id))
            .await?
            .as_ref()
            .map(Rule::try_from)
            .transpose()
    }

    /// Creates tier `name`; `ConditionFailed` when it exists.
    pub async fn create_tier(
        &self,
        name: &str,
        description: Option<&str>,
    ) -> Result<Tier, StoreError> {
        let now = now_rfc3339();
        let mut item = tier_item(name, &now);
        item.insert("rules".into(), n(0));
        if let Some(d) = description {
            item.insert("description".into(), s(d));
        }
        self.put_new(item).await?;
        Ok(Tier {
            name: name.to_owned(),
            description: description.map(str::to_owned),
            rules: 0,
            version: 1,
            created_at: now.clone(),
            updated_at: now,
        })
    }

    /// Sets (`Some("")`: removes) the description of tier `name` at `version`, when given.
    /// `ConditionFailed` when it is gone or at another version.
    pub async fn update_tier(
        &self,
        name: &str,
        description: Option<&str>,
        version: Option<i64>,
    ) -> Result<Tier, StoreError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(tier_key(name)))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", s(now_rfc3339()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew);
        let mut update = "SET version = version + :one, updated_at = :now".to_owned();
        match description {
            Some("") => update.push_str(" REMOVE description"),
            Some(d) => {
                update.push_str(", description = :d");
                request = request.expression_attribute_values(":d", s(d));
            }
            None => {}
        }
        let condition = match version {
            Some(v) => {
                request = request.expression_attribute_values(":v", n(v));
                "attribute_exists(pk) AND version = :v"
            }
            None => "attribute_exists(pk)",
        };
        let out = request
            .update_expression(update)
            .condition_expression(condition)
            .send()
            .await?;
        Tier::try_from(&out.attributes.unwrap_or_default())
    }

    /// Whether a live (not deleted) user has tier `name`, by the `by_tier` index (eventually
    /// consistent: a move into the tier within about a second may not show yet).
    pub async fn in_use(&self, name: &str) -> Result<bool, StoreError> {
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.users_table)
                .index_name("by_tier")
                .key_condition_expression("#tier = :tier")
                .filter_expression("#deleted = :f")
                .expression_attribute_names("#tier", "tier")
                .expression_attribute_names("#deleted", "deleted")
                .expression_attribute_values(":tier", s(name))
                .expression_attribute_values(":f", AttributeValue::Bool(false))
                .set_exclusive_start_key(start)
                .send()
                .await?;
            if out.count > 0 {
                return Ok(true);
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(false),
            }
        }
    }

    /// Deletes tier `name`, read at `version`, and `rules` (its rules) in one transaction.
    /// `ConditionFailed` when the tier changed since (a rule created or deleted, an edit).
    pub async fn delete_tier(
        &self,
        name: &str,
        version: i64,
        rules: &[Rule],
    ) -> Result<(), StoreError> {
        let mut items = vec![
            TransactWriteItem::builder()
                .delete(
                    Delete::builder()
                        .table_name(&self.table)
                        .key("pk", s(tier_key(name)))
                        .condition_expression("version = :v")
                        .expression_attribute_values(":v", n(version))
                        .build()?,
                )
                .build(),
        ];
        for rule in rules {
            items.push(
                TransactWriteItem::builder()
                    .delete(
                        Delete::builder()
                            .table_name(&self.table)
                            .key("pk", s(rule_key(name, &rule.id)))
                            .build()?,
                    )
                    .build(),
            );
        }
        dynamo::transact(&self.client, items).await
    }

    fn bump_tier(
        &self,
        name: &str,
        delta: i64,
        now: &str,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(tier_key(name)))
            .update_expression(
                "SET #rules = #rules + :delta, version = version + :one, updated_at = :now",
            )
            .expression_attribute_names("#rules", "rules")
            .expression_attribute_values(":delta", n(delta))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", s(now));
        update = if delta > 0 {
            update
                .condition_expression("attribute_exists(pk) AND #rules < :max")
                .expression_attribute_values(":max", n(MAX_RULES))
        } else {
            update.condition_expression("attribute_exists(pk)")
        };
        Ok(TransactWriteItem::builder().update(update.build()?).build())
    }

    /// Creates a rule of tier `name`, counted on the tier in the same transaction.
    /// `ConditionFailed` when the tier is gone or holds [`MAX_RULES`] already.
    pub async fn create_rule(&self, name: &str, new: &NewRule<'_>) -> Result<Rule, StoreError> {
        let now = now_rfc3339();
        let id = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
        let mut item = kind_rule(name, &id);
        item.extend([
            ("path".into(), s(new.path)),
            ("limit".into(), n(new.limit)),
            ("period".into(), n(new.period)),
            ("version".into(), n(1)),
            ("created_at".into(), s(&now)),
            ("updated_at".into(), s(&now)),
        ]);
        let rule = Rule::try_from(&item)?;
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()?;
        dynamo::transact(
            &self.client,
            vec![
                self.bump_tier(name, 1, &now)?,
                TransactWriteItem::builder().put(put).build(),
            ],
        )
        .await?;
        Ok(rule)
    }

    /// Changes rule `id` of tier `name` (at `version`, when given); it is no longer a seed.
    /// `ConditionFailed` when it is gone or at another version.
    pub async fn update_rule(
        &self,
        name: &str,
        id: &str,
        changes: &RuleChanges,
        version: Option<i64>,
    ) -> Result<Rule, StoreError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(rule_key(name, id)))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", s(now_rfc3339()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew);
        let mut set = vec!["version = version + :one", "updated_at = :now"];
        if let Some(path) = &changes.path {
            set.push("#path = :path");
            request = request
                .expression_attribute_names("#path", "path")
                .expression_attribute_values(":path", s(path));
        }
        if let Some(limit) = changes.limit {
            set.push("#limit = :limit");
            request = request
                .expression_attribute_names("#limit", "limit")
                .expression_attribute_values(":limit", n(limit));
        }
        if let Some(period) = changes.period {
            set.push("period = :period");
            request = request.expression_attribute_values(":period", n(period));
        }
        let condition = match version {
            Some(v) => {
                request = request.expression_attribute_values(":v", n(v));
                "attribute_exists(pk) AND version = :v"
            }
            None => "attribute_exists(pk)",
        };
        let out = request
            .update_expression(format!("SET {} REMOVE seed", set.join(", ")))
            .condition_expression(condition)
            .send()
            .await?;
        Rule::try_from(&out.attributes.unwrap_or_default())
    }

    /// Deletes rule `id` of tier `name` (at `version`, when given), uncounted on the tier in
    /// the same transaction. `ConditionFailed` when it is gone or at another version.
    pub async fn delete_rule(
        &self,
        name: &str,
        id: &str,
        version: Option<i64>,
    ) -> Result<(), StoreError> {
        let mut delete = Delete::builder()
            .table_name(&self.table)
            .key("pk", s(rule_key(name, id)));
        delete = match version {
            Some(v) => delete
                .condition_expression("attribute_exists(pk) AND version = :v")
                .expression_attribute_values(":v", n(v)),
            None => delete.condition_expression("attribute_exists(pk)"),
        };
        let now = now_rfc3339();
        dynamo::transact(
            &self.client,
            vec![
                TransactWriteItem::builder().delete(delete.build()?).build(),
                self.bump_tier(name, -1, &now)?,
            ],
        )
        .await
    }
}

fn tier_item(name: &str, now: &str) -> Item {
    Item::from([
        ("pk".into(), s(tier_key(name))),
        ("kind".into(), s("tier")),
        ("name".into(), s(name)),
        ("version".into(), n(1)),
        ("created_at".into(), s(now)),
        ("updated_at".into(), s(now)),
    ])
}
