//! One batch: each message read, claimed, run and answered on its own, concurrently. The answer
//! lists the messages that failed (`batchItemFailures`), which the event source mapping leaves on
//! the queue; the rest are deleted. A failed message is hidden for a backoff first
//! (`ChangeMessageVisibility`), so retries spread out instead of coming back together after the
//! queue's visibility timeout.

use std::time::Instant;

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use queue::{Envelope, Job};

use crate::{
    Worker,
    effects::{self, Applied},
    idempotency::Claim,
    mail::Mailed,
};

/// How one message ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// The job ran and did something.
    Done,
    /// The job ran; there was nothing to do.
    Skipped(&'static str),
    /// A copy already completed it.
    Duplicate,
    /// Unreadable: moved to the dead-letter queue.
    DeadLettered,
    /// Failed (or another copy is running): retried.
    Retry,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::Skipped(_) => "skipped",
            Self::Duplicate => "duplicate",
            Self::DeadLettered => "dead_lettered",
            Self::Retry => "retry",
        }
    }
}

/// Works a batch; answers the messages to retry. `deadline_ms` is the invocation's deadline
/// (epoch milliseconds): no claim is held past it.
pub async fn process(worker: &Worker, event: SqsEvent, deadline_ms: u64) -> SqsBatchResponse {
    let deadline_ms = i64::try_from(deadline_ms).unwrap_or(i64::MAX);
    let outcomes = futures::future::join_all(
        event
            .records
            .iter()
            .map(|message| one(worker, message, deadline_ms)),
    )
    .await;
    let mut response = SqsBatchResponse::default();
    for (message, outcome) in event.records.iter().zip(outcomes) {
        if outcome == Outcome::Retry {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = message.message_id.clone().unwrap_or_default();
            response.batch_item_failures.push(failure);
        }
    }
    response
}

/// Which receive of the message this is (1 for the first).
fn receive_count(message: &SqsMessage) -> u32 {
    message
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|c| c.parse().ok())
        .unwrap_or(1)
}

async fn one(worker: &Worker, message: &SqsMessage, deadline_ms: i64) -> Outcome {
    let started = Instant::now();
    let attempt = receive_count(message);
    let message_id = message.message_id.as_deref().unwrap_or_default();
    let body = message.body.as_deref().unwrap_or_default();
    let envelope = match Envelope::parse(body) {
        Ok(envelope) => envelope,
        Err(malformed) => {
            let outcome = dead_letter(worker, body, &malformed.0).await;
            tracing::warn!(
                message_id, attempt, outcome = outcome.as_str(), reason = %malformed.0,
                "job message not readable"
            );
            return outcome;
        }
    };
    let kind = envelope.job.kind();
    let outcome = match worker
        .idempotency
        .claim(&envelope.id, kind, deadline_ms)
        .await
    {
        Ok(Claim::Mine(token)) => run_claimed(worker, &envelope, &token).await,
        Ok(Claim::Completed) => Ok(Outcome::Duplicate),
        Ok(Claim::InProgress) => Err(anyhow::anyhow!("another copy is running")),
        Err(err) => Err(anyhow::Error::from(err).context("claiming the job")),
    };
    let (outcome, error) = match outcome {
        Ok(outcome) => (outcome, None),
        Err(err) => {
            back_off(worker, message, attempt).await;
            (Outcome::Retry, Some(format!("{err:#}")))
        }
    };
    let reason = match outcome {
        Outcome::Skipped(reason) => Some(reason),
        _ => None,
    };
    // The one line per job: its id, kind, attempt and outcome.
    tracing::info!(
        job_id = %envelope.id,
        kind,
        attempt,
        outcome = outcome.as_str(),
        reason,
        error,
        duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "job"
    );
    outcome
}

/// Runs a claimed job, then completes the claim, or releases it on failure (so the retry runs
/// the job again).
async fn run_claimed(worker: &Worker, envelope: &Envelope, token: &str) -> anyhow::Result<Outcome> {
    match run(worker, &envelope.job).await {
        Ok(outcome) => {
            if !worker.idempotency.complete(&envelope.id, token).await? {
                tracing::warn!(job_id = %envelope.id, "claim expired before completion");
            }
            Ok(outcome)
        }
        Err(err) => {
            if let Err(release) = worker.idempotency.release(&envelope.id, token).await {
                // The claim then expires at the deadline, and the retry takes it after that.
                tracing::warn!(job_id = %envelope.id, error = ?release, "claim not released");
            }
            Err(err)
        }
    }
}

/// The job's effect.
async fn run(worker: &Worker, job: &Job) -> anyhow::Result<Outcome> {
    let mailed = |m: Mailed| match m {
        Mailed::Sent => Outcome::Done,
        Mailed::Skipped(reason) => Outcome::Skipped(reason),
    };
    let applied = |a: Applied| match a {
        Applied::Done => Outcome::Done,
        Applied::Skipped(reason) => Outcome::Skipped(reason),
    };
    Ok(match job {
        Job::VerifyEmail { user_id } => mailed(worker.mail.verify_email(user_id).await?),
        Job::ResendVerification { to } => mailed(worker.mail.resend(to).await?),
        Job::PasswordReset { email } => mailed(worker.mail.password_reset(email).await?),
        Job::PasswordChanged {
            user_id,
            changed_at,
        } => mailed(worker.mail.password_changed(user_id, changed_at).await?),
        Job::RecoveryCodeUsed { user_id, used_at } => {
            mailed(worker.mail.recovery_code_used(user_id, used_at).await?)
        }
        Job::SubscriptionTier {
            user_id,
            tier,
            event_created,
        } => {
            applied(effects::subscription_tier(&worker.users, user_id, tier, *event_created).await?)
        }
        Job::Sample {
            task_id,
            message,
            delay_ms,
            fail,
            ..
        } => applied(effects::sample(&worker.tasks, task_id, message, *delay_ms, *fail).await?),
    })
}

/// Sends an unreadable body to the dead-letter queue as it came, with the reason, and lets the
/// original go: retrying what cannot be read would only fail `maxReceiveCount` times. If the
/// dead-letter queue cannot be reached, the message is retried (and reaches it by the redrive
/// policy at the latest).
async fn dead_letter(worker: &Worker, body: &str, reason: &str) -> Outcome {
    let attribute = aws_sdk_sqs::types::MessageAttributeValue::builder()
        .data_type("String")
        .string_value(reason.chars().take(256).collect::<String>())
        .build();
    let mut send = worker
        .queue
        .client()
        .send_message()
        .queue_url(&worker.settings.dead_letter_url)
        // SQS refuses an empty body.
        .message_body(if body.is_empty() { "(empty)" } else { body });
    if let Ok(attribute) = attribute {
        send = send.message_attributes("reason", attribute);
    }
    match send.send().await {
        Ok(_) => Outcome::DeadLettered,
        Err(err) => {
            tracing::warn!(
                error = %shared::error::DisplayErrorContext(err),
                "dead-letter queue unavailable; the message is retried"
            );
            Outcome::Retry
        }
    }
}

/// Hides a failed message for its backoff. If that fails, it comes back after the queue's
/// visibility timeout instead.
async fn back_off(worker: &Worker, message: &SqsMessage, attempt: u32) {
    let Some(receipt) = message.receipt_handle.as_deref() else {
        return;
    };
    let secs = i32::try_from(worker.settings.backoff(attempt).as_secs()).unwrap_or(900);
    if let Err(err) = worker
        .queue
        .client()
        .change_message_visibility()
        .queue_url(worker.queue.url())
        .receipt_handle(receipt)
        .visibility_timeout(secs)
        .send()
        .await
    {
        tracing::warn!(
            error = %shared::error::DisplayErrorContext(err),
            "backoff not set; the message returns after the visibility timeout"
        );
    }
}
