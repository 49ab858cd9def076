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

/// The outcome of a guarded write: a failed condition means the user is gone (404), or the
/// admin it was conditioned on stopped being one meanwhile (409 `LAST_ADMIN`).
async fn settle<T>(
    identity: &IdentityState,
    user: &User,
    guarded: bool,
    result: Result<T, StoreError>,
) -> Result<T, ApiError> {
    match result {
        Ok(value) => Ok(value),
        Err(StoreError::ConditionFailed) => Err(match identity.store.users.get(&user.id).await {
            Ok(Some(current)) if !current.deleted && guarded => ErrorCode::LastAdmin.into(),
            Ok(_) => ErrorCode::NotFound.into(),
            Err(err) => err.into(),
        }),
        Err(err) => Err(err.into()),
    }
}

/// Applies admin `changes` to `user`, guarded when they demote or disable an active admin.
pub async fn update(
    identity: &IdentityState,
    user: &User,
    changes: &AdminChanges,
) -> Result<User, ApiError> {
    let guard = guard_for(identity, user, removes_admin(user, changes)).await?;
    let users = &identity.store.users;
    let result = users
        .admin_update(&user.id, changes, guard.as_deref())
        .await;
    settle(identity, user, guard.is_some(), result).await
}

/// Soft-deletes `user` (releasing its names, voiding its links), guarded when it is an active
/// admin, and ends its sessions.
pub async fn end_everything(identity: &IdentityState, user: &User) -> Result<(), ApiError> {
    let is_admin = user.has_role("admin") && user.is_active();
    let guard = guard_for(identity, user, is_admin).await?;
    let result = identity
        .store
        .users
        .soft_delete(user, guard.as_deref())
        .await;
    settle(identity, user, guard.is_some(), result).await?;
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
