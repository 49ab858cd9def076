//! Users Lambda: `/api/v1/users/me` for everyone, the rest for admins.

use axum::{
    Json, Router,
    extract::{Path, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use serde::Deserialize;
use shared::{
    ApiError, AppState,
    auth::{Admin, AuthUser, RequireRole, auth_of},
    domain::{PersonName, Username, Validator},
    error::FieldError,
    extract::{Json as JsonBody, Query},
    pagination,
    store::users::{AdminChanges, ProfileChanges, UniqueError, User},
};

/// Prefix of every route here.
pub const BASE: &str = "/api/v1/users";
/// Roles an admin may grant.
pub const ROLES: [&str; 2] = ["user", "admin"];

/// The function's router, with the shared layer stack applied.
pub fn router(state: AppState) -> Router {
    let routes = Router::new()
        .route(
            &format!("{BASE}/me"),
            get(me).patch(patch_me).delete(delete_me),
        )
        .route(BASE, get(list))
        .route(
            &format!("{BASE}/{{id}}"),
            get(get_user).patch(patch_user).delete(delete_user),
        )
        .with_state(state.clone());
    shared::layers::apply(routes, &state.config)
}

async fn me(user: AuthUser) -> Json<shared::store::users::UserView> {
    Json(user.user.view())
}

/// Only these three fields; anything else (`roles`, `email`, `tier`, ...) is a 422.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchMe {
    first_name: Option<String>,
    last_name: Option<String>,
    username: Option<String>,
}

fn taken() -> ApiError {
    ApiError::Conflict {
        code: "USER_EXISTS",
        detail: "Username already taken".into(),
    }
}

async fn patch_me(
    State(state): State<AppState>,
    user: AuthUser,
    JsonBody(body): JsonBody<PatchMe>,
) -> Result<Json<shared::store::users::UserView>, ApiError> {
    let auth = auth_of(&state)?;
    let mut v = Validator::default();
    let changes = ProfileChanges {
        first_name: body
            .first_name
            .as_deref()
            .and_then(|n| v.check(PersonName::parse(n, "first_name"))),
        last_name: body
            .last_name
            .as_deref()
            .and_then(|n| v.check(PersonName::parse(n, "last_name"))),
        username: body
            .username
            .as_deref()
            .and_then(|n| v.check(Username::parse(n))),
    };
    v.finish()?;
    let updated = auth
        .users
        .update_profile(&user.user, changes)
        .await
        .map_err(|err| match err {
            UniqueError::Taken => taken(),
            UniqueError::Store(e) => e,
        })?;
    Ok(Json(updated.view()))
}

async fn end_everything(state: &AppState, user: &User) -> Result<(), ApiError> {
    let auth = auth_of(state)?;
    auth.users.soft_delete(user).await?;
    auth.sessions.revoke_all(&user.id, None).await?;
    Ok(())
}

async fn delete_me(State(state): State<AppState>, user: AuthUser) -> Result<StatusCode, ApiError> {
    end_everything(&state, &user.user).await?;
    auth_of(&state)?
        .revoked
        .revoke(&user.claims.jti, user.claims.exp)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Default and maximum page sizes.
const DEFAULT_LIMIT: i32 = 20;
const MAX_LIMIT: i32 = 100;

#[derive(Deserialize)]
struct ListParams {
    limit: Option<i32>,
    cursor: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    _admin: RequireRole<Admin>,
    Query(params): Query<ListParams>,
) -> Result<Response, ApiError> {
    let auth = auth_of(&state)?;
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::Validation(vec![FieldError::new(
            &["query", "limit"],
            format!("limit must be between 1 and {MAX_LIMIT}"),
            "value_error.range",
        )]));
    }
    let start = params
        .cursor
        .as_deref()
        .map(|c| pagination::decode(c, &auth.cursor_key))
        .transpose()?;
    let page = auth.users.list(limit, start).await?;
    let next_cursor = page
        .next
        .as_ref()
        .map(|key| pagination::encode(key, &auth.cursor_key))
        .transpose()?;
    let items: Vec<_> = page.items.iter().map(User::view).collect();
    let link = next_cursor
        .as_ref()
        // A query-only reference (RFC 3986 §5.2.2) resolves against the URL the client called,
        // so it stays right behind any stage prefix or custom domain.
        .map(|c| format!("<?limit={limit}&cursor={c}>; rel=\"next\""));
    let mut response =
        Json(serde_json::json!({ "items": items, "next_cursor": next_cursor })).into_response();
    if let Some(value) = link.and_then(|l| HeaderValue::from_str(&l).ok()) {
        response.headers_mut().insert(header::LINK, value);
    }
    Ok(response)
}

async fn load(state: &AppState, id: &str) -> Result<User, ApiError> {
    let auth = auth_of(state)?;
    // A malformed id cannot exist; answer like any other missing user.
    if uuid_like(id) {
        auth.users
            .get(id)
            .await?
            .filter(|u| !u.deleted)
            .ok_or(ApiError::NotFound)
    } else {
        Err(ApiError::NotFound)
    }
}

fn uuid_like(id: &str) -> bool {
    id.len() == 36 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

async fn get_user(
    State(state): State<AppState>,
    _admin: RequireRole<Admin>,
    Path(id): Path<String>,
) -> Result<Json<shared::store::users::UserView>, ApiError> {
    Ok(Json(load(&state, &id).await?.view()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchUser {
    roles: Option<Vec<String>>,
    tier: Option<String>,
    disabled: Option<bool>,
}

async fn patch_user(
    State(state): State<AppState>,
    _admin: RequireRole<Admin>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<PatchUser>,
) -> Result<Json<shared::store::users::UserView>, ApiError> {
    let mut errors = Vec::new();
    if let Some(roles) = &body.roles
        && (roles.is_empty() || roles.iter().any(|r| !ROLES.contains(&r.as_str())))
    {
        errors.push(FieldError::new(
            &["body", "roles"],
            format!("roles must be a non-empty subset of {ROLES:?}"),
            "value_error",
        ));
    }
    if let Some(tier) = &body.tier
        && (!(1..=32).contains(&tier.len())
            || !tier
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'))
    {
        errors.push(FieldError::new(
            &["body", "tier"],
            "tier must be 1-32 of [a-z0-9_-]",
            "value_error",
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let existing = load(&state, &id).await?;
    let auth = auth_of(&state)?;
    let mut roles = body.roles;
    if let Some(r) = roles.as_mut() {
        r.sort();
        r.dedup();
    }
    let updated = auth
        .users
        .admin_update(
            &existing.id,
            &AdminChanges {
                roles,
                tier: body.tier,
                disabled: body.disabled,
            },
        )
        .await?;
    if body.disabled == Some(true) {
        auth.sessions.revoke_all(&updated.id, None).await?;
    }
    Ok(Json(updated.view()))
}

async fn delete_user(
    State(state): State<AppState>,
    _admin: RequireRole<Admin>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let user = load(&state, &id).await?;
    end_everything(&state, &user).await?;
    Ok(StatusCode::NO_CONTENT)
}
