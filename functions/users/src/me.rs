//! `/api/v1/users/me`: the caller's own profile.

use axum::{extract::State, http::StatusCode};
use identity::{
    AuthUser, IdentityState,
    domain::{PersonName, Username, Validator},
    store::users::ProfileChanges,
};
use serde::Deserialize;
use shared::{
    ApiError, ErrorCode, Routes,
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

/// The caller's user body.
#[utoipa::path(get, path = "/api/v1/users/me", tag = "users", security(("bearer" = [])),
    responses((status = 200, description = "The caller", body = UserBody)))]
pub(crate) async fn me(user: AuthUser) -> Json<UserBody> {
    Json(UserBody::from(&user.user))
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

/// Changes the caller's names or username (`null` or absent: unchanged).
#[utoipa::path(patch, path = "/api/v1/users/me", tag = "users", security(("bearer" = [])),
    request_body = PatchMe,
    responses(
        (status = 200, description = "The updated user", body = UserBody),
        (status = 409, description = "Username taken (`USER_EXISTS`)", body = shared::openapi::ErrorEnvelope)))]
pub(crate) async fn patch_me(
    State(identity): State<IdentityState>,
    user: AuthUser,
    Json(body): Json<PatchMe>,
) -> Result<Json<UserBody>, ApiError> {
    let changes = body.check()?;
    let updated = identity
        .store
        .users
        .update_profile(&user.user, changes)
        .await
        .map_err(|err| match err {
            StoreError::ConditionFailed => ErrorCode::UserExists.into(),
            other => ApiError::from(other),
        })?;
    Ok(Json(UserBody::from(&updated)))
}

/// Soft-deletes the caller: releases username and email, ends every session.
#[utoipa::path(delete, path = "/api/v1/users/me", tag = "users", security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, description = "The only active admin (`LAST_ADMIN`)", body = shared::openapi::ErrorEnvelope)))]
pub(crate) async fn delete_me(
    State(identity): State<IdentityState>,
    user: AuthUser,
) -> Result<StatusCode, ApiError> {
    lifecycle::end_everything(&identity, &user.user).await?;
    identity
        .store
        .revoked
        .revoke(&user.claims.jti, user.claims.exp)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
