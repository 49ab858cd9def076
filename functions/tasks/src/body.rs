//! The bodies this function answers with.

use queue::{TaskRecord, TaskStatus};
use serde::Serialize;

/// `202` to `POST /api/v1/tasks`: the task, queued.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CreatedTask {
    /// The task id (a UUIDv7), also the job's.
    pub id: String,
    /// Always `queued` here.
    pub status: TaskStatus,
    /// RFC 3339, as recorded.
    pub created_at: String,
}

/// A task as its owner reads it (`GET /api/v1/tasks/{id}`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TaskBody {
    /// The task id.
    pub id: String,
    /// The job kind (`sample`).
    pub kind: String,
    /// `queued`, `running`, `succeeded` or `failed`.
    pub status: TaskStatus,
    /// Times a worker started it (retries included).
    pub attempts: i64,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339, the last start; `null` while queued.
    pub started_at: Option<String>,
    /// RFC 3339, when it succeeded or failed; `null` before.
    pub finished_at: Option<String>,
    /// What it produced once `succeeded` (the sample job: `{"message": "Task <message> is
    /// complete!"}`); `null` otherwise.
    #[schema(value_type = Option<Object>)]
    pub result: Option<serde_json::Value>,
    /// Why it failed once `failed`; `null` otherwise.
    pub error: Option<String>,
}

impl From<TaskRecord> for TaskBody {
    fn from(record: TaskRecord) -> Self {
        Self {
            id: record.id,
            kind: record.kind,
            status: record.status,
            attempts: record.attempts,
            created_at: record.created_at,
            started_at: record.started_at,
            finished_at: record.finished_at,
            result: record.result,
            error: record.error,
        }
    }
}

/// What the dead-letter queue holds (`GET /api/v1/tasks/dead-letters`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeadLetterList {
    /// Messages in the queue, visible or in flight (SQS's approximate count).
    pub approximate_count: i64,
    /// Up to 10 of them, as one receive returns them (a sample, not necessarily the oldest).
    pub messages: Vec<DeadLetter>,
}

/// One dead-lettered message: what identifies it, never its body (a job may hold an address).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeadLetter {
    /// SQS's message id.
    pub message_id: String,
    /// The envelope's job id; `null` when the body is not a job envelope this version reads.
    pub job_id: Option<String>,
    /// The job kind (`verify_email`, `sample`, ...); `null` likewise.
    pub kind: Option<String>,
    /// Receives so far (the worker's attempts, plus one per listing: each listing is a receive).
    pub receive_count: Option<i64>,
    /// RFC 3339: when the message was first sent (to the jobs queue, or by the worker to this
    /// queue for an unreadable body).
    pub sent_at: Option<String>,
    /// Why the worker could not read it (its `reason` attribute); `null` for a job that failed
    /// its attempts.
    pub reason: Option<String>,
}

/// How a redrive went.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum Redriven {
    /// `202`: SQS's message move task was started; it moves the messages in the background.
    MoveTask {
        /// The task's handle (`ListMessageMoveTasks`, `CancelMessageMoveTask`).
        task_handle: String,
    },
    /// `200`: the service has no message move task (the local emulator), so the messages were
    /// moved here, at most 1000 per call.
    Moved {
        /// Messages sent back to the jobs queue and deleted from the dead-letter queue.
        moved: u64,
    },
}
