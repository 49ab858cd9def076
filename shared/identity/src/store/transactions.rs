//! The identity writes and reads that span tables, in the one place that knows all three:
//! users, sessions and revoked tokens. Every multi-item change is one `TransactWriteItems`, so
//! nothing is half-written; a failed condition is an outcome (`Ok(false)`), not an error.

use aws_sdk_dynamodb::{
    Client,
    types::{ConditionCheck, Put, TransactWriteItem, Update},
};
use shared::{
    clock::now_ms,
    dynamo::{self, StoreError, b, n, s},
};

use super::{
    revoked::{RevokedTokens, used_key},
    sessions::Sessions,
    users::{User, Users, user_key},
};

/// The three identity tables together.
#[derive(Debug, Clone)]
pub struct IdentityStore {
    client: Client,
    /// Users and their guards.
    pub users: Users,
    /// Sessions.
    pub sessions: Sessions,
    /// Blacklist and single-use tokens.
    pub revoked: RevokedTokens,
}

impl IdentityStore {
    /// The DynamoDB client (the access check's counting write).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The store over the three named tables.
    pub fn new(client: Client, users: String, sessions: String, revoked: String) -> Self {
        Self {
            users: Users::new(client.clone(), users),
            sessions: Sessions::new(client.clone(), sessions),
            revoked: RevokedTokens::new(revoked),
            client,
        }
    }

    /// Stores session `id` whose current refresh token hashes to `refresh_hash`, in one
    /// transaction with a check that `seen` is unchanged since its password was verified (same
    /// hash, same `tokens_valid_after_ms`, active): a reset, change, disable or logout-all that
    /// lands meanwhile makes this `false` instead of minting a session that outlives it.
    pub async fn create_session(
        &self,
        id: &str,
        refresh_hash: &str,
        created_at_ms: i64,
        expires_at: i64,
        seen: &User,
    ) -> Result<bool, StoreError> {
        let put = Put::builder()
            .table_name(self.sessions.table())
            .item("pk", s(id))
            .item("user_id", s(&seen.id))
            .item("refresh_hash", s(refresh_hash))
            .item("created_at_ms", n(created_at_ms))
            .item("expires_at", n(expires_at))
            .item("revoked", b(false))
            .condition_expression("attribute_not_exists(pk)")
            .build()?;
        let check = ConditionCheck::builder()
            .table_name(self.users.table())
            .key("pk", s(user_key(&seen.id)))
            .condition_expression(
                "password_hash = :h AND tokens_valid_after_ms = :t AND deleted = :f AND disabled = :f",
            )
            .expression_attribute_values(":h", s(&seen.password_hash))
            .expression_attribute_values(":t", n(seen.tokens_valid_after_ms))
            .expression_attribute_values(":f", b(false))
            .build()?;
        self.all_or_nothing(vec![
            TransactWriteItem::builder().put(put).build(),
            TransactWriteItem::builder().condition_check(check).build(),
        ])
        .await
    }

    /// Password change: the new hash (only if the verified `old` one is still current), every
    /// session ended through `tokens_valid_after_ms`, any pending reset link voided, and the
    /// caller's session `keep` renewed so it outlives the cut-off (its refresh tokens), and
    /// named on the user item (`keep_sid`: the access tokens it already has).
    pub async fn change_password(
        &self,
        user_id: &str,
        old: &str,
        new: &str,
        keep: &str,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        let user = self
            .users
            .password_update(user_id, new, now, Some(keep))
            .condition_expression("password_hash = :old AND deleted = :f")
            .expression_attribute_values(":old", s(old))
            .expression_attribute_values(":f", b(false))
            .build()?;
        let session = Update::builder()
            .table_name(self.sessions.table())
            .key("pk", s(keep))
            .update_expression("SET created_at_ms = :after")
            .condition_expression("attribute_exists(pk) AND revoked = :f AND user_id = :uid")
            .expression_attribute_values(":after", n(now + 1))
            .expression_attribute_values(":f", b(false))
            .expression_attribute_values(":uid", s(user_id))
            .build()?;
        self.all_or_nothing(vec![
            TransactWriteItem::builder().update(user).build(),
            TransactWriteItem::builder().update(session).build(),
        ])
        .await
    }

    /// Consumes reset token `jti` (single use), sets the new hash, ends every session and clears
    /// the pending reset. `false` when the token is used, superseded, or the user gone.
    pub async fn reset_password(
        &self,
        user_id: &str,
        jti: &str,
        jti_exp: i64,
        new_hash: &str,
    ) -> Result<bool, StoreError> {
        let update = self
            .users
            .password_update(user_id, new_hash, now_ms(), None)
            // A disabled or deleted account takes no reset, whatever link is presented.
            .condition_expression("contains(reset_jtis, :j) AND deleted = :f AND disabled = :f")
            .expression_attribute_values(":j", s(jti))
            .expression_attribute_values(":f", b(false))
            .build()?;
        self.consume_with(jti, jti_exp, update).await
    }

    /// Consumes verification token `jti` (issued at `iat`, in seconds) and sets
    /// `email_verified`: only for a live, enabled account, and only if the token is newer than
    /// the last disable or delete (`action_tokens_valid_after_ms`).
    pub async fn verify_email(
        &self,
        user_id: &str,
        jti: &str,
        jti_exp: i64,
        iat: i64,
    ) -> Result<bool, StoreError> {
        let update = self
            .users
            .verified_update(user_id)
            .condition_expression(
                "attribute_exists(pk) AND deleted = :f AND disabled = :f AND \
                 (attribute_not_exists(action_tokens_valid_after_ms) OR action_tokens_valid_after_ms < :iat)",
            )
            .expression_attribute_values(":f", b(false))
            .expression_attribute_values(":iat", n(iat.saturating_mul(1000)))
            .build()?;
        self.consume_with(jti, jti_exp, update).await
    }

    async fn consume_with(
        &self,
        jti: &str,
        jti_exp: i64,
        update: Update,
    ) -> Result<bool, StoreError> {
        let used = Put::builder()
            .table_name(self.revoked.table())
            .item("pk", s(used_key(jti)))
            .item("expires_at", n(jti_exp))
            .condition_expression("attribute_not_exists(pk)")
            .build()?;
        self.all_or_nothing(vec![
            TransactWriteItem::builder().put(used).build(),
            TransactWriteItem::builder().update(update).build(),
        ])
        .await
    }

    async fn all_or_nothing(&self, items: Vec<TransactWriteItem>) -> Result<bool, StoreError> {
        dynamo::applied(dynamo::transact(&self.client, items).await)
    }
}
