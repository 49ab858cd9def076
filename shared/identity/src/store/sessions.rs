//! Sessions: one item per login (a refresh-token family). Only a hash of the current refresh
//! token is stored; rotation is a conditional update on it, so a replayed (already rotated)
//! token fails the condition, and that reuse revokes the whole session. Creating a session is a
//! cross-table transaction: see [`crate::store::transactions`].

use std::time::Duration;

use aws_sdk_dynamodb::{
    Client, operation::update_item::UpdateItemError, types::ReturnValuesOnConditionCheckFailure,
};
use futures::StreamExt as _;
use sha2::{Digest, Sha256};
use shared::{
    clock::{now_ms, now_s},
    dynamo::{self, Item, StoreError, b, get_b, get_n, get_s, n, opt_n, opt_s, s},
};

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
    /// The hash the last rotation replaced, and when (epoch ms): a concurrent refresh that
    /// presents it within the grace window is a race, not a replay.
    pub previous: Option<(String, i64)>,
}

impl TryFrom<&Item> for Session {
    type Error = StoreError;

    fn try_from(i: &Item) -> Result<Self, StoreError> {
        Ok(Self {
            id: get_s(i, "pk")?,
            user_id: get_s(i, "user_id")?,
            created_at_ms: get_n(i, "created_at_ms")?,
            expires_at: get_n(i, "expires_at")?,
            revoked: get_b(i, "revoked")?,
            previous: match (opt_s(i, "prev_hash")?, opt_n(i, "rotated_at_ms")?) {
                (Some(hash), Some(at)) => Some((hash, at)),
                _ => None,
            },
        })
    }
}

impl Session {
    /// Parses an item fetched elsewhere (batch reads).
    pub fn parse(item: Option<&Item>) -> Result<Option<Self>, StoreError> {
        item.map(Self::try_from).transpose()
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

/// Why a rotation failed.
#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    /// Session missing, expired or revoked.
    #[error("session is not live")]
    Dead,
    /// The token was already rotated: the session is now revoked.
    #[error("refresh token reuse")]
    Reused,
    /// The token was rotated a moment ago by a concurrent refresh (two tabs): nothing revoked.
    #[error("concurrent refresh")]
    Race,
    /// Store failure.
    #[error(transparent)]
    Store(#[from] StoreError),
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

    /// The table name (batch reads and transactions across tables).
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The session `id`.
    pub async fn get(&self, id: &str) -> Result<Option<Session>, StoreError> {
        let item = dynamo::get(&self.client, &self.table, id.to_owned()).await?;
        Session::parse(item.as_ref())
    }

    /// Swaps the current refresh hash from `presented` to `next`, if `presented` is current and
    /// the session live. Exactly one of any number of concurrent rotations can succeed. A loser
    /// that presents the hash the last rotation replaced, within `grace`, is [`RotateError::Race`]
    /// (the session lives on); any other stale token is a replay and revokes the session.
    pub async fn rotate(
        &self,
        id: &str,
        presented: &str,
        next: &str,
        grace: Duration,
    ) -> Result<(), RotateError> {
        let now_ms = now_ms();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(id))
            .update_expression(
                "SET refresh_hash = :next, prev_hash = :presented, rotated_at_ms = :now_ms, rotated_at = :now",
            )
            .condition_expression(
                "attribute_exists(pk) AND refresh_hash = :presented AND revoked = :f AND expires_at > :now",
            )
            .expression_attribute_values(":next", s(next))
            .expression_attribute_values(":presented", s(presented))
            .expression_attribute_values(":f", b(false))
            .expression_attribute_values(":now", n(now_s()))
            .expression_attribute_values(":now_ms", n(now_ms))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let Err(err) = result else {
            return Ok(());
        };
        let returned = match err.as_service_error() {
            Some(UpdateItemError::ConditionalCheckFailedException(e)) => e.item.clone(),
            _ => return Err(StoreError::from(err).into()),
        };
        // The item as it was when the condition failed; read it when the store did not return it.
        let session = match returned {
            Some(item) => Session::parse(Some(&item))?,
            None => self.get(id).await?,
        };
        match session {
            Some(session) if session.is_live(now_s()) => {
                let raced = session.previous.as_ref().is_some_and(|(hash, at)| {
                    hash == presented
                        && now_ms.saturating_sub(*at)
                            <= i64::try_from(grace.as_millis()).unwrap_or(i64::MAX)
                });
                if raced {
                    return Err(RotateError::Race);
                }
                // Live session, stale token: it was rotated before, so someone replayed it.
                self.revoke(id).await?;
                Err(RotateError::Reused)
            }
            _ => Err(RotateError::Dead),
        }
    }

    /// Ends one session (a missing one is already ended).
    pub async fn revoke(&self, id: &str) -> Result<(), StoreError> {
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
        dynamo::applied(result.map_err(StoreError::from)).map(drop)
    }

    /// Ends every session of `user_id` except `keep`. Returns how many were ended.
    pub async fn revoke_all(&self, user_id: &str, keep: Option<&str>) -> Result<usize, StoreError> {
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
                .await?;
            for item in out.items() {
                if let Some(id) = opt_s(item, "pk")?
                    && Some(id.as_str()) != keep
                {
                    ids.push(id);
                }
            }
            start = out.last_evaluated_key().cloned();
            if start.is_none() {
                break;
            }
        }
        // Bounded fan-out: a user with hundreds of sessions must not throttle the table.
        let results: Vec<Result<(), StoreError>> = futures::stream::iter(ids.clone())
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
