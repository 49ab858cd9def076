//! The user item and its conversions. Items: `USER#<id>` (the user) with `gsi1pk = "USER"`,
//! `gsi1sk = "<created_at>#<id>"` for admin listing; guards live in [`super::guards`].

use aws_sdk_dynamodb::types::AttributeValue;
use shared::{
    dynamo::{Item, StoreError, b, get_b, get_list, get_n, get_s, list, n, opt_n, opt_s, s},
    ratelimit::COUNTERS,
};

use crate::domain::{Email, PersonName, Username};

/// A stored user. Never serialized as is: each function renders the body it documents.
#[derive(Debug, Clone)]
pub struct User {
    /// UUID.
    pub id: String,
    /// Display form.
    pub username: String,
    /// Lower-cased username: the key of its uniqueness guard.
    pub username_key: String,
    /// Normalized (lower-case).
    pub email: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Whether the email address was verified.
    pub email_verified: bool,
    /// Roles, e.g. `["user", "admin"]`.
    pub roles: Vec<String>,
    /// Rate-limit / product tier.
    pub tier: String,
    /// Disabled by an admin.
    pub disabled: bool,
    /// Soft-deleted.
    pub deleted: bool,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// Sessions created at or before this instant (epoch ms) are dead: logout-all, reset.
    pub tokens_valid_after_ms: i64,
    /// Bumped by every write of the item, in the write itself: the user's `ETag` (`"<n>"`), and
    /// what `If-Match` conditions a write on. Items written before it existed read as 0.
    /// The access check's writes (rate-limit counters, ended sessions) do not bump it: they
    /// change nothing the user's body shows.
    pub version: i64,
    /// Sessions ended one by one (logout, refresh-token reuse) while an access token of theirs
    /// may still live: `(session id, until)`, until being when the last such token has expired.
    /// The access check refuses a token of a session listed here.
    pub ended: Vec<(String, i64)>,
    /// The session a password change kept: its access tokens, issued before the change's
    /// cut-off, still pass it. Removed by every other cut-off.
    pub keep_sid: Option<String>,
}

impl User {
    /// Whether the user may authenticate at all.
    pub fn is_active(&self) -> bool {
        !self.disabled && !self.deleted
    }

    /// Whether an access token of session `sid`, created at `sct` (epoch ms), still holds for
    /// this user: active, the session not ended, created after the cut-off (or the session a
    /// password change kept). The same test as the access check's condition
    /// ([`crate::store::access`]), for items read rather than written.
    pub fn admits(&self, sid: &str, sct: i64) -> bool {
        self.is_active()
            && !self.ended.iter().any(|(ended, _)| ended == sid)
            && (self.tokens_valid_after_ms < sct || self.keep_sid.as_deref() == Some(sid))
    }

    /// Whether the user has `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

/// Primary key of a user.
pub fn user_key(id: &str) -> String {
    format!("USER#{id}")
}

/// What signup stores.
#[derive(Debug)]
pub struct NewUser {
    /// Username.
    pub username: Username,
    /// Email.
    pub email: Email,
    /// First name.
    pub first_name: PersonName,
    /// Last name.
    pub last_name: PersonName,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Roles to start with.
    pub roles: Vec<String>,
}

impl NewUser {
    /// The user as first stored, with a fresh id, created `now` (RFC 3339).
    pub fn into_user(self, id: String, now: String) -> User {
        User {
            id,
            username: self.username.as_str().to_owned(),
            username_key: self.username.key(),
            email: self.email.as_str().to_owned(),
            first_name: self.first_name.as_str().to_owned(),
            last_name: self.last_name.as_str().to_owned(),
            password_hash: self.password_hash,
            email_verified: false,
            roles: self.roles,
            tier: "free".to_owned(),
            disabled: false,
            deleted: false,
            created_at: now.clone(),
            updated_at: now,
            tokens_valid_after_ms: 0,
            // Creating it is its first write.
            version: 1,
            ended: Vec::new(),
            keep_sid: None,
        }
    }
}

impl TryFrom<&Item> for User {
    type Error = StoreError;

    fn try_from(item: &Item) -> Result<Self, StoreError> {
        let username = get_s(item, "username")?;
        Ok(Self {
            id: get_s(item, "id")?,
            // Items written before `username_key` existed derive it, as the guard did.
            username_key: opt_s(item, "username_key")?
                .unwrap_or_else(|| username.to_ascii_lowercase()),
            username,
            email: get_s(item, "email")?,
            first_name: get_s(item, "first_name")?,
            last_name: get_s(item, "last_name")?,
            password_hash: get_s(item, "password_hash")?,
            email_verified: get_b(item, "email_verified")?,
            roles: get_list(item, "roles")?,
            tier: opt_s(item, "tier")?.unwrap_or_else(|| "free".to_owned()),
            disabled: get_b(item, "disabled")?,
            deleted: get_b(item, "deleted")?,
            created_at: get_s(item, "created_at")?,
            updated_at: get_s(item, "updated_at")?,
            tokens_valid_after_ms: get_n(item, "tokens_valid_after_ms")?,
            version: opt_n(item, "version")?.unwrap_or(0),
            ended: ended_sessions(item)?,
            keep_sid: opt_s(item, "keep_sid")?,
        })
    }
}

impl From<&User> for Item {
    fn from(user: &User) -> Self {
        Item::from([
            ("pk".into(), s(user_key(&user.id))),
            ("entity".into(), s("USER")),
            ("id".into(), s(&user.id)),
            ("username".into(), s(&user.username)),
            ("username_key".into(), s(&user.username_key)),
            ("email".into(), s(&user.email)),
            ("first_name".into(), s(&user.first_name)),
            ("last_name".into(), s(&user.last_name)),
            ("password_hash".into(), s(&user.password_hash)),
            ("email_verified".into(), b(user.email_verified)),
            ("roles".into(), list(&user.roles)),
            ("tier".into(), s(&user.tier)),
            ("disabled".into(), b(user.disabled)),
            ("deleted".into(), b(user.deleted)),
            ("created_at".into(), s(&user.created_at)),
            ("updated_at".into(), s(&user.updated_at)),
            (
                "tokens_valid_after_ms".into(),
                n(user.tokens_valid_after_ms),
            ),
            ("version".into(), n(user.version)),
            (
                "ended".into(),
                AttributeValue::M(
                    user.ended
                        .iter()
                        .map(|(sid, until)| (sid.clone(), n(*until)))
                        .collect(),
                ),
            ),
            // The access check counts requests here (shared::ratelimit::COUNTERS): a user
            // created with the map never needs the write that adds it.
            (COUNTERS.into(), AttributeValue::M(Default::default())),
            ("gsi1pk".into(), s("USER")),
            (
                "gsi1sk".into(),
                s(format!("{}#{}", user.created_at, user.id)),
            ),
        ])
    }
}

/// The `ended` map: absent is empty (an item written before it existed); an entry that is not
/// a number is an error, never "not ended".
fn ended_sessions(item: &Item) -> Result<Vec<(String, i64)>, StoreError> {
    match item.get("ended") {
        None => Ok(Vec::new()),
        Some(AttributeValue::M(map)) => map
            .iter()
            .map(|(sid, until)| match until {
                AttributeValue::N(v) => v
                    .parse()
                    .map(|until| (sid.clone(), until))
                    .map_err(|_| StoreError::malformed("ended", "map of numbers")),
                _ => Err(StoreError::malformed("ended", "map of numbers")),
            })
            .collect(),
        Some(_) => Err(StoreError::malformed("ended", "map")),
    }
}

/// Parses an item fetched elsewhere (batch reads); `None` for a missing item.
pub fn parse_user(item: Option<&Item>) -> Result<Option<User>, StoreError> {
    item.map(User::try_from).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> User {
        NewUser {
            username: Username::parse("Jane_Doe").unwrap(),
            email: Email::parse("jane@example.com").unwrap(),
            first_name: PersonName::parse("Jane", "first_name").unwrap(),
            last_name: PersonName::parse("Doe", "last_name").unwrap(),
            password_hash: "$argon2id$...".to_owned(),
            roles: vec!["user".to_owned()],
        }
        .into_user("u-1".to_owned(), "2026-01-01T00:00:00Z".to_owned())
    }

    #[test]
    fn a_user_round_trips_through_its_item() {
        let item = Item::from(&user());
        let back = User::try_from(&item).unwrap();
        assert_eq!(back.username_key, "jane_doe");
        assert_eq!(back.tier, "free");
        assert!(back.is_active());
        assert_eq!(format!("{back:?}"), format!("{:?}", user()));
    }

    #[test]
    fn a_new_user_is_version_1_and_one_stored_before_versions_reads_as_0() {
        let item = Item::from(&user());
        assert_eq!(User::try_from(&item).unwrap().version, 1);
        let mut old = item;
        old.remove("version");
        assert_eq!(User::try_from(&old).unwrap().version, 0);
        old.insert("version".into(), s("seven"));
        assert!(
            User::try_from(&old).is_err(),
            "a garbled version is an error, never 0"
        );
    }

    #[test]
    fn an_ended_session_and_a_cut_off_refuse_tokens_and_a_kept_session_passes_the_cut_off() {
        let mut user = user();
        assert!(user.admits("s-1", 1));
        user.ended.push(("s-1".to_owned(), 99));
        assert!(!user.admits("s-1", 1), "ended one by one");
        assert!(user.admits("s-2", 1));
        user.tokens_valid_after_ms = 500;
        assert!(!user.admits("s-2", 500), "created at the cut-off");
        assert!(user.admits("s-2", 501));
        user.keep_sid = Some("s-2".to_owned());
        assert!(user.admits("s-2", 10), "the session a password change kept");
        user.disabled = true;
        assert!(!user.admits("s-2", 501));
    }

    #[test]
    fn an_item_without_the_ended_map_reads_as_none_ended_and_a_garbled_one_fails() {
        let mut item = Item::from(&user());
        item.remove("ended");
        assert!(User::try_from(&item).unwrap().ended.is_empty());
        item.insert(
            "ended".into(),
            AttributeValue::M([("s-1".to_owned(), s("soon"))].into()),
        );
        assert!(User::try_from(&item).is_err());
    }

    #[test]
    fn a_stored_user_with_a_garbled_cut_off_is_refused() {
        let mut item = Item::from(&user());
        item.insert("tokens_valid_after_ms".into(), s("yesterday"));
        assert!(User::try_from(&item).is_err());
        item.remove("tokens_valid_after_ms");
        assert!(User::try_from(&item).is_err());
    }
}
