//! `/api/v1/tiers/{name}/rate-limits` and `/api/v1/tiers/{name}/rate-limits/{id}`: a tier's
//! per-path rate limits, for the `admin` role.

use std::sync::Arc;

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use identity::{Admin, RequireRole};
use shared::{
    ApiError, ErrorCode, Routes, conditional::IfMatch, dynamo::StoreError, extract::Json,
    tiers::Rule,
};

use crate::{
    body::{CreateRateLimit, PatchRateLimit, RateLimitBody, RateLimitList, tagged},
    store::{NewRule, RuleChanges, TiersStore},
    tiers::load,
};

/// `GET`, `POST /`, and `PATCH`, `DELETE /{id}`.
pub fn routes() -> Routes<crate::state::State> {
    Routes::new()
        .get("/api/v1/tiers/{name}/rate-limits", list_rate_limits)
        .post("/api/v1/tiers/{name}/rate-limits", create_rate_limit)
        .patch("/api/v1/tiers/{name}/rate-limits/{id}", patch_rate_limit)
        .delete("/api/v1/tiers/{name}/rate-limits/{id}", delete_rate_limit)
}

/// Rule `id` of tier `name`; a malformed id cannot exist (404).
async fn load_rule(store: &TiersStore, name: &str, id: &str) -> Result<Rule, ApiError> {
    load(store, name).await?;
    let plausible = (1..=16).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric());
    if !plausible {
        return Err(ErrorCode::NotFound.into());
    }
    Ok(store.rule(name, id).await?.ok_or(ErrorCode::NotFound)?)
}

/// A rule of the tier with this very pattern already (one pattern, one rule: the limiter would
/// otherwise pick between them by id alone). Read before the write, so two concurrent creates
/// of one pattern may both land; the limiter then applies the one with the smaller id.
async fn refuse_duplicate(
    store: &TiersStore,
    name: &str,
    path: &str,
    except: Option<&str>,
) -> Result<(), ApiError> {
    let taken = store
        .rules_of(name)
        .await?
        .iter()
        .any(|r| r.pattern.as_str() == path && Some(r.id.as_str()) != except);
    if taken {
        return Err(ErrorCode::Conflict.into());
    }
    Ok(())
}

/// A tier's rate limits, oldest first (admin).
#[utoipa::path(get, path = "/api/v1/tiers/{name}/rate-limits", tag = "tiers", security(("bearer" = [])),
    params(("name" = String, Path, description = "The tier name")),
    responses(
        (status = 200, description = "The tier's rules", body = RateLimitList),
        (status = 403, description = "Not an admin (`FORBIDDEN`)", body = shared::openapi::ErrorEnvelope),
        (status = 404, description = "No such tier (`NOT_FOUND`)", body = shared::openapi::ErrorEnvelope)))]
pub(crate) async fn list_rate_limits(
    State(store): State<Arc<TiersStore>>,
    _admin: RequireRole<Admin>,
    Path(name): Path<String>,
) -> Result<Json<RateLimitList>, ApiError> {
    load(&store, &name).await?;
    let rules = store.rules_of(&name).await?;
    Ok(Json(RateLimitList {
        items: rules
            .iter()
            .map(|r| RateLimitBody::new(r, &store.settings))
            .collect(),
    }))
}

/// Gives a tier a rate limit for the requests a pattern matches (admin). Sandboxes apply it
/// within `RATE_LIMITS_CACHE_SECS`.
#[utoipa::path(post, path = "/api/v1/tiers/{name}/rate-limits", tag = "tiers", security(("bearer" = [])),
    params(("name" = String, Path, description = "The tier name")),
    request_body = CreateRateLimit,
    responses(
        (status = 201, description = "Created; `ETag` is its version", body = RateLimitBody),
        (status = 403, description = "Not an admin (`FORBIDDEN`)", body = shared::openapi::ErrorEnvelope),
        (status = 404, description = "No such tier (`NOT_FOUND`)", body = shared::openapi::ErrorEnvelope),
        (status = 409, description = "The tier has a rule of this pattern, or 99 rules (`CONFLICT`)", body = shared::openapi::ErrorEnvelope),
        (status = 422, description = "A malformed pattern, limit or period", body = shared::openapi::ErrorEnvelope)))]
pub(crate) async fn create_rate_limit(
    State(store): State<Arc<TiersStore>>,
    _admin: RequireRole<Admin>,
    Path(name): Path<String>,
    Json(body): Json<CreateRateLimit>,
) -> Result<Response, ApiError> {
    body.check()?;
    load(&store, &name).await?;
    refuse_duplicate(&store, &name, &body.path, None).await?;
    let new = NewRule {
        path: &body.path,
        limit: body.limit,
        period: body.period,
    };
    match store.create_rule(&name, &new).await {
        Ok(rule) => Ok(tagged(
            StatusCode::CREATED,
            rule.version,
            RateLimitBody::new(&rule, &store.settings),
        )),
        // The tier went away meanwhile, or holds MAX_RULES.
        Err(StoreError::ConditionFailed) => Err(ErrorCode::Conflict.into()),
        Err(err) => Err(err.into()),
    }
}

/// Changes a rate limit (admin); a seeded rule becomes the table's. `If-Match: "<version>"`
/// makes it conditional.
#[utoipa::path(patch, path = "/api/v1/tiers/{name}/rate-limits/{id}", tag = "tiers", security(("bearer" = [])),
    params(("name" = String, Path, description = "The tier name"), ("id" = String, Path, description = "The rule id"), IfMatch),
    request_body = PatchRateLimit,
    responses(
        (status = 200, description = "The updated rule; `ETag` is its new version", body = RateLimitBody),
        (status = 403, description = "Not an admin (`FORBIDDEN`)", body = shared::openapi::ErrorEnvelope),
        (status = 404, description = "No such tier or rule (`NOT_FOUND`)", body = shared::openapi::ErrorEnvelope),
        (status = 409, description = "The tier has another rule of this pattern (`CONFLICT`)", body = shared::openapi::ErrorEnvelope),
        (status = 412, description = "`If-Match` names another version (`PRECONDITION_FAILED`); nothing changed", body = shared::openapi::ErrorEnvelope),
        (status = 422, description = "A malformed pattern, limit or period", body = shared::openapi::ErrorEnvelope)))]
pub(crate) async fn patch_rate_limit(
    State(store): State<Arc<TiersStore>>,
    _admin: RequireRole<Admin>,
    Path((name, id)): Path<(String, String)>,
    if_match: IfMatch,
    Json(body): Json<PatchRateLimit>,
) -> Result<Response, ApiError> {
    body.check()?;
    let rule = load_rule(&store, &name, &id).await?;
    let version = if_match.expect_version(rule.version)?;
    if let Some(path) = &body.path {
        refuse_duplicate(&store, &name, path, Some(&id)).await?;
    }
    let changes = RuleChanges {
        path: body.path,
        limit: body.limit,
        period: body.period,
    };
    match store.update_rule(&name, &id, &changes, version).await {
        Ok(rule) => Ok(tagged(
            StatusCode::OK,
            rule.version,
            RateLimitBody::new(&rule, &store.settings),
        )),
        Err(StoreError::ConditionFailed) if version.is_some() => {
            Err(ErrorCode::PreconditionFailed.into())
        }
        Err(StoreError::ConditionFailed) => Err(ErrorCode::NotFound.into()),
        Err(err) => Err(err.into()),
    }
}

/// Deletes a rate limit (admin): the tier's requests it matched fall to its next most specific
/// rule, else to the environment's policy. `If-Match: "<version>"` makes it conditional.
#[utoipa::path(delete, path = "/api/v1/tiers/{name}/rate-limits/{id}", tag = "tiers", security(("bearer" = [])),
    params(("name" = String, Path, description = "The tier name"), ("id" = String, Path, description = "The rule id"), IfMatch),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Not an admin (`FORBIDDEN`)", body = shared::openapi::ErrorEnvelope),
        (status = 404, description = "No such tier or rule (`NOT_FOUND`)", body = shared::openapi::ErrorEnvelope),
        (status = 412, description = "`If-Match` names another version (`PRECONDITION_FAILED`); nothing deleted", body = shared::openapi::ErrorEnvelope)))]
pub(crate) async fn delete_rate_limit(
    State(store): State<Arc<TiersStore>>,
    _admin: RequireRole<Admin>,
    Path((name, id)): Path<(String, String)>,
    if_match: IfMatch,
) -> Result<Response, ApiError> {
    let rule = load_rule(&store, &name, &id).await?;
    let version = if_match.expect_version(rule.version)?;
    match store.delete_rule(&name, &id, version).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(StoreError::ConditionFailed) if version.is_some() => {
            Err(ErrorCode::PreconditionFailed.into())
        }
        Err(StoreError::ConditionFailed) => Err(ErrorCode::NotFound.into()),
        Err(err) => Err(err.into()),
    }
}
