//! The users table: single-table reads and writes. Writes that span tables (sessions, single-use
//! tokens) are in [`crate::store::transactions`].

use aws_sdk_dynamodb::{
    Client,
    operation::{
        query::builders::QueryFluentBuilder, update_item::builders::UpdateItemFluentBuilder,
    },
    types::{AttributeValue, ConditionCheck, TransactWriteItem, Update, builders::UpdateBuilder},
};
use shared::{
    clock::{now_ms, now_rfc3339},
    dynamo::{self, Item, Page, StoreError, b, get_s, list, n, opt_s, s},
};

use super::{
    guards,
    item::{NewUser, User, parse_user, user_key},
};
use crate::domain::{LoginName, PersonName, Username};

/// Changes an admin may make.
#[derive(Debug, Default)]
pub struct AdminChanges {
    /// Replace roles.
    pub roles: Option<Vec<String>>,
    /// Replace tier.
    pub tier: Option<String>,
    /// Enable or disable.
    pub disabled: Option<bool>,
}

/// Profile changes a user may make to themselves.
#[derive(Debug, Default)]
pub struct ProfileChanges {
    /// New first name.
    pub first_name: Option<PersonName>,
    /// New last name.
    pub last_name: Option<PersonName>,
    /// New username (moves its guard).
    pub username: Option<Username>,
}

/// The users table.
#[derive(Debug, Clone)]
pub struct Users {
    client: Client,
    table: String,
}

/// Sessions ended one by one whose access tokens may still run, kept on the user item at most
/// ([`Users::end_session_access`]); one more cuts off every session instead.
pub const MAX_ENDED: usize = 64;

/// A user id that never exists: the second read of a lookup that found no guard.
const NOBODY: &str = "00000000-0000-0000-0000-000000000000";

/// The `SET` action every write of a user item carries, so that the version (the user's
/// `ETag`) changes with every write in the write itself; items written before versions existed
/// count from 0. Its values come from [`Bump::bump`].
pub(crate) const BUMP: &str = "version = if_not_exists(version, :vzero) + :vone";

/// Adds [`BUMP`]'s values to an update.
pub(crate) trait Bump: Sized {
    /// The update with `:vzero` and `:vone`.
    fn bump(self) -> Self;
}

impl Bump for UpdateBuilder {
    fn bump(self) -> Self {
        self.expression_attribute_values(":vzero", n(0))
            .expression_attribute_values(":vone", n(1))
    }
}

impl Bump for UpdateItemFluentBuilder {
    fn bump(self) -> Self {
        self.expression_attribute_values(":vzero", n(0))
            .expression_attribute_values(":vone", n(1))
    }
}

/// `condition`, and the stored version is `expected` when there is one (`If-Match`): a user
/// stored before versions existed is version 0. Its value is `:expected` ([`expecting_value`]).
fn expecting(condition: &str, expected: Option<i64>) -> String {
    match expected {
        None => condition.to_owned(),
        Some(0) => {
            format!("({condition}) AND (attribute_not_exists(version) OR version = :expected)")
        }
        Some(_) => format!("({condition}) AND version = :expected"),
    }
}

/// Adds `:expected` to an update whose condition [`expecting`] made.
fn expecting_value(update: UpdateBuilder, expected: Option<i64>) -> UpdateBuilder {
    match expected {
        Some(version) => update.expression_attribute_values(":expected", n(version)),
        None => update,
    }
}

/// UsersTable's listing index (keys `gsi1pk` = `USER`, `gsi1sk` = `<created_at>#<id>`).
pub const LISTING_INDEX: &str = "by_created";

impl Users {
    /// Repository over `table`.
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }

    /// The table name (batch reads and transactions across tables).
    pub fn table(&self) -> &str {
        &self.table
    }

    /// A `Query` over every user (the `by_created` listing index, oldest first). The index
    /// projects the attributes a [`User`] is read from, not the ones every request writes.
    fn query_users(&self) -> QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .index_name(LISTING_INDEX)
            .key_condition_expression("gsi1pk = :u")
            .expression_attribute_values(":u", s("USER"))
    }

    /// An `UpdateItem` on user `id`.
    fn update_user(&self, id: &str) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(user_key(id)))
    }

    /// The user with `id`, deleted ones included (callers decide).
    pub async fn get(&self, id: &str) -> Result<Option<User>, StoreError> {
        let item = dynamo::get(&self.client, &self.table, user_key(id)).await?;
        parse_user(item.as_ref())
    }

    /// Looks a user up by username or email (read as [`LoginName::parse`] reads it).
    ///
    /// Always two reads, found or not, so response time does not tell accounts apart.
    pub async fn find_by_login(&self, identifier: &str) -> Result<Option<User>, StoreError> {
        self.find_login(&LoginName::parse(identifier)).await
    }

    /// Looks up the account `name` names, if any: always two reads, found or not, so response
    /// time does not tell accounts apart.
    pub async fn find_login(&self, name: &LoginName) -> Result<Option<User>, StoreError> {
        let guard = match name {
            LoginName::Email(email) => guards::email_key(email.as_str()),
            LoginName::Username(name) => guards::username_key(&name.key()),
            LoginName::Neither(_) => "NONE#".to_owned(),
        };
        let held = dynamo::get(&self.client, &self.table, guard).await?;
        let user_id = held.as_ref().map(|i| opt_s(i, "user_id")).transpose()?;
        let user_id = user_id.flatten();
        let found = self
            .get(user_id.as_deref().unwrap_or(NOBODY))
            .await?
            .filter(|u| !u.deleted && user_id.is_some());
        Ok(found)
    }

    /// Creates the user and both guards in one transaction; `ConditionFailed` when the username
    /// or email is taken.
    pub async fn create(&self, new: NewUser) -> Result<User, StoreError> {
        let user = new.into_user(uuid::Uuid::new_v4().to_string(), now_rfc3339());
        let put_user = aws_sdk_dynamodb::types::Put::builder()
            .table_name(&self.table)
            .set_item(Some(Item::from(&user)))
            .condition_expression("attribute_not_exists(pk)")
            .build()?;
        let mut items = vec![TransactWriteItem::builder().put(put_user).build()];
        items.extend(guards::both(&self.table, &user, guards::take)?);
        dynamo::transact(&self.client, items).await?;
        Ok(user)
    }

    /// Applies a user's own profile changes; a new username moves its guard in the same
    /// transaction, so a taken name fails (`ConditionFailed`) without changing anything.
    /// `expected`: the version the user must still have (`If-Match`), else `ConditionFailed`.
    /// The user returned is `user` changed, at the version after `user.version` (exact when
    /// `expected` is given; without it another write may have landed in between).
    pub async fn update_profile(
        &self,
        user: &User,
        changes: ProfileChanges,
        expected: Option<i64>,
    ) -> Result<User, StoreError> {
        let now = now_rfc3339();
        let mut set = vec!["updated_at = :now".to_owned(), BUMP.to_owned()];
        // The stored username_key must still be the one whose guard this change moves: a
        // concurrent rename would otherwise leave a name without its guard.
        let update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(user_key(&user.id)))
            .condition_expression(expecting(
                "attribute_exists(pk) AND deleted = :false AND username_key = :oldkey",
                expected,
            ))
            .expression_attribute_values(":false", b(false))
            .expression_attribute_values(":oldkey", s(&user.username_key))
            .expression_attribute_values(":now", s(&now))
            .bump();
        let mut update = expecting_value(update, expected);
        let mut updated = user.clone();
        updated.updated_at = now;
        updated.version = expected.unwrap_or(user.version) + 1;
        if let Some(first) = &changes.first_name {
            set.push("first_name = :first".into());
            update = update.expression_attribute_values(":first", s(first.as_str()));
            updated.first_name = first.as_str().to_owned();
        }
        if let Some(last) = &changes.last_name {
            set.push("last_name = :last".into());
            update = update.expression_attribute_values(":last", s(last.as_str()));
            updated.last_name = last.as_str().to_owned();
        }
        let mut items = Vec::new();
        if let Some(name) = &changes.username {
            set.push("username = :uname, username_key = :ukey".into());
            update = update
                .expression_attribute_values(":uname", s(name.as_str()))
                .expression_attribute_values(":ukey", s(name.key()));
            updated.username = name.as_str().to_owned();
            updated.username_key = name.key();
            if name.key() != user.username_key {
                items.push(guards::take(
                    &self.table,
                    guards::username_key(&name.key()),
                    &user.id,
                )?);
                items.push(guards::release(
                    &self.table,
                    guards::username_key(&user.username_key),
                    &user.id,
                )?);
            }
        }
        let update = update
            .update_expression(format!("SET {}", set.join(", ")))
            .build()?;
        items.insert(0, TransactWriteItem::builder().update(update).build());
        dynamo::transact(&self.client, items).await?;
        Ok(updated)
    }

    /// Upgrades the stored hash after a login with old parameters, only if it is still the hash
    /// that login verified: a reset or change in between must not be undone. `true` when stored.
    pub async fn rehash_password(
        &self,
        id: &str,
        old: &str,
        new: &str,
    ) -> Result<bool, StoreError> {
        let result = self
            .update_user(id)
            .update_expression(format!("SET password_hash = :h, {BUMP}"))
            .condition_expression("password_hash = :old")
            .expression_attribute_values(":h", s(new))
            .expression_attribute_values(":old", s(old))
            .bump()
            .send()
            .await;
        dynamo::applied(result.map_err(StoreError::from))
    }

    /// Ends every session issued at or before `at_ms`: the check compares session creation
    /// times. Never moves the cut-off backwards (a later one in place is not an error).
    pub async fn invalidate_tokens(&self, id: &str, at_ms: i64) -> Result<(), StoreError> {
        let result = self
            .update_user(id)
            // The session a password change kept is cut off like the others now.
            .update_expression(format!("SET tokens_valid_after_ms = :t, {BUMP} REMOVE keep_sid"))
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(tokens_valid_after_ms) OR tokens_valid_after_ms < :t)",
            )
            .expression_attribute_values(":t", n(at_ms))
            .bump()
            .send()
            .await;
        dynamo::applied(result.map_err(StoreError::from)).map(drop)
    }

    /// Allows reset token `jti` beside the ones already pending: recorded *before* its link is
    /// sent, so the link works the moment it arrives, and a send that fails or times out leaves
    /// the previous link working (nobody holds the new one).
    pub async fn allow_reset_jti(&self, id: &str, jti: &str) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(user_key(id)))
            .update_expression(format!("SET {BUMP} ADD reset_jtis :j"))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":j", AttributeValue::Ss(vec![jti.to_owned()]))
            .bump()
            .send()
            .await?;
        Ok(())
    }

    /// Once `jti`'s link was sent, it is the only one that resets: older links stop working.
    /// Only while `jti` is still pending: a reset, change or disable meanwhile is not undone.
    pub async fn only_reset_jti(&self, id: &str, jti: &str) -> Result<(), StoreError> {
        let result = self
            .update_user(id)
            .update_expression(format!("SET reset_jtis = :only, {BUMP}"))
            .condition_expression("contains(reset_jtis, :j)")
            .expression_attribute_values(":only", AttributeValue::Ss(vec![jti.to_owned()]))
            .expression_attribute_values(":j", s(jti))
            .bump()
            .send()
            .await;
        dynamo::applied(result.map_err(StoreError::from)).map(drop)
    }

    /// The update every password replacement shares: new hash, every session cut off at
    /// `now_ms` but `keep` (whose access tokens pass the cut-off: [`User::admits`]), pending
    /// reset link voided. Callers add their own condition.
    pub(crate) fn password_update(
        &self,
        id: &str,
        hash: &str,
        now_ms: i64,
        keep: Option<&str>,
    ) -> UpdateBuilder {
        let (set_keep, remove_keep) = match keep {
            Some(_) => (", keep_sid = :keep", ""),
            None => ("", ", keep_sid"),
        };
        let update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(user_key(id)))
            .update_expression(format!(
                "SET password_hash = :h, tokens_valid_after_ms = :ms, updated_at = :now, {BUMP}\
                 {set_keep} REMOVE reset_jtis{remove_keep}"
            ))
            .expression_attribute_values(":h", s(hash))
            .expression_attribute_values(":ms", n(now_ms))
            .expression_attribute_values(":now", s(now_rfc3339()))
            .bump();
        match keep {
            Some(sid) => update.expression_attribute_values(":keep", s(sid)),
            None => update,
        }
    }

    /// Ends session `sid` of `user` on the user item, so that its access tokens stop at once:
    /// `ended.<sid> = until` (when the last of them expires), removing the entries whose
    /// `until` has passed in the same write. Past [`MAX_ENDED`] entries still running, every
    /// session is cut off instead (logout-all), which keeps the item bounded. An item written
    /// before the map existed gets it. Does not bump the version (the body does not change).
    pub async fn end_session_access(
        &self,
        user: &User,
        sid: &str,
        until: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        let running = user
            .ended
            .iter()
            .filter(|(other, end)| other != sid && *end > now)
            .count();
        if running >= MAX_ENDED {
            return self.invalidate_tokens(&user.id, now_ms()).await;
        }
        let passed: Vec<&str> = user
            .ended
            .iter()
            .filter(|(other, end)| other != sid && *end <= now)
            .map(|(other, _)| other.as_str())
            .collect();
        for _ in 0..2 {
            let mut request = self
                .update_user(&user.id)
                .condition_expression("attribute_exists(ended)")
                .expression_attribute_names("#sid", sid)
                .expression_attribute_values(":until", n(until));
            let mut remove = Vec::new();
            for (i, old) in passed.iter().enumerate() {
                request = request.expression_attribute_names(format!("#old{i}"), *old);
                remove.push(format!("ended.#old{i}"));
            }
            let remove = if remove.is_empty() {
                String::new()
            } else {
                format!(" REMOVE {}", remove.join(", "))
            };
            let added = request
                .update_expression(format!("SET ended.#sid = :until{remove}"))
                .send()
                .await;
            if dynamo::applied(added.map_err(StoreError::from))? {
                return Ok(());
            }
            let started = self
                .update_user(&user.id)
                .update_expression("SET ended = :ended")
                .condition_expression("attribute_exists(pk) AND attribute_not_exists(ended)")
                .expression_attribute_values(
                    ":ended",
                    AttributeValue::M([(sid.to_owned(), n(until))].into()),
                )
                .send()
                .await;
            if dynamo::applied(started.map_err(StoreError::from))? {
                return Ok(());
            }
            // Neither: the map appeared between the two writes (try again), or the user is
            // gone (nothing to end).
        }
        Ok(())
    }

    /// The update that marks `id`'s email verified; callers add their condition.
    pub(crate) fn verified_update(&self, id: &str) -> UpdateBuilder {
        Update::builder()
            .table_name(&self.table)
            .key("pk", s(user_key(id)))
            .update_expression(format!(
                "SET email_verified = :t, updated_at = :now, {BUMP}"
            ))
            .expression_attribute_values(":t", b(true))
            .expression_attribute_values(":now", s(now_rfc3339()))
            .bump()
    }

    /// Sets `email_verified` without a token (`make admin`); `NotFound` for a missing or
    /// deleted user.
    pub async fn mark_email_verified(&self, id: &str) -> Result<(), StoreError> {
        let update = self
            .verified_update(id)
            .condition_expression("attribute_exists(pk) AND deleted = :f")
            .expression_attribute_values(":f", b(false))
            .build()?;
        let update = TransactWriteItem::builder().update(update).build();
        match dynamo::transact(&self.client, vec![update]).await {
            Err(StoreError::ConditionFailed) => Err(StoreError::NotFound),
            other => other,
        }
    }

    /// Soft delete: marks the user deleted (ending its sessions and voiding its pending links)
    /// and releases both guards, in one transaction. `guard`: the id of another active admin the
    /// deletion is conditioned on (see [`Users::another_active_admin`]). `ConditionFailed` when
    /// the user is already deleted, the guard admin no longer is one, or the user's version is
    /// not `expected` (`If-Match`).
    pub async fn soft_delete(
        &self,
        user: &User,
        guard: Option<&str>,
        expected: Option<i64>,
    ) -> Result<(), StoreError> {
        let now = now_rfc3339();
        let update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(user_key(&user.id)))
            // Ends every session and voids every pending reset or verification link.
            .update_expression(format!(
                "SET deleted = :t, deleted_at = :now, updated_at = :now, tokens_valid_after_ms = :ms, \
                 action_tokens_valid_after_ms = :ms, {BUMP} REMOVE reset_jtis, keep_sid"
            ))
            .condition_expression(expecting("attribute_exists(pk) AND deleted = :f", expected))
            .expression_attribute_values(":t", b(true))
            .expression_attribute_values(":f", b(false))
            .expression_attribute_values(":now", s(now))
            .expression_attribute_values(":ms", n(now_ms()))
            .bump();
        let update = expecting_value(update, expected).build()?;
        let mut items = vec![TransactWriteItem::builder().update(update).build()];
        items.extend(guards::both(&self.table, user, guards::release)?);
        if let Some(admin) = guard {
            items.push(self.admin_check(admin)?);
        }
        dynamo::transact(&self.client, items).await
    }

    /// Admin changes: roles, tier, disabled. Returns the updated user. `guard`: the id of
    /// another active admin the change is conditioned on, when it takes away this user's admin
    /// powers. `ConditionFailed` when the user is missing or deleted, or the guard admin no
    /// longer is one.
    pub async fn admin_update(
        &self,
        id: &str,
        changes: &AdminChanges,
        guard: Option<&str>,
    ) -> Result<User, StoreError> {
        self.admin_update_expecting(id, changes, guard, None).await
    }

    /// [`Users::admin_update`], only if the user's version is still `expected` (`If-Match`),
    /// else `ConditionFailed`. The user returned is read back after the write: its version is
    /// the one its body shows.
    pub async fn admin_update_expecting(
        &self,
        id: &str,
        changes: &AdminChanges,
        guard: Option<&str>,
        expected: Option<i64>,
    ) -> Result<User, StoreError> {
        let mut set = vec!["updated_at = :now".to_owned(), BUMP.to_owned()];
        let update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(user_key(id)))
            .condition_expression(expecting("attribute_exists(pk) AND deleted = :f", expected))
            .expression_attribute_values(":f", b(false))
            .expression_attribute_values(":now", s(now_rfc3339()))
            .bump();
        let mut update = expecting_value(update, expected);
        if let Some(roles) = &changes.roles {
            // ROLES is a DynamoDB reserved word, hence the name placeholder.
            set.push("#roles = :roles".into());
            update = update
                .expression_attribute_names("#roles", "roles")
                .expression_attribute_values(":roles", list(roles));
        }
        if let Some(tier) = &changes.tier {
            set.push("#tier = :tier".into());
            update = update
                .expression_attribute_names("#tier", "tier")
                .expression_attribute_values(":tier", s(tier));
        }
        if let Some(disabled) = changes.disabled {
            set.push("#disabled = :disabled".into());
            update = update
                .expression_attribute_names("#disabled", "disabled")
                .expression_attribute_values(":disabled", b(disabled));
            if disabled {
                // Disabling ends every session and voids every pending reset or verification
                // link at once: re-enabling the account must not bring them back.
                set.push("tokens_valid_after_ms = :ms".into());
                set.push("action_tokens_valid_after_ms = :ms".into());
                update = update.expression_attribute_values(":ms", n(now_ms()));
            }
        }
        let remove = if changes.disabled == Some(true) {
            // keep_sid too: re-enabling must not bring back the session a password change kept.
            " REMOVE reset_jtis, keep_sid"
        } else {
            ""
        };
        let update = update
            .update_expression(format!("SET {}{remove}", set.join(", ")))
            .build()?;
        let mut items = vec![TransactWriteItem::builder().update(update).build()];
        if let Some(admin) = guard {
            items.push(self.admin_check(admin)?);
        }
        dynamo::transact(&self.client, items).await?;
        self.get(id).await?.ok_or(StoreError::NotFound)
    }

    /// Sets user `id`'s tier as a billing event created at `event_created` (its sender's
    /// clock, Unix seconds) says, unless the user does not exist or an event at least as new
    /// was applied: a redelivery (same time) or an older event arriving late changes nothing,
    /// whatever order events arrive in. `true` when written.
    pub async fn set_tier_from_event(
        &self,
        id: &str,
        tier: &str,
        event_created: i64,
    ) -> Result<bool, StoreError> {
        let result = self
            .update_user(id)
            .update_expression(format!(
                "SET tier = :tier, tier_event_created = :created, updated_at = :now, {BUMP}"
            ))
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(tier_event_created) \
                 OR tier_event_created < :created)",
            )
            .expression_attribute_values(":tier", s(tier))
            .expression_attribute_values(":created", n(event_created))
            .expression_attribute_values(":now", s(now_rfc3339()))
            .bump()
            .send()
            .await;
        dynamo::applied(result.map_err(StoreError::from))
    }

    /// Another active admin than `except`, if there is one: a change that takes away
    /// `except`'s admin powers is written together with a check that this one still is an
    /// admin, so two admins demoting each other at once cannot leave none. Reads the listing
    /// index until it finds one (admin changes are rare; the common case stops on page one).
    pub async fn another_active_admin(&self, except: &str) -> Result<Option<String>, StoreError> {
        let mut start = None;
        loop {
            let out = self
                .query_users()
                .filter_expression(
                    "contains(#roles, :admin) AND disabled = :f AND deleted = :f AND id <> :me",
                )
                .expression_attribute_names("#roles", "roles")
                .expression_attribute_values(":admin", s("admin"))
                .expression_attribute_values(":f", b(false))
                .expression_attribute_values(":me", s(except))
                .set_exclusive_start_key(start)
                .send()
                .await?;
            if let Some(item) = out.items().first() {
                return Ok(Some(get_s(item, "id")?));
            }
            start = out.last_evaluated_key().cloned();
            if start.is_none() {
                return Ok(None);
            }
        }
    }

    fn admin_check(&self, admin_id: &str) -> Result<TransactWriteItem, StoreError> {
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .key("pk", s(user_key(admin_id)))
            .condition_expression("contains(#roles, :admin) AND disabled = :f AND deleted = :f")
            .expression_attribute_names("#roles", "roles")
            .expression_attribute_values(":admin", s("admin"))
            .expression_attribute_values(":f", b(false))
            .build()?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }

    /// One page of live users, oldest first, starting after `start`.
    pub async fn list(&self, limit: i32, start: Option<Item>) -> Result<Page<User>, StoreError> {
        let out = self
            .query_users()
            .filter_expression("deleted = :f")
            .expression_attribute_values(":f", b(false))
            .limit(limit)
            .set_exclusive_start_key(start)
            .send()
            .await?;
        Page::parse(out)
    }
}
