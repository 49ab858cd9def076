//! Changes that end an account or take away its admin powers, shared by `/me` and the admin
//! routes, with the last-admin guard: the only active admin cannot be demoted, disabled or
//! deleted (409 `LAST_ADMIN`), so the API can never lose its last administrator.

use identity::{
    IdentityState,
    store::users::{AdminChanges, User},
};
use shared::{ApiError, ErrorCode, dynamo::StoreError};

/// What a change does to `user`'s admin powers.
fn removes_admin(user: &User, changes: &AdminChanges) -> bool {
    let is_admin = user.has_role("admin") && user.is_active();
    let stays_admin = changes
        .roles
        .as_ref()
        .is_none_or(|roles| roles.iter().any(|r| r == "admin"))
        && changes.disabled != Some(true);
    is_admin && !stays_admin
}

/// When `needed` (the change takes an active admin's powers away), the other active admin it
/// is conditioned on; 409 `LAST_ADMIN` when there is none.
async fn guard_for(
    identity: &IdentityState,
    user: &User,
    needed: bool,
) -> Result<Option<String>, ApiError> {
    if !needed {
        return Ok(None);
    }
    let other = identity.store.users.another_active_admin(&user.id).await?;
    other.map(Some).ok_or_else(|| ErrorCode::LastAdmin.into())
}

/// Whether a write of user `id` conditioned on version `expected` (`If-Match`) failed with `err`
/// because the user changed since: read again, it is live at another version. A failed
/// condition or a lost transaction conflict (another write of the item committing meanwhile)
/// is then 412, whatever else the condition checked. No read without `expected`, or for other
/// errors; a user gone is not a 412 (its route answers as it would without `If-Match`).
pub async fn changed_since(
    identity: &IdentityState,
    id: &str,
    expected: Option<i64>,
    err: &StoreError,
) -> Result<bool, ApiError> {
    let Some(expected) = expected else {
        return Ok(false);
    };
    if !matches!(
        err,
        StoreError::ConditionFailed | StoreError::Unavailable(_)
    ) {
        return Ok(false);
    }
    let current = identity.store.users.get(id).await?;
    Ok(current.is_some_and(|u| !u.deleted && u.version != expected))
}

/// The outcome of a guarded write: a failed condition means the user changed since `If-Match`'s
/// version (412 `PRECONDITION_FAILED`), is gone (404), or the admin it was conditioned on
/// stopped being one meanwhile (409 `LAST_ADMIN`).
async fn settle<T>(
    identity: &IdentityState,
    user: &User,
    guarded: bool,
    expected: Option<i64>,
    result: Result<T, StoreError>,
) -> Result<T, ApiError> {
    let err = match result {
        Ok(value) => return Ok(value),
        Err(err) => err,
    };
    if changed_since(identity, &user.id, expected, &err).await? {
        return Err(ErrorCode::PreconditionFailed.into());
    }
    match err {
        StoreError::ConditionFailed => Err(match identity.store.users.get(&user.id).await {
            Ok(Some(current)) if !current.deleted && guarded => ErrorCode::LastAdmin.into(),
            Ok(_) => ErrorCode::NotFound.into(),
            Err(err) => err.into(),
        }),
        err => Err(err.into()),
    }
}

/// Applies admin `changes` to `user`, guarded when they demote or disable an active admin;
/// only if it is still at version `expected`, when given (`If-Match`).
pub async fn update(
    identity: &IdentityState,
    user: &User,
    changes: &AdminChanges,
    expected: Option<i64>,
) -> Result<User, ApiError> {
    let guard = guard_for(identity, user, removes_admin(user, changes)).await?;
    let users = &identity.store.users;
    let result = users
        .admin_update_expecting(&user.id, changes, guard.as_deref(), expected)
        .await;
    settle(identity, user, guard.is_some(), expected, result).await
}

/// Soft-deletes `user` (releasing its names, voiding its links), guarded when it is an active
/// admin, and ends its sessions; only if it is still at version `expected`, when given
/// (`If-Match`).
pub async fn end_everything(
    identity: &IdentityState,
    user: &User,
    expected: Option<i64>,
) -> Result<(), ApiError> {
    let is_admin = user.has_role("admin") && user.is_active();
    let guard = guard_for(identity, user, is_admin).await?;
    let result = identity
        .store
        .users
        .soft_delete(user, guard.as_deref(), expected)
        .await;
    settle(identity, user, guard.is_some(), expected, result).await?;
    identity.store.sessions.revoke_all(&user.id, None).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use identity::{
        domain::{Email, PersonName, Username},
        store::users::NewUser,
    };

    fn admin() -> User {
        NewUser {
            username: Username::parse("root").unwrap(),
            email: Email::parse("root@example.com").unwrap(),
            first_name: PersonName::parse("R", "first_name").unwrap(),
            last_name: PersonName::parse("R", "last_name").unwrap(),
            password_hash: String::new(),
            roles: vec!["admin".to_owned(), "user".to_owned()],
        }
        .into_user("id".to_owned(), "2026-01-01T00:00:00Z".to_owned())
    }

    #[test]
    fn demoting_or_disabling_an_active_admin_removes_admin_powers() {
        let demote = AdminChanges {
            roles: Some(vec!["user".to_owned()]),
            ..AdminChanges::default()
        };
        let disable = AdminChanges {
            disabled: Some(true),
            ..AdminChanges::default()
        };
        let retier = AdminChanges {
            tier: Some("pro".to_owned()),
            ..AdminChanges::default()
        };
        assert!(removes_admin(&admin(), &demote));
        assert!(removes_admin(&admin(), &disable));
        assert!(!removes_admin(&admin(), &retier));
        let mut user = admin();
        user.roles = vec!["user".to_owned()];
        assert!(!removes_admin(&user, &demote));
    }
}
