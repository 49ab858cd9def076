//! The access check of a request: one `UpdateItem` on the user item that checks the access
//! token there and counts the request against the caller's rate limit in the same write
//! (`ReturnValues: ALL_NEW` gives the user to the handler; `ALL_OLD` on a failed condition tells
//! a refused token from a full window without a second call), or, where nothing counts the
//! request, one `GetItem` of the user item checked the same way ([`User::admits`]).
//!
//! What the condition checks is all on the user item: the user exists and is active, the
//! token's session is not in `ended` (logout, refresh-token reuse), it was created after
//! `tokens_valid_after_ms` (logout-all, password change or reset, disable, delete) or is the
//! session a password change kept (`keep_sid`). The session's creation time comes from the
//! token (`sct`), which only `auth` can sign.

use shared::{
    dynamo::{Guard, MapCounted, StoreError, b, n, s},
    ratelimit::{self, Policy},
};

use super::{
    IdentityStore,
    users::{User, user_key},
};
use crate::jwt::Claims;

/// What the counting access check found.
#[derive(Debug)]
pub enum AccessCount {
    /// The token holds; `count` requests in the window so far, this one included.
    Counted {
        /// Requests counted in the window.
        count: i64,
        /// The user, as written.
        user: Box<User>,
    },
    /// The token holds, and the caller's window is full: not counted.
    OverQuota,
    /// The token does not hold (or the user is gone): nothing counted.
    Refused,
}

/// The condition an access token of session `sid` created at `sct` must meet on the user item:
/// the same test as [`User::admits`].
pub fn guard(sid: &str, sct: i64) -> Guard {
    Guard {
        condition: "deleted = :f AND disabled = :f AND attribute_not_exists(ended.#sid) \
                    AND (tokens_valid_after_ms < :sct OR keep_sid = :sid)"
            .to_owned(),
        names: vec![("#sid".to_owned(), sid.to_owned())],
        values: vec![
            (":f".to_owned(), b(false)),
            (":sct".to_owned(), n(sct)),
            (":sid".to_owned(), s(sid)),
        ],
    }
}

/// The session id and creation time of an access token's claims; `None` for a token without
/// them (one issued before `sct` existed: refused, its client refreshes).
fn session_of(claims: &Claims) -> Option<(&str, i64)> {
    Some((claims.sid.as_deref()?, claims.sct?))
}

impl IdentityStore {
    /// Checks the access token `claims` describe and counts the request against `policy` on
    /// the user item, in one `UpdateItem` (a user item written before the counters existed
    /// takes a second write, once; a counter slot idle windows left, another).
    pub async fn count_access(
        &self,
        claims: &Claims,
        policy: &Policy,
        now: i64,
    ) -> Result<AccessCount, StoreError> {
        let Some((sid, sct)) = session_of(claims) else {
            return Ok(AccessCount::Refused);
        };
        let counted = ratelimit::count_on_record(
            self.client(),
            self.users.table(),
            user_key(&claims.sub),
            policy,
            now,
            &guard(sid, sct),
        )
        .await?;
        match counted {
            MapCounted::Added { count, item } => {
                let user = User::try_from(&item)?;
                if !user.admits(sid, sct) {
                    return Err(disagree());
                }
                Ok(AccessCount::Counted {
                    count,
                    user: Box::new(user),
                })
            }
            MapCounted::Refused(None) => Ok(AccessCount::Refused),
            MapCounted::Refused(Some(old)) => {
                let user = User::try_from(&old)?;
                if !user.admits(sid, sct) {
                    Ok(AccessCount::Refused)
                } else if ratelimit::counted_on(&old, policy, now) >= policy.quota {
                    Ok(AccessCount::OverQuota)
                } else {
                    Err(disagree())
                }
            }
        }
    }

    /// Checks the access token `claims` describe with one strongly consistent `GetItem` of
    /// the user item: where no limiter counted the request on it (an exempt or disabled
    /// limiter, one counting per IP, or a counting write that failed open). `None`: refused.
    pub async fn check_access(&self, claims: &Claims) -> Result<Option<User>, StoreError> {
        let Some((sid, sct)) = session_of(claims) else {
            return Ok(None);
        };
        let user = self.users.get(&claims.sub).await?;
        Ok(user.filter(|u| u.admits(sid, sct)))
    }
}

/// The condition and [`User::admits`] disagreed about an item: not the client's doing. As an
/// unavailable store, the limiter fails open and the extractor checks the token again.
fn disagree() -> StoreError {
    StoreError::Unavailable(anyhow::anyhow!(
        "the access check's condition and the item it returned disagree"
    ))
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::types::AttributeValue;

    use super::*;

    #[test]
    fn the_guard_names_every_placeholder_it_uses() {
        let g = guard("3f1c-4a", 42);
        for (name, _) in &g.names {
            assert!(g.condition.contains(name.as_str()), "{name}");
        }
        for (value, _) in &g.values {
            assert!(g.condition.contains(value.as_str()), "{value}");
        }
        assert_eq!(g.values[1].1, AttributeValue::N("42".to_owned()));
    }
}
