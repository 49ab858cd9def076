//! `POST /api/v1/uploads/{id}/complete`: proves that what reached S3 is what was declared
//! (there, not too large, magic bytes of the declared type) before anyone can download it.
//! A file that fails is deleted with its record; a second `complete` of a ready upload answers
//! the record again.

use std::sync::Arc;

use axum::extract::{Path, State};
use identity::AuthUser;
use shared::{ApiError, ErrorCode, Routes, extract::Json};

use crate::{
    body::UploadBody,
    record::{Status, Upload},
    state::UploadsContext,
};

/// `POST /{id}/complete`.
pub fn routes() -> Routes<crate::state::State> {
    Routes::new().post("/api/v1/uploads/{id}/complete", complete)
}

/// Verifies the uploaded file (exists, size, magic bytes) and marks it ready.
#[utoipa::path(post, path = "/api/v1/uploads/{id}/complete", tag = "uploads", security(("bearer" = [])),
    params(("id" = String, Path, description = "The upload id (UUID)")),
    responses(
        (status = 200, description = "Ready (also for an upload completed before)", body = UploadBody),
        (status = 404, description = "Unknown, malformed, expired or another user's id (`NOT_FOUND`)", body = shared::openapi::ErrorEnvelope),
        (status = 409, description = "Nothing uploaded yet (`UPLOAD_NOT_RECEIVED`)", body = shared::openapi::ErrorEnvelope),
        (status = 422, description = "Not the declared type or size (`UPLOAD_CONTENT_MISMATCH`, `UPLOAD_SIZE_MISMATCH`); removed", body = shared::openapi::ErrorEnvelope)))]
pub(crate) async fn complete(
    State(ctx): State<Arc<UploadsContext>>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<UploadBody>, ApiError> {
    let upload = ctx.load(&user.user.id, &id).await?;
    if upload.status == Status::Ready {
        return Ok(Json(UploadBody::from(&upload)));
    }
    let key = upload.object_key();
    // Not there yet: the record stays pending, so the client can upload and call again.
    let head = ctx
        .objects
        .head(&key)
        .await?
        .ok_or(ErrorCode::UploadNotReceived)?;
    // The form bounds the size on S3; checked again so an emulator (or a policy bug) cannot
    // let an empty or oversized file through.
    if !(1..=upload.declared_size).contains(&head.size) {
        return Err(reject(&ctx, &upload, ErrorCode::UploadSizeMismatch).await);
    }
    // If-Match: the bytes sniffed are those of the object just sized.
    let Some(first) = ctx.objects.first_bytes(&key, &head.etag).await? else {
        return Err(ErrorCode::UploadNotReceived.into());
    };
    if !blob::sniff::matches(&upload.content_type, &first) {
        return Err(reject(&ctx, &upload, ErrorCode::UploadContentMismatch).await);
    }
    // Untag before the record says ready: if this fails, the record stays pending (retry),
    // rather than a ready file the lifecycle rule would later expire.
    ctx.objects.mark_verified(&key).await?;
    if !ctx.store.mark_ready(&upload, head.size, &head.etag).await? {
        // A concurrent `complete` won (answer its result), or a delete did (404).
        let now = ctx.load(&user.user.id, &id).await?;
        return Ok(Json(UploadBody::from(&now)));
    }
    let ready = Upload {
        status: Status::Ready,
        size: Some(head.size),
        etag: Some(head.etag),
        counted_bytes: head.size,
        updated_at: shared::clock::now_rfc3339(),
        expires_at: None,
        ..upload
    };
    Ok(Json(UploadBody::from(&ready)))
}

/// Deletes the refused file, then its record (which gives its quota back), and answers `code`.
/// If either step fails, that failure is the answer: the client retries `complete`, which finds
/// the same file and refuses it again, or the record gone (404).
async fn reject(ctx: &UploadsContext, upload: &Upload, code: ErrorCode) -> ApiError {
    tracing::info!(upload = %upload.id, error_code = code.as_str(), "upload refused");
    if let Err(err) = ctx.objects.delete(&upload.object_key()).await {
        return err;
    }
    match ctx.store.remove(upload).await {
        Ok(_) => code.into(),
        Err(err) => err.into(),
    }
}
