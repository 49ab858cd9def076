//! Typed handlers, registered per provider and event type in [`handler_for`]. A verified
//! delivery whose type has no handler is recorded as `ignored` and acknowledged.
//!
//! A handler only reads its typed event from the payload and enqueues the effect as a job: the
//! delivery is answered once the job is durably on the queue, and the worker (`functions/jobs`)
//! applies it, with retries that are ours rather than the sender's. The job's id is derived from
//! the delivery, so a redelivery enqueues the same job and the worker applies it once.
//!
//! The one real handler, [`SubscriptionTier`], shows the shape: the effect it enqueues is
//! idempotent and never lets an older event overwrite a newer one.

use queue::{Job, JobQueue};
use serde::Deserialize;

use crate::verifiers::Provider;

/// What a handler did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Its effect is on the jobs queue.
    Enqueued,
    /// Nothing to do: no handler for the type, or the event does not apply (no user, stale).
    Ignored,
}

/// The handlers' dependencies.
#[derive(Debug, Clone)]
pub struct Handlers {
    /// Where effects go.
    queue: JobQueue,
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
    /// Handlers enqueueing to `queue`.
    pub fn new(queue: JobQueue) -> Self {
        Self { queue }
    }

    /// Runs the handler registered for `provider` and `event_type` on `payload` of the delivery
    /// `key` (`<provider>#<delivery id>`). An error (the queue unreachable) leaves the delivery
    /// `failed`, so the sender's retry runs it again.
    pub async fn dispatch(
        &self,
        provider: &Provider,
        key: &str,
        event_type: &str,
        payload: &serde_json::Value,
    ) -> anyhow::Result<Outcome> {
        let job = match handler_for(provider, event_type) {
            Some(Handler::SubscriptionTier) => SubscriptionTier::job(event_type, payload),
            None => None,
        };
        let Some(job) = job else {
            return Ok(Outcome::Ignored);
        };
        self.queue.enqueue_as(format!("webhook:{key}"), job).await?;
        Ok(Outcome::Enqueued)
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
    /// The tier job of a subscription event, or `None` when it is not ours to act on (another
    /// shape, no user id): recorded as `ignored`, not retried.
    fn job(event_type: &str, payload: &serde_json::Value) -> Option<Job> {
        let Ok(event) = Self::deserialize(payload) else {
            tracing::warn!(event_type, "subscription event without the expected fields");
            return None;
        };
        let user_id = event
            .data
            .object
            .metadata
            .get("user_id")
            .filter(|id| uuid::Uuid::try_parse(id).is_ok())?
            .clone();
        let active = matches!(event.data.object.status.as_str(), "active" | "trialing");
        let tier = if event_type != "customer.subscription.deleted" && active {
            "pro"
        } else {
            "free"
        };
        Some(Job::SubscriptionTier {
            user_id,
            tier: tier.to_owned(),
            event_created: event.created,
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

    fn subscription(status: &str, user_id: &str) -> serde_json::Value {
        serde_json::json!({
            "created": 1_700_000_000,
            "data": {"object": {"status": status, "metadata": {"user_id": user_id}}}
        })
    }

    #[test]
    fn a_subscription_event_becomes_the_tier_job_of_its_user() {
        let user = "0190e3b8-8f7a-7cc4-9a4e-3f0c6f1d2b11";
        let job = |t: &str, status: &str| SubscriptionTier::job(t, &subscription(status, user));
        let tier = |job: Option<Job>| match job {
            Some(Job::SubscriptionTier {
                tier,
                user_id,
                event_created,
            }) => {
                assert_eq!((user_id.as_str(), event_created), (user, 1_700_000_000));
                tier
            }
            other => panic!("not a tier job: {other:?}"),
        };
        assert_eq!(tier(job("customer.subscription.updated", "active")), "pro");
        assert_eq!(
            tier(job("customer.subscription.created", "trialing")),
            "pro"
        );
        assert_eq!(
            tier(job("customer.subscription.updated", "past_due")),
            "free"
        );
        assert_eq!(tier(job("customer.subscription.deleted", "active")), "free");
    }

    #[test]
    fn events_without_a_user_id_or_of_another_shape_enqueue_nothing() {
        let t = "customer.subscription.updated";
        assert_eq!(
            SubscriptionTier::job(t, &subscription("active", "not-a-uuid")),
            None
        );
        assert_eq!(
            SubscriptionTier::job(t, &serde_json::json!({"created": 1})),
            None
        );
    }
}
