//! Revoked access tokens and consumed single-use tokens, one table, TTL'd at the token's `exp`.

use aws_sdk_dynamodb::Client;
use shared::{
    clock::now_s,
    dynamo::{Item, StoreError, get_n, n, s},
};

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

    /// Blacklists an access token until it would have expired anyway.
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

/// Whether a fetched blacklist item is in force (the emulator never deletes expired items).
/// An entry whose expiry cannot be read is an error, never "not revoked".
pub fn is_revoked(item: Option<&Item>) -> Result<bool, StoreError> {
    match item {
        None => Ok(false),
        Some(i) => Ok(get_n(i, "expires_at")? > now_s()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blacklist_entry_with_a_garbled_expiry_fails_closed() {
        let entry = Item::from([
            ("pk".to_owned(), s("JTI#x")),
            ("expires_at".to_owned(), s("x")),
        ]);
        assert!(is_revoked(Some(&entry)).is_err());
        let live = Item::from([("expires_at".to_owned(), n(now_s() + 60))]);
        assert!(is_revoked(Some(&live)).unwrap());
        let old = Item::from([("expires_at".to_owned(), n(now_s() - 60))]);
        assert!(!is_revoked(Some(&old)).unwrap());
        assert!(!is_revoked(None).unwrap());
    }
}
