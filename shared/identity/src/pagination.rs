//! Opaque, tamper-evident cursors: the page boundary key, HMAC-SHA256 signed.
//! A client can pass a cursor back but cannot forge or edit one.

use std::collections::HashMap;

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use shared::{
    AppState,
    config::{ConfigError, Env},
    dynamo::{Item, key_to_strings, s},
    error::{ApiError, ErrorCode},
    secrets::LazySecret,
};

/// The key that signs cursors: `PAGINATION_KEY` (at least 32 characters) when set, otherwise
/// derived from the signing key ring, so it is as secret as that without a second secret.
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
    /// The previous page's `next_cursor`.
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

/// A listing's JSON `body`, with RFC 8288 `Link: <?limit=..&cursor=..>; rel="next"` when there
/// is a `next_cursor`. A query-only reference (RFC 3986 §5.2.2) resolves against the URL the
/// client called, so it stays right behind any stage prefix or custom domain.
pub fn page_response<T: serde::Serialize>(
    body: T,
    limit: i32,
    next_cursor: Option<&str>,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let mut response = axum::Json(body).into_response();
    let link = next_cursor.map(|c| format!("<?limit={limit}&cursor={c}>; rel=\"next\""));
    if let Some(value) = link.and_then(|l| axum::http::HeaderValue::from_str(&l).ok()) {
        response
            .headers_mut()
            .insert(axum::http::header::LINK, value);
    }
    response
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
