//! Fixed-window counters in DynamoDB: login attempts per account (brute-force lockout) and
//! mails per address. Windows expire on their own, so nobody is locked out for good.
//!
//! An attempt is *reserved* with one conditional `ADD` before the work it guards, so concurrent
//! requests cannot all slip under the limit. Subjects are stored hashed: a "username" field
//! often holds a mistyped password, and keys stay short whatever the client sent.

use aws_sdk_dynamodb::Client;
use sha2::{Digest, Sha256};
use shared::dynamo::{StoreError, n, s};

/// A fixed window: `max` events per `window_secs`.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// Allowed events per window.
    pub max: i64,
    /// Window length.
    pub window_secs: i64,
}

/// The rate-limits table.
#[derive(Debug, Clone)]
pub struct Counters {
    client: Client,
    table: String,
}

impl Counters {
    /// Repository over `table`.
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }

    fn key(scope: &str, subject: &str, window: Window, now: i64) -> (String, i64) {
        let start = now - now.rem_euclid(window.window_secs.max(1));
        let digest: String = Sha256::digest(subject.as_bytes())
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect();
        (
            format!("{scope}#{digest}#{start}"),
            start + window.window_secs,
        )
    }

    /// Counts one attempt if the window has room. `Some(seconds until the window ends)` when it
    /// is full (nothing is counted then); `None` when the attempt may go ahead.
    pub async fn reserve(
        &self,
        scope: &str,
        subject: &str,
        window: Window,
        now: i64,
    ) -> Result<Option<u64>, StoreError> {
        let (pk, ends) = Self::key(scope, subject, window, now);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .update_expression("ADD #c :one SET expires_at = :ends")
            .condition_expression("attribute_not_exists(#c) OR #c < :max")
            .expression_attribute_names("#c", "count")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":ends", n(ends))
            .expression_attribute_values(":max", n(window.max))
            .send()
            .await;
        match result.map_err(StoreError::from) {
            Ok(_) => Ok(None),
            Err(StoreError::ConditionFailed) => {
                Ok(Some(u64::try_from(ends - now).unwrap_or(0).max(1)))
            }
            Err(err) => Err(err),
        }
    }

    /// Clears the current window (a successful login).
    pub async fn reset(
        &self,
        scope: &str,
        subject: &str,
        window: Window,
        now: i64,
    ) -> Result<(), StoreError> {
        let (pk, _) = Self::key(scope, subject, window, now);
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .send()
            .await?;
        Ok(())
    }
}
