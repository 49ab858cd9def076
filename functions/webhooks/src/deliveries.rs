//! The deliveries table: one item per provider and delivery id, claimed with a conditional
//! write so that exactly one copy of a delivery is handled, however many arrive at once.
//!
//! Status: `processing` (claimed, handler running), then `enqueued` (its effect is a job on the
//! queue, which the worker applies), `ignored` (no handler for the type, or nothing to do) or
//! `failed` (the queue could not be reached). A `failed` delivery, or one `processing` past its lease
//! (the handler died), can be claimed again by the sender's retry; everything else is a
//! duplicate. The payload itself is not stored: its SHA-256 and size are.

use std::time::Duration;

use aws_sdk_dynamodb::{Client, types::ReturnValue};
use shared::dynamo::{StoreError, applied, n, opt_n, s};

/// How a claim went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This request handles the delivery; pass the token to [`Deliveries::finish`].
    Mine {
        /// Proves the claim when finishing (a later claim after the lease gets another).
        token: String,
        /// How many times the delivery has been claimed, this one included.
        attempt: i64,
    },
    /// Handled, being handled, or ignored already.
    Duplicate,
}

/// How handling ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finished {
    /// The handler's effect is on the jobs queue.
    Enqueued,
    /// Nothing to do (no handler for this type, or the event did not apply).
    Ignored,
    /// The handler failed; a redelivery runs it again.
    Failed,
}

impl Finished {
    fn as_str(self) -> &'static str {
        match self {
            Self::Enqueued => "enqueued",
            Self::Ignored => "ignored",
            Self::Failed => "failed",
        }
    }
}

/// What is recorded of a delivery.
#[derive(Debug, Clone)]
pub struct Received<'a> {
    /// `github`, `stripe`, `standard:<source>`, `rsa:<source>`.
    pub provider: &'a str,
    /// The sender's delivery (or event) id.
    pub delivery_id: &'a str,
    /// The event type.
    pub event_type: &'a str,
    /// Hex SHA-256 of the raw body.
    pub payload_sha256: String,
    /// Body size in bytes.
    pub size: usize,
}

/// The deliveries table.
#[derive(Debug, Clone)]
pub struct Deliveries {
    client: Client,
    table: String,
    retention: Duration,
    lease: Duration,
}

impl Deliveries {
    /// The store over `table`; records live `retention`, claims block copies for `lease`.
    pub fn new(client: Client, table: String, retention: Duration, lease: Duration) -> Self {
        Self {
            client,
            table,
            retention,
            lease,
        }
    }

    fn key(provider: &str, delivery_id: &str) -> String {
        format!("{provider}#{delivery_id}")
    }

    /// Claims `delivery` in one conditional write: new, failed before, or processing past its
    /// lease. Anything else is a duplicate.
    pub async fn claim(&self, delivery: &Received<'_>) -> Result<Claim, StoreError> {
        let now = shared::clock::now_s();
        let token = uuid::Uuid::new_v4().to_string();
        let lease = i64::try_from(self.lease.as_secs()).unwrap_or(i64::MAX);
        let retention = i64::try_from(self.retention.as_secs()).unwrap_or(i64::MAX);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(Self::key(delivery.provider, delivery.delivery_id)))
            .update_expression(
                "SET provider = :provider, delivery_id = :id, event_type = :type, \
                 received_at = if_not_exists(received_at, :received), payload_sha256 = :sha, \
                 #size = :size, #status = :processing, claim_token = :token, \
                 lease_until = :lease_until, expires_at = :expires, \
                 attempts = if_not_exists(attempts, :zero) + :one",
            )
            .condition_expression(
                "attribute_not_exists(pk) OR #status = :failed \
                 OR (#status = :processing AND lease_until < :now)",
            )
            .expression_attribute_names("#status", "status")
            // SIZE is a reserved word.
            .expression_attribute_names("#size", "size")
            .expression_attribute_values(":provider", s(delivery.provider))
            .expression_attribute_values(":id", s(delivery.delivery_id))
            .expression_attribute_values(":type", s(delivery.event_type))
            .expression_attribute_values(":received", s(shared::clock::now_rfc3339()))
            .expression_attribute_values(":sha", s(&delivery.payload_sha256))
            .expression_attribute_values(
                ":size",
                n(i64::try_from(delivery.size).unwrap_or(i64::MAX)),
            )
            .expression_attribute_values(":processing", s("processing"))
            .expression_attribute_values(":failed", s("failed"))
            .expression_attribute_values(":token", s(&token))
            .expression_attribute_values(":lease_until", n(now.saturating_add(lease)))
            .expression_attribute_values(":expires", n(now.saturating_add(retention)))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(StoreError::from);
        match result {
            Ok(out) => {
                let attempt = out
                    .attributes()
                    .map(|item| opt_n(item, "attempts"))
                    .transpose()?
                    .flatten()
                    .unwrap_or(1);
                Ok(Claim::Mine { token, attempt })
            }
            Err(StoreError::ConditionFailed) => Ok(Claim::Duplicate),
            Err(err) => Err(err),
        }
    }

    /// Records how handling ended, if the claim `token` still holds (a retry that took over
    /// after the lease owns the record now). `false` when it did not.
    pub async fn finish(
        &self,
        provider: &str,
        delivery_id: &str,
        token: &str,
        finished: Finished,
    ) -> Result<bool, StoreError> {
        applied(
            self.client
                .update_item()
                .table_name(&self.table)
                .key("pk", s(Self::key(provider, delivery_id)))
                .update_expression("SET #status = :status, handled_at = :now REMOVE lease_until")
                .condition_expression("claim_token = :token")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":status", s(finished.as_str()))
                .expression_attribute_values(":now", s(shared::clock::now_rfc3339()))
                .expression_attribute_values(":token", s(token))
                .send()
                .await
                .map_err(StoreError::from),
        )
    }
}
