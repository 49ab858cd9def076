//! `POST /api/v1/tasks`: records a task `queued`, then enqueues its sample job. The record comes
//! first, so the worker always finds it; a job that could not be enqueued takes its record back
//! with it (503), so no task stays `queued` forever.

use std::sync::Arc;

use axum::{
    extract::State,
    http::{StatusCode, header},
};
use identity::AuthUser;
use queue::{Job, TaskStatus, job::SAMPLE_MAX_DELAY_MS};
use serde::Deserialize;
use shared::{
    ApiError, Routes,
    error::FieldError,
    extract::{Json, Validate, failures},
    ratelimit::RateLimiter,
};

use crate::{body::CreatedTask, state::TaskApi};

/// The job kind of every task this function creates.
const KIND: &str = "sample";

/// The longest `message`, in characters.
const MESSAGE_MAX_CHARS: usize = 200;

/// `POST /`.
pub fn routes() -> Routes<crate::state::State> {
    Routes::new().post("/api/v1/tasks", create)
}

/// `202`, `Location` and the body.
type Accepted = (
    StatusCode,
    [(header::HeaderName, String); 1],
    Json<CreatedTask>,
);

/// The sample job's parameters. Nothing else is accepted.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateTask {
    /// Echoed in the result: 1 to 200 characters.
    #[schema(min_length = 1, max_length = 200)]
    message: String,
    /// How long the job works, in milliseconds (default 0).
    #[schema(minimum = 0, maximum = 10000, default = 0)]
    delay_ms: Option<u64>,
    /// `true` makes the job fail on purpose: the task ends `failed` with an error (default
    /// false).
    #[schema(default = false)]
    fail: Option<bool>,
}

impl CreateTask {
    /// `message` and `delay_ms` by their rules (one 422 naming each that breaks one).
    fn check(&self) -> Result<(), ApiError> {
        let mut errors = Vec::new();
        let chars = self.message.chars().count();
        if !(1..=MESSAGE_MAX_CHARS).contains(&chars) {
            errors.push(FieldError::new(
                &["body", "message"],
                format!("message must be 1 to {MESSAGE_MAX_CHARS} characters"),
                "value_error",
            ));
        }
        if self.delay_ms.is_some_and(|d| d > SAMPLE_MAX_DELAY_MS) {
            errors.push(FieldError::new(
                &["body", "delay_ms"],
                format!("delay_ms must be 0 to {SAMPLE_MAX_DELAY_MS}"),
                "value_error.range",
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(errors))
        }
    }
}

impl Validate for CreateTask {
    fn rule_errors(&self) -> Vec<FieldError> {
        failures(self.check())
    }
}

/// Enqueues a sample job for the caller; poll `GET /api/v1/tasks/{id}` for its outcome.
#[utoipa::path(post, path = "/api/v1/tasks", tag = "tasks", security(("bearer" = [])),
    request_body = CreateTask,
    responses(
        (status = 202, description = "Queued; `Location: tasks/{id}` (relative to the request URL) is where to poll", body = CreatedTask,
            headers(("Location" = String, description = "`tasks/<id>`: resolved against the request URL, it is `.../api/v1/tasks/<id>` behind any stage prefix or custom domain"))),
        (status = 429, description = "Past `TASK_RATE_LIMIT` tasks per user per window, or the function's per-user limit (`RATE_LIMITED`, `Retry-After`)", body = shared::openapi::ErrorEnvelope),
        (status = 503, description = "The job could not be enqueued; nothing was kept (`SERVICE_UNAVAILABLE`)", body = shared::openapi::ErrorEnvelope)))]
pub(crate) async fn create(
    State(api): State<Arc<TaskApi>>,
    State(limiter): State<Arc<RateLimiter>>,
    user: AuthUser,
    Json(body): Json<CreateTask>,
) -> Result<Accepted, ApiError> {
    body.check()?;
    // Counted once the request would enqueue: a refused or invalid one costs no quota.
    api.quota.take(&limiter, &user.user.id).await?;
    let id = uuid::Uuid::now_v7().to_string();
    let owner = user.user.id;
    let created_at = api.store.create(&id, &owner, KIND).await?;
    let job = Job::Sample {
        task_id: id.clone(),
        owner,
        message: body.message,
        delay_ms: body.delay_ms.unwrap_or(0),
        fail: body.fail.unwrap_or(false),
    };
    if let Err(err) = api.queue.enqueue_as(id.clone(), job).await {
        // No job will ever run it: the record goes too, so the client's retry starts clean. (If
        // SQS took the job but its answer was lost, the worker finds no record and skips it.)
        if let Err(delete) = api.store.delete(&id).await {
            tracing::warn!(task_id = %id, error = %delete, "task record of an unsent job not deleted");
        }
        return Err(err.into());
    }
    Ok((
        StatusCode::ACCEPTED,
        // Relative, like the listings' `Link`: it resolves against the URL the client called, so
        // it stays right behind the stage prefix (`/v1`) and on a custom domain.
        [(header::LOCATION, format!("tasks/{id}"))],
        Json(CreatedTask {
            id,
            status: TaskStatus::Queued,
            created_at,
        }),
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn body(json: &str) -> CreateTask {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_message_of_one_to_two_hundred_characters_passes() {
        assert!(body(r#"{"message":"x"}"#).check().is_ok());
        let long = "é".repeat(200);
        assert!(body(&format!(r#"{{"message":"{long}"}}"#)).check().is_ok());
    }

    #[test]
    fn an_empty_or_long_message_and_a_long_delay_are_named_together() {
        let long = "x".repeat(201);
        let errors = failures(body(&format!(r#"{{"message":"{long}","delay_ms":10001}}"#)).check());
        let locs: Vec<String> = errors.iter().map(|e| e.loc.join(".")).collect();
        assert_eq!(locs, ["body.message", "body.delay_ms"]);
        assert_eq!(failures(body(r#"{"message":""}"#).check()).len(), 1);
    }

    #[test]
    fn the_longest_delay_is_the_workers() {
        assert!(body(r#"{"message":"x","delay_ms":10000}"#).check().is_ok());
        assert_eq!(SAMPLE_MAX_DELAY_MS, 10_000);
    }

    #[test]
    fn unknown_fields_and_negative_delays_do_not_parse() {
        assert!(serde_json::from_str::<CreateTask>(r#"{"message":"x","owner":"u"}"#).is_err());
        assert!(serde_json::from_str::<CreateTask>(r#"{"message":"x","delay_ms":-1}"#).is_err());
    }
}
