//! DynamoDB plumbing every store shares: attribute conversion, one store error type, and the
//! three request shapes (get, conditional write, transaction) with their errors classified once.
//!
//! Stores return [`StoreError`], never HTTP errors; handlers decide what a failed condition means
//! (`From<StoreError> for ApiError` gives the defaults, so `?` works).
//!
//! Reading is fail-closed: a missing or malformed attribute is an error, never a silent 0, `false`
//! or empty string.

use std::collections::HashMap;

use aws_sdk_dynamodb::{
    Client,
    operation::{
        query::QueryOutput, transact_write_items::TransactWriteItemsError,
        update_item::UpdateItemError,
    },
    types::{AttributeValue, TransactWriteItem},
};

use crate::error::{ApiError, ErrorCode, ProvideErrorMetadata, SdkError, SdkFailure};

/// One item as the SDK returns it.
pub type Item = HashMap<String, AttributeValue>;

/// One page of a `Query`: its items, parsed, and where the next page starts.
#[derive(Debug)]
pub struct Page<T> {
    /// The items of this page, in the query's order.
    pub items: Vec<T>,
    /// The query's `LastEvaluatedKey`, when there is more.
    pub next: Option<Item>,
}

impl<T> Page<T>
where
    T: for<'a> TryFrom<&'a Item, Error = StoreError>,
{
    /// The page a `Query` answered, each item parsed; one malformed item fails it.
    pub fn parse(out: QueryOutput) -> Result<Self, StoreError> {
        Ok(Self {
            items: out
                .items()
                .iter()
                .map(T::try_from)
                .collect::<Result<_, _>>()?,
            next: out.last_evaluated_key,
        })
    }
}

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A condition did not hold (taken, used, changed meanwhile); nothing was written.
    #[error("a condition did not hold")]
    ConditionFailed,
    /// The item does not exist (or is deleted).
    #[error("not found")]
    NotFound,
    /// Throttling, a timeout, a conflicting transaction: retry later (503).
    #[error("store unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// Anything else, including a stored item we cannot read: our bug (500).
    #[error("store error")]
    Internal(#[source] anyhow::Error),
}

impl StoreError {
    /// An item that lacks an attribute or holds one of the wrong type.
    pub fn malformed(key: &str, expected: &str) -> Self {
        Self::Internal(anyhow::anyhow!(
            "stored item has no readable {expected} attribute `{key}`"
        ))
    }
}

impl<E, R> From<SdkError<E, R>> for StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    fn from(err: SdkError<E, R>) -> Self {
        let code = err.as_service_error().and_then(|e| e.code());
        if code == Some("ConditionalCheckFailedException") {
            return Self::ConditionFailed;
        }
        match SdkFailure::from(err) {
            SdkFailure::Transient(err) => Self::Unavailable(err),
            SdkFailure::Permanent(err) => Self::Internal(err),
        }
    }
}

impl From<aws_smithy_types::error::operation::BuildError> for StoreError {
    fn from(err: aws_smithy_types::error::operation::BuildError) -> Self {
        Self::Internal(anyhow::anyhow!("building a DynamoDB request: {err}"))
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::ConditionFailed => ErrorCode::Conflict.into(),
            StoreError::NotFound => ErrorCode::NotFound.into(),
            StoreError::Unavailable(e) => ApiError::Unavailable(e),
            StoreError::Internal(e) => ApiError::Internal(e),
        }
    }
}

/// Turns "a condition did not hold" into `Ok(false)`: for writes whose failed condition is an
/// expected outcome (already used, changed meanwhile), not an error.
pub fn applied<T>(result: Result<T, StoreError>) -> Result<bool, StoreError> {
    match result {
        Ok(_) => Ok(true),
        Err(StoreError::ConditionFailed) => Ok(false),
        Err(err) => Err(err),
    }
}

/// `GetItem` by `pk`, strongly consistent.
pub async fn get(client: &Client, table: &str, pk: String) -> Result<Option<Item>, StoreError> {
    let out = client
        .get_item()
        .table_name(table)
        .key("pk", s(pk))
        .consistent_read(true)
        .send()
        .await?;
    Ok(out.item)
}

/// `TransactWriteItems`, classified by its cancellation reasons: only `ConditionalCheckFailed`
/// is [`StoreError::ConditionFailed`]; a `TransactionConflict` or throttling is not the client's
/// doing and must not turn into a 409 or an "invalid token".
pub async fn transact(client: &Client, items: Vec<TransactWriteItem>) -> Result<(), StoreError> {
    let Err(err) = client
        .transact_write_items()
        .set_transact_items(Some(items))
        .send()
        .await
    else {
        return Ok(());
    };
    if let Some(TransactWriteItemsError::TransactionCanceledException(e)) = err.as_service_error() {
        let reasons = e.cancellation_reasons();
        if reasons.is_empty()
            || reasons
                .iter()
                .any(|r| r.code() == Some("ConditionalCheckFailed"))
        {
            return Err(StoreError::ConditionFailed);
        }
        let codes: Vec<&str> = reasons.iter().filter_map(|r| r.code()).collect();
        return Err(StoreError::Unavailable(anyhow::anyhow!(
            "transaction cancelled: {codes:?}"
        )));
    }
    Err(err.into())
}

/// How counting one more in a window went.
#[derive(Debug)]
pub enum Counted {
    /// Counted: `count` so far in this window, this one included.
    Added(i64),
    /// Not counted: the limit (or the extra condition) refused it. The item as it was, when the
    /// store returns it.
    Refused(Option<Item>),
}

/// Counts one more on the window item `pk` in one conditional `UpdateItem`: `ADD count :1`
/// (setting `expires_at`, the TTL, once) unless `count` reached `limit` or `extra` (a condition
/// and its values) fails. The one primitive behind the rate limiter and the identity counters.
pub async fn count_one(
    client: &Client,
    table: &str,
    pk: String,
    limit: i64,
    expires_at: i64,
    extra: Option<(&str, &[(&str, AttributeValue)])>,
) -> Result<Counted, StoreError> {
    let mut condition = "(attribute_not_exists(#c) OR #c < :limit)".to_owned();
    let mut request = client
        .update_item()
        .table_name(table)
        .key("pk", s(pk))
        .update_expression("ADD #c :one SET expires_at = if_not_exists(expires_at, :expires)")
        .expression_attribute_names("#c", "count")
        .expression_attribute_values(":one", n(1))
        .expression_attribute_values(":expires", n(expires_at))
        .expression_attribute_values(":limit", n(limit))
        .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
        .return_values_on_condition_check_failure(
            aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
        );
    if let Some((extra, values)) = extra {
        condition = format!("{condition} AND ({extra})");
        for (name, value) in values {
            request = request.expression_attribute_values(*name, value.clone());
        }
    }
    match request.condition_expression(condition).send().await {
        Ok(out) => {
            let count = out.attributes().map(|i| opt_n(i, "count")).transpose()?;
            Ok(Counted::Added(count.flatten().unwrap_or(1)))
        }
        Err(err) => match err.as_service_error() {
            Some(UpdateItemError::ConditionalCheckFailedException(e)) => {
                Ok(Counted::Refused(e.item.clone()))
            }
            _ => Err(err.into()),
        },
    }
}

/// A condition an item must also meet, with the names and values its expression uses.
#[derive(Debug, Clone, Default)]
pub struct Guard {
    /// The condition expression (`deleted = :f AND ...`).
    pub condition: String,
    /// Its `#name` placeholders.
    pub names: Vec<(String, String)>,
    /// Its `:value` placeholders.
    pub values: Vec<(String, AttributeValue)>,
}

/// One request to count in a map attribute of an item that exists for another reason (the
/// caller's own record), under that item's own [`Guard`]: the counter and the check of the item
/// are one write.
#[derive(Debug)]
pub struct MapCount<'a> {
    /// The table.
    pub table: &'a str,
    /// The item's `pk`.
    pub pk: String,
    /// The map attribute the counters live in.
    pub map: &'a str,
    /// This window's key in the map.
    pub slot: &'a str,
    /// The previous window's key, removed in the same write.
    pub previous: &'a str,
    /// The most the slot may count.
    pub limit: i64,
    /// What the item must meet for the request to count.
    pub guard: &'a Guard,
}

/// How counting in a map went.
#[derive(Debug)]
pub enum MapCounted {
    /// Counted: `count` in the slot so far, this one included; the item after the write.
    Added {
        /// The slot's count.
        count: i64,
        /// The whole item as written (`ALL_NEW`).
        item: Item,
    },
    /// Not counted: the limit or the guard refused it. The item as it was (`None`: no item).
    Refused(Option<Item>),
}

/// Counts one more in `c.slot` of the map `c.map` on item `c.pk`, in one conditional
/// `UpdateItem` that also removes the previous window's slot and returns the whole item:
/// `ALL_NEW` when it counted, `ALL_OLD` when the limit or the guard refused it, so the caller
/// tells one from the other without a second read. An item written before the map existed
/// (DynamoDB refuses a `SET` below a missing map) gets the map in a second write, once.
pub async fn count_in_map(client: &Client, c: &MapCount<'_>) -> Result<MapCounted, StoreError> {
    if let Some(done) = count_in_existing_map(client, c).await? {
        return Ok(done);
    }
    match start_map(client, c).await? {
        // Another request made the map meanwhile: count in it.
        MapCounted::Refused(Some(old)) if old.contains_key(c.map) => {
            Ok(count_in_existing_map(client, c)
                .await?
                .unwrap_or(MapCounted::Refused(Some(old))))
        }
        done => Ok(done),
    }
}

/// The expression names and values every counting write shares.
fn map_request(
    client: &Client,
    c: &MapCount<'_>,
) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
    let mut request = client
        .update_item()
        .table_name(c.table)
        .key("pk", s(c.pk.clone()))
        .expression_attribute_names("#map", c.map)
        .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
        .return_values_on_condition_check_failure(
            aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
        );
    for (name, value) in &c.guard.names {
        request = request.expression_attribute_names(name, value);
    }
    for (name, value) in &c.guard.values {
        request = request.expression_attribute_values(name, value.clone());
    }
    request
}

fn guarded(condition: &str, guard: &Guard) -> String {
    if guard.condition.is_empty() {
        condition.to_owned()
    } else {
        format!("{condition} AND ({})", guard.condition)
    }
}

/// `None`: the item has no map yet (its condition failed on that, or DynamoDB refused the
/// path below it before the condition).
async fn count_in_existing_map(
    client: &Client,
    c: &MapCount<'_>,
) -> Result<Option<MapCounted>, StoreError> {
    let request = map_request(client, c)
        .update_expression(
            "SET #map.#slot = if_not_exists(#map.#slot, :zero) + :one REMOVE #map.#prev",
        )
        .expression_attribute_names("#slot", c.slot)
        .expression_attribute_names("#prev", c.previous)
        .expression_attribute_values(":zero", n(0))
        .expression_attribute_values(":one", n(1))
        .expression_attribute_values(":limit", n(c.limit))
        .condition_expression(guarded(
            "attribute_exists(#map) AND (attribute_not_exists(#map.#slot) OR #map.#slot < :limit)",
            c.guard,
        ));
    let sent = request.send().await;
    if let Err(err) = &sent
        && err.as_service_error().and_then(|e| e.code()) == Some("ValidationException")
        && err
            .as_service_error()
            .and_then(|e| e.message())
            .is_some_and(|m| m.contains("document path"))
    {
        return Ok(None);
    }
    Ok(match map_outcome(c, sent)? {
        MapCounted::Refused(Some(old)) if !old.contains_key(c.map) => None,
        done => Some(done),
    })
}

async fn start_map(client: &Client, c: &MapCount<'_>) -> Result<MapCounted, StoreError> {
    let fresh = AttributeValue::M(HashMap::from([(c.slot.to_owned(), n(1))]));
    let request = map_request(client, c)
        .update_expression("SET #map = :fresh")
        .expression_attribute_values(":fresh", fresh)
        .condition_expression(guarded(
            "attribute_exists(pk) AND attribute_not_exists(#map)",
            c.guard,
        ));
    map_outcome(c, request.send().await)
}

fn map_outcome(
    c: &MapCount<'_>,
    sent: Result<
        aws_sdk_dynamodb::operation::update_item::UpdateItemOutput,
        SdkError<UpdateItemError, aws_smithy_runtime_api::client::orchestrator::HttpResponse>,
    >,
) -> Result<MapCounted, StoreError> {
    match sent {
        Ok(out) => {
            let item = out.attributes.unwrap_or_default();
            let count = match item.get(c.map) {
                Some(AttributeValue::M(slots)) => match slots.get(c.slot) {
                    Some(AttributeValue::N(v)) => v.parse().ok(),
                    _ => None,
                },
                _ => None,
            };
            let count = count.ok_or_else(|| StoreError::malformed(c.map, "counter map"))?;
            Ok(MapCounted::Added { count, item })
        }
        Err(err) => match err.as_service_error() {
            Some(UpdateItemError::ConditionalCheckFailedException(e)) => {
                Ok(MapCounted::Refused(e.item.clone()))
            }
            _ => Err(err.into()),
        },
    }
}

/// Removes `keys` from the map attribute `map` of item `pk`, if the item still exists (never
/// creates one).
pub async fn remove_map_keys(
    client: &Client,
    table: &str,
    pk: String,
    map: &str,
    keys: &[String],
) -> Result<(), StoreError> {
    if keys.is_empty() {
        return Ok(());
    }
    let mut request = client
        .update_item()
        .table_name(table)
        .key("pk", s(pk))
        .expression_attribute_names("#map", map)
        .condition_expression("attribute_exists(#map)");
    let mut paths = Vec::with_capacity(keys.len());
    for (i, key) in keys.iter().enumerate() {
        request = request.expression_attribute_names(format!("#k{i}"), key);
        paths.push(format!("#map.#k{i}"));
    }
    let result = request
        .update_expression(format!("REMOVE {}", paths.join(", ")))
        .send()
        .await;
    applied(result.map_err(StoreError::from)).map(drop)
}

/// `S` attribute.
pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// `N` attribute.
pub fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// `BOOL` attribute.
pub fn b(value: bool) -> AttributeValue {
    AttributeValue::Bool(value)
}

/// `L` of `S`.
pub fn list(values: &[String]) -> AttributeValue {
    AttributeValue::L(values.iter().map(|v| s(v.clone())).collect())
}

/// A required string attribute.
pub fn get_s(item: &Item, key: &str) -> Result<String, StoreError> {
    match item.get(key) {
        Some(AttributeValue::S(v)) => Ok(v.clone()),
        _ => Err(StoreError::malformed(key, "string")),
    }
}

/// An optional string attribute; one of another type is an error.
pub fn opt_s(item: &Item, key: &str) -> Result<Option<String>, StoreError> {
    match item.get(key) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::S(v)) => Ok(Some(v.clone())),
        Some(_) => Err(StoreError::malformed(key, "string")),
    }
}

/// A required number attribute.
pub fn get_n(item: &Item, key: &str) -> Result<i64, StoreError> {
    opt_n(item, key)?.ok_or_else(|| StoreError::malformed(key, "number"))
}

/// An optional number attribute; a garbled one is an error, never 0.
pub fn opt_n(item: &Item, key: &str) -> Result<Option<i64>, StoreError> {
    match item.get(key) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::N(v)) => v
            .parse()
            .map(Some)
            .map_err(|_| StoreError::malformed(key, "integer")),
        Some(_) => Err(StoreError::malformed(key, "number")),
    }
}

/// A required boolean attribute.
pub fn get_b(item: &Item, key: &str) -> Result<bool, StoreError> {
    match item.get(key) {
        Some(AttributeValue::Bool(v)) => Ok(*v),
        _ => Err(StoreError::malformed(key, "boolean")),
    }
}

/// A string list (`L` of `S`, or `SS`); absent is empty, anything else an error.
pub fn get_list(item: &Item, key: &str) -> Result<Vec<String>, StoreError> {
    match item.get(key) {
        None => Ok(Vec::new()),
        Some(AttributeValue::L(values)) => values
            .iter()
            .map(|v| {
                v.as_s()
                    .cloned()
                    .map_err(|_| StoreError::malformed(key, "string list"))
            })
            .collect(),
        Some(AttributeValue::Ss(values)) => Ok(values.clone()),
        Some(_) => Err(StoreError::malformed(key, "string list")),
    }
}

/// The string key attributes of a page boundary, sorted (for signed cursors).
pub fn key_to_strings(key: &Item) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = key
        .iter()
        .filter_map(|(k, v)| match v {
            AttributeValue::S(s) => Some((k.clone(), s.clone())),
            _ => None,
        })
        .collect();
    pairs.sort();
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(pairs: &[(&str, AttributeValue)]) -> Item {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    #[test]
    fn a_garbled_or_missing_number_is_an_error_not_zero() {
        let garbled = item(&[
            ("expires_at", s("soon")),
            ("n", AttributeValue::N("x".into())),
        ]);
        assert!(get_n(&garbled, "expires_at").is_err());
        assert!(get_n(&garbled, "n").is_err());
        assert!(opt_n(&garbled, "n").is_err());
        assert!(get_n(&item(&[]), "expires_at").is_err());
        assert_eq!(opt_n(&item(&[]), "expires_at").unwrap(), None);
        assert_eq!(get_n(&item(&[("n", n(42))]), "n").unwrap(), 42);
    }

    #[test]
    fn strings_and_booleans_of_the_wrong_type_are_errors() {
        let wrong = item(&[("name", n(1)), ("flag", s("true"))]);
        assert!(get_s(&wrong, "name").is_err());
        assert!(opt_s(&wrong, "name").is_err());
        assert!(get_b(&wrong, "flag").is_err());
        assert!(get_b(&item(&[]), "flag").is_err());
        assert!(get_list(&wrong, "name").is_err());
    }

    #[test]
    fn a_failed_condition_is_an_outcome_for_applied() {
        assert!(applied(Ok::<_, StoreError>(())).unwrap());
        assert!(!applied::<()>(Err(StoreError::ConditionFailed)).unwrap());
        assert!(applied::<()>(Err(StoreError::NotFound)).is_err());
    }

    #[test]
    fn store_errors_map_to_their_http_defaults() {
        let status = |e: StoreError| ApiError::from(e).status().as_u16();
        assert_eq!(status(StoreError::ConditionFailed), 409);
        assert_eq!(status(StoreError::NotFound), 404);
        assert_eq!(status(StoreError::Unavailable(anyhow::anyhow!("x"))), 503);
        assert_eq!(status(StoreError::Internal(anyhow::anyhow!("x"))), 500);
    }
}
