//! `/api/v1/users` and `/api/v1/users/{id}`: user management for the `admin` role.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use identity::{
    Admin, IdentityState, RequireRole,
    pagination::{PageParams, PageRequest},
    store::users::{AdminChanges, User},
};
use serde::{Deserialize, Serialize};
use shared::{
    ApiError, AppState, ErrorCode, Routes,
    clock::now_ms,
    conditional::{ETag, IfMatch, IfNoneMatch, respond},
    error::FieldError,
    extract::{Json, Validate, failures},
};

use crate::{
    body::{UserBody, UserPage},
    lifecycle,
};

/// Roles an admin may grant.
pub const ROLES: [&str; 2] = ["user", "admin"];

/// `GET /`, and `GET`, `PATCH`, `DELETE /{id}`.
pub fn routes() -> Routes<crate::state::State> {
    Routes::new()
        .get("/api/v1/users", list)
        .get("/api/v1/users/{id}", get_user)
        .patch("/api/v1/users/{id}", patch_user)
        .delete("/api/v1/users/{id}", delete_user)
        .delete("/api/v1/users/{id}/mfa", reset_mfa)
}

/// Every live user, oldest first (admin). No validator: a weak one would have to stand for
/// every user of the page, which only reading them all gives (functions/docs/guide/api.md).
#[utoipa::path(get, path = "/api/v1/users", tag = "users", security(("bearer" = [])),
    params(PageParams),
    responses(
        (status = 200, description = "A page; `Link: <?limit=..&cursor=..>; rel=\"next\"` while there is more", body = UserPage),
        (status = 400, description = "A cursor we did not sign (`INVALID_CURSOR`)", body = shared::openapi::ErrorEnvelope),
        (status = 403, description = "Not an admin (`FORBIDDEN`)", body = shared::openapi::ErrorEnvelope),
        (status = 422, description = "`limit` out of range", body = shared::openapi::ErrorEnvelope)))]
pub(crate) async fn list(
    State(identity): State<IdentityState>,
    _admin: RequireRole<Admin>,
    mut page: PageRequest,
) -> Result<Response, ApiError> {
    let listed = identity
        .store
        .users
        .list(page.limit, page.start.take())
        .await?;
    page.respond(
        listed.items.iter().map(UserBody::from),
        listed.next.as_ref(),
    )
}

/// The live user `id`; a malformed id cannot exist, so it is a 404 like any missing user.
async fn load(identity: &IdentityState, id: &str) -> Result<User, ApiError> {
    let uuid_like = id.len() == 36 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    if !uuid_like {
        return Err(ErrorCode::NotFound.into());
    }
    Ok(identity
        .store
        .users
        .get(id)
        .await?
        .filter(|u| !u.deleted)
        .ok_or(ErrorCode::NotFound)?)
}

/// One user (admin), with its `ETag`; 304 when `If-None-Match` names it.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path, description = "The user id (UUID)"), IfNoneMatch),
    responses(
        (status = 200, description = "The user", body = UserBody,
            headers(("ETag" = String, description = "The user's version: `\"<n>\"`"))),
        (status = 304, description = "Not modified: `If-None-Match` names the current `ETag`; no body",
            headers(("ETag" = String, description = "The user's version"))),
        (status = 403, description = "Not an admin (`FORBIDDEN`)", body = shared::openapi::ErrorEnvelope),
        (status = 404, description = "Unknown, malformed or deleted id (`NOT_FOUND`)", body = shared::openapi::ErrorEnvelope)))]
pub(crate) async fn get_user(
    State(identity): State<IdentityState>,
    _admin: RequireRole<Admin>,
    Path(id): Path<String>,
    if_none_match: IfNoneMatch,
) -> Result<Response, ApiError> {
    let user = load(&identity, &id).await?;
    Ok(respond(
        &if_none_match,
        &ETag::version(user.version),
        || Json(UserBody::from(&user)),
    ))
}

/// What an admin may change.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PatchUser {
    #[schema(schema_with = roles_schema)]
    roles: Option<Vec<String>>,
    /// 1-32 of `[a-z0-9_-]`.
    #[schema(pattern = "^[a-z0-9_-]{1,32}$")]
    tier: Option<String>,
    /// `true` ends every session of the user and refuses its logins.
    disabled: Option<bool>,
}

/// `roles`: a non-empty list of [`ROLES`] (repeats are stored once), or `null` (unchanged).
fn roles_schema() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, SchemaType, Type};
    ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(ROLES)),
        )
        .min_items(Some(1))
        .description(Some(
            "A non-empty list of `user`, `admin` (stored sorted, once each).",
        ))
        .build()
}

impl PatchUser {
    /// `roles` and `tier` by their rules (one 422 naming both when both break theirs).
    fn check(&self) -> Result<(), ApiError> {
        let mut errors = Vec::new();
        if let Some(roles) = &self.roles
            && (roles.is_empty() || roles.iter().any(|r| !ROLES.contains(&r.as_str())))
        {
            errors.push(FieldError::new(
                &["body", "roles"],
                format!("roles must be a non-empty subset of {ROLES:?}"),
                "value_error",
            ));
        }
        if let Some(tier) = &self.tier
            && (!(1..=32).contains(&tier.len())
                || !tier.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'
                }))
        {
            errors.push(FieldError::new(
                &["body", "tier"],
                "tier must be 1-32 of [a-z0-9_-]",
                "value_error",
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(errors))
        }
    }
}

impl Validate for PatchUser {
    fn rule_errors(&self) -> Vec<FieldError> {
        failures(self.check())
    }
}

/// A tier a user may be moved to: one of the environment's (`free`, `pro`, `enterprise`: the
/// seed and the limiter's fallback, known even before the seed is written) or one in
/// `TIERS_TABLE`; else 409 `UNKNOWN_TIER` (a state the request conflicts with, not a rule of
/// the body: any name the schema allows may exist). A tier deleted right after this check leaves
/// the user on a name with no rules, which the limiter treats as the `user` policy.
async fn require_known_tier(app: &AppState, tier: &str) -> Result<(), ApiError> {
    if matches!(tier, "free" | "pro" | "enterprise") {
        return Ok(());
    }
    let known = match app.config.require_table(shared::Table::Tiers) {
        Ok(table) => shared::dynamo::get(&app.dynamo, table, shared::tiers::tier_key(tier))
            .await?
            .is_some(),
        Err(_) => false,
    };
    if known {
        Ok(())
    } else {
        Err(ErrorCode::UnknownTier.into())
    }
}

/// Changes a user's roles, tier or disabled flag (admin); with `If-Match`, only if the user is
/// still at that version, so two admins editing one user cannot overwrite each other unseen.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path, description = "The user id (UUID)"), IfMatch), request_body = PatchUser,
    responses(
        (status = 200, description = "The updated user, read back after the write", body = UserBody,
            headers(("ETag" = String, description = "The version the body shows"))),
        (status = 403, description = "Not an admin (`FORBIDDEN`)", body = shared::openapi::ErrorEnvelope),
        (status = 404, description = "Unknown, malformed or deleted id (`NOT_FOUND`)", body = shared::openapi::ErrorEnvelope),
        (status = 409, description = "Would demote or disable the only active admin (`LAST_ADMIN`), or names a tier that does not exist (`UNKNOWN_TIER`)", body = shared::openapi::ErrorEnvelope),
        (status = 412, description = "`If-Match` names a version the user no longer has \
            (`PRECONDITION_FAILED`); nothing changed", body = shared::openapi::ErrorEnvelope)))]
pub(crate) async fn patch_user(
    State(identity): State<IdentityState>,
    State(app): State<AppState>,
    _admin: RequireRole<Admin>,
    Path(id): Path<String>,
    if_match: IfMatch,
    Json(body): Json<PatchUser>,
) -> Result<Response, ApiError> {
    body.check()?;
    if let Some(tier) = &body.tier {
        require_known_tier(&app, tier).await?;
    }
    let existing = load(&identity, &id).await?;
    let expected = if_match.expect_version(existing.version)?;
    let mut roles = body.roles;
    if let Some(r) = roles.as_mut() {
        r.sort();
        r.dedup();
    }
    let updated = lifecycle::update(
        &identity,
        &existing,
        &AdminChanges {
            roles,
            tier: body.tier,
            disabled: body.disabled,
        },
        expected,
    )
    .await?;
    if body.disabled == Some(true) {
        identity
            .store
            .sessions
            .revoke_all(&updated.id, None)
            .await?;
    }
    let mut response = Json(UserBody::from(&updated)).into_response();
    ETag::version(updated.version).set(&mut response);
    Ok(response)
}

/// Soft-deletes a user (admin); with `If-Match`, only if the user is still at that version.
#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path, description = "The user id (UUID)"), IfMatch),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "A malformed `If-Match` (`BAD_REQUEST`)", body = shared::openapi::ErrorEnvelope),
        (status = 403, description = "Not an admin (`FORBIDDEN`)", body = shared::openapi::ErrorEnvelope),
        (status = 404, description = "Unknown, malformed or deleted id (`NOT_FOUND`)", body = shared::openapi::ErrorEnvelope),
        (status = 409, description = "The only active admin (`LAST_ADMIN`)", body = shared::openapi::ErrorEnvelope),
        (status = 412, description = "`If-Match` names a version the user no longer has \
            (`PRECONDITION_FAILED`); nothing changed", body = shared::openapi::ErrorEnvelope)))]
pub(crate) async fn delete_user(
    State(identity): State<IdentityState>,
    _admin: RequireRole<Admin>,
    Path(id): Path<String>,
    if_match: IfMatch,
) -> Result<StatusCode, ApiError> {
    let user = load(&identity, &id).await?;
    let expected = if_match.expect_version(user.version)?;
    lifecycle::end_everything(&identity, &user, expected).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What an admin's reset of a user's second factor did.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct MfaReset {
    message: &'static str,
    /// Whether the user had an authenticator app (pending or confirmed) to remove.
    factor_removed: bool,
    /// Sessions of the user that were ended.
    sessions_revoked: usize,
}

/// The key of a user's factor item in the users table: auth writes it
/// (`functions/auth/src/mfa/store.rs`), and only this reset deletes it from here.
fn factor_key(user_id: &str) -> String {
    format!("MFA#{user_id}")
}

/// Removes a user's second factor (admin), for an owner who lost both the app and the recovery
/// codes, and ends every session of that user: whoever holds one may be who took the factor
/// over. The next login is by password alone; the owner can enrol again.
#[utoipa::path(delete, path = "/api/v1/users/{id}/mfa", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path, description = "The user id (UUID)")),
    responses(
        (status = 200, description = "Reset (also when there was no factor); every session ended", body = MfaReset),
        (status = 403, description = "Not an admin (`FORBIDDEN`)", body = shared::openapi::ErrorEnvelope),
        (status = 404, description = "Unknown, malformed or deleted id (`NOT_FOUND`)", body = shared::openapi::ErrorEnvelope)))]
pub(crate) async fn reset_mfa(
    State(identity): State<IdentityState>,
    State(app): State<AppState>,
    admin: RequireRole<Admin>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let user = load(&identity, &id).await?;
    let table = app
        .config
        .require_table(shared::Table::Users)
        .map_err(|e| ApiError::Internal(e.into()))?;
    let removed = app
        .dynamo
        .delete_item()
        .table_name(table)
        .key("pk", shared::dynamo::s(factor_key(&user.id)))
        .return_values("ALL_OLD".into())
        .send()
        .await
        .map_err(shared::dynamo::StoreError::from)?
        .attributes
        .is_some();
    // As logout-all: one write cuts every session off, then each is marked ended.
    identity
        .store
        .users
        .invalidate_tokens(&user.id, now_ms())
        .await?;
    let ended = identity.store.sessions.revoke_all(&user.id, None).await?;
    tracing::info!(user_id = %user.id, admin_id = %admin.0.user.id, factor_removed = removed, "second factor reset by an admin");
    let body = MfaReset {
        message: "Second factor reset; every session of the user ended",
        factor_removed: removed,
        sessions_revoked: ended,
    };
    let mut response = Json(body).into_response();
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}
