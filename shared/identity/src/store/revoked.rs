//! Consumed single-use tokens, TTL'd at the token's `exp`. Access tokens are no longer looked up
//! here: the access check reads the user item alone (ended sessions and the cut-off live there,
//! [`crate::store::access`]), so a `JTI#` entry [`RevokedTokens::revoke`] writes is read by
//! nothing.

use aws_sdk_dynamodb::Client;
use shared::dynamo::{StoreError, n, s};

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

    /// The table name (batch reads and transactions across tables).
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Writes a `JTI#` entry for an access token until it would have expired anyway. Nothing
    /// reads it since the access check moved to the user item: ending the token's session is
    /// what stops it ([`crate::state::Identity::end_session`]).
    pub async fn revoke(&self, jti: &str, exp: i64) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(jti_key(jti)))
            .item("expires_at", n(exp))
            .send()
            .await?;
        Ok(())
    }
}
