//! `GET /api/v1/tasks/{id}`: a task, for its owner only.

use std::sync::Arc;

use axum::{
    extract::{Path, State},
    http::header,
};
use identity::AuthUser;
use shared::{ApiError, ErrorCode, Routes, extract::Json};

use crate::{body::TaskBody, state::TaskApi};

/// `GET /{id}`.
pub fn routes() -> Routes<crate::state::State> {
    Routes::new().get("/api/v1/tasks/{id}", get_task)
}

/// The caller's task: where it is and, once finished, its result or error.
#[utoipa::path(get, path = "/api/v1/tasks/{id}", tag = "tasks", security(("bearer" = [])),
    params(("id" = String, Path, description = "The task id (UUID)")),
    responses(
        (status = 200, description = "The task (`Cache-Control: no-store`: poll it)", body = TaskBody,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 404, description = "Unknown or malformed id, or another user's task: one answer, so ids cannot be probed (`NOT_FOUND`)", body = shared::openapi::ErrorEnvelope)))]
pub(crate) async fn get_task(
    State(api): State<Arc<TaskApi>>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<([(header::HeaderName, &'static str); 1], Json<TaskBody>), ApiError> {
    // A malformed id cannot exist; it costs no read.
    if uuid::Uuid::try_parse(&id).is_err() {
        return Err(ErrorCode::NotFound.into());
    }
    let record = api
        .store
        .get(&id)
        .await?
        .filter(|record| record.owner == user.user.id)
        .ok_or(ErrorCode::NotFound)?;
    Ok((
        // A status changes under the same URL: no cache may answer a poll.
        [(header::CACHE_CONTROL, "no-store")],
        Json(TaskBody::from(record)),
    ))
}
