//! `DELETE /api/v1/uploads/{id}`: the file, then its record (and its share of the quota).

use std::sync::Arc;

use axum::{
    extract::{Path, State},
    http::StatusCode,
};
use identity::AuthUser;
use shared::{ApiError, ErrorCode, Routes};

use crate::state::UploadsContext;

/// `DELETE /{id}`.
pub fn routes() -> Routes<crate::state::State> {
    Routes::new().delete("/api/v1/uploads/{id}", remove)
}

/// Deletes the file and its record.
#[utoipa::path(delete, path = "/api/v1/uploads/{id}", tag = "uploads", security(("bearer" = [])),
    params(("id" = String, Path, description = "The upload id (UUID)")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "Unknown, malformed, expired or another user's id (`NOT_FOUND`)", body = shared::openapi::ErrorEnvelope)))]
pub(crate) async fn remove(
    State(ctx): State<Arc<UploadsContext>>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let upload = ctx.load(&user.user.id, &id).await?;
    // The object first: if the record delete then fails, the record is still there and the
    // client's retry finishes the job; the other order could leave a file no record points to.
    ctx.objects.delete(&upload.object_key()).await?;
    if !ctx.store.remove(&upload).await? {
        // A concurrent delete won.
        return Err(ErrorCode::NotFound.into());
    }
    Ok(StatusCode::NO_CONTENT)
}
