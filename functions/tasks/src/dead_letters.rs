//! `/api/v1/tasks/dead-letters` (admin): what the jobs' dead-letter queue holds, and the redrive
//! that sends it back to the jobs queue once the cause is fixed (a worker that reads a new kind,
//! a dependency back up).

use std::sync::Arc;

use axum::{
    extract::State,
    http::{StatusCode, header},
};
use identity::{Admin, RequireRole};
use shared::{ApiError, Routes, extract::Json};

use crate::{
    body::{DeadLetterList, Redriven},
    dlq::DeadLetters,
};

/// `GET /dead-letters` and `POST /dead-letters/redrive`.
pub fn routes() -> Routes<crate::state::State> {
    Routes::new()
        .get("/api/v1/tasks/dead-letters", list)
        .post("/api/v1/tasks/dead-letters/redrive", redrive)
}

/// What the dead-letter queue holds: its count and up to 10 messages, by job id and kind, never
/// by body (admin).
#[utoipa::path(get, path = "/api/v1/tasks/dead-letters", tag = "tasks", security(("bearer" = [])),
    responses(
        (status = 200, description = "The count and a sample (`Cache-Control: no-store`); each listing is a receive of the messages it shows", body = DeadLetterList,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 403, description = "Not an admin (`FORBIDDEN`)", body = shared::openapi::ErrorEnvelope)))]
pub(crate) async fn list(
    State(queue): State<Arc<DeadLetters>>,
    _admin: RequireRole<Admin>,
) -> Result<
    (
        [(header::HeaderName, &'static str); 1],
        Json<DeadLetterList>,
    ),
    ApiError,
> {
    let (visible, in_flight) = queue.counts().await?;
    let messages = queue.peek().await?;
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Json(DeadLetterList {
            approximate_count: visible + in_flight,
            messages,
        }),
    ))
}

/// Sends the dead letters back to the jobs queue (admin): SQS's message move task where the
/// service has one (`202`), else moved here, at most 1000 per call (`200`; the local emulator).
#[utoipa::path(post, path = "/api/v1/tasks/dead-letters/redrive", tag = "tasks", security(("bearer" = [])),
    responses(
        (status = 200, description = "Moved by hand (the service has no message move task: the local emulator); call again while `moved` is 1000", body = Redriven,
            example = json!({"method": "moved", "moved": 3})),
        (status = 202, description = "SQS's message move task started; it moves them in the background", body = Redriven,
            example = json!({"method": "move_task", "task_handle": "eyJ0YXNrSWQiOi..."})),
        (status = 403, description = "Not an admin (`FORBIDDEN`)", body = shared::openapi::ErrorEnvelope)))]
pub(crate) async fn redrive(
    State(queue): State<Arc<DeadLetters>>,
    admin: RequireRole<Admin>,
) -> Result<(StatusCode, Json<Redriven>), ApiError> {
    let admin = &admin.0;
    if let Some(task_handle) = queue.start_move_task().await? {
        tracing::info!(admin = %admin.user.id, "dead-letter redrive started (message move task)");
        return Ok((
            StatusCode::ACCEPTED,
            Json(Redriven::MoveTask { task_handle }),
        ));
    }
    let moved = queue.move_by_hand().await?;
    tracing::info!(admin = %admin.user.id, moved, "dead letters moved back to the jobs queue");
    Ok((StatusCode::OK, Json(Redriven::Moved { moved })))
}
