//! Uniqueness guards: `EMAIL#<email>` and `USERNAME#<lower-cased name>` items holding the owner's
//! `user_id`, written or released in the same transaction as the user, with
//! `attribute_not_exists` — so two concurrent signups or renames cannot both take a name.

use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem};
use shared::dynamo::{StoreError, s};

/// Guard key of an (already normalized) email.
pub fn email_key(email: &str) -> String {
    format!("EMAIL#{email}")
}

/// Guard key of a username key (lower-cased).
pub fn username_key(key: &str) -> String {
    format!("USERNAME#{key}")
}

/// Takes guard `pk` for `user_id`; fails the transaction if anyone holds it.
pub fn take(table: &str, pk: String, user_id: &str) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder()
        .table_name(table)
        .item("pk", s(pk))
        .item("user_id", s(user_id))
        .condition_expression("attribute_not_exists(pk)")
        .build()?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// Releases guard `pk`, only if `user_id` still holds it (never one another user took since).
pub fn release(table: &str, pk: String, user_id: &str) -> Result<TransactWriteItem, StoreError> {
    let delete = Delete::builder()
        .table_name(table)
        .key("pk", s(pk))
        .condition_expression("user_id = :uid")
        .expression_attribute_values(":uid", s(user_id))
        .build()?;
    Ok(TransactWriteItem::builder().delete(delete).build())
}

/// Both guards of `user` (its email and its username), taken or released together: signup
/// takes both, deletion releases both.
pub fn both(
    table: &str,
    user: &super::item::User,
    op: fn(&str, String, &str) -> Result<TransactWriteItem, StoreError>,
) -> Result<[TransactWriteItem; 2], StoreError> {
    Ok([
        op(table, email_key(&user.email), &user.id)?,
        op(table, username_key(&user.username_key), &user.id)?,
    ])
}
