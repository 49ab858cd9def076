//! The producer: sends a [`Job`] to the jobs queue (`JOBS_QUEUE_URL`). Sending is the last step
//! of a request that enqueues: once `SendMessage` answers, SQS holds the message durably
//! (replicated before it answers), and the worker's retries and the dead-letter queue take over.

use aws_sdk_sqs::types::MessageAttributeValue;
use shared::{ApiError, AppState, Env, config::ConfigError, error::DisplayErrorContext};

use crate::job::{Envelope, Job};

/// Why a job was not enqueued.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// SQS did not take it (unreachable, throttled, refused): nothing was sent.
    #[error("the job was not enqueued")]
    NotSent(#[source] anyhow::Error),
}

impl From<QueueError> for ApiError {
    fn from(err: QueueError) -> Self {
        match err {
            QueueError::NotSent(e) => ApiError::Unavailable(e),
        }
    }
}

/// The jobs queue, for sending. Cheap to clone.
#[derive(Debug, Clone)]
pub struct JobQueue {
    sqs: aws_sdk_sqs::Client,
    url: String,
}

impl JobQueue {
    /// The queue named by `JOBS_QUEUE_URL` (required), with an SQS client from the core state's
    /// SDK configuration (its endpoint, timeouts and retries). No network call.
    pub fn from_env(app: &AppState, env: &Env) -> Result<Self, ConfigError> {
        Ok(Self::new(
            aws_sdk_sqs::Client::new(&app.sdk),
            env.required("JOBS_QUEUE_URL")?,
        ))
    }

    /// The queue at `url`.
    pub fn new(sqs: aws_sdk_sqs::Client, url: String) -> Self {
        Self { sqs, url }
    }

    /// The SQS client (the worker reuses it for the dead-letter queue and visibility changes).
    pub fn client(&self) -> &aws_sdk_sqs::Client {
        &self.sqs
    }

    /// The queue's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sends `job` under a new id (a UUIDv7: sortable by time); returns the id.
    pub async fn enqueue(&self, job: Job) -> Result<String, QueueError> {
        let id = uuid::Uuid::now_v7().to_string();
        self.enqueue_as(id, job).await
    }

    /// Sends `job` under `id`: a producer that may send the same job twice (a redelivered
    /// webhook) passes an id derived from its own, and the worker applies it once.
    pub async fn enqueue_as(&self, id: String, job: Job) -> Result<String, QueueError> {
        let kind = job.kind();
        let envelope = Envelope::new(id, job);
        self.sqs
            .send_message()
            .queue_url(&self.url)
            .message_body(envelope.to_body())
            // For the dead-letter listing and filters, without reading the body.
            .message_attributes(
                "kind",
                MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value(kind)
                    .build()
                    .map_err(|e| QueueError::NotSent(e.into()))?,
            )
            .send()
            .await
            .map_err(|e| QueueError::NotSent(anyhow::anyhow!("{}", DisplayErrorContext(e))))?;
        tracing::info!(job_id = %envelope.id, kind, "job enqueued");
        Ok(envelope.id)
    }
}
