//! The jobs' dead-letter queue, as the admin routes use it: a peek at what it holds, and the
//! redrive back to the jobs queue. Nothing here reads a message's body out: it is parsed only to
//! name the job (a job may hold an address).

use std::sync::OnceLock;

use aws_sdk_sqs::{
    Client,
    config::{http::HttpResponse, retry::RetryConfig},
    error::SdkError,
    operation::start_message_move_task::StartMessageMoveTaskError,
    types::{
        DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName, QueueAttributeName,
        SendMessageBatchRequestEntry,
    },
};
use queue::Envelope;
use shared::{ApiError, error::ProvideErrorMetadata};

use crate::body::DeadLetter;

/// SQS's most messages per receive and per batch.
const BATCH: i32 = 10;

/// The most messages one redrive moves by hand: a call stays well inside the function's timeout;
/// the next call moves the rest.
pub const MOVE_MAX: u64 = 1000;

/// How long a message being moved by hand is hidden: enough to send and delete it. If the call
/// dies in between, it is back in the dead-letter queue after that.
const MOVING_VISIBILITY_SECS: i32 = 30;

/// The dead-letter queue and the jobs queue it redrives to.
#[derive(Debug)]
pub struct DeadLetters {
    sqs: Client,
    dead_letter_url: String,
    jobs_url: String,
    /// `(dead-letter ARN, jobs ARN)`, read on the first redrive: they never change.
    arns: OnceLock<(String, String)>,
}

impl DeadLetters {
    /// The queues at these URLs; no network call.
    pub fn new(sqs: Client, dead_letter_url: String, jobs_url: String) -> Self {
        Self {
            sqs,
            dead_letter_url,
            jobs_url,
            arns: OnceLock::new(),
        }
    }

    /// Messages in the dead-letter queue: `(visible, in flight)`, SQS's approximate counts.
    pub async fn counts(&self) -> Result<(i64, i64), ApiError> {
        let attributes = self
            .sqs
            .get_queue_attributes()
            .queue_url(&self.dead_letter_url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await?
            .attributes
            .unwrap_or_default();
        let count = |name: &QueueAttributeName| {
            attributes
                .get(name)
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(0)
        };
        Ok((
            count(&QueueAttributeName::ApproximateNumberOfMessages),
            count(&QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        ))
    }

    /// Up to 10 messages, left visible (a receive with `VisibilityTimeout=0`, short poll): each
    /// peek counts as a receive of every message it returns.
    pub async fn peek(&self) -> Result<Vec<DeadLetter>, ApiError> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.dead_letter_url)
            .max_number_of_messages(BATCH)
            .visibility_timeout(0)
            .wait_time_seconds(0)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .message_attribute_names("reason")
            .send()
            .await?;
        Ok(out
            .messages
            .unwrap_or_default()
            .iter()
            .map(describe)
            .collect())
    }

    /// The two ARNs `StartMessageMoveTask` takes, read once per sandbox.
    async fn arns(&self) -> Result<(String, String), ApiError> {
        if let Some(arns) = self.arns.get() {
            return Ok(arns.clone());
        }
        let arns = (
            self.arn(&self.dead_letter_url).await?,
            self.arn(&self.jobs_url).await?,
        );
        // Two first redrives at once read the same values; either may keep them.
        let _ = self.arns.set(arns.clone());
        Ok(arns)
    }

    async fn arn(&self, url: &str) -> Result<String, ApiError> {
        self.sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await?
            .attributes
            .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
            .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("{url} has no QueueArn")))
    }

    /// Starts SQS's message move task from the dead-letter queue to the jobs queue: its handle,
    /// or `None` when the service has no such operation (the local emulator), for
    /// [`DeadLetters::move_by_hand`]. Any other failure is the caller's error.
    pub async fn start_move_task(&self) -> Result<Option<String>, ApiError> {
        let (source, destination) = self.arns().await?;
        let started = self
            .sqs
            .start_message_move_task()
            .source_arn(source)
            .destination_arn(destination)
            // Not retried: a 5xx is how the emulator says it has no such operation, and the
            // fallback then moves the messages (each of its calls retried as usual).
            .customize()
            .config_override(
                aws_sdk_sqs::config::Builder::default().retry_config(RetryConfig::disabled()),
            )
            .send()
            .await;
        match started {
            Ok(out) => Ok(Some(out.task_handle.unwrap_or_default())),
            Err(err) if no_move_task(&err) => {
                tracing::warn!(
                    error = %shared::error::DisplayErrorContext(&err),
                    "StartMessageMoveTask not supported here; moving the dead letters by hand"
                );
                Ok(None)
            }
            Err(err) => Err(err.into()),
        }
    }

    /// Moves dead letters back to the jobs queue by hand: receives batches of 10, sends each
    /// batch to the jobs queue (same body, same message attributes) and deletes from the
    /// dead-letter queue what was sent. At most [`MOVE_MAX`], and at most as many as were
    /// visible when it started: a message the worker dead-letters again meanwhile (an unreadable
    /// body does at once) waits for the next redrive instead of going round in this one.
    /// Returns how many were moved.
    ///
    /// A message sent but not deleted (a failed delete) comes back to the dead-letter queue
    /// after 30 s and would be moved again: the worker runs a job id once, so a copy is harmless.
    pub async fn move_by_hand(&self) -> Result<u64, ApiError> {
        let (visible, _) = self.counts().await?;
        let limit = u64::try_from(visible).unwrap_or(0).min(MOVE_MAX);
        let mut moved = 0;
        while moved < limit {
            let want = i32::try_from((limit - moved).min(BATCH as u64)).unwrap_or(BATCH);
            let messages = self
                .sqs
                .receive_message()
                .queue_url(&self.dead_letter_url)
                .max_number_of_messages(want)
                .visibility_timeout(MOVING_VISIBILITY_SECS)
                .wait_time_seconds(0)
                .message_attribute_names("All")
                .send()
                .await?
                .messages
                .unwrap_or_default();
            if messages.is_empty() {
                break;
            }
            let sent = self.send_back(&messages).await?;
            if sent.is_empty() {
                // Nothing could be sent: stop rather than receive the rest in vain; what was
                // received is back in 30 s.
                break;
            }
            moved += u64::try_from(sent.len()).unwrap_or(0);
            self.delete(&sent).await?;
        }
        Ok(moved)
    }

    /// Sends `messages` to the jobs queue in one batch; returns the ones SQS took.
    async fn send_back<'m>(&self, messages: &'m [Message]) -> Result<Vec<&'m Message>, ApiError> {
        let entries = messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(m.body().unwrap_or_default())
                    .set_message_attributes(m.message_attributes().cloned())
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let out = self
            .sqs
            .send_message_batch()
            .queue_url(&self.jobs_url)
            .set_entries(Some(entries))
            .send()
            .await?;
        for failed in &out.failed {
            tracing::warn!(
                code = %failed.code, message = ?failed.message,
                "a dead letter was not sent back; it stays in the dead-letter queue"
            );
        }
        Ok(out
            .successful
            .iter()
            .filter_map(|s| s.id.parse::<usize>().ok())
            .filter_map(|i| messages.get(i))
            .collect())
    }

    /// Deletes `messages` (received from the dead-letter queue) in one batch.
    async fn delete(&self, messages: &[&Message]) -> Result<(), ApiError> {
        let entries = messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let out = self
            .sqs
            .delete_message_batch()
            .queue_url(&self.dead_letter_url)
            .set_entries(Some(entries))
            .send()
            .await?;
        for failed in &out.failed {
            tracing::warn!(
                code = %failed.code, message = ?failed.message,
                "a dead letter sent back was not deleted; it returns in 30 s and may run twice"
            );
        }
        Ok(())
    }
}

/// What the listing shows of a message: its ids, counts and reason, not its body.
fn describe(message: &Message) -> DeadLetter {
    let envelope = message.body().and_then(|b| Envelope::parse(b).ok());
    let attribute = |name: MessageSystemAttributeName| {
        message
            .attributes()
            .and_then(|a| a.get(&name))
            .and_then(|v| v.parse::<i64>().ok())
    };
    DeadLetter {
        message_id: message.message_id().unwrap_or_default().to_owned(),
        job_id: envelope.as_ref().map(|e| e.id.clone()),
        kind: envelope.as_ref().map(|e| e.job.kind().to_owned()),
        receive_count: attribute(MessageSystemAttributeName::ApproximateReceiveCount),
        sent_at: attribute(MessageSystemAttributeName::SentTimestamp).and_then(rfc3339_from_ms),
        reason: message
            .message_attributes()
            .and_then(|a| a.get("reason"))
            .and_then(|v| v.string_value())
            .map(str::to_owned),
    }
}

/// Epoch milliseconds as the API's RFC 3339.
fn rfc3339_from_ms(ms: i64) -> Option<String> {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .map(shared::clock::rfc3339)
}

/// Whether `StartMessageMoveTask` failed because the service does not have it: an unknown
/// action (`InvalidAction`, `UnknownOperationException`), or a server error the SDK does not
/// model (moto 5.2.5 answers a bare 500 page). Throttling, a missing queue, a refused source and
/// every client error are real failures, answered as such.
fn no_move_task(err: &SdkError<StartMessageMoveTaskError, HttpResponse>) -> bool {
    let SdkError::ServiceError(context) = err else {
        return false;
    };
    let error = context.err();
    if matches!(
        error.code(),
        Some(
            "InvalidAction" | "UnknownOperationException" | "AWS.SimpleQueueService.InvalidAction"
        )
    ) {
        return true;
    }
    let modeled = matches!(
        error,
        StartMessageMoveTaskError::InvalidAddress(_)
            | StartMessageMoveTaskError::InvalidSecurity(_)
            | StartMessageMoveTaskError::RequestThrottled(_)
            | StartMessageMoveTaskError::ResourceNotFoundException(_)
            | StartMessageMoveTaskError::UnsupportedOperation(_)
    );
    !modeled && context.raw().status().is_server_error()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use aws_sdk_sqs::types::{MessageAttributeValue, error::RequestThrottled};
    use aws_smithy_types::{body::SdkBody, error::ErrorMetadata};

    fn failure(
        status: u16,
        error: StartMessageMoveTaskError,
    ) -> SdkError<StartMessageMoveTaskError, HttpResponse> {
        SdkError::service_error(
            error,
            HttpResponse::new(status.try_into().unwrap(), SdkBody::empty()),
        )
    }

    fn unhandled(code: Option<&str>) -> StartMessageMoveTaskError {
        let mut meta = ErrorMetadata::builder();
        if let Some(code) = code {
            meta = meta.code(code);
        }
        StartMessageMoveTaskError::generic(meta.build())
    }

    #[test]
    fn the_emulators_bare_500_and_an_unknown_action_mean_no_move_task() {
        assert!(no_move_task(&failure(500, unhandled(None))));
        assert!(no_move_task(&failure(501, unhandled(None))));
        assert!(no_move_task(&failure(
            400,
            unhandled(Some("InvalidAction"))
        )));
        assert!(no_move_task(&failure(
            400,
            unhandled(Some("UnknownOperationException"))
        )));
    }

    #[test]
    fn throttling_client_errors_and_modeled_failures_are_real_failures() {
        let throttled =
            StartMessageMoveTaskError::RequestThrottled(RequestThrottled::builder().build());
        assert!(!no_move_task(&failure(503, throttled)));
        assert!(!no_move_task(&failure(
            400,
            unhandled(Some("AccessDenied"))
        )));
        assert!(!no_move_task(&failure(403, unhandled(None))));
    }

    #[test]
    fn a_listing_names_the_job_and_the_reason_but_never_shows_the_body() {
        let body = Envelope::new(
            "job-1".into(),
            queue::Job::PasswordReset {
                email: "someone@example.com".into(),
            },
        )
        .to_body();
        let readable = Message::builder()
            .message_id("m-1")
            .body(&body)
            .attributes(MessageSystemAttributeName::ApproximateReceiveCount, "5")
            .attributes(MessageSystemAttributeName::SentTimestamp, "1700000000123")
            .build();
        let listed = describe(&readable);
        assert_eq!(listed.job_id.as_deref(), Some("job-1"));
        assert_eq!(listed.kind.as_deref(), Some("password_reset"));
        assert_eq!(listed.receive_count, Some(5));
        assert_eq!(listed.sent_at.as_deref(), Some("2023-11-14T22:13:20Z"));
        assert_eq!(listed.reason, None);
        let shown = serde_json::to_string(&listed).unwrap();
        assert!(!shown.contains("someone@example.com"), "{shown}");

        let unreadable = Message::builder()
            .message_id("m-2")
            .body("to: someone@example.com")
            .message_attributes(
                "reason",
                MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value("not a JSON object")
                    .build()
                    .unwrap(),
            )
            .build();
        let listed = describe(&unreadable);
        assert_eq!((listed.job_id, listed.kind), (None, None));
        assert_eq!(listed.reason.as_deref(), Some("not a JSON object"));
    }
}
