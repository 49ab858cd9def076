//! Users, with username and email uniqueness enforced by guard items written in the same
//! transaction as the user (`attribute_not_exists`), so two concurrent signups cannot both win.
//!
//! Items: `USER#<id>` (the user), `EMAIL#<email>` and `USERNAME#<lowercased>` (guards holding
//! `user_id`). Users carry `gsi1pk = "USER"`, `gsi1sk = "<created_at>#<id>"` for admin listing.

use aws_sdk_dynamodb::{
    Client,
    types::{AttributeValue, Delete, Put, TransactWriteItem, Update},
};
use serde::Serialize;

use super::{
    Item, TxFailure, b, classify_transaction, get_b, get_list, get_n, get_s, is_condition_failure,
    list, n, opt_s, s,
};
use crate::{
    domain::{Email, PersonName, Username},
    error::{ApiError, from_sdk},
};

/// A stored user. Never serialized as is: [`UserView`] is the public body.
#[derive(Debug, Clone)]
pub struct User {
    /// UUID.
    pub id: String,
    /// Display form.
    pub username: String,
    /// Lower-cased username: the key of its uniqueness guard.
    pub username_key: String,
    /// Normalized (lower-case).
    pub email: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Whether the email address was verified.
    pub email_verified: bool,
    /// Roles, e.g. `["user", "admin"]`.
    pub roles: Vec<String>,
    /// Rate-limit / product tier.
    pub tier: String,
    /// Disabled by an admin.
    pub disabled: bool,
    /// Soft-deleted.
    pub deleted: bool,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// Sessions created at or before this instant (epoch ms) are dead: logout-all, reset.
    pub tokens_valid_after_ms: i64,
}

impl User {
    /// Whether the user may authenticate at all.
    pub fn is_active(&self) -> bool {
        !self.disabled && !self.deleted
    }

    /// Whether the user has `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// The public body.
    pub fn view(&self) -> UserView {
        UserView {
            id: self.id.clone(),
            username: self.username.clone(),
            email: self.email.clone(),
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            email_verified: self.email_verified,
            roles: self.roles.clone(),
            tier: self.tier.clone(),
            disabled: self.disabled,
            created_at: self.created_at.clone(),
            updated_at: self.updated_at.clone(),
        }
    }

    fn from_item(item: &Item) -> Result<Self, ApiError> {
        Ok(Self {
            id: get_s(item, "id")?,
            username: get_s(item, "username")?,
            username_key: opt_s(item, "username_key").unwrap_or_else(|| {
                get_s(item, "username")
                    .unwrap_or_default()
                    .to_ascii_lowercase()
            }),
            email: get_s(item, "email")?,
            first_name: get_s(item, "first_name")?,
            last_name: get_s(item, "last_name")?,
            password_hash: opt_s(item, "password_hash").unwrap_or_default(),
            email_verified: get_b(item, "email_verified"),
            roles: get_list(item, "roles"),
            tier: opt_s(item, "tier").unwrap_or_else(|| "free".to_owned()),
            disabled: get_b(item, "disabled"),
            deleted: get_b(item, "deleted"),
            created_at: get_s(item, "created_at")?,
            updated_at: get_s(item, "updated_at")?,
            tokens_valid_after_ms: get_n(item, "tokens_valid_after_ms"),
        })
    }
}

/// The user body of the contract: no hash, no internal attribute.
#[derive(Debug, Clone, Serialize)]
pub struct UserView {
    /// UUID.
    pub id: String,
    /// Username.
    pub username: String,
    /// Email.
    pub email: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Verified?
    pub email_verified: bool,
    /// Roles.
    pub roles: Vec<String>,
    /// Tier.
    pub tier: String,
    /// Disabled by an admin (visible to admins and to the user).
    pub disabled: bool,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// What signup stores.
#[derive(Debug)]
pub struct NewUser {
    /// Username.
    pub username: Username,
    /// Email.
    pub email: Email,
    /// First name.
    pub first_name: PersonName,
    /// Last name.
    pub last_name: PersonName,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Roles to start with.
    pub roles: Vec<String>,
}

/// Why a create or rename failed.
#[derive(Debug, thiserror::Error)]
pub enum UniqueError {
    /// Username or email is taken (case-insensitively).
    #[error("username or email already registered")]
    Taken,
    /// Anything else.
    #[error(transparent)]
    Store(#[from] ApiError),
}

/// A page of users.
#[derive(Debug)]
pub struct Page {
    /// Users of this page.
    pub items: Vec<User>,
    /// Last evaluated key, when there is more.
    pub next: Option<Item>,
}

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

/// Primary key of a user.
pub fn user_key(id: &str) -> String {
    format!("USER#{id}")
}

/// A user id that never exists: the second read of a lookup that found no guard.
const NOBODY: &str = "00000000-0000-0000-0000-000000000000";

fn email_key(email: &str) -> String {
    format!("EMAIL#{email}")
}

fn username_key(key: &str) -> String {
    format!("USERNAME#{key}")
}

fn now_rfc3339() -> String {
    crate::layers::now_rfc3339()
}

impl Users {
    /// Repository over `table`.
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }

    /// The table name (for batch reads).
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The DynamoDB client (for batch reads across tables).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Parses a user item fetched elsewhere (batch reads); `None` for a missing item.
    pub fn parse(item: Option<&Item>) -> Result<Option<User>, ApiError> {
        item.map(User::from_item).transpose()
    }

    /// Creates the user and both guards in one transaction.
    pub async fn create(&self, new: NewUser) -> Result<User, UniqueError> {
        let id = uuid::Uuid::new_v4().to_string();
        let now = now_rfc3339();
        let user = User {
            id: id.clone(),
            username: new.username.as_str().to_owned(),
            username_key: new.username.key(),
            email: new.email.as_str().to_owned(),
            first_name: new.first_name.as_str().to_owned(),
            last_name: new.last_name.as_str().to_owned(),
            password_hash: new.password_hash,
            email_verified: false,
            roles: new.roles,
            tier: "free".to_owned(),
            disabled: false,
            deleted: false,
            created_at: now.clone(),
            updated_at: now,
            tokens_valid_after_ms: 0,
        };
        let put_user = Put::builder()
            .table_name(&self.table)
            .set_item(Some(self.to_item(&user)))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(build_err)?;
        let items = vec![
            TransactWriteItem::builder().put(put_user).build(),
            TransactWriteItem::builder()
                .put(self.guard(email_key(&user.email), &id)?)
                .build(),
            TransactWriteItem::builder()
                .put(self.guard(username_key(&new.username.key()), &id)?)
                .build(),
        ];
        self.transact(items).await?;
        Ok(user)
    }

    fn guard(&self, pk: String, user_id: &str) -> Result<Put, ApiError> {
        Put::builder()
            .table_name(&self.table)
            .item("pk", s(pk))
            .item("user_id", s(user_id))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(build_err)
    }

    fn release_guard(&self, pk: String, user_id: &str) -> Result<Delete, ApiError> {
        // Only the owner's guard is released, never one another user took meanwhile.
        Delete::builder()
            .table_name(&self.table)
            .key("pk", s(pk))
            .condition_expression("user_id = :uid")
            .expression_attribute_values(":uid", s(user_id))
            .build()
            .map_err(build_err)
    }

    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), UniqueError> {
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(err) => match classify_transaction(err) {
                TxFailure::Condition => Err(UniqueError::Taken),
                TxFailure::Store(e) => Err(UniqueError::Store(e)),
            },
        }
    }

    fn to_item(&self, user: &User) -> Item {
        let mut item = Item::new();
        item.insert("pk".into(), s(user_key(&user.id)));
        item.insert("entity".into(), s("USER"));
        item.insert("id".into(), s(&user.id));
        item.insert("username".into(), s(&user.username));
        item.insert("username_key".into(), s(&user.username_key));
        item.insert("email".into(), s(&user.email));
        item.insert("first_name".into(), s(&user.first_name));
        item.insert("last_name".into(), s(&user.last_name));
        item.insert("password_hash".into(), s(&user.password_hash));
        item.insert("email_verified".into(), b(user.email_verified));
        item.insert("roles".into(), list(&user.roles));
        item.insert("tier".into(), s(&user.tier));
        item.insert("disabled".into(), b(user.disabled));
        item.insert("deleted".into(), b(user.deleted));
        item.insert("created_at".into(), s(&user.created_at));
        item.insert("updated_at".into(), s(&user.updated_at));
        item.insert(
            "tokens_valid_after_ms".into(),
            n(user.tokens_valid_after_ms),
        );
        item.insert("gsi1pk".into(), s("USER"));
        item.insert(
            "gsi1sk".into(),
            s(format!("{}#{}", user.created_at, user.id)),
        );
        item
    }

    /// The user with `id`, deleted ones included (callers decide).
    pub async fn get(&self, id: &str) -> Result<Option<User>, ApiError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(user_key(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(from_sdk)?;
        Self::parse(out.item())
    }

    /// Looks a user up by username or email (anything with `@` is an email).
    ///
    /// Always two reads, found or not, so response time does not tell accounts apart.
    pub async fn find_by_login(&self, identifier: &str) -> Result<Option<User>, ApiError> {
        let guard = if identifier.contains('@') {
            Email::parse(identifier)
                .map(|email| email_key(email.as_str()))
                .ok()
        } else {
            Username::parse(identifier)
                .map(|name| username_key(&name.key()))
                .ok()
        };
        let guard = guard.unwrap_or_else(|| "NONE#".to_owned());
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(guard))
            .consistent_read(true)
            .send()
            .await
            .map_err(from_sdk)?;
        let user_id = out.item().and_then(|i| super::opt_s(i, "user_id"));
        let found = self
            .get(user_id.as_deref().unwrap_or(NOBODY))
            .await?
            .filter(|u| !u.deleted && user_id.is_some());
        Ok(found)
    }

    /// Applies a user's own profile changes; a new username moves its guard in the same
    /// transaction, so a taken name fails without changing anything.
    pub async fn update_profile(
        &self,
        user: &User,
        changes: ProfileChanges,
    ) -> Result<User, UniqueError> {
        let now = now_rfc3339();
        let mut set = vec!["updated_at = :now".to_owned()];
        // The stored username_key must still be the one whose guard this change moves: a
        // concurrent rename would otherwise leave a name without its guard.
        let mut update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(user_key(&user.id)))
            .condition_expression(
                "attribute_exists(pk) AND deleted = :false AND username_key = :oldkey",
            )
            .expression_attribute_values(":false", b(false))
            .expression_attribute_values(":oldkey", s(&user.username_key))
            .expression_attribute_values(":now", s(&now));
        let mut updated = user.clone();
        updated.updated_at = now;
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
            let old_key = user.username_key.clone();
            set.push("username = :uname, username_key = :ukey".into());
            update = update
                .expression_attribute_values(":uname", s(name.as_str()))
                .expression_attribute_values(":ukey", s(name.key()));
            updated.username = name.as_str().to_owned();
            updated.username_key = name.key();
            if name.key() != old_key {
                items.push(
                    TransactWriteItem::builder()
                        .put(self.guard(username_key(&name.key()), &user.id)?)
                        .build(),
                );
                items.push(
                    TransactWriteItem::builder()
                        .delete(self.release_guard(username_key(&old_key), &user.id)?)
                        .build(),
                );
            }
        }
        let update = update
            .update_expression(format!("SET {}", set.join(", ")))
            .build()
            .map_err(build_err)?;
        items.insert(0, TransactWriteItem::builder().update(update).build());
        self.transact(items).await?;
        Ok(updated)
    }

    /// Upgrades the stored hash after a login with old parameters, only if it is still the hash
    /// that login verified: a reset or change in between must not be undone.
    pub async fn rehash_password(&self, id: &str, old: &str, new: &str) -> Result<(), ApiError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(user_key(id)))
            .update_expression("SET password_hash = :h")
            .condition_expression("password_hash = :old")
            .expression_attribute_values(":h", s(new))
            .expression_attribute_values(":old", s(old))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if is_condition_failure(&err) => Ok(()),
            Err(err) => Err(from_sdk(err)),
        }
    }

    /// Password change, in one transaction: the new hash (only if the verified `old` one is still
    /// current), every session ended through `tokens_valid_after_ms`, any pending reset link
    /// voided, and the caller's session `keep` renewed so it outlives the cut-off.
    /// `false` when something changed meanwhile; nothing is written then.
    pub async fn change_password(
        &self,
        id: &str,
        old: &str,
        new: &str,
        keep: &str,
        sessions_table: &str,
    ) -> Result<bool, ApiError> {
        let now = super::now_ms();
        let user = self
            .new_password(id, new, now)
            .condition_expression("password_hash = :old AND deleted = :f")
            .expression_attribute_values(":old", s(old))
            .expression_attribute_values(":f", b(false))
            .build()
            .map_err(build_err)?;
        let session = Update::builder()
            .table_name(sessions_table)
            .key("pk", s(keep))
            .update_expression("SET created_at_ms = :after")
            .condition_expression("attribute_exists(pk) AND revoked = :f AND user_id = :uid")
            .expression_attribute_values(":after", n(now + 1))
            .expression_attribute_values(":f", b(false))
            .expression_attribute_values(":uid", s(id))
            .build()
            .map_err(build_err)?;
        self.applied(vec![
            TransactWriteItem::builder().update(user).build(),
            TransactWriteItem::builder().update(session).build(),
        ])
        .await
    }

    /// Ends every session issued at or before `at_ms`: the check compares session creation
    /// times. Never moves the cut-off backwards.
    pub async fn invalidate_tokens(&self, id: &str, at_ms: i64) -> Result<(), ApiError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(user_key(id)))
            .update_expression("SET tokens_valid_after_ms = :t")
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(tokens_valid_after_ms) OR tokens_valid_after_ms < :t)",
            )
            .expression_attribute_values(":t", n(at_ms))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // A later cut-off is already in place (or the user is gone): nothing to do.
            Err(err) if is_condition_failure(&err) => Ok(()),
            Err(err) => Err(from_sdk(err)),
        }
    }

    /// Records `jti` as the only reset token that may be used: issuing a new one voids the older.
    pub async fn set_reset_jti(&self, id: &str, jti: &str) -> Result<(), ApiError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(user_key(id)))
            .update_expression("SET reset_jti = :j")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":j", s(jti))
            .send()
            .await
            .map_err(from_sdk)?;
        Ok(())
    }

    /// The user update every password replacement shares: new hash, every session cut off at
    /// `now_ms`, pending reset link voided. Callers add their own condition.
    fn new_password(
        &self,
        id: &str,
        hash: &str,
        now_ms: i64,
    ) -> aws_sdk_dynamodb::types::builders::UpdateBuilder {
        Update::builder()
            .table_name(&self.table)
            .key("pk", s(user_key(id)))
            .update_expression(
                "SET password_hash = :h, tokens_valid_after_ms = :ms, updated_at = :now REMOVE reset_jti",
            )
            .expression_attribute_values(":h", s(hash))
            .expression_attribute_values(":ms", n(now_ms))
            .expression_attribute_values(":now", s(now_rfc3339()))
    }

    /// In one transaction: consumes reset token `jti` (single use, in `revoked_table`), sets the
    /// new hash, ends every session and clears the pending reset. `false` when the token is used,
    /// superseded, or the user gone: nothing is written then.
    pub async fn reset_password(
        &self,
        id: &str,
        jti: &str,
        jti_exp: i64,
        new_hash: &str,
        revoked_table: &str,
    ) -> Result<bool, ApiError> {
        let update = self
            .new_password(id, new_hash, super::now_ms())
            .condition_expression("reset_jti = :j AND deleted = :f")
            .expression_attribute_values(":j", s(jti))
            .expression_attribute_values(":f", b(false))
            .build()
            .map_err(build_err)?;
        self.consume_with(jti, jti_exp, revoked_table, update).await
    }

    /// In one transaction: consumes verification token `jti` and sets `email_verified`.
    pub async fn verify_email(
        &self,
        id: &str,
        jti: &str,
        jti_exp: i64,
        revoked_table: &str,
    ) -> Result<bool, ApiError> {
        let update = self.verified_update(id)?;
        self.consume_with(jti, jti_exp, revoked_table, update).await
    }

    async fn consume_with(
        &self,
        jti: &str,
        jti_exp: i64,
        revoked_table: &str,
        update: Update,
    ) -> Result<bool, ApiError> {
        let used = Put::builder()
            .table_name(revoked_table)
            .item("pk", s(super::tokens::used_key(jti)))
            .item("expires_at", n(jti_exp))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(build_err)?;
        self.applied(vec![
            TransactWriteItem::builder().put(used).build(),
            TransactWriteItem::builder().update(update).build(),
        ])
        .await
    }

    /// Runs a transaction whose failed condition is an expected outcome: `false`, nothing written.
    async fn applied(&self, items: Vec<TransactWriteItem>) -> Result<bool, ApiError> {
        match self.transact(items).await {
            Ok(()) => Ok(true),
            Err(UniqueError::Taken) => Ok(false),
            Err(UniqueError::Store(e)) => Err(e),
        }
    }

    /// The update that marks `id`'s email verified (a live user only).
    fn verified_update(&self, id: &str) -> Result<Update, ApiError> {
        Update::builder()
            .table_name(&self.table)
            .key("pk", s(user_key(id)))
            .update_expression("SET email_verified = :t, updated_at = :now")
            .condition_expression("attribute_exists(pk) AND deleted = :f")
            .expression_attribute_values(":t", b(true))
            .expression_attribute_values(":f", b(false))
            .expression_attribute_values(":now", s(now_rfc3339()))
            .build()
            .map_err(build_err)
    }

    /// Sets `email_verified` without a token (`make admin`); 404 for a missing or deleted user.
    pub async fn mark_email_verified(&self, id: &str) -> Result<(), ApiError> {
        let update = self.verified_update(id)?;
        if self
            .applied(vec![TransactWriteItem::builder().update(update).build()])
            .await?
        {
            Ok(())
        } else {
            Err(ApiError::NotFound)
        }
    }

    /// Soft delete: marks the user deleted and releases both guards, in one transaction.
    /// Sessions are ended by the caller (tokens_valid_after is set here too).
    pub async fn soft_delete(&self, user: &User) -> Result<(), ApiError> {
        let now = now_rfc3339();
        let update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(user_key(&user.id)))
            .update_expression(
                "SET deleted = :t, deleted_at = :now, updated_at = :now, tokens_valid_after_ms = :ms",
            )
            .condition_expression("attribute_exists(pk) AND deleted = :f")
            .expression_attribute_values(":t", b(true))
            .expression_attribute_values(":f", b(false))
            .expression_attribute_values(":now", s(now))
            .expression_attribute_values(":ms", n(super::now_ms()))
            .build()
            .map_err(build_err)?;
        let items =
            vec![
                TransactWriteItem::builder().update(update).build(),
                TransactWriteItem::builder()
                    .delete(self.release_guard(email_key(&user.email), &user.id)?)
                    .build(),
                TransactWriteItem::builder()
                    .delete(self.release_guard(
                        username_key(&user.username.to_ascii_lowercase()),
                        &user.id,
                    )?)
                    .build(),
            ];
        match self.transact(items).await {
            Ok(()) => Ok(()),
            // Already deleted by a concurrent request: the outcome the caller wanted.
            Err(UniqueError::Taken) => Err(ApiError::NotFound),
            Err(UniqueError::Store(e)) => Err(e),
        }
    }

    /// Admin changes: roles, tier, disabled. Returns the updated user.
    pub async fn admin_update(&self, id: &str, changes: &AdminChanges) -> Result<User, ApiError> {
        let mut set = vec!["updated_at = :now".to_owned()];
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(user_key(id)))
            .condition_expression("attribute_exists(pk) AND deleted = :f")
            .expression_attribute_values(":f", b(false))
            .expression_attribute_values(":now", s(now_rfc3339()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew);
        if let Some(roles) = &changes.roles {
            // ROLES is a DynamoDB reserved word, hence the name placeholder.
            set.push("#roles = :roles".into());
            req = req
                .expression_attribute_names("#roles", "roles")
                .expression_attribute_values(":roles", list(roles));
        }
        if let Some(tier) = &changes.tier {
            set.push("#tier = :tier".into());
            req = req
                .expression_attribute_names("#tier", "tier")
                .expression_attribute_values(":tier", s(tier));
        }
        if let Some(disabled) = changes.disabled {
            set.push("#disabled = :disabled".into());
            req = req
                .expression_attribute_names("#disabled", "disabled")
                .expression_attribute_values(":disabled", b(disabled));
            if disabled {
                // Disabling ends every session at once.
                set.push("tokens_valid_after_ms = :ms".into());
                req = req.expression_attribute_values(":ms", n(super::now_ms()));
            }
        }
        let out = req
            .update_expression(format!("SET {}", set.join(", ")))
            .send()
            .await
            .map_err(|err| {
                if is_condition_failure(&err) {
                    ApiError::NotFound
                } else {
                    from_sdk(err)
                }
            })?;
        Self::parse(out.attributes())?.ok_or(ApiError::NotFound)
    }

    /// One page of live users, oldest first, starting after `start`.
    pub async fn list(&self, limit: i32, start: Option<Item>) -> Result<Page, ApiError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("gsi1")
            .key_condition_expression("gsi1pk = :u")
            .filter_expression("deleted = :f")
            .expression_attribute_values(":u", s("USER"))
            .expression_attribute_values(":f", b(false))
            .limit(limit)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(from_sdk)?;
        let items = out
            .items()
            .iter()
            .map(User::from_item)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page {
            items,
            next: out.last_evaluated_key().cloned(),
        })
    }
}

fn build_err(err: aws_sdk_dynamodb::error::BuildError) -> ApiError {
    ApiError::Internal(anyhow::anyhow!("building DynamoDB request: {err}"))
}

/// The key attributes of a page boundary, as plain strings (for the signed cursor).
pub fn key_to_strings(key: &Item) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = key
        .iter()
        .filter_map(|(k, v)| match v {
            AttributeValue::S(s) => Some((k.clone(), s.clone())),
            _ => None,
        })
        .collect();
    pairs.sort();
    pairs
}
