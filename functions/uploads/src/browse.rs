//! `GET /api/v1/uploads` (the caller's, newest first, signed cursors) and `GET /{id}` (the
//! record, with a short-lived download URL once it is ready).

use std::sync::Arc;

use axum::{
    extract::{Path, State},
    response::{IntoResponse, Response},
};
use identity::{
    AuthUser,
    pagination::{PageParams, PageRequest},
};
use shared::{
    ApiError, ErrorCode, Routes,
    conditional::{ETag, IfNoneMatch, not_modified},
    dynamo::Item,
    extract::Json,
};
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

/// The caller's uploads, newest first. No validator: one for a page would have to change with
/// every record on it, which only reading them all tells (functions/docs/guide/api.md).
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

/// One upload, with a short-lived download URL once it is ready, and the record's `ETag`; 304
/// when `If-None-Match` names it. The tag validates the record, not the `download` link, which
/// is signed anew for every 200 and expires at its own `expires_at`.
#[utoipa::path(get, path = "/api/v1/uploads/{id}", tag = "uploads", security(("bearer" = [])),
    params(("id" = String, Path, description = "The upload id (UUID)"), IfNoneMatch),
    responses(
        (status = 200, description = "The record (and `download` when ready)", body = UploadBody,
            headers(("ETag" = String, description = "The record's version: `\"<n>\"`"))),
        (status = 304, description = "Not modified: `If-None-Match` names the current `ETag`; no body \
            (a `download` link kept from a 200 works until its `expires_at`)",
            headers(("ETag" = String, description = "The record's version"))),
        (status = 404, description = "Unknown, malformed, expired or another user's id (`NOT_FOUND`)", body = shared::openapi::ErrorEnvelope)))]
pub(crate) async fn get_upload(
    State(ctx): State<Arc<UploadsContext>>,
    user: AuthUser,
    Path(id): Path<String>,
    if_none_match: IfNoneMatch,
) -> Result<Response, ApiError> {
    let upload = ctx.load(&user.user.id, &id).await?;
    let etag = ETag::version(upload.version);
    if if_none_match.matches(&etag) {
        // Before signing a download link nobody would receive.
        return Ok(not_modified(&etag, None));
    }
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
    let mut response = Json(body).into_response();
    etag.set(&mut response);
    Ok(response)
}
