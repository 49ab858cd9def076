//! Idempotency records in the jobs table, in the design of the Lambda Powertools' idempotency
//! utility: one record per job id (`JOB#<id>`), claimed with a conditional write before the job
//! runs.
//!
//! - `INPROGRESS` with `in_progress_expiry` (epoch milliseconds): the invocation's deadline, so a
//!   worker that dies mid-job (a timeout, a crash) holds the claim no longer than it could have
//!   run; after that another copy may claim it.
//! - `COMPLETED` until `expires_at` (epoch seconds, also the table's TTL): copies of the message
//!   delivered meanwhile are acknowledged without running.
//! - `EXPIRED`: a record past `expires_at` that DynamoDB's TTL has not removed yet (it may take a
//!   while); it counts as absent, as in Powertools.
//!
//! A failed job's claim is deleted, so its retry runs it again. The claim carries a token, so a
//! worker whose claim expired and was taken over cannot complete or delete the new one.

use std::time::Duration;

use aws_sdk_dynamodb::{
    Client, operation::put_item::PutItemError, types::ReturnValuesOnConditionCheckFailure,
};
use shared::{
    clock::now_s,
    dynamo::{self, Item, StoreError, applied, n, opt_n, opt_s, s},
};

/// A record's status, as stored (and `Expired`, as read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Claimed by a worker that is still within its deadline.
    InProgress,
    /// Done; copies are acknowledged.
    Completed,
    /// Past its expiry: as good as absent.
    Expired,
}

/// What claiming a job found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This worker runs it; pass the token to `complete` or `release`.
    Mine(String),
    /// Done before: acknowledge without running.
    Completed,
    /// Another worker runs it now: retry later (its completion makes the retry a no-op).
    InProgress,
}

/// The idempotency records.
#[derive(Debug, Clone)]
pub struct Idempotency {
    client: Client,
    table: String,
    ttl: Duration,
}

/// Epoch milliseconds now.
fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis(),
    )
    .unwrap_or(i64::MAX)
}

/// How a stored record reads at `now_s` / `now_ms`.
pub fn status_of(item: &Item, now_s: i64, now_ms: i64) -> Result<Status, StoreError> {
    if opt_n(item, "expires_at")?.is_some_and(|at| at < now_s) {
        return Ok(Status::Expired);
    }
    match opt_s(item, "status")?.as_deref() {
        Some("COMPLETED") => Ok(Status::Completed),
        Some("INPROGRESS") => Ok(
            if opt_n(item, "in_progress_expiry")?.is_some_and(|at| at < now_ms) {
                Status::Expired
            } else {
                Status::InProgress
            },
        ),
        _ => Err(StoreError::malformed("status", "idempotency status")),
    }
}

impl Idempotency {
    /// Records in `table`; completed ones keep copies away for `ttl`.
    pub fn new(client: Client, table: String, ttl: Duration) -> Self {
        Self { client, table, ttl }
    }

    fn pk(job_id: &str) -> String {
        format!("JOB#{job_id}")
    }

    /// Claims `job_id` until `deadline_ms` (the invocation's deadline), in one conditional
    /// write: no record, an expired one, or an `INPROGRESS` one past its deadline.
    pub async fn claim(
        &self,
        job_id: &str,
        kind: &str,
        deadline_ms: i64,
    ) -> Result<Claim, StoreError> {
        let (now, now_ms) = (now_s(), now_ms());
        let token = uuid::Uuid::new_v4().to_string();
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(Self::pk(job_id)))
            .item("status", s("INPROGRESS"))
            .item("kind", s(kind))
            .item("in_progress_expiry", n(deadline_ms))
            .item("expires_at", n(now.saturating_add(ttl)))
            .item("token", s(&token))
            .condition_expression(
                "attribute_not_exists(pk) OR expires_at < :now \
                 OR (#status = :inprogress AND in_progress_expiry < :now_ms)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":now_ms", n(now_ms))
            .expression_attribute_values(":inprogress", s("INPROGRESS"))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let Err(err) = result else {
            return Ok(Claim::Mine(token));
        };
        // The record that stood in the way, as the failed condition returned it (or read back,
        // from a store that does not return it).
        let old = match err.as_service_error() {
            Some(PutItemError::ConditionalCheckFailedException(e)) => e.item().cloned(),
            _ => return Err(StoreError::from(err)),
        };
        let old = match old {
            Some(item) => Some(item),
            None => dynamo::get(&self.client, &self.table, Self::pk(job_id)).await?,
        };
        Ok(match old {
            Some(item) => match status_of(&item, now, now_ms)? {
                Status::Completed => Claim::Completed,
                // Expired between the write and the read: someone else's turn now, or ours on
                // the retry.
                Status::InProgress | Status::Expired => Claim::InProgress,
            },
            // Deleted between the write and the read (a failed run released it): retry.
            None => Claim::InProgress,
        })
    }

    /// Marks the job done, if `token`'s claim still holds. `false` when it did not (it expired
    /// and another worker took it over).
    pub async fn complete(&self, job_id: &str, token: &str) -> Result<bool, StoreError> {
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX);
        applied(
            self.client
                .update_item()
                .table_name(&self.table)
                .key("pk", s(Self::pk(job_id)))
                .update_expression(
                    "SET #status = :completed, expires_at = :expires REMOVE in_progress_expiry",
                )
                .condition_expression("#token = :token")
                .expression_attribute_names("#status", "status")
                .expression_attribute_names("#token", "token")
                .expression_attribute_values(":completed", s("COMPLETED"))
                .expression_attribute_values(":expires", n(now_s().saturating_add(ttl)))
                .expression_attribute_values(":token", s(token))
                .send()
                .await
                .map_err(StoreError::from),
        )
    }

    /// Gives the claim up after a failure, so the retry runs the job again.
    pub async fn release(&self, job_id: &str, token: &str) -> Result<bool, StoreError> {
        applied(
            self.client
                .delete_item()
                .table_name(&self.table)
                .key("pk", s(Self::pk(job_id)))
                .condition_expression("#token = :token")
                .expression_attribute_names("#token", "token")
                .expression_attribute_values(":token", s(token))
                .send()
                .await
                .map_err(StoreError::from),
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn item(status: &str, expires_at: i64, in_progress_expiry: Option<i64>) -> Item {
        let mut item = Item::new();
        item.insert("status".into(), s(status));
        item.insert("expires_at".into(), n(expires_at));
        if let Some(at) = in_progress_expiry {
            item.insert("in_progress_expiry".into(), n(at));
        }
        item
    }

    #[test]
    fn a_record_reads_as_powertools_reads_it() {
        let (now, now_ms) = (1_000, 1_000_000);
        assert_eq!(
            status_of(&item("COMPLETED", 2_000, None), now, now_ms).unwrap(),
            Status::Completed
        );
        assert_eq!(
            status_of(&item("COMPLETED", 999, None), now, now_ms).unwrap(),
            Status::Expired
        );
        assert_eq!(
            status_of(&item("INPROGRESS", 2_000, Some(1_000_001)), now, now_ms).unwrap(),
            Status::InProgress
        );
        assert_eq!(
            status_of(&item("INPROGRESS", 2_000, Some(999_999)), now, now_ms).unwrap(),
            Status::Expired
        );
        assert!(status_of(&item("DONE", 2_000, None), now, now_ms).is_err());
    }
}
