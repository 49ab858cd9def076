//! The bodies this function answers with.

use identity::{
    pagination::{Listed, Page},
    store::users::User,
};
use serde::Serialize;

/// The user body of the contract: no hash, no internal attribute.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserBody {
    /// UUID.
    pub id: String,
    /// Username.
    pub username: String,
    /// Email.
    pub email: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Verified?
    pub email_verified: bool,
    /// Roles.
    pub roles: Vec<String>,
    /// Tier.
    pub tier: String,
    /// Disabled by an admin (visible to admins and to the user).
    pub disabled: bool,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl From<&User> for UserBody {
    fn from(user: &User) -> Self {
        Self {
            id: user.id.clone(),
            username: user.username.clone(),
            email: user.email.clone(),
            first_name: user.first_name.clone(),
            last_name: user.last_name.clone(),
            email_verified: user.email_verified,
            roles: user.roles.clone(),
            tier: user.tier.clone(),
            disabled: user.disabled,
            created_at: user.created_at.clone(),
            updated_at: user.updated_at.clone(),
        }
    }
}

/// One page of the admin listing (`GET /api/v1/users`).
pub type UserPage = Page<UserBody>;

impl Listed for UserBody {
    const PAGE: &'static str = "UserPage";
    const DESCRIPTION: &'static str = "One page of the admin listing.";
    const ITEMS: &'static str = "Users of this page, oldest first.";
}
