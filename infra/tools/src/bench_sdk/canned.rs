//! The three DynamoDB calls an authenticated request makes, and the answers DynamoDB gives them:
//! the same bodies for the in-process mock, the local server and (stored first) the emulator, so
//! the three transports deserialize the same bytes.

use std::collections::HashMap;

use aws_sdk_dynamodb::{
    Client,
    types::{AttributeValue, KeysAndAttributes, ReturnValue},
};

/// The operations timed, in the order printed.
#[allow(clippy::enum_variant_names)] // DynamoDB's own operation names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// A user read by key (the users table).
    GetItem,
    /// The rate limiter's counter: `ADD` with a condition, updated values returned.
    UpdateItem,
    /// The token check: the revocation marker, the session and the user in one read.
    BatchGetItem,
}

impl Op {
    pub const ALL: [Op; 3] = [Op::GetItem, Op::UpdateItem, Op::BatchGetItem];

    pub fn name(self) -> &'static str {
        match self {
            Op::GetItem => "GetItem",
            Op::UpdateItem => "UpdateItem",
            Op::BatchGetItem => "BatchGetItem",
        }
    }

    /// The operation named by an `X-Amz-Target` header value.
    pub fn from_target(target: &[u8]) -> Option<Op> {
        // `DynamoDB_20120810.GetItem`: the operation is what follows the dot.
        let name = target.rsplit(|b| *b == b'.').next()?;
        Op::ALL
            .into_iter()
            .find(|op| op.name().as_bytes().eq_ignore_ascii_case(name))
    }
}

/// Table names: the bootstrapped ones against the emulator, anything elsewhere.
#[derive(Debug, Clone)]
pub struct Tables {
    pub users: String,
    pub sessions: String,
    pub revoked: String,
    pub limits: String,
}

impl Tables {
    pub fn from_env() -> Self {
        let var =
            |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
        Self {
            users: var("USERS_TABLE", "users"),
            sessions: var("SESSIONS_TABLE", "sessions"),
            revoked: var("REVOKED_TOKENS_TABLE", "revoked_tokens"),
            limits: var("RATE_LIMITS_TABLE", "rate_limits"),
        }
    }
}

const USER_ID: &str = "0193a5b2-7c1d-7e2f-8a9b-0c1d2e3f4a5b";
const SESSION_ID: &str = "0193a5b2-7c1d-7e2f-8a9b-5f4e3d2c1b0a";

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

/// A user item of the shape `identity` stores (a dozen attributes).
pub fn user_item() -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("pk".to_owned(), s(&format!("user#{USER_ID}"))),
        ("id".to_owned(), s(USER_ID)),
        ("username".to_owned(), s("bench_user")),
        ("email".to_owned(), s("bench@example.com")),
        ("first_name".to_owned(), s("Bench")),
        ("last_name".to_owned(), s("Mark")),
        ("email_verified".to_owned(), AttributeValue::Bool(true)),
        (
            "roles".to_owned(),
            AttributeValue::Ss(vec!["user".to_owned()]),
        ),
        ("tier".to_owned(), s("free")),
        ("disabled".to_owned(), AttributeValue::Bool(false)),
        ("version".to_owned(), AttributeValue::N("3".to_owned())),
        ("created_at".to_owned(), s("2026-12-01T10:00:00Z")),
        ("updated_at".to_owned(), s("2026-12-02T10:00:00Z")),
    ])
}

/// A session item.
pub fn session_item() -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("pk".to_owned(), s(SESSION_ID)),
        ("user_id".to_owned(), s(USER_ID)),
        (
            "refresh_jti".to_owned(),
            s("0193a5b2-aaaa-7e2f-8a9b-0c1d2e3f4a5b"),
        ),
        (
            "created_at".to_owned(),
            AttributeValue::N("1764582000".to_owned()),
        ),
        (
            "expires_at".to_owned(),
            AttributeValue::N("1765186800".to_owned()),
        ),
    ])
}

fn key(pk: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([("pk".to_owned(), s(pk))])
}

/// Sends `op` through `client`; an error is the bench's failure, not a figure.
pub async fn call(client: &Client, tables: &Tables, op: Op) -> anyhow::Result<()> {
    match op {
        Op::GetItem => {
            let out = client
                .get_item()
                .table_name(&tables.users)
                .set_key(Some(key(&format!("user#{USER_ID}"))))
                .consistent_read(true)
                .send()
                .await?;
            anyhow::ensure!(out.item.is_some(), "GetItem found no item");
        }
        Op::UpdateItem => {
            let out = client
                .update_item()
                .table_name(&tables.limits)
                .set_key(Some(key("bench#sdk:GET /api/v1/users/me")))
                .update_expression(
                    "ADD #count :one SET #expires = if_not_exists(#expires, :expires)",
                )
                .condition_expression("attribute_not_exists(#count) OR #count < :limit")
                .expression_attribute_names("#count", "count")
                .expression_attribute_names("#expires", "expires_at")
                .expression_attribute_values(":one", AttributeValue::N("1".to_owned()))
                .expression_attribute_values(":limit", AttributeValue::N("1000000000".to_owned()))
                .expression_attribute_values(":expires", AttributeValue::N("4102444800".to_owned()))
                .return_values(ReturnValue::UpdatedNew)
                .send()
                .await?;
            anyhow::ensure!(
                out.attributes.is_some(),
                "UpdateItem returned no attributes"
            );
        }
        Op::BatchGetItem => {
            let keys = |pk: String| {
                KeysAndAttributes::builder()
                    .keys(key(&pk))
                    .consistent_read(true)
                    .build()
            };
            let out = client
                .batch_get_item()
                .request_items(&tables.revoked, keys(format!("jti#{SESSION_ID}"))?)
                .request_items(&tables.sessions, keys(SESSION_ID.to_owned())?)
                .request_items(&tables.users, keys(format!("user#{USER_ID}"))?)
                .send()
                .await?;
            let found: usize = out
                .responses
                .unwrap_or_default()
                .values()
                .map(Vec::len)
                .sum();
            anyhow::ensure!(found == 2, "BatchGetItem found {found} items, not 2");
        }
    }
    Ok(())
}

/// Stores the items the calls read, so the emulator answers what the mock and server answer.
pub async fn seed(client: &Client, tables: &Tables) -> anyhow::Result<()> {
    client
        .put_item()
        .table_name(&tables.users)
        .set_item(Some(user_item()))
        .send()
        .await?;
    client
        .put_item()
        .table_name(&tables.sessions)
        .set_item(Some(session_item()))
        .send()
        .await?;
    Ok(())
}

/// DynamoDB's JSON for a item map, written by hand: the SDK's own serializers are private.
fn item_json(item: &HashMap<String, AttributeValue>) -> String {
    let mut fields: Vec<String> = item
        .iter()
        .map(|(name, value)| {
            let v = match value {
                AttributeValue::S(v) => format!("{{\"S\":\"{v}\"}}"),
                AttributeValue::N(v) => format!("{{\"N\":\"{v}\"}}"),
                AttributeValue::Bool(v) => format!("{{\"BOOL\":{v}}}"),
                AttributeValue::Ss(v) => format!("{{\"SS\":[\"{}\"]}}", v.join("\",\"")),
                _ => "{\"NULL\":true}".to_owned(),
            };
            format!("\"{name}\":{v}")
        })
        .collect();
    fields.sort();
    format!("{{{}}}", fields.join(","))
}

/// The response body DynamoDB sends for `op`.
pub fn response_body(op: Op, tables: &Tables) -> Vec<u8> {
    match op {
        Op::GetItem => format!("{{\"Item\":{}}}", item_json(&user_item())),
        Op::UpdateItem => {
            "{\"Attributes\":{\"count\":{\"N\":\"17\"},\"expires_at\":{\"N\":\"4102444800\"}}}"
                .to_owned()
        }
        Op::BatchGetItem => format!(
            "{{\"Responses\":{{\"{}\":[],\"{}\":[{}],\"{}\":[{}]}},\"UnprocessedKeys\":{{}}}}",
            tables.revoked,
            tables.sessions,
            item_json(&session_item()),
            tables.users,
            item_json(&user_item())
        ),
    }
    .into_bytes()
}
