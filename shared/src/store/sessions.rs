//! Sessions: one item per login (a refresh-token family). Only a hash of the current refresh
//! token is stored; rotation is a conditional update on it, so a replayed (already rotated)
//! token fails the condition, and that reuse revokes the whole session.

use aws_sdk_dynamodb::{
    Client,
    types::{ConditionCheck, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem},
};
use futures::StreamExt as _;
use sha2::{Digest, Sha256};

use super::{
    Item, TxFailure, b, classify_transaction, get_b, get_n, get_s, is_condition_failure, n, now_s,
    s,
};
use crate::error::{ApiError, from_sdk};

/// A stored session.
#[derive(Debug, Clone)]
pub struct Session {
    /// Session id (`sid` claim).
    pub id: String,
    /// Owner.
    pub user_id: String,
    /// Creation time, epoch ms: compared with the user's `tokens_valid_after_ms`.
    pub created_at_ms: i64,
    /// Epoch seconds; also the TTL attribute.
    pub expires_at: i64,
    /// Ended by logout, reuse detection, or an admin.
    pub revoked: bool,
}

impl Session {
    /// Parses an item fetched elsewhere (batch reads).
    pub fn parse(item: Option<&Item>) -> Result<Option<Self>, ApiError> {
        item.map(|i| {
            Ok(Self {
                id: get_s(i, "pk")?,
                user_id: get_s(i, "user_id")?,
                created_at_ms: get_n(i, "created_at_ms"),
                expires_at: get_n(i, "expires_at"),
                revoked: get_b(i, "revoked"),
            })
        })
        .transpose()
    }

    /// Usable: not revoked, not past its expiry (checked here: the emulator keeps TTL'd items).
    pub fn is_live(&self, now_s: i64) -> bool {
        !self.revoked && self.expires_at > now_s
    }
}

/// SHA-256 of a refresh token, hex. Tokens are high-entropy, so no salt or slow hash is needed.
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The user as read when its credentials were checked; a new session requires it unchanged.
#[derive(Debug)]
pub struct SeenUser<'a> {
    /// Users table name.
    pub users_table: &'a str,
    /// User id.
    pub user_id: &'a str,
    /// The hash the password was verified against.
    pub password_hash: &'a str,
    /// The cut-off seen.
    pub tokens_valid_after_ms: i64,
}

/// Why a rotation failed.
#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    /// Session missing, expired or revoked.
    #[error("session is not live")]
    Dead,
    /// The token was already rotated: the session is now revoked.
    #[error("refresh token reuse")]
    Reused,
    /// Store failure.
    #[error(transparent)]
    Store(#[from] ApiError),
}

/// The sessions table.
#[derive(Debug, Clone)]
pub struct Sessions {
    client: Client,
    table: String,
}

impl Sessions {
    /// Repository over `table`.
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }

    /// The table name (for batch reads).
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Stores a new session whose current refresh token hashes to `refresh_hash`, in one
    /// transaction with a check that the user is still as `seen` when its password was verified
    /// (same hash, same `tokens_valid_after_ms`, active): a reset, change, disable or logout-all
    /// that lands meanwhile makes this fail (`false`) instead of minting a session that outlives it.
    pub async fn create(
        &self,
        id: &str,
        refresh_hash: &str,
        created_at_ms: i64,
        expires_at: i64,
        seen: &SeenUser<'_>,
    ) -> Result<bool, ApiError> {
        let build =
            |e: aws_sdk_dynamodb::error::BuildError| ApiError::Internal(anyhow::anyhow!("{e}"));
        let put = Put::builder()
            .table_name(&self.table)
            .item("pk", s(id))
            .item("user_id", s(seen.user_id))
            .item("refresh_hash", s(refresh_hash))
            .item("created_at_ms", n(created_at_ms))
            .item("expires_at", n(expires_at))
            .item("revoked", b(false))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(build)?;
        let check = ConditionCheck::builder()
            .table_name(seen.users_table)
            .key("pk", s(crate::store::users::user_key(seen.user_id)))
            .condition_expression(
                "password_hash = :h AND tokens_valid_after_ms = :t AND deleted = :f AND disabled = :f",
            )
            .expression_attribute_values(":h", s(seen.password_hash))
            .expression_attribute_values(":t", n(seen.tokens_valid_after_ms))
            .expression_attribute_values(":f", b(false))
            .build()
            .map_err(build)?;
        match self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put).build())
            .transact_items(TransactWriteItem::builder().condition_check(check).build())
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(err) => match classify_transaction(err) {
                TxFailure::Condition => Ok(false),
                TxFailure::Store(e) => Err(e),
            },
        }
    }

    /// The session `id`.
    pub async fn get(&self, id: &str) -> Result<Option<Session>, ApiError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(id))
            .consistent_read(true)
            .send()
            .await
            .map_err(from_sdk)?;
        Session::parse(out.item())
    }

    /// Swaps the current refresh hash from `presented` to `next`, if `presented` is current and
    /// the session live. Exactly one of any number of concurrent rotations can succeed.
    pub async fn rotate(&self, id: &str, presented: &str, next: &str) -> Result<(), RotateError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(id))
            .update_expression("SET refresh_hash = :next, rotated_at = :now")
            .condition_expression(
                "attribute_exists(pk) AND refresh_hash = :presented AND revoked = :f AND expires_at > :now",
            )
            .expression_attribute_values(":next", s(next))
            .expression_attribute_values(":presented", s(presented))
            .expression_attribute_values(":f", b(false))
            .expression_attribute_values(":now", n(now_s()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let Err(err) = result else {
            return Ok(());
        };
        if !is_condition_failure(&err) {
            return Err(RotateError::Store(from_sdk(err)));
        }
        let session = self.get(id).await?;
        match session {
            Some(session) if session.is_live(now_s()) => {
                // Live session, stale token: it was rotated before, so someone replayed it.
                self.revoke(id).await?;
                Err(RotateError::Reused)
            }
            _ => Err(RotateError::Dead),
        }
    }

    /// Ends one session.
    pub async fn revoke(&self, id: &str) -> Result<(), ApiError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(id))
            .update_expression("SET revoked = :t")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":t", b(true))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if is_condition_failure(&err) => Ok(()),
            Err(err) => Err(from_sdk(err)),
        }
    }

    /// Ends every session of `user_id` except `keep`. Returns how many were ended.
    pub async fn revoke_all(&self, user_id: &str, keep: Option<&str>) -> Result<usize, ApiError> {
        let mut start = None;
        let mut ids = Vec::new();
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name("by_user")
                .key_condition_expression("user_id = :u")
                .expression_attribute_values(":u", s(user_id))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(from_sdk)?;
            ids.extend(
                out.items()
                    .iter()
                    .filter_map(|i| super::opt_s(i, "pk"))
                    .filter(|id| Some(id.as_str()) != keep),
            );
            start = out.last_evaluated_key().cloned();
            if start.is_none() {
                break;
            }
        }
        // Bounded fan-out: a user with hundreds of sessions must not throttle the table.
        let results: Vec<Result<(), ApiError>> = futures::stream::iter(ids.clone())
            .map(|id| {
                let sessions = self.clone();
                async move { sessions.revoke(&id).await }
            })
            .buffer_unordered(8)
            .collect()
            .await;
        results.into_iter().collect::<Result<Vec<_>, _>>()?;
        Ok(ids.len())
    }
}
