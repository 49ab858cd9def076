//! Typed handlers, registered per provider and event type in [`handler_for`]. A verified
//! delivery whose type has no handler is recorded as `ignored` and acknowledged.
//!
//! The one real handler, [`SubscriptionTier`], shows the shape: it reads its own typed event
//! from the payload, is idempotent, and never lets an older event overwrite a newer one.

use identity::store::users::Users;
use serde::Deserialize;

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
    /// The users table, for tier changes.
    users: Users,
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
    /// Handlers writing to `users`.
    pub fn new(users: Users) -> Self {
        Self { users }
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
        // One conditional write: the user exists, and no event at least as new was applied.
        let written = handlers
            .users
            .set_tier_from_event(user_id, tier, event.created)
            .await?;
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
