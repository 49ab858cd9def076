//! The jobs that are not mail: a webhook's effect (the user's tier from a Stripe subscription
//! event) and the sample task of `/api/v1/tasks`.

use std::time::Duration;

use identity::store::users::Users;
use queue::{Tasks, job::SAMPLE_MAX_DELAY_MS};

/// What an effect did, for the job's log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// It acted.
    Done,
    /// Nothing to do (a stale event, no such user, a task finished already).
    Skipped(&'static str),
}

/// Sets `user_id`'s tier from a subscription event, unless an event at least as new was applied
/// (one conditional write: the webhook's ordering survives redeliveries and retries).
pub async fn subscription_tier(
    users: &Users,
    user_id: &str,
    tier: &str,
    event_created: i64,
) -> anyhow::Result<Applied> {
    let written = users
        .set_tier_from_event(user_id, tier, event_created)
        .await?;
    Ok(if written {
        Applied::Done
    } else {
        Applied::Skipped("stale event or no such user")
    })
}

/// The sample task: marks it `running`, works for `delay_ms`, then ends it `succeeded` with a
/// result, or `failed` with an error when asked to fail. Its own failure (`fail`) is the task's
/// outcome, not the job's: the job completes and is not retried.
pub async fn sample(
    tasks: &Tasks,
    task_id: &str,
    message: &str,
    delay_ms: u64,
    fail: bool,
) -> anyhow::Result<Applied> {
    if !tasks.start(task_id).await? {
        return Ok(Applied::Skipped("task finished or gone"));
    }
    tokio::time::sleep(Duration::from_millis(delay_ms.min(SAMPLE_MAX_DELAY_MS))).await;
    let outcome = if fail {
        Err("the task was asked to fail".to_owned())
    } else {
        Ok(serde_json::json!({ "message": format!("Task {message} is complete!") }))
    };
    tasks.finish(task_id, outcome).await?;
    Ok(Applied::Done)
}
