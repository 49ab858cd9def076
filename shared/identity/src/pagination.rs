//! Listings: the request ([`PageRequest`]: `?limit=&cursor=`), the answer ([`Page`], with the
//! `Link` to the next page), and the cursors between them: opaque and tamper-evident, the page
//! boundary key HMAC-SHA256 signed. A client can pass a cursor back but cannot forge or edit one.

use std::{borrow::Cow, collections::HashMap, sync::Arc};

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use axum::{
    extract::{FromRef, FromRequestParts},
    http::{HeaderValue, header, request::Parts},
    response::{IntoResponse as _, Response},
};
use serde::Serialize;
use shared::{
    AppState,
    config::{ConfigError, Env},
    dynamo::{Item, key_to_strings, s},
    error::{ApiError, ErrorCode},
    extract::{Json, Query},
    secrets::LazySecret,
};
use utoipa::{
    PartialSchema, ToSchema,
    openapi::{
        ArrayBuilder, ObjectBuilder, Ref, RefOr, Schema,
        schema::{SchemaType, Type},
    },
};

/// The key that signs cursors: `PAGINATION_KEY` (at least 32 characters) when set, otherwise
/// derived from a secret of its own, `CURSOR_KEY_SECRET_ID` ([`CursorKey::from_env`],
/// [`CursorKey::derived`]).
#[derive(Clone)]
pub struct CursorKey(Vec<u8>);

impl std::fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorKey([REDACTED])")
    }
}

impl CursorKey {
    /// `PAGINATION_KEY` when set (at least 32 characters), else the secret named by
    /// `CURSOR_KEY_SECRET_ID`, read on first use. It is its own secret: the functions that list
    /// things verify tokens with public keys only, so nothing else they hold is secret enough.
    pub fn from_env(app: &AppState, env: &Env) -> anyhow::Result<LazySecret<Self>> {
        match env.string("PAGINATION_KEY") {
            Some(key) if key.len() < 32 => {
                Err(ConfigError::new("PAGINATION_KEY", "must be at least 32 characters").into())
            }
            Some(key) => Ok(LazySecret::ready(
                app.secrets.clone(),
                Self(key.into_bytes()),
            )),
            None => Ok(LazySecret::new(
                app.secrets.clone(),
                env.required("CURSOR_KEY_SECRET_ID")?,
                Self::derived,
            )),
        }
    }

    /// A key bound to cursors, derived from secret material.
    pub fn derived(secret: &SecretString) -> anyhow::Result<Self> {
        if secret.expose_secret().len() < 32 {
            anyhow::bail!("the cursor key secret is shorter than 32 characters");
        }
        Ok(Self(derive_key(
            secret.expose_secret().as_bytes(),
            b"pagination-cursor-v1",
        )?))
    }

    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// A listing's query: `?limit=&cursor=`.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i32>,
    /// The previous page's `next_cursor`, as it was (two base64url parts; an empty or edited
    /// cursor is a 400).
    #[param(min_length = 1, pattern = "^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$")]
    pub cursor: Option<String>,
}

/// Page size when `?limit=` is absent.
pub const DEFAULT_LIMIT: i32 = 20;
/// Largest `?limit=`.
pub const MAX_LIMIT: i32 = 100;

/// The page size a listing's `?limit=` asks for: [`DEFAULT_LIMIT`] when absent, 422 at
/// `["query", "limit"]` outside 1..=[`MAX_LIMIT`].
pub fn limit(requested: Option<i32>) -> Result<i32, ApiError> {
    let limit = requested.unwrap_or(DEFAULT_LIMIT);
    if (1..=MAX_LIMIT).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::invalid_field(
            &["query", "limit"],
            format!("limit must be between 1 and {MAX_LIMIT}"),
            "value_error.range",
        ))
    }
}

/// A listing's request, read from `?limit=&cursor=` ([`PageParams`]): the page size, checked by
/// [`limit`], and where the page starts, from a cursor we signed (else 400 `INVALID_CURSOR`).
/// The state gives the cursor key (`Arc<LazySecret<CursorKey>>` through `FromRef`); it signs
/// the next page's cursor in [`PageRequest::respond`].
///
/// The checks run in this order: the query's shape (422), the limit (422), the key (503 while
/// its secret cannot be read), the cursor (400).
#[derive(Debug)]
pub struct PageRequest {
    /// The page size, 1 to [`MAX_LIMIT`].
    pub limit: i32,
    /// The position the page starts after (a `LastEvaluatedKey`), `None` for the first page.
    /// Signed by us, but possibly for another listing: a listing that shares its table checks
    /// the position is its own.
    pub start: Option<Item>,
    key: Arc<CursorKey>,
}

impl<S> FromRequestParts<S> for PageRequest
where
    Arc<LazySecret<CursorKey>>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(params) = Query::<PageParams>::from_request_parts(parts, state).await?;
        let limit = limit(params.limit)?;
        let key = Arc::<LazySecret<CursorKey>>::from_ref(state).get().await?;
        let start = params
            .cursor
            .as_deref()
            .map(|cursor| decode(cursor, key.as_bytes()))
            .transpose()?;
        Ok(Self { limit, start, key })
    }
}

impl PageRequest {
    /// The answer to this request: `items` in a JSON [`Page`], with the cursor of `next` (the
    /// query's `LastEvaluatedKey`) signed and, when there is one, RFC 8288 `Link:
    /// <?limit=..&cursor=..>; rel="next"`. A query-only reference (RFC 3986 §5.2.2) resolves
    /// against the URL the client called, so it stays right behind any stage prefix or custom
    /// domain.
    pub fn respond<T: Serialize>(
        &self,
        items: impl IntoIterator<Item = T>,
        next: Option<&Item>,
    ) -> Result<Response, ApiError> {
        let next_cursor = next
            .map(|next| encode(next, self.key.as_bytes()))
            .transpose()?;
        let link = next_cursor
            .as_deref()
            .map(|cursor| format!("<?limit={}&cursor={cursor}>; rel=\"next\"", self.limit));
        let mut response = Json(Page {
            items: items.into_iter().collect(),
            next_cursor,
        })
        .into_response();
        if let Some(value) = link.and_then(|l| HeaderValue::from_str(&l).ok()) {
            response.headers_mut().insert(header::LINK, value);
        }
        Ok(response)
    }
}

/// A listing's answer: one page of `T` and the cursor of the next.
///
/// Its OpenAPI schema is named and described by `T` ([`Listed`]), so that each listing keeps
/// its own schema (`UserPage`, `UploadPage`) in the merged document.
#[derive(Debug, Serialize)]
pub struct Page<T> {
    /// This page's items, in the listing's order ([`Listed::ITEMS`]).
    pub items: Vec<T>,
    /// Pass back as `cursor` for the next page; `null` on the last one.
    pub next_cursor: Option<String>,
}

/// An item of a listing: how its [`Page`] appears in the OpenAPI document.
pub trait Listed: ToSchema {
    /// The page's schema name (`UserPage`).
    const PAGE: &'static str;
    /// What the page is (its schema's description).
    const DESCRIPTION: &'static str;
    /// Which items a page holds, in which order (`items`' description).
    const ITEMS: &'static str;
}

impl<T: Listed> ToSchema for Page<T> {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed(T::PAGE)
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((T::name().into_owned(), T::schema()));
        T::schemas(schemas);
    }
}

impl<T: Listed> PartialSchema for Page<T> {
    fn schema() -> RefOr<Schema> {
        let items = ArrayBuilder::new()
            .items(Ref::from_schema_name(T::name()))
            .description(Some(T::ITEMS));
        let next_cursor = ObjectBuilder::new()
            .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
            .description(Some(
                "Pass back as `cursor` for the next page; `null` on the last one.",
            ));
        ObjectBuilder::new()
            .property("items", items)
            .required("items")
            .property("next_cursor", next_cursor)
            .description(Some(T::DESCRIPTION))
            .into()
    }
}

/// HMAC-SHA256(key, label): a sub-key bound to one purpose.
pub fn derive_key(key: &[u8], label: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key)
        .map_err(|_| anyhow::anyhow!("the HMAC key was refused"))?;
    mac.update(label);
    Ok(mac.finalize().into_bytes().to_vec())
}

fn mac(key: &[u8], payload: &[u8]) -> Option<Hmac<Sha256>> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).ok()?;
    mac.update(b"cursor-v1.");
    mac.update(payload);
    Some(mac)
}

/// Encodes a DynamoDB `LastEvaluatedKey` (string attributes) as a signed cursor.
pub fn encode(key: &Item, mac_key: &[u8]) -> Result<String, ApiError> {
    let pairs: HashMap<String, String> = key_to_strings(key).into_iter().collect();
    let payload = serde_json::to_vec(&pairs).map_err(anyhow::Error::from)?;
    let tag = mac(mac_key, &payload)
        .ok_or_else(|| anyhow::anyhow!("cursor key unusable"))?
        .finalize()
        .into_bytes();
    Ok(format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(&payload),
        URL_SAFE_NO_PAD.encode(tag)
    ))
}

/// Decodes a cursor; anything not signed by us is a 400 `INVALID_CURSOR`.
pub fn decode(cursor: &str, mac_key: &[u8]) -> Result<Item, ApiError> {
    let invalid = || ApiError::from(ErrorCode::InvalidCursor);
    let (payload, tag) = cursor.split_once('.').ok_or_else(invalid)?;
    let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| invalid())?;
    let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| invalid())?;
    mac(mac_key, &payload)
        .ok_or_else(invalid)?
        // Constant-time comparison.
        .verify_slice(&tag)
        .map_err(|_| invalid())?;
    let pairs: HashMap<String, String> = serde_json::from_slice(&payload).map_err(|_| invalid())?;
    Ok(pairs.into_iter().map(|(k, v)| (k, s(v))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Item {
        HashMap::from([
            ("pk".to_owned(), s("USER#1")),
            ("gsi1pk".to_owned(), s("USER")),
            ("gsi1sk".to_owned(), s("2026-01-01T00:00:00Z#1")),
        ])
    }

    #[test]
    fn a_cursor_round_trips() {
        let cursor = encode(&key(), b"k".repeat(32).as_slice()).unwrap();
        assert_eq!(decode(&cursor, b"k".repeat(32).as_slice()).unwrap(), key());
        assert!(!cursor.contains("USER#1"), "opaque: not the raw key");
    }

    #[test]
    fn an_edited_cursor_is_refused() {
        let cursor = encode(&key(), b"k".repeat(32).as_slice()).unwrap();
        let (payload, tag) = cursor.split_once('.').unwrap();
        let mut raw = URL_SAFE_NO_PAD.decode(payload).unwrap();
        raw[3] ^= 1;
        let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(raw));
        assert_eq!(
            decode(&forged, b"k".repeat(32).as_slice())
                .unwrap_err()
                .status(),
            400
        );
        assert!(decode("garbage", b"k".repeat(32).as_slice()).is_err());
        assert!(decode(&cursor, b"other-key-other-key-other-key-00").is_err());
    }
}
