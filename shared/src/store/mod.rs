//! DynamoDB repositories. Every write that must not clobber state is conditional, and every
//! multi-item change is one `TransactWriteItems`.

pub mod counters;
pub mod sessions;
pub mod tokens;
pub mod users;

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::error::ApiError;

/// One item as the SDK returns it.
pub type Item = HashMap<String, AttributeValue>;

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

/// A string attribute, or a 500 naming it: a stored item missing it is our bug.
pub fn get_s(item: &Item, key: &str) -> Result<String, ApiError> {
    match item.get(key) {
        Some(AttributeValue::S(v)) => Ok(v.clone()),
        _ => Err(ApiError::Internal(anyhow::anyhow!(
            "stored item lacks string {key}"
        ))),
    }
}

/// An optional string attribute.
pub fn opt_s(item: &Item, key: &str) -> Option<String> {
    match item.get(key) {
        Some(AttributeValue::S(v)) => Some(v.clone()),
        _ => None,
    }
}

/// A number attribute, 0 when absent.
pub fn get_n(item: &Item, key: &str) -> i64 {
    match item.get(key) {
        Some(AttributeValue::N(v)) => v.parse().unwrap_or(0),
        _ => 0,
    }
}

/// A boolean attribute, false when absent.
pub fn get_b(item: &Item, key: &str) -> bool {
    matches!(item.get(key), Some(AttributeValue::Bool(true)))
}

/// A string list (`L` of `S`, or `SS`).
pub fn get_list(item: &Item, key: &str) -> Vec<String> {
    match item.get(key) {
        Some(AttributeValue::L(values)) => values
            .iter()
            .filter_map(|v| v.as_s().ok().cloned())
            .collect(),
        Some(AttributeValue::Ss(values)) => values.clone(),
        _ => Vec::new(),
    }
}

/// `L` of `S`.
pub fn list(values: &[String]) -> AttributeValue {
    AttributeValue::L(values.iter().map(|v| s(v.clone())).collect())
}

/// Whether an SDK error is a failed condition (single write or a cancelled transaction).
pub fn is_condition_failure<E: aws_smithy_types::error::metadata::ProvideErrorMetadata, R>(
    err: &aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> bool {
    err.as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|code| {
            code == "ConditionalCheckFailedException" || code == "TransactionCanceledException"
        })
}

/// How a `TransactWriteItems` failed.
#[derive(Debug)]
pub enum TxFailure {
    /// A condition did not hold (taken, used, changed meanwhile).
    Condition,
    /// Anything else; conflicts with a concurrent transaction and throttling are 503s.
    Store(ApiError),
}

/// Classifies a transaction error by its cancellation reasons: only `ConditionalCheckFailed`
/// means "a condition did not hold"; a `TransactionConflict` or throttling is not the client's
/// doing and must not turn into a 409 or an "invalid token".
pub fn classify_transaction(
    err: aws_smithy_runtime_api::client::result::SdkError<
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError,
        aws_smithy_runtime_api::http::Response,
    >,
) -> TxFailure {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    if let Some(TransactWriteItemsError::TransactionCanceledException(e)) = err.as_service_error() {
        let reasons = e.cancellation_reasons();
        let condition = reasons.is_empty()
            || reasons
                .iter()
                .any(|r| r.code() == Some("ConditionalCheckFailed"));
        if condition {
            return TxFailure::Condition;
        }
        let codes: Vec<&str> = reasons.iter().filter_map(|r| r.code()).collect();
        return TxFailure::Store(ApiError::Unavailable(anyhow::anyhow!(
            "transaction cancelled: {codes:?}"
        )));
    }
    TxFailure::Store(crate::error::from_sdk(err))
}

/// Now, in seconds and milliseconds since the epoch.
pub fn now_s() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Now in milliseconds since the epoch.
pub fn now_ms() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000)
        .unwrap_or(i64::MAX)
}
