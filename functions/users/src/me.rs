//! `/api/v1/users/me`: the caller's own profile.

use axum::{
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use identity::{
    AuthUser, IdentityState,
    domain::{PersonName, Username, Validator},
    store::users::ProfileChanges,
};
use serde::Deserialize;
use shared::{
    ApiError, ErrorCode, Routes,
    conditional::{ETag, IfMatch, IfNoneMatch, respond},
    dynamo::StoreError,
    error::FieldError,
    extract::{Json, Validate, failures},
};

use crate::{body::UserBody, lifecycle};

/// `GET`, `PATCH` and `DELETE /me`.
pub fn routes() -> Routes<crate::state::State> {
    Routes::new()
        .get("/api/v1/users/me", me)
        .patch("/api/v1/users/me", patch_me)
        .delete("/api/v1/users/me", delete_me)
}

/// The caller's user body, with its `ETag`; 304 when `If-None-Match` names it.
#[utoipa::path(get, path = "/api/v1/users/me", tag = "users", security(("bearer" = [])),
    params(IfNoneMatch),
    responses(
        (status = 200, description = "The caller", body = UserBody,
            headers(("ETag" = String, description = "The user's version: `\"<n>\"`"))),
        (status = 304, description = "Not modified: `If-None-Match` names the current `ETag`; no body",
            headers(("ETag" = String, description = "The user's version")))))]
pub(crate) async fn me(user: AuthUser, if_none_match: IfNoneMatch) -> Response {
    respond(&if_none_match, &ETag::version(user.user.version), || {
        Json(UserBody::from(&user.user))
    })
}

/// Only these three fields; anything else (`roles`, `email`, `tier`, ...) is a 422.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PatchMe {
    #[schema(schema_with = identity::domain::schema::optional_person_name)]
    first_name: Option<String>,
    #[schema(schema_with = identity::domain::schema::optional_person_name)]
    last_name: Option<String>,
    #[schema(schema_with = identity::domain::schema::optional_username)]
    username: Option<String>,
}

impl PatchMe {
    /// Each field given by its rule (one 422 naming every field that breaks one).
    fn check(&self) -> Result<ProfileChanges, ApiError> {
        let mut v = Validator::default();
        let changes = ProfileChanges {
            first_name: self
                .first_name
                .as_deref()
                .and_then(|n| v.check(PersonName::parse(n, "first_name"))),
            last_name: self
                .last_name
                .as_deref()
                .and_then(|n| v.check(PersonName::parse(n, "last_name"))),
            username: self
                .username
                .as_deref()
                .and_then(|n| v.check(Username::parse(n))),
        };
        v.finish()?;
        Ok(changes)
    }
}

impl Validate for PatchMe {
    fn rule_errors(&self) -> Vec<FieldError> {
        failures(self.check())
    }
}

/// Changes the caller's names or username (`null` or absent: unchanged); with `If-Match`, only
/// if the caller is still at that version.
#[utoipa::path(patch, path = "/api/v1/users/me", tag = "users", security(("bearer" = [])),
    params(IfMatch),
    request_body = PatchMe,
    responses(
        (status = 200, description = "The updated user; `ETag` when sent with `If-Match` (the \
            version this write made; without it, GET for the tag)", body = UserBody,
            headers(("ETag" = String, description = "The user's new version"))),
        (status = 409, description = "Username taken (`USER_EXISTS`)", body = shared::openapi::ErrorEnvelope),
        (status = 412, description = "`If-Match` names a version the caller no longer has \
            (`PRECONDITION_FAILED`); nothing changed", body = shared::openapi::ErrorEnvelope)))]
pub(crate) async fn patch_me(
    State(identity): State<IdentityState>,
    user: AuthUser,
    if_match: IfMatch,
    Json(body): Json<PatchMe>,
) -> Result<Response, ApiError> {
    let changes = body.check()?;
    let expected = if_match.expect_version(user.user.version)?;
    let result = identity
        .store
        .users
        .update_profile(&user.user, changes, expected)
        .await;
    let updated = match result {
        Ok(updated) => updated,
        Err(err) => {
            if lifecycle::changed_since(&identity, &user.user.id, expected, &err).await? {
                return Err(ErrorCode::PreconditionFailed.into());
            }
            return Err(match err {
                StoreError::ConditionFailed => ErrorCode::UserExists.into(),
                other => ApiError::from(other),
            });
        }
    };
    let mut response = Json(UserBody::from(&updated)).into_response();
    // Exact only when the write was conditioned on the version it bumped.
    if expected.is_some() {
        ETag::version(updated.version).set(&mut response);
    }
    Ok(response)
}

/// Soft-deletes the caller: releases username and email, ends every session; with `If-Match`,
/// only if the caller is still at that version.
#[utoipa::path(delete, path = "/api/v1/users/me", tag = "users", security(("bearer" = [])),
    params(IfMatch),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "A malformed `If-Match` (`BAD_REQUEST`)", body = shared::openapi::ErrorEnvelope),
        (status = 409, description = "The only active admin (`LAST_ADMIN`)", body = shared::openapi::ErrorEnvelope),
        (status = 412, description = "`If-Match` names a version the caller no longer has \
            (`PRECONDITION_FAILED`); nothing changed", body = shared::openapi::ErrorEnvelope)))]
pub(crate) async fn delete_me(
    State(identity): State<IdentityState>,
    user: AuthUser,
    if_match: IfMatch,
) -> Result<StatusCode, ApiError> {
    let expected = if_match.expect_version(user.user.version)?;
    // Ending every session is what stops the caller's access token: the access check reads
    // the user item, which is now deleted and its sessions ended.
    lifecycle::end_everything(&identity, &user.user, expected).await?;
    Ok(StatusCode::NO_CONTENT)
}
