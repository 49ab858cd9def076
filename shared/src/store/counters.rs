//! Fixed-window counters in DynamoDB: failed logins per account (brute-force lockout) and
//! mails per address. Windows expire on their own, so nobody is locked out for good.

use aws_sdk_dynamodb::Client;

use super::{get_n, n, s};
use crate::error::{ApiError, from_sdk};

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
        (
            format!("{scope}#{subject}#{start}"),
            start + window.window_secs,
        )
    }

    /// Seconds until the window ends when `subject` is at or over the limit, else `None`.
    /// Returns the current count as well.
    pub async fn blocked(
        &self,
        scope: &str,
        subject: &str,
        window: Window,
        now: i64,
    ) -> Result<(i64, Option<i64>), ApiError> {
        let (pk, ends) = Self::key(scope, subject, window, now);
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .consistent_read(true)
            .send()
            .await
            .map_err(from_sdk)?;
        let count = out
            .item()
            .filter(|i| get_n(i, "expires_at") > now)
            .map_or(0, |i| get_n(i, "count"));
        let retry = (count >= window.max).then(|| (ends - now).max(1));
        Ok((count, retry))
    }

    /// Counts one event; returns the new count (atomic `ADD`, correct under concurrency).
    pub async fn hit(
        &self,
        scope: &str,
        subject: &str,
        window: Window,
        now: i64,
    ) -> Result<i64, ApiError> {
        let (pk, ends) = Self::key(scope, subject, window, now);
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .update_expression("ADD #c :one SET expires_at = :ends")
            .expression_attribute_names("#c", "count")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":ends", n(ends))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(from_sdk)?;
        Ok(out.attributes().map_or(1, |a| get_n(a, "count")))
    }

    /// Clears the current window's count (a successful login).
    pub async fn reset(
        &self,
        scope: &str,
        subject: &str,
        window: Window,
        now: i64,
    ) -> Result<(), ApiError> {
        let (pk, _) = Self::key(scope, subject, window, now);
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .send()
            .await
            .map_err(from_sdk)?;
        Ok(())
    }
}
