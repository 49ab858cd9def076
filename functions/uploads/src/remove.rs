//! `DELETE /api/v1/uploads/{id}`: the file, then its record (and its share of the quota). While
//! the upload's form can still be posted, the record stays, deleted and counted, until the sweep
//! after the form's expiry empties the pending key again: a file posted with the form of a
//! deleted upload is never kept with no record and no quota charge.

use std::sync::Arc;

use axum::{
    extract::{Path, State},
    http::StatusCode,
};
use identity::AuthUser;
use shared::{ApiError, Routes};

use crate::{
    record::{Status, Upload, file_prefix},
    state::UploadsContext,
};

/// `DELETE /{id}`.
pub fn routes() -> Routes<crate::state::State> {
    Routes::new().delete("/api/v1/uploads/{id}", remove)
}

/// How many times a record that changed under a delete (a `complete` finishing) is read again.
const ATTEMPTS: usize = 3;

/// Deletes the file and its record.
#[utoipa::path(delete, path = "/api/v1/uploads/{id}", tag = "uploads", security(("bearer" = [])),
    params(("id" = String, Path, description = "The upload id (UUID)")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "Unknown, malformed, expired, deleted or another user's id (`NOT_FOUND`)", body = shared::openapi::ErrorEnvelope)))]
pub(crate) async fn remove(
    State(ctx): State<Arc<UploadsContext>>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    ctx.sweep(&user.user.id).await;
    for _ in 0..ATTEMPTS {
        let upload = ctx.load(&user.user.id, &id).await?;
        if discard(&ctx, &upload).await? {
            return Ok(StatusCode::NO_CONTENT);
        }
    }
    // Changed under every attempt (a 503 says "try again"): the client's retry finishes the job.
    Err(ApiError::Unavailable(anyhow::anyhow!(
        "upload {id} changed under every delete attempt"
    )))
}

/// Deletes `upload`'s objects, then its record as read: at once when its form has expired,
/// else turned into a deleted record counted at its declared size until the form has expired
/// (`Uploads::tombstone`; the sweep settles it then). `false` when the record changed or went
/// meanwhile (read it again).
///
/// The objects first: if the record write then fails, the record is still there and the
/// client's retry finishes the job; the other order could leave a file no record points to.
pub(crate) async fn discard(ctx: &UploadsContext, upload: &Upload) -> Result<bool, ApiError> {
    // Every copy (the verified one, and any a `complete` that never finished left).
    ctx.objects
        .delete_prefix(&file_prefix(&upload.owner_id, &upload.id))
        .await?;
    if upload.status == Status::Ready && upload.file.is_none() {
        // Completed before 0.9.0: the one file, at files/<user>/<id>.
        ctx.objects.delete(&upload.file_key()).await?;
    }
    ctx.objects.delete(&upload.pending_key()).await?;
    let form_expires = upload.form_expires_s()?;
    let done = if form_expires > shared::clock::now_s() {
        ctx.store.tombstone(upload, form_expires).await?
    } else {
        ctx.store.remove(upload).await?
    };
    Ok(done)
}
