//! `GET /api/v1/auth/passkeys`, `PATCH` and `DELETE /api/v1/auth/passkeys/{id}`: my passkeys.
//! Another user's passkey is 404, as if it did not exist.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use identity::AuthUser;
use serde::{Deserialize, Serialize};
use shared::{
    ApiError, ErrorCode, Routes,
    error::FieldError,
    extract::{Json, Validate, failures},
};

use super::{PasskeyBody, Passkeys, check_name, is_credential_id};

/// The list, and rename and delete by id.
pub fn routes() -> Routes<crate::state::State> {
    Routes::new()
        .get("/api/v1/auth/passkeys", list_passkeys)
        .patch("/api/v1/auth/passkeys/{id}", rename_passkey)
        .delete("/api/v1/auth/passkeys/{id}", delete_passkey)
}

/// My passkeys.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct PasskeyList {
    /// Oldest first.
    items: Vec<PasskeyBody>,
}

/// Lists my passkeys, oldest first.
#[utoipa::path(get, path = "/api/v1/auth/passkeys", tag = "passkeys", security(("bearer" = [])),
    responses(
        (status = 200, description = "My passkeys", body = PasskeyList),
        (status = 401, description = "No valid access token", body = shared::openapi::ErrorEnvelope)))]
pub(crate) async fn list_passkeys(
    State(passkeys): State<Passkeys>,
    user: AuthUser,
) -> Result<Response, ApiError> {
    let items = passkeys.store.list(&user.user.id).await?;
    let body = PasskeyList {
        items: items.iter().map(PasskeyBody::from).collect(),
    };
    Ok(Json(body).into_response())
}

/// A passkey's new label.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RenameBody {
    /// 1-64 characters, trimmed.
    #[schema(schema_with = super::name_schema::required)]
    name: String,
}

impl Validate for RenameBody {
    fn rule_errors(&self) -> Vec<FieldError> {
        failures(check_name(&self.name, &["body", "name"]))
    }
}

/// Renames one of my passkeys.
#[utoipa::path(patch, path = "/api/v1/auth/passkeys/{id}", tag = "passkeys", security(("bearer" = [])),
    params(("id" = String, Path, description = "The credential id (base64url)")),
    request_body = RenameBody,
    responses(
        (status = 200, description = "The renamed passkey", body = PasskeyBody),
        (status = 401, description = "No valid access token", body = shared::openapi::ErrorEnvelope),
        (status = 404, description = "No passkey of mine has this id (`NOT_FOUND`)", body = shared::openapi::ErrorEnvelope),
        (status = 422, description = "A bad name", body = shared::openapi::ErrorEnvelope)))]
pub(crate) async fn rename_passkey(
    State(passkeys): State<Passkeys>,
    user: AuthUser,
    Path(id): Path<String>,
    Json(body): Json<RenameBody>,
) -> Result<Response, ApiError> {
    let name = check_name(&body.name, &["body", "name"])?;
    if !is_credential_id(&id) {
        return Err(ErrorCode::NotFound.into());
    }
    let renamed = passkeys
        .store
        .rename(&user.user.id, &id, &name)
        .await?
        .ok_or(ErrorCode::NotFound)?;
    Ok(Json(PasskeyBody::from(&renamed)).into_response())
}

/// Deletes one of my passkeys: it cannot log in any more (the authenticator keeps its copy
/// until the user removes it there).
#[utoipa::path(delete, path = "/api/v1/auth/passkeys/{id}", tag = "passkeys", security(("bearer" = [])),
    params(("id" = String, Path, description = "The credential id (base64url)")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid access token", body = shared::openapi::ErrorEnvelope),
        (status = 404, description = "No passkey of mine has this id (`NOT_FOUND`)", body = shared::openapi::ErrorEnvelope)))]
pub(crate) async fn delete_passkey(
    State(passkeys): State<Passkeys>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if !is_credential_id(&id) || !passkeys.store.delete(&user.user.id, &id).await? {
        return Err(ErrorCode::NotFound.into());
    }
    tracing::info!(user_id = %user.user.id, credential = %id, "passkey deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}
