//! The factor item, in the users table: `MFA#<user id>` (users' admin reset deletes it by that
//! key too). It holds the sealed TOTP secret, when it was enrolled and confirmed, the last time
//! step accepted, and the recovery codes' hashes. Every write is conditional on the secret the
//! request checked a code against, so a disable and a re-enrolment meanwhile are never written
//! over; a step is spent by `last_step < :step`, a recovery code by removing it from the set.

use std::fmt;

use aws_sdk_dynamodb::{
    Client,
    operation::transact_write_items::TransactWriteItemsError,
    types::{AttributeValue, Put, TransactWriteItem, Update, builders::UpdateBuilder},
};
use identity::store::revoked::used_key;
use shared::{
    clock::now_rfc3339,
    dynamo::{self, Item, StoreError, get_s, n, opt_n, opt_s, s},
};

use super::keys::Sealed;

/// The key of user `id`'s factor item.
pub fn factor_key(user_id: &str) -> String {
    format!("MFA#{user_id}")
}

/// A stored TOTP factor.
#[derive(Clone)]
pub struct Factor {
    /// Its user.
    pub user_id: String,
    /// The secret, sealed.
    pub sealed: Sealed,
    /// RFC 3339: when enrolment started.
    pub created_at: String,
    /// RFC 3339: when a first code confirmed it; `None` while pending.
    pub confirmed_at: Option<String>,
    /// The last time step a code was accepted for.
    pub last_step: Option<u64>,
    /// Hashes of the recovery codes not spent yet.
    pub recovery: Vec<String>,
}

impl fmt::Debug for Factor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Factor")
            .field("user_id", &self.user_id)
            .field("confirmed_at", &self.confirmed_at)
            .field("last_step", &self.last_step)
            .field("recovery_codes_left", &self.recovery.len())
            .finish_non_exhaustive()
    }
}

impl Factor {
    /// Whether a code confirmed it.
    pub fn is_confirmed(&self) -> bool {
        self.confirmed_at.is_some()
    }
}

impl TryFrom<&Item> for Factor {
    type Error = StoreError;

    fn try_from(item: &Item) -> Result<Self, StoreError> {
        let recovery = match item.get("recovery") {
            None => Vec::new(),
            Some(AttributeValue::Ss(set)) => set.clone(),
            Some(_) => return Err(StoreError::malformed("recovery", "string set")),
        };
        let last_step = opt_n(item, "last_step")?
            .map(|step| u64::try_from(step).map_err(|_| StoreError::malformed("last_step", "step")))
            .transpose()?;
        Ok(Self {
            user_id: get_s(item, "user_id")?,
            sealed: Sealed {
                kid: get_s(item, "kid")?,
                blob: get_s(item, "secret")?,
            },
            created_at: get_s(item, "created_at")?,
            confirmed_at: opt_s(item, "confirmed_at")?,
            last_step,
            recovery,
        })
    }
}

/// What proves the factor in a write: a time step not used yet, or a recovery code not spent.
#[derive(Debug, Clone)]
pub enum Proof {
    /// The step a TOTP code matched.
    Step(u64),
    /// The hash of a recovery code.
    Recovery(String),
}

/// How a login's second step went in the store.
#[derive(Debug)]
pub enum Exchange {
    /// The proof is spent and the `mfa_token` with it.
    Done,
    /// The step or recovery code was spent meanwhile (or the factor changed): a replay.
    ProofSpent,
    /// The `mfa_token` was exchanged already.
    TokenSpent,
}

/// A confirmed factor, still sealed as the request read it, whose step `:step` is later than
/// any accepted.
const STEP_UNUSED: &str = "#secret = :secret AND attribute_exists(confirmed_at) \
     AND (attribute_not_exists(last_step) OR last_step < :step)";

/// A confirmed factor, still sealed as the request read it, holding recovery code `:code`.
const CODE_UNSPENT: &str =
    "#secret = :secret AND attribute_exists(confirmed_at) AND contains(recovery, :code)";

fn step_value(step: u64) -> AttributeValue {
    n(i64::try_from(step).unwrap_or(i64::MAX))
}

/// The factor items, and the single-use marks of `mfa_token`s.
#[derive(Debug, Clone)]
pub struct Factors {
    client: Client,
    users_table: String,
    revoked_table: String,
}

impl Factors {
    /// The store over the users table and the revoked-tokens table.
    pub fn new(client: Client, users_table: String, revoked_table: String) -> Self {
        Self {
            client,
            users_table,
            revoked_table,
        }
    }

    /// User `user_id`'s factor, pending or confirmed.
    pub async fn get(&self, user_id: &str) -> Result<Option<Factor>, StoreError> {
        let item = dynamo::get(&self.client, &self.users_table, factor_key(user_id)).await?;
        item.as_ref().map(Factor::try_from).transpose()
    }

    /// Starts (or restarts) an enrolment with `sealed`, unless a confirmed factor exists:
    /// `false` then.
    pub async fn put_pending(&self, user_id: &str, sealed: &Sealed) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.users_table)
            .item("pk", s(factor_key(user_id)))
            .item("entity", s("MFA"))
            .item("user_id", s(user_id))
            .item("kid", s(&sealed.kid))
            .item("secret", s(&sealed.blob))
            .item("created_at", s(now_rfc3339()))
            .condition_expression("attribute_not_exists(pk) OR attribute_not_exists(confirmed_at)")
            .send()
            .await;
        dynamo::applied(result.map_err(StoreError::from))
    }

    /// Confirms the pending factor sealed as `sealed` with the step its first code matched,
    /// and stores the recovery codes' hashes: `false` when it is no longer that pending factor
    /// (re-enrolled, confirmed or removed meanwhile).
    pub async fn confirm(
        &self,
        user_id: &str,
        sealed: &Sealed,
        step: u64,
        hashes: Vec<String>,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.users_table)
            .key("pk", s(factor_key(user_id)))
            .update_expression("SET confirmed_at = :now, last_step = :step, recovery = :codes")
            .condition_expression("#secret = :secret AND attribute_not_exists(confirmed_at)")
            .expression_attribute_names("#secret", "secret")
            .expression_attribute_values(":secret", s(&sealed.blob))
            .expression_attribute_values(":now", s(now_rfc3339()))
            .expression_attribute_values(":step", step_value(step))
            .expression_attribute_values(":codes", AttributeValue::Ss(hashes))
            .send()
            .await;
        dynamo::applied(result.map_err(StoreError::from))
    }

    /// The update that spends `proof` on the confirmed factor sealed as `sealed`; with `fresh`,
    /// the recovery codes are replaced by those hashes in the same write.
    fn spend(
        &self,
        user_id: &str,
        sealed: &Sealed,
        proof: &Proof,
        fresh: Option<Vec<String>>,
    ) -> UpdateBuilder {
        let mut update = Update::builder()
            .table_name(&self.users_table)
            .key("pk", s(factor_key(user_id)))
            .expression_attribute_names("#secret", "secret")
            .expression_attribute_values(":secret", s(&sealed.blob));
        let mut sets = Vec::new();
        let mut delete = None;
        let condition = match proof {
            Proof::Step(step) => {
                update = update.expression_attribute_values(":step", step_value(*step));
                sets.push("last_step = :step");
                STEP_UNUSED
            }
            Proof::Recovery(hash) => {
                update = update.expression_attribute_values(":code", s(hash));
                if fresh.is_none() {
                    update = update.expression_attribute_values(
                        ":spent",
                        AttributeValue::Ss(vec![hash.clone()]),
                    );
                    delete = Some("DELETE recovery :spent");
                }
                CODE_UNSPENT
            }
        };
        if let Some(hashes) = fresh {
            update = update.expression_attribute_values(":fresh", AttributeValue::Ss(hashes));
            sets.push("recovery = :fresh");
        }
        let mut expression = Vec::new();
        if !sets.is_empty() {
            expression.push(format!("SET {}", sets.join(", ")));
        }
        expression.extend(delete.map(str::to_owned));
        update
            .update_expression(expression.join(" "))
            .condition_expression(condition)
    }

    /// A login's second step: spends `proof` and marks `mfa_token` `jti` used (until `exp`), in
    /// one transaction, so neither is spent without the other.
    pub async fn exchange(
        &self,
        factor: &Factor,
        proof: &Proof,
        jti: &str,
        exp: i64,
    ) -> Result<Exchange, StoreError> {
        let spend = self
            .spend(&factor.user_id, &factor.sealed, proof, None)
            .build()?;
        let mark = Put::builder()
            .table_name(&self.revoked_table)
            .item("pk", s(used_key(jti)))
            .item("expires_at", n(exp))
            .condition_expression("attribute_not_exists(pk)")
            .build()?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(spend).build())
            .transact_items(TransactWriteItem::builder().put(mark).build())
            .send()
            .await;
        let Err(err) = result else {
            return Ok(Exchange::Done);
        };
        if let Some(TransactWriteItemsError::TransactionCanceledException(e)) =
            err.as_service_error()
        {
            let failed = |i: usize| {
                e.cancellation_reasons().get(i).and_then(|r| r.code())
                    == Some("ConditionalCheckFailed")
            };
            if failed(1) {
                return Ok(Exchange::TokenSpent);
            }
            if failed(0) {
                return Ok(Exchange::ProofSpent);
            }
        }
        if let Some(TransactWriteItemsError::TransactionCanceledException(e)) =
            err.as_service_error()
        {
            // A conflicting transaction or throttling: ours to retry, never the client's fault.
            let codes: Vec<&str> = e
                .cancellation_reasons()
                .iter()
                .filter_map(|r| r.code())
                .collect();
            return Err(StoreError::Unavailable(anyhow::anyhow!(
                "transaction cancelled: {codes:?}"
            )));
        }
        Err(StoreError::from(err))
    }

    /// Replaces the recovery codes with `hashes`, spending `proof`: `false` when the proof was
    /// spent meanwhile.
    pub async fn replace_recovery(
        &self,
        factor: &Factor,
        proof: &Proof,
        hashes: Vec<String>,
    ) -> Result<bool, StoreError> {
        let update = self
            .spend(&factor.user_id, &factor.sealed, proof, Some(hashes))
            .build()?;
        let result = dynamo::transact(
            &self.client,
            vec![TransactWriteItem::builder().update(update).build()],
        )
        .await;
        dynamo::applied(result)
    }

    /// Removes the factor, if `proof` is still unspent on it: `false` otherwise.
    pub async fn remove(&self, factor: &Factor, proof: &Proof) -> Result<bool, StoreError> {
        let mut request = self
            .client
            .delete_item()
            .table_name(&self.users_table)
            .key("pk", s(factor_key(&factor.user_id)))
            .expression_attribute_names("#secret", "secret")
            .expression_attribute_values(":secret", s(&factor.sealed.blob));
        let condition = match proof {
            Proof::Step(step) => {
                request = request.expression_attribute_values(":step", step_value(*step));
                STEP_UNUSED
            }
            Proof::Recovery(hash) => {
                request = request.expression_attribute_values(":code", s(hash));
                CODE_UNSPENT
            }
        };
        let result = request.condition_expression(condition).send().await;
        dynamo::applied(result.map_err(StoreError::from))
    }
}
