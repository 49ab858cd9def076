//! Consumed single-use tokens, TTL'd at the token's `exp`. Access tokens are not listed here:
//! the access check reads the user item alone (ended sessions and the cut-off live there,
//! [`crate::store::access`]).

/// The revoked-tokens table.
#[derive(Debug, Clone)]
pub struct RevokedTokens {
    table: String,
}

/// Key marking single-use token `jti` as consumed (written in the transaction that uses it).
pub fn used_key(jti: &str) -> String {
    format!("USED#{jti}")
}

impl RevokedTokens {
    /// The table: its items are written inside other transactions ([`used_key`]).
    pub fn new(table: String) -> Self {
        Self { table }
    }

    /// The table name (batch reads and transactions across tables).
    pub fn table(&self) -> &str {
        &self.table
    }
}
