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
use shared::{ApiError, ErrorCode, Routes, conditional::IfMatch};

use crate::{
    record::{Marker, Status, Upload, file_prefix},
    state::UploadsContext,
};

/// `DELETE /{id}`.
pub fn routes() -> Routes<crate::state::State> {
    Routes::new().delete("/api/v1/uploads/{id}", remove)
}

/// How many times a record that changed under a delete (a `complete` finishing) is read again.
const ATTEMPTS: usize = 3;

/// Deletes the file and its record; with `If-Match`, only if the record is still at that version.
#[utoipa::path(delete, path = "/api/v1/uploads/{id}", tag = "uploads", security(("bearer" = [])),
    params(("id" = String, Path, description = "The upload id (UUID)"), IfMatch),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "A malformed `If-Match` (`BAD_REQUEST`)", body = shared::openapi::ErrorEnvelope),
        (status = 404, description = "Unknown, malformed, expired, deleted or another user's id (`NOT_FOUND`)", body = shared::openapi::ErrorEnvelope),
        (status = 412, description = "`If-Match` names a version the upload no longer has \
            (`PRECONDITION_FAILED`); nothing changed", body = shared::openapi::ErrorEnvelope)))]
pub(crate) async fn remove(
    State(ctx): State<Arc<UploadsContext>>,
    user: AuthUser,
    Path(id): Path<String>,
    if_match: IfMatch,
) -> Result<StatusCode, ApiError> {
    ctx.sweep(&user.user.id).await;
    for _ in 0..ATTEMPTS {
        let upload = ctx.load(&user.user.id, &id).await?;
        if let Some(expected) = if_match.expect_version(upload.version)? {
            return discard_unchanged(&ctx, upload, expected).await;
        }
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
        ctx.store.tombstone(upload, form_expires, None).await?
    } else {
        ctx.store.remove(upload).await?
    };
    Ok(done)
}

/// `DELETE` with `If-Match` naming `expected`, the version `upload` was read at: the record is
/// tombstoned first, conditioned on that version, before any object is touched, so a 412 has
/// changed nothing (a `complete` landing meanwhile bumps the version). Then the objects, and at
/// once the record itself when its form has expired. Once the tombstone is written the upload
/// is deleted for the client: a later step that fails is left to the sweep, which empties the
/// pending key and the copies of a deleted record when its marker is due (here: when its form
/// expires, or now).
async fn discard_unchanged(
    ctx: &UploadsContext,
    upload: Upload,
    expected: i64,
) -> Result<StatusCode, ApiError> {
    let now = shared::clock::now_s();
    let due = upload.form_expires_s()?.max(now);
    if !ctx.store.tombstone(&upload, due, Some(expected)).await? {
        // Changed since the read (412), or gone (404), as a read now tells.
        return Err(match ctx.store.get(&upload.owner_id, &upload.id).await? {
            Some(_) => ErrorCode::PreconditionFailed.into(),
            None => ErrorCode::NotFound.into(),
        });
    }
    // Completed before 0.9.0: the one file, at files/<user>/<id>, outside its copies' prefix.
    let legacy = upload.status == Status::Ready && upload.file.is_none();
    let tombstone = Upload {
        status: Status::Deleted,
        counted_bytes: upload.declared_size,
        expires_at: Some(due),
        version: expected + 1,
        ..upload
    };
    let settled = async {
        ctx.objects
            .delete_prefix(&file_prefix(&tombstone.owner_id, &tombstone.id))
            .await?;
        if legacy {
            ctx.objects.delete(&tombstone.file_key()).await?;
        }
        ctx.objects.delete(&tombstone.pending_key()).await?;
        if due <= now {
            let marker = Marker {
                id: tombstone.id.clone(),
                due,
            };
            ctx.store
                .settle(&tombstone.owner_id, &marker, Some(&tombstone))
                .await?;
        }
        Ok::<_, ApiError>(())
    }
    .await;
    if let Err(err) = settled {
        tracing::warn!(upload = %tombstone.id, error = ?err, "deleted upload left to the sweep");
    }
    Ok(StatusCode::NO_CONTENT)
}
