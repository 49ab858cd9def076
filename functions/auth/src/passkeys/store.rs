//! `PASSKEYS_TABLE`: registered passkeys and the state of started ceremonies, one table keyed by
//! `pk` (`CRED#<credential id>` or `CEREMONY#<challenge>`), with the `by_user` index over the
//! credentials' `user_id` for listing. Ceremony items carry their user as `owner`, not
//! `user_id`, so the index holds credentials only; they expire through the table's TTL on
//! `expires_at`, and every read checks the expiry too (TTL deletion lags).

use aws_sdk_dynamodb::{
    Client,
    primitives::Blob,
    types::{AttributeValue, ReturnValue},
};
use shared::{
    clock::{now_rfc3339, now_s},
    dynamo::{Item, StoreError, get_n, get_s, n, opt_s, s},
};

/// Which ceremony a stored state belongs to: a login challenge cannot finish a registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ceremony {
    /// `register/start` → `register/finish`, for the `owner` user.
    Register,
    /// `login/start` → `login/finish`, anyone.
    Login,
}

impl Ceremony {
    fn as_str(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::Login => "login",
        }
    }
}

/// A registered passkey as stored.
#[derive(Debug, Clone)]
pub struct StoredPasskey {
    /// The credential id, base64url without padding (as browsers show it).
    pub id: String,
    /// Its owner.
    pub user_id: String,
    /// A label the user chose.
    pub name: String,
    /// The crate's encoded static state: the public key and the extensions it was made with.
    pub static_state: Vec<u8>,
    /// The crate's encoded dynamic state: sign count, user verified, backup, attachment.
    pub dynamic_state: Vec<u8>,
    /// The signature counter (also inside `dynamic_state`; here to list it).
    pub sign_count: i64,
    /// The transports the authenticator reported, as the crate encodes them.
    pub transports: u8,
    /// The COSE algorithm name of the public key (`ES256`, `EdDSA`, ...).
    pub algorithm: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339, set by each login with it.
    pub last_used_at: Option<String>,
}

fn cred_key(id: &str) -> String {
    format!("CRED#{id}")
}

fn ceremony_key(challenge: &str) -> String {
    format!("CEREMONY#{challenge}")
}

fn blob(bytes: &[u8]) -> AttributeValue {
    AttributeValue::B(Blob::new(bytes))
}

fn get_blob(item: &Item, key: &str) -> Result<Vec<u8>, StoreError> {
    match item.get(key) {
        Some(AttributeValue::B(b)) => Ok(b.as_ref().to_vec()),
        _ => Err(StoreError::malformed(key, "binary")),
    }
}

impl TryFrom<&Item> for StoredPasskey {
    type Error = StoreError;

    fn try_from(item: &Item) -> Result<Self, StoreError> {
        let pk = get_s(item, "pk")?;
        let id = pk
            .strip_prefix("CRED#")
            .ok_or_else(|| StoreError::malformed("pk", "CRED# key"))?
            .to_owned();
        let transports = u8::try_from(get_n(item, "transports")?)
            .map_err(|_| StoreError::malformed("transports", "u8"))?;
        Ok(Self {
            id,
            user_id: get_s(item, "user_id")?,
            name: get_s(item, "name")?,
            static_state: get_blob(item, "static_state")?,
            dynamic_state: get_blob(item, "dynamic_state")?,
            sign_count: get_n(item, "sign_count")?,
            transports,
            algorithm: get_s(item, "algorithm")?,
            created_at: get_s(item, "created_at")?,
            last_used_at: opt_s(item, "last_used_at")?,
        })
    }
}

/// The passkeys table.
#[derive(Debug, Clone)]
pub struct PasskeyStore {
    client: Client,
    table: String,
}

impl PasskeyStore {
    /// Repository over `table`.
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }

    /// Keeps a started ceremony's state until `expires_at` (epoch seconds).
    pub async fn put_ceremony(
        &self,
        kind: Ceremony,
        challenge: &str,
        state: &[u8],
        owner: Option<&str>,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(ceremony_key(challenge)))
            .item("kind", s(kind.as_str()))
            .item("state", blob(state))
            .item("expires_at", n(expires_at))
            // A challenge is 128 random bits: a collision is a bug, never an overwrite.
            .condition_expression("attribute_not_exists(pk)");
        if let Some(owner) = owner {
            put = put.item("owner", s(owner));
        }
        put.send().await?;
        Ok(())
    }

    /// Takes a ceremony's state out, once: the delete is conditioned on the ceremony being of
    /// `kind`, unexpired and (for a registration) `owner`'s, so of two finishes racing with one
    /// challenge exactly one gets the state. `None`: unknown, used, expired or someone else's.
    pub async fn take_ceremony(
        &self,
        kind: Ceremony,
        challenge: &str,
        owner: Option<&str>,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let mut condition =
            "attribute_exists(pk) AND kind = :kind AND expires_at > :now".to_owned();
        let mut delete = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(ceremony_key(challenge)))
            .expression_attribute_values(":kind", s(kind.as_str()))
            .expression_attribute_values(":now", n(now_s()))
            .return_values(ReturnValue::AllOld);
        if let Some(owner) = owner {
            condition.push_str(" AND #owner = :owner");
            delete = delete
                .expression_attribute_names("#owner", "owner")
                .expression_attribute_values(":owner", s(owner));
        }
        match delete.condition_expression(condition).send().await {
            Ok(out) => match out.attributes {
                Some(item) => get_blob(&item, "state").map(Some),
                None => Ok(None),
            },
            Err(err) => match StoreError::from(err) {
                StoreError::ConditionFailed => Ok(None),
                other => Err(other),
            },
        }
    }

    /// Stores a new passkey; `false` when its credential id is registered already.
    pub async fn create(&self, p: &StoredPasskey) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(cred_key(&p.id)))
            .item("user_id", s(&p.user_id))
            .item("name", s(&p.name))
            .item("static_state", blob(&p.static_state))
            .item("dynamic_state", blob(&p.dynamic_state))
            .item("sign_count", n(p.sign_count))
            .item("transports", n(i64::from(p.transports)))
            .item("algorithm", s(&p.algorithm))
            .item("created_at", s(&p.created_at))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) => match StoreError::from(err) {
                StoreError::ConditionFailed => Ok(false),
                other => Err(other),
            },
        }
    }

    /// One passkey by credential id (base64url).
    pub async fn get(&self, id: &str) -> Result<Option<StoredPasskey>, StoreError> {
        let item = shared::dynamo::get(&self.client, &self.table, cred_key(id)).await?;
        item.as_ref().map(StoredPasskey::try_from).transpose()
    }

    /// Every passkey of `user_id`, oldest first.
    pub async fn list(&self, user_id: &str) -> Result<Vec<StoredPasskey>, StoreError> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name("by_user")
                .key_condition_expression("user_id = :u")
                .expression_attribute_values(":u", s(user_id))
                .set_exclusive_start_key(start.take())
                .send()
                .await?;
            for item in page.items() {
                out.push(StoredPasskey::try_from(item)?);
            }
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        out.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    /// Records a login: the new dynamic state and count, only if the stored state is still the
    /// one verified against (`false` otherwise: another login with this passkey won the race).
    pub async fn record_use(
        &self,
        id: &str,
        seen_state: &[u8],
        state: &[u8],
        sign_count: i64,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(cred_key(id)))
            .update_expression(
                "SET dynamic_state = :state, sign_count = :count, last_used_at = :at",
            )
            .condition_expression("attribute_exists(pk) AND dynamic_state = :seen")
            .expression_attribute_values(":state", blob(state))
            .expression_attribute_values(":seen", blob(seen_state))
            .expression_attribute_values(":count", n(sign_count))
            .expression_attribute_values(":at", s(now_rfc3339()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) => match StoreError::from(err) {
                StoreError::ConditionFailed => Ok(false),
                other => Err(other),
            },
        }
    }

    /// Renames `user_id`'s passkey; `None` when it has none by that id.
    pub async fn rename(
        &self,
        user_id: &str,
        id: &str,
        name: &str,
    ) -> Result<Option<StoredPasskey>, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(cred_key(id)))
            .update_expression("SET #name = :name")
            .condition_expression("user_id = :u")
            .expression_attribute_names("#name", "name")
            .expression_attribute_values(":name", s(name))
            .expression_attribute_values(":u", s(user_id))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => out
                .attributes
                .as_ref()
                .map(StoredPasskey::try_from)
                .transpose(),
            Err(err) => match StoreError::from(err) {
                StoreError::ConditionFailed => Ok(None),
                other => Err(other),
            },
        }
    }

    /// Deletes `user_id`'s passkey; `false` when it has none by that id.
    pub async fn delete(&self, user_id: &str, id: &str) -> Result<bool, StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(cred_key(id)))
            .condition_expression("user_id = :u")
            .expression_attribute_values(":u", s(user_id))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) => match StoreError::from(err) {
                StoreError::ConditionFailed => Ok(false),
                other => Err(other),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item() -> Item {
        Item::from([
            ("pk".to_owned(), s("CRED#AbC")),
            ("user_id".to_owned(), s("u1")),
            ("name".to_owned(), s("Laptop")),
            ("static_state".to_owned(), blob(&[1, 2, 3])),
            ("dynamic_state".to_owned(), blob(&[0; 7])),
            ("sign_count".to_owned(), n(3)),
            ("transports".to_owned(), n(4)),
            ("algorithm".to_owned(), s("ES256")),
            ("created_at".to_owned(), s("2026-12-05T00:00:00Z")),
        ])
    }

    #[test]
    fn a_stored_passkey_reads_back_with_its_id_from_the_key() {
        let p = StoredPasskey::try_from(&item()).unwrap();
        assert_eq!((p.id.as_str(), p.sign_count, p.transports), ("AbC", 3, 4));
        assert!(p.last_used_at.is_none());
    }

    #[test]
    fn a_garbled_passkey_item_fails_closed() {
        let mut ceremony = item();
        ceremony.insert("pk".to_owned(), s("CEREMONY#x"));
        assert!(StoredPasskey::try_from(&ceremony).is_err());
        let mut no_key = item();
        no_key.insert("static_state".to_owned(), s("not binary"));
        assert!(StoredPasskey::try_from(&no_key).is_err());
        let mut wide = item();
        wide.insert("transports".to_owned(), n(300));
        assert!(StoredPasskey::try_from(&wide).is_err());
    }
}
