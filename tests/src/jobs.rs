//! Background jobs in the tests: a queue pair of a test's own (the jobs queue and its dead-letter
//! queue, with the template's redrive policy), and the worker (`functions/jobs`) run in process
//! over it, doing what the event source mapping does: receive a batch, hand it to the worker as
//! an SQS event, delete what succeeded, leave the failures for their retry.
//!
//! Each fixture has its own queues, so its worker runs with its own settings (a mail limit, a
//! link base) and no test drains another's jobs.

use std::{sync::Arc, time::Duration};

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use shared::{AppState, Env};

use crate::unique;

/// A queue pair of a test's own.
#[derive(Debug, Clone)]
pub struct TestQueues {
    /// The jobs queue (`JOBS_QUEUE_URL`).
    pub url: String,
    /// Its dead-letter queue (`JOBS_DEAD_LETTER_QUEUE_URL`).
    pub dead_letter_url: String,
    /// An SQS client on the emulator.
    pub sqs: aws_sdk_sqs::Client,
}

impl TestQueues {
    /// A fresh pair: the jobs queue moves a message to the dead-letter queue after
    /// `max_receive` receives, and hides a received one for `visibility_secs`.
    pub async fn create(app: &AppState, max_receive: u32, visibility_secs: u32) -> Self {
        let sqs = aws_sdk_sqs::Client::new(&app.sdk);
        let name = format!("e2e-jobs-{}", unique());
        let dead_letter_url = sqs
            .create_queue()
            .queue_name(format!("{name}-dead-letter"))
            .send()
            .await
            .expect("create the dead-letter queue")
            .queue_url
            .expect("queue url");
        let dead_letter_arn = sqs
            .get_queue_attributes()
            .queue_url(&dead_letter_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("dead-letter queue attributes")
            .attributes
            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
            .expect("dead-letter queue arn");
        let redrive = serde_json::json!({
            "deadLetterTargetArn": dead_letter_arn,
            "maxReceiveCount": max_receive,
        });
        let url = sqs
            .create_queue()
            .queue_name(&name)
            .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
            .attributes(
                QueueAttributeName::VisibilityTimeout,
                visibility_secs.to_string(),
            )
            .send()
            .await
            .expect("create the jobs queue")
            .queue_url
            .expect("queue url");
        Self {
            url,
            dead_letter_url,
            sqs,
        }
    }

    /// The variables that point a function at these queues.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("JOBS_QUEUE_URL", self.url.clone()),
            ("JOBS_DEAD_LETTER_QUEUE_URL", self.dead_letter_url.clone()),
        ]
    }

    /// Receives up to 10 messages of `queue_url` (a short poll: the emulator serializes
    /// requests, so a long poll would hold every other test up).
    pub async fn receive(&self, queue_url: &str, visibility_secs: i32) -> Vec<SqsMessage> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(0)
            .visibility_timeout(visibility_secs)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .expect("receive");
        out.messages
            .unwrap_or_default()
            .into_iter()
            .map(|m| {
                let mut message = SqsMessage::default();
                message.message_id = m.message_id;
                message.receipt_handle = m.receipt_handle;
                message.body = m.body;
                message.md5_of_body = m.md5_of_body;
                message.event_source = Some("aws:sqs".to_owned());
                message.attributes = m
                    .attributes
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k.as_str().to_owned(), v))
                    .collect();
                message
            })
            .collect()
    }

    /// Waits (up to 20 s) until the jobs queue holds nothing, visible or in flight: every job
    /// enqueued so far has been worked (done, or failed into the dead-letter queue). Panics
    /// otherwise, naming what is left.
    pub async fn settled(&self) {
        let mut left = (0, 0);
        for _ in 0..200 {
            let attributes = self
                .sqs
                .get_queue_attributes()
                .queue_url(&self.url)
                .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
                .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
                .send()
                .await
                .expect("queue attributes")
                .attributes
                .unwrap_or_default();
            let count = |name: &QueueAttributeName| {
                attributes
                    .get(name)
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0)
            };
            left = (
                count(&QueueAttributeName::ApproximateNumberOfMessages),
                count(&QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
            );
            if left == (0, 0) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the jobs queue never emptied: (visible, in flight) = {left:?}");
    }

    /// Messages in the dead-letter queue now (received and made visible again at once).
    pub async fn dead_letters(&self) -> Vec<SqsMessage> {
        self.receive(&self.dead_letter_url, 0).await
    }

    /// One round of the event source mapping: receive a batch, run the worker on it, delete what
    /// it did not report as failed. Returns how many messages it received.
    pub async fn drain_once(&self, worker: &jobs::Worker) -> usize {
        let records = self.receive(&self.url, 30).await;
        let received = records.len();
        if received == 0 {
            return 0;
        }
        let mut event = SqsEvent::default();
        event.records = records;
        let response = run_batch(worker, event.clone()).await;
        let failed: Vec<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        for message in &event.records {
            if failed.contains(&message.message_id.as_deref().unwrap_or_default()) {
                continue;
            }
            if let Some(receipt) = &message.receipt_handle {
                self.sqs
                    .delete_message()
                    .queue_url(&self.url)
                    .receipt_handle(receipt)
                    .send()
                    .await
                    .expect("delete");
            }
        }
        received
    }
}

/// Whether job `job_id` completed (its idempotency record is `COMPLETED`) within `secs` seconds,
/// polling the jobs table (`JOBS_TABLE`).
pub async fn job_completed(app: &AppState, job_id: &str, secs: u64) -> bool {
    let table = std::env::var("JOBS_TABLE").expect("JOBS_TABLE");
    for _ in 0..secs * 10 {
        let item = shared::dynamo::get(&app.dynamo, &table, format!("JOB#{job_id}"))
            .await
            .expect("read the jobs table");
        if item
            .as_ref()
            .and_then(|i| shared::dynamo::opt_s(i, "status").ok().flatten())
            .is_some_and(|s| s == "COMPLETED")
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// Hands `event` to the worker as the event source mapping does, with an invocation deadline
/// 30 s away (the worker's timeout).
pub async fn run_batch(worker: &jobs::Worker, event: SqsEvent) -> SqsBatchResponse {
    let deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis()
        + 30_000;
    jobs::process(worker, event, u64::try_from(deadline).expect("deadline")).await
}

/// The worker polling a test's queues in the background, until dropped.
pub struct RunningWorker {
    /// The worker itself (to drive it by hand too).
    pub worker: Arc<jobs::Worker>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RunningWorker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RunningWorker {
    /// The worker over `env` (which names the queues), polling every 100 ms while idle.
    pub async fn spawn(app: AppState, env: Env, queues: TestQueues) -> Self {
        let worker = Arc::new(jobs::init(app, env).await.expect("worker init"));
        let polling = worker.clone();
        let task = tokio::spawn(async move {
            loop {
                if queues.drain_once(&polling).await == 0 {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        });
        Self { worker, task }
    }
}
