//! Revoked access tokens and consumed single-use tokens, one table, TTL'd at the token's `exp`.

use aws_sdk_dynamodb::Client;

use super::{Item, get_n, n, now_s, s};
use crate::error::{ApiError, from_sdk};

/// The revoked-tokens table.
#[derive(Debug, Clone)]
pub struct RevokedTokens {
    client: Client,
    table: String,
}

/// Key marking single-use token `jti` as consumed (written in the transaction that uses it).
pub fn used_key(jti: &str) -> String {
    format!("USED#{jti}")
}

/// Key of a revoked access token.
pub fn jti_key(jti: &str) -> String {
    format!("JTI#{jti}")
}

impl RevokedTokens {
    /// Repository over `table`.
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }

    /// The table name (for batch reads).
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Blacklists an access token until it would have expired anyway.
    pub async fn revoke(&self, jti: &str, exp: i64) -> Result<(), ApiError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(jti_key(jti)))
            .item("expires_at", n(exp))
            .send()
            .await
            .map_err(from_sdk)?;
        Ok(())
    }
}

/// Whether a fetched blacklist item is in force (the emulator never deletes expired items).
pub fn is_revoked(item: Option<&Item>) -> bool {
    item.is_some_and(|i| get_n(i, "expires_at") > now_s())
}
