//! Typed handlers, registered per provider and event type in [`handler_for`]. A verified
//! delivery whose type has no handler is recorded as `ignored` and acknowledged.
//!
//! The one real handler, [`SubscriptionTier`], shows the shape: it reads its own typed event
//! from the payload, is idempotent, and never lets an older event overwrite a newer one.

use aws_sdk_dynamodb::Client;
use serde::Deserialize;
use shared::dynamo::{StoreError, applied, n, s};

use crate::verifiers::Provider;

/// What a handler did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It acted.
    Done,
    /// Nothing to do: no handler for the type, or the event does not apply (no user, stale).
    Ignored,
}

/// The handlers' dependencies.
#[derive(Debug, Clone)]
pub struct Handlers {
    dynamo: Client,
    users_table: String,
}

/// Which handler a delivery goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Handler {
    SubscriptionTier,
}

/// The registry: provider and event type to handler.
fn handler_for(provider: &Provider, event_type: &str) -> Option<Handler> {
    match (provider, event_type) {
        (
            Provider::Stripe,
            "customer.subscription.created"
            | "customer.subscription.updated"
            | "customer.subscription.deleted",
        ) => Some(Handler::SubscriptionTier),
        _ => None,
    }
}

impl Handlers {
    /// Handlers writing to the users table `users_table`.
    pub fn new(dynamo: Client, users_table: String) -> Self {
        Self {
            dynamo,
            users_table,
        }
    }

    /// Runs the handler registered for `provider` and `event_type` on `payload`. An error
    /// leaves the delivery `failed`, so the sender's retry runs it again.
    pub async fn dispatch(
        &self,
        provider: &Provider,
        event_type: &str,
        payload: &serde_json::Value,
    ) -> anyhow::Result<Outcome> {
        match handler_for(provider, event_type) {
            Some(Handler::SubscriptionTier) => {
                SubscriptionTier::handle(self, event_type, payload).await
            }
            None => Ok(Outcome::Ignored),
        }
    }
}

/// A Stripe `customer.subscription.*` event whose subscription's metadata carries our
/// `user_id`: the user's tier is `pro` while the subscription is `active` or `trialing`, and
/// `free` otherwise (cancelled, unpaid, past due, incomplete) and once it is deleted.
#[derive(Debug, Deserialize)]
struct SubscriptionTier {
    /// Seconds since the epoch: the order of events, whatever order they arrive in.
    created: i64,
    data: SubscriptionData,
}

#[derive(Debug, Deserialize)]
struct SubscriptionData {
    object: Subscription,
}

#[derive(Debug, Deserialize)]
struct Subscription {
    status: String,
    #[serde(default)]
    metadata: std::collections::HashMap<String, String>,
}

impl SubscriptionTier {
    async fn handle(
        handlers: &Handlers,
        event_type: &str,
        payload: &serde_json::Value,
    ) -> anyhow::Result<Outcome> {
        // A payload of another shape is not ours to act on; it is recorded, not retried.
        let Ok(event) = Self::deserialize(payload) else {
            tracing::warn!(event_type, "subscription event without the expected fields");
            return Ok(Outcome::Ignored);
        };
        let Some(user_id) = event
            .data
            .object
            .metadata
            .get("user_id")
            .filter(|id| uuid::Uuid::try_parse(id).is_ok())
        else {
            return Ok(Outcome::Ignored);
        };
        let active = matches!(event.data.object.status.as_str(), "active" | "trialing");
        let tier = if event_type != "customer.subscription.deleted" && active {
            "pro"
        } else {
            "free"
        };
        // One conditional write: the user exists, and no event at least as new was applied. A
        // redelivery (same `created`) or an older event arriving late changes nothing.
        let written = applied(
            handlers
                .dynamo
                .update_item()
                .table_name(&handlers.users_table)
                .key("pk", s(format!("USER#{user_id}")))
                .update_expression(
                    "SET tier = :tier, tier_event_created = :created, updated_at = :now",
                )
                .condition_expression(
                    "attribute_exists(pk) AND (attribute_not_exists(tier_event_created) \
                     OR tier_event_created < :created)",
                )
                .expression_attribute_values(":tier", s(tier))
                .expression_attribute_values(":created", n(event.created))
                .expression_attribute_values(":now", s(shared::clock::now_rfc3339()))
                .send()
                .await
                .map_err(StoreError::from),
        )?;
        tracing::info!(event_type, tier, written, "subscription tier event");
        Ok(if written {
            Outcome::Done
        } else {
            Outcome::Ignored
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_stripe_subscription_events_have_a_handler() {
        for t in [
            "customer.subscription.created",
            "customer.subscription.updated",
            "customer.subscription.deleted",
        ] {
            assert_eq!(
                handler_for(&Provider::Stripe, t),
                Some(Handler::SubscriptionTier)
            );
            assert_eq!(handler_for(&Provider::Github, t), None);
            assert_eq!(handler_for(&Provider::Standard("local".into()), t), None);
        }
        assert_eq!(handler_for(&Provider::Stripe, "invoice.paid"), None);
    }
}
