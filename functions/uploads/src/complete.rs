//! `POST /api/v1/uploads/{id}/complete`: copies what reached S3 to a key no form can write, and
//! proves that copy is what was declared (there, not too large, magic bytes of the declared
//! type) before anyone can download it. What is verified is what is kept: posting the form again,
//! before or after, changes nothing anyone downloads. A file that fails is deleted with its
//! record; a second `complete` of a ready upload answers the record again.

use std::sync::Arc;

use axum::extract::{Path, State};
use identity::AuthUser;
use shared::{ApiError, ErrorCode, Routes, extract::Json};

use crate::{
    body::UploadBody,
    record::{Status, Upload, file_key},
    state::UploadsContext,
};

/// `POST /{id}/complete`.
pub fn routes() -> Routes<crate::state::State> {
    Routes::new().post("/api/v1/uploads/{id}/complete", complete)
}

/// Copies the uploaded file, verifies the copy (exists, size, magic bytes), and marks it ready.
#[utoipa::path(post, path = "/api/v1/uploads/{id}/complete", tag = "uploads", security(("bearer" = [])),
    params(("id" = String, Path, description = "The upload id (UUID)")),
    responses(
        (status = 200, description = "Ready (also for an upload completed before)", body = UploadBody),
        (status = 404, description = "Unknown, malformed, expired, deleted or another user's id (`NOT_FOUND`)", body = shared::openapi::ErrorEnvelope),
        (status = 409, description = "Nothing uploaded yet, or the file changed while it was copied (`UPLOAD_NOT_RECEIVED`)", body = shared::openapi::ErrorEnvelope),
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
    let pending = upload.pending_key();
    // Not there yet: the record stays pending, so the client can upload and call again.
    let posted = ctx
        .objects
        .head(&pending)
        .await?
        .ok_or(ErrorCode::UploadNotReceived)?;
    // An oversized file is refused before it is copied. The form bounds the size on S3; checked
    // here so an emulator (or a policy bug) cannot let an empty or oversized file through.
    if !(1..=upload.declared_size).contains(&posted.size) {
        return Err(reject(&ctx, &upload, None, ErrorCode::UploadSizeMismatch).await);
    }
    // The copy's key is named after the posted object's ETag, and If-Match copies only that
    // object: a file posted since is a different key (or no copy), never these bytes changed.
    let key = file_key(&upload.owner_id, &upload.id, &posted.etag);
    if !ctx
        .objects
        .copy_if_match(&pending, &key, &posted.etag, &upload.content_type)
        .await?
    {
        // Replaced or deleted since the HEAD: the client calls again.
        return Err(ErrorCode::UploadNotReceived.into());
    }
    // From here on, the copy is what is judged and kept: nothing but this code writes its key.
    let Some(copy) = ctx.objects.head(&key).await? else {
        return Err(ErrorCode::UploadNotReceived.into());
    };
    if !(1..=upload.declared_size).contains(&copy.size) {
        return Err(reject(&ctx, &upload, Some(&key), ErrorCode::UploadSizeMismatch).await);
    }
    let Some(first) = ctx.objects.first_bytes(&key, &copy.etag).await? else {
        return Err(ErrorCode::UploadNotReceived.into());
    };
    if !blob::sniff::matches(&upload.content_type, &first) {
        return Err(reject(&ctx, &upload, Some(&key), ErrorCode::UploadContentMismatch).await);
    }
    finish(&ctx, upload, copy.size, copy.etag, key).await
}

/// Marks `upload` ready with the verified copy at `key`, then empties its pending key (a re-post
/// of the form there is never served; the sweep empties it again once the record's marker is
/// due).
async fn finish(
    ctx: &UploadsContext,
    upload: Upload,
    size: i64,
    etag: String,
    key: String,
) -> Result<Json<UploadBody>, ApiError> {
    if !ctx.store.mark_ready(&upload, size, &etag, &key).await? {
        // A concurrent `complete` won (answer its result, keeping its copy), or a delete or the
        // record's expiry did (404). Either way this copy is no record's file.
        let now = ctx.store.get(&upload.owner_id, &upload.id).await?;
        let kept = now.filter(|u| u.status == Status::Ready);
        if kept.as_ref().is_none_or(|u| u.file_key() != key) {
            ctx.objects.delete(&key).await?;
        }
        return match kept {
            Some(now) => Ok(Json(UploadBody::from(&now))),
            None => Err(ErrorCode::NotFound.into()),
        };
    }
    if let Err(err) = ctx.objects.delete(&upload.pending_key()).await {
        // Ready all the same; the sweep tries again when the marker is due.
        tracing::warn!(upload = %upload.id, error = ?err, "pending object not deleted after complete");
    }
    let ready = Upload {
        status: Status::Ready,
        size: Some(size),
        etag: Some(etag),
        file: Some(key),
        counted_bytes: size,
        updated_at: shared::clock::now_rfc3339(),
        expires_at: None,
        // mark_ready found it pending, and only writes that end pending bump a pending record.
        version: upload.version + 1,
        ..upload
    };
    Ok(Json(UploadBody::from(&ready)))
}

/// Deletes the refused file (and the `copy` made of it), then its record, as `DELETE` does
/// (while its form can still be posted, the record stays counted until the sweep), and answers
/// `code`. If a step fails, that failure is the answer: the client retries `complete`, which
/// finds the same file and refuses it again, or the record gone (404).
async fn reject(
    ctx: &UploadsContext,
    upload: &Upload,
    copy: Option<&str>,
    code: ErrorCode,
) -> ApiError {
    tracing::info!(upload = %upload.id, error_code = code.as_str(), "upload refused");
    if let Some(copy) = copy
        && let Err(err) = ctx.objects.delete(copy).await
    {
        return err;
    }
    match crate::remove::discard(ctx, upload).await {
        Ok(_) => code.into(),
        Err(err) => err,
    }
}
