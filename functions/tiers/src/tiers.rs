//! `/api/v1/tiers` and `/api/v1/tiers/{name}`: tiers, for the `admin` role.

use std::sync::Arc;

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use identity::{Admin, RequireRole};
use shared::{
    ApiError, ErrorCode, Routes,
    conditional::{ETag, IfMatch, IfNoneMatch, respond},
    dynamo::StoreError,
    extract::Json,
    tiers::valid_tier_name,
};

use crate::{
    body::{CreateTier, PatchTier, TierBody, TierList, tagged},
    store::{MAX_RULES, Tier, TiersStore},
};

/// `GET`, `POST /`, and `GET`, `PATCH`, `DELETE /{name}`.
pub fn routes() -> Routes<crate::state::State> {
    Routes::new()
        .get("/api/v1/tiers", list_tiers)
        .post("/api/v1/tiers", create_tier)
        .get("/api/v1/tiers/{name}", get_tier)
        .patch("/api/v1/tiers/{name}", patch_tier)
        .delete("/api/v1/tiers/{name}", delete_tier)
}

/// Tier `name`, seeded first if need be; a malformed name cannot exist, so it is a 404.
pub(crate) async fn load(store: &TiersStore, name: &str) -> Result<Tier, ApiError> {
    if !valid_tier_name(name) {
        return Err(ErrorCode::NotFound.into());
    }
    store.ensure_seeded().await?;
    Ok(store.tier(name).await?.ok_or(ErrorCode::NotFound)?)
}

/// Every tier, by name (admin). Seeds the environment's tiers on first use.
#[utoipa::path(get, path = "/api/v1/tiers", tag = "tiers", security(("bearer" = [])),
    responses(
        (status = 200, description = "Every tier (a few: no pagination)", body = TierList),
        (status = 403, description = "Not an admin (`FORBIDDEN`)", body = shared::openapi::ErrorEnvelope)))]
pub(crate) async fn list_tiers(
    State(store): State<Arc<TiersStore>>,
    _admin: RequireRole<Admin>,
) -> Result<Json<TierList>, ApiError> {
    store.ensure_seeded().await?;
    let (tiers, _) = store.all().await?;
    Ok(Json(TierList {
        items: tiers.iter().map(TierBody::from).collect(),
    }))
}

/// Creates a tier, with no rate limit yet (admin): its users get the environment's per-user
/// policy until it has rules.
#[utoipa::path(post, path = "/api/v1/tiers", tag = "tiers", security(("bearer" = [])),
    request_body = CreateTier,
    responses(
        (status = 201, description = "Created; `ETag` is its version", body = TierBody),
        (status = 403, description = "Not an admin (`FORBIDDEN`)", body = shared::openapi::ErrorEnvelope),
        (status = 409, description = "A tier of this name exists (`TIER_EXISTS`)", body = shared::openapi::ErrorEnvelope),
        (status = 422, description = "A malformed name or description", body = shared::openapi::ErrorEnvelope)))]
pub(crate) async fn create_tier(
    State(store): State<Arc<TiersStore>>,
    _admin: RequireRole<Admin>,
    Json(body): Json<CreateTier>,
) -> Result<Response, ApiError> {
    body.check()?;
    store.ensure_seeded().await?;
    let description = body.description.as_deref().filter(|d| !d.is_empty());
    match store.create_tier(&body.name, description).await {
        Ok(tier) => Ok(tagged(
            StatusCode::CREATED,
            tier.version,
            TierBody::from(&tier),
        )),
        Err(StoreError::ConditionFailed) => Err(ErrorCode::TierExists.into()),
        Err(err) => Err(err.into()),
    }
}

/// One tier (admin), with `ETag: "<version>"`; `If-None-Match` naming it is a 304.
#[utoipa::path(get, path = "/api/v1/tiers/{name}", tag = "tiers", security(("bearer" = [])),
    params(("name" = String, Path, description = "The tier name"), IfNoneMatch),
    responses(
        (status = 200, description = "The tier; `ETag` is its version", body = TierBody),
        (status = 304, description = "`If-None-Match` names the current version: no body"),
        (status = 403, description = "Not an admin (`FORBIDDEN`)", body = shared::openapi::ErrorEnvelope),
        (status = 404, description = "No such tier (`NOT_FOUND`)", body = shared::openapi::ErrorEnvelope)))]
pub(crate) async fn get_tier(
    State(store): State<Arc<TiersStore>>,
    _admin: RequireRole<Admin>,
    Path(name): Path<String>,
    if_none_match: IfNoneMatch,
) -> Result<Response, ApiError> {
    let tier = load(&store, &name).await?;
    let etag = ETag::version(tier.version);
    Ok(respond(&if_none_match, &etag, || {
        Json(TierBody::from(&tier))
    }))
}

/// Changes a tier's description (admin); `If-Match: "<version>"` makes it conditional.
#[utoipa::path(patch, path = "/api/v1/tiers/{name}", tag = "tiers", security(("bearer" = [])),
    params(("name" = String, Path, description = "The tier name"), IfMatch),
    request_body = PatchTier,
    responses(
        (status = 200, description = "The updated tier; `ETag` is its new version", body = TierBody),
        (status = 403, description = "Not an admin (`FORBIDDEN`)", body = shared::openapi::ErrorEnvelope),
        (status = 404, description = "No such tier (`NOT_FOUND`)", body = shared::openapi::ErrorEnvelope),
        (status = 412, description = "`If-Match` names another version (`PRECONDITION_FAILED`); nothing changed", body = shared::openapi::ErrorEnvelope),
        (status = 422, description = "A description too long", body = shared::openapi::ErrorEnvelope)))]
pub(crate) async fn patch_tier(
    State(store): State<Arc<TiersStore>>,
    _admin: RequireRole<Admin>,
    Path(name): Path<String>,
    if_match: IfMatch,
    Json(body): Json<PatchTier>,
) -> Result<Response, ApiError> {
    body.check()?;
    let tier = load(&store, &name).await?;
    let version = if_match.expect_version(tier.version)?;
    match store
        .update_tier(&name, body.description.as_deref(), version)
        .await
    {
        Ok(tier) => Ok(tagged(StatusCode::OK, tier.version, TierBody::from(&tier))),
        // Changed (or deleted) between the read and the write.
        Err(StoreError::ConditionFailed) if version.is_some() => {
            Err(ErrorCode::PreconditionFailed.into())
        }
        Err(StoreError::ConditionFailed) => Err(ErrorCode::NotFound.into()),
        Err(err) => Err(err.into()),
    }
}

/// Deletes a tier and its rules in one transaction (admin): 409 `TIER_IN_USE` while a live user
/// has it. `If-Match: "<version>"` makes it conditional.
#[utoipa::path(delete, path = "/api/v1/tiers/{name}", tag = "tiers", security(("bearer" = [])),
    params(("name" = String, Path, description = "The tier name"), IfMatch),
    responses(
        (status = 204, description = "Deleted, with its rules"),
        (status = 403, description = "Not an admin (`FORBIDDEN`)", body = shared::openapi::ErrorEnvelope),
        (status = 404, description = "No such tier (`NOT_FOUND`)", body = shared::openapi::ErrorEnvelope),
        (status = 409, description = "Users have it (`TIER_IN_USE`), or it changed during the delete (`CONFLICT`): retry", body = shared::openapi::ErrorEnvelope),
        (status = 412, description = "`If-Match` names another version (`PRECONDITION_FAILED`); nothing deleted", body = shared::openapi::ErrorEnvelope)))]
pub(crate) async fn delete_tier(
    State(store): State<Arc<TiersStore>>,
    _admin: RequireRole<Admin>,
    Path(name): Path<String>,
    if_match: IfMatch,
) -> Result<Response, ApiError> {
    let tier = load(&store, &name).await?;
    let wanted = if_match.expect_version(tier.version)?;
    if store.in_use(&name).await? {
        return Err(ErrorCode::TierInUse.into());
    }
    let rules = store.rules_of(&name).await?;
    // The tier's rule count caps them at MAX_RULES; a scan that sees more (or fewer) than it
    // counts raced a rule's creation or deletion.
    if i64::try_from(rules.len()).unwrap_or(i64::MAX) != tier.rules || tier.rules > MAX_RULES {
        return Err(ErrorCode::Conflict.into());
    }
    match store.delete_tier(&name, tier.version, &rules).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(StoreError::ConditionFailed) if wanted.is_some() => {
            Err(ErrorCode::PreconditionFailed.into())
        }
        Err(err) => Err(err.into()),
    }
}
