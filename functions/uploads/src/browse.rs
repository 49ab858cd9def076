//! `GET /api/v1/uploads` (the caller's, newest first, signed cursors) and `GET /{id}` (the
//! record, with a short-lived download URL once it is ready).

use std::sync::Arc;

use axum::{
    extract::{Path, State},
    response::Response,
};
use identity::{
    AuthUser,
    pagination::{PageParams, PageRequest},
};
use shared::{ApiError, ErrorCode, Routes, dynamo::Item, extract::Json};
use time::OffsetDateTime;

use crate::{
    body::{Download, UploadBody, UploadPage},
    record::{Status, UPLOAD_PREFIX, partition},
    state::UploadsContext,
};

/// `GET /` and `GET /{id}`.
pub fn routes() -> Routes<crate::state::State> {
    Routes::new()
        .get("/api/v1/uploads", list)
        .get("/api/v1/uploads/{id}", get_upload)
}

/// The caller's uploads, newest first.
#[utoipa::path(get, path = "/api/v1/uploads", tag = "uploads", security(("bearer" = [])),
    params(PageParams),
    responses(
        (status = 200, description = "A page; `Link: <?limit=..&cursor=..>; rel=\"next\"` while there is more", body = UploadPage),
        (status = 400, description = "A cursor we did not sign, or not for this listing (`INVALID_CURSOR`)", body = shared::openapi::ErrorEnvelope),
        (status = 422, description = "`limit` out of range", body = shared::openapi::ErrorEnvelope)))]
pub(crate) async fn list(
    State(ctx): State<Arc<UploadsContext>>,
    user: AuthUser,
    mut page: PageRequest,
) -> Result<Response, ApiError> {
    ctx.sweep(&user.user.id).await;
    let start = page
        .start
        .take()
        .map(|start| own_position(start, &user.user.id))
        .transpose()?;
    let listed = ctx.store.list(&user.user.id, page.limit, start).await?;
    page.respond(
        listed.items.iter().map(UploadBody::from),
        listed.next.as_ref(),
    )
}

/// A signed cursor is ours, but it may come from another listing (the users one, or another
/// user's): only a position in the caller's own uploads is accepted.
fn own_position(start: Item, owner_id: &str) -> Result<Item, ApiError> {
    let text = |name: &str| start.get(name).and_then(|v| v.as_s().ok());
    let ours = start.len() == 2
        && text("pk").is_some_and(|pk| *pk == partition(owner_id))
        && text("sk").is_some_and(|sk| sk.starts_with(UPLOAD_PREFIX));
    if ours {
        Ok(start)
    } else {
        Err(ErrorCode::InvalidCursor.into())
    }
}

/// One upload, with a short-lived download URL once it is ready.
#[utoipa::path(get, path = "/api/v1/uploads/{id}", tag = "uploads", security(("bearer" = [])),
    params(("id" = String, Path, description = "The upload id (UUID)")),
    responses(
        (status = 200, description = "The record (and `download` when ready)", body = UploadBody),
        (status = 404, description = "Unknown, malformed, expired or another user's id (`NOT_FOUND`)", body = shared::openapi::ErrorEnvelope)))]
pub(crate) async fn get_upload(
    State(ctx): State<Arc<UploadsContext>>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<UploadBody>, ApiError> {
    let upload = ctx.load(&user.user.id, &id).await?;
    let mut body = UploadBody::from(&upload);
    if upload.status == Status::Ready {
        let ttl = ctx.settings.download_url_ttl;
        let expires_at = shared::clock::rfc3339(OffsetDateTime::now_utc() + ttl);
        let url = ctx
            .objects
            .download_url(
                &upload.file_key(),
                &upload.filename,
                &upload.content_type,
                ttl,
            )
            .await?;
        body.download = Some(Download { url, expires_at });
    }
    Ok(Json(body))
}
