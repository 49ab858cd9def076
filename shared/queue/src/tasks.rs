//! The task records of `/api/v1/tasks`, in the jobs table under `TASK#<id>`: written `queued`
//! by the tasks function before it enqueues the job, moved to `running` and then to `succeeded`
//! or `failed` by the worker, each move one conditional write. Records live
//! [`Tasks::RETENTION_SECS`] after their last change (TTL).

use aws_sdk_dynamodb::Client;
use serde::Serialize;
use shared::{
    clock::{now_rfc3339, now_s},
    dynamo::{self, Item, StoreError, applied, get_s, n, opt_n, opt_s, s},
};

/// Where a task is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Enqueued; no worker has started it.
    Queued,
    /// A worker started it (and may be retrying it).
    Running,
    /// Done; `result` holds what it produced.
    Succeeded,
    /// Done; `error` says why it failed.
    Failed,
}

impl TaskStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    fn parse(value: &str) -> Result<Self, StoreError> {
        Ok(match value {
            "queued" => Self::Queued,
            "running" => Self::Running,
            "succeeded" => Self::Succeeded,
            "failed" => Self::Failed,
            _ => return Err(StoreError::malformed("status", "task status")),
        })
    }
}

/// A task as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskRecord {
    /// Its id (also the job's).
    pub id: String,
    /// The user who created it.
    pub owner: String,
    /// The job kind (`sample`).
    pub kind: String,
    /// Where it is.
    pub status: TaskStatus,
    /// Times the worker started it.
    pub attempts: i64,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339: the last start.
    pub started_at: Option<String>,
    /// RFC 3339: when it succeeded or failed.
    pub finished_at: Option<String>,
    /// What it produced (JSON), once `succeeded`.
    pub result: Option<serde_json::Value>,
    /// Why it failed, once `failed`.
    pub error: Option<String>,
}

impl TryFrom<Item> for TaskRecord {
    type Error = StoreError;

    fn try_from(item: Item) -> Result<Self, StoreError> {
        let result = opt_s(&item, "result")?
            .map(|r| serde_json::from_str(&r))
            .transpose()
            .map_err(|_| StoreError::malformed("result", "JSON string"))?;
        Ok(Self {
            id: get_s(&item, "id")?,
            owner: get_s(&item, "owner")?,
            kind: get_s(&item, "kind")?,
            status: TaskStatus::parse(&get_s(&item, "status")?)?,
            attempts: opt_n(&item, "attempts")?.unwrap_or(0),
            created_at: get_s(&item, "created_at")?,
            started_at: opt_s(&item, "started_at")?,
            finished_at: opt_s(&item, "finished_at")?,
            result,
            error: opt_s(&item, "error")?,
        })
    }
}

/// The task records.
#[derive(Debug, Clone)]
pub struct Tasks {
    client: Client,
    table: String,
}

impl Tasks {
    /// How long a record is kept after its last change: a week.
    pub const RETENTION_SECS: i64 = 7 * 86_400;

    /// The records in `table` (the jobs table).
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }

    fn pk(id: &str) -> String {
        format!("TASK#{id}")
    }

    /// Records a new `queued` task; answers its `created_at`. Fails with `ConditionFailed` if the
    /// id exists.
    pub async fn create(&self, id: &str, owner: &str, kind: &str) -> Result<String, StoreError> {
        let created_at = now_rfc3339();
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(Self::pk(id)))
            .item("id", s(id))
            .item("owner", s(owner))
            .item("kind", s(kind))
            .item("status", s(TaskStatus::Queued.as_str()))
            .item("attempts", n(0))
            .item("created_at", s(&created_at))
            .item("expires_at", n(now_s() + Self::RETENTION_SECS))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await?;
        Ok(created_at)
    }

    /// Forgets a task whose job was never enqueued.
    pub async fn delete(&self, id: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(Self::pk(id)))
            .send()
            .await?;
        Ok(())
    }

    /// The task, if it exists.
    pub async fn get(&self, id: &str) -> Result<Option<TaskRecord>, StoreError> {
        dynamo::get(&self.client, &self.table, Self::pk(id))
            .await?
            .map(TaskRecord::try_from)
            .transpose()
    }

    /// Moves a `queued` (or `running`: a retry) task to `running`. `false` when it is finished
    /// already or gone: the job has nothing left to do.
    pub async fn start(&self, id: &str) -> Result<bool, StoreError> {
        applied(
            self.client
                .update_item()
                .table_name(&self.table)
                .key("pk", s(Self::pk(id)))
                .update_expression(
                    "SET #status = :running, started_at = :now, expires_at = :expires \
                     ADD attempts :one",
                )
                .condition_expression("#status IN (:queued, :running)")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":running", s(TaskStatus::Running.as_str()))
                .expression_attribute_values(":queued", s(TaskStatus::Queued.as_str()))
                .expression_attribute_values(":now", s(now_rfc3339()))
                .expression_attribute_values(":expires", n(now_s() + Self::RETENTION_SECS))
                .expression_attribute_values(":one", n(1))
                .send()
                .await
                .map_err(StoreError::from),
        )
    }

    /// Ends a `running` task: `Ok(result)` is `succeeded`, `Err(error)` is `failed`. `false`
    /// when it was not running (finished by another copy).
    pub async fn finish(
        &self,
        id: &str,
        outcome: Result<serde_json::Value, String>,
    ) -> Result<bool, StoreError> {
        let (status, field, value) = match outcome {
            Ok(result) => (TaskStatus::Succeeded, "result", result.to_string()),
            Err(error) => (TaskStatus::Failed, "error", error),
        };
        applied(
            self.client
                .update_item()
                .table_name(&self.table)
                .key("pk", s(Self::pk(id)))
                .update_expression(
                    "SET #status = :status, finished_at = :now, #field = :value, \
                     expires_at = :expires",
                )
                .condition_expression("#status = :running")
                .expression_attribute_names("#status", "status")
                .expression_attribute_names("#field", field)
                .expression_attribute_values(":status", s(status.as_str()))
                .expression_attribute_values(":running", s(TaskStatus::Running.as_str()))
                .expression_attribute_values(":now", s(now_rfc3339()))
                .expression_attribute_values(":value", s(value))
                .expression_attribute_values(":expires", n(now_s() + Self::RETENTION_SECS))
                .send()
                .await
                .map_err(StoreError::from),
        )
    }
}
