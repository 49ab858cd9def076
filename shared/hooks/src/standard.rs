//! Standard Webhooks, spec v1 (the scheme of Svix and of the `standardwebhooks` libraries):
//! headers `webhook-id`, `webhook-timestamp` (Unix seconds) and `webhook-signature`, a
//! space-separated list of `v1,<base64>` entries, each the HMAC-SHA256 of
//! `"{id}.{timestamp}.{body}"`.
//!
//! The key is the base64 decoding of the secret after its `whsec_` prefix (a secret without
//! the prefix is decoded whole). Entries of other versions (`v1a`, the spec's Ed25519
//! signatures) are ignored; a header with no `v1` entry is therefore a
//! [`VerifyError::BadSignature`], while an entry that is not `version,signature` at all is
//! malformed.
//!
//! The id and the timestamp are signed, so the id is a trustworthy de-duplication key and the
//! timestamp window (both directions) is replay protection.

use base64::Engine as _;
use secrecy::SecretString;

use crate::mac::{self, BASE64, Keys, Tag};
use crate::stamped::{self, Names, Stamped};
use crate::{Delivery, KeyError, Verified, Verifier, VerifyError};

/// The message id header.
pub const ID_HEADER: &str = "webhook-id";
/// The timestamp header.
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
/// The signature list header.
pub const SIGNATURE_HEADER: &str = "webhook-signature";

const HEADERS: Names = Names {
    id: ID_HEADER,
    timestamp: TIMESTAMP_HEADER,
    signature: SIGNATURE_HEADER,
};

/// The prefix the spec puts before a secret's base64.
const SECRET_PREFIX: &str = "whsec_";

/// Verifies Standard Webhooks deliveries against any of its secrets.
#[derive(Debug, Clone)]
pub struct StandardVerifier {
    /// The decoded keys.
    keys: Keys,
    tolerance_secs: u32,
}

impl StandardVerifier {
    /// A verifier accepting a signature by any of `secrets` (`whsec_<base64>`, or bare base64)
    /// whose timestamp is within `tolerance_secs` of the delivery's `now`, either way. An
    /// empty list is allowed and refuses every delivery with [`VerifyError::NoSecret`].
    ///
    /// # Errors
    /// [`KeyError::EmptySecret`], [`KeyError::PlaceholderSecret`] or
    /// [`KeyError::SecretNotBase64`] for a secret that gives no key.
    pub fn new(secrets: &[SecretString], tolerance_secs: u32) -> Result<Self, KeyError> {
        Ok(Self {
            keys: Keys::new(secrets, decode_secret)?,
            tolerance_secs,
        })
    }
}

impl Verifier for StandardVerifier {
    fn verify(&self, delivery: &Delivery<'_>) -> Result<Verified, VerifyError> {
        self.keys.ensure_some()?;
        let stamped = Stamped::read(delivery, HEADERS)?;
        let signatures = parse_signatures(stamped.signature)?;
        let timestamp = stamped.unix_time()?;
        let signed = self
            .keys
            .signed(&stamped.content(delivery.body), &signatures);
        mac::signed_in_window(signed, timestamp, delivery.now, self.tolerance_secs)?;
        Ok(stamped.verified(timestamp))
    }
}

/// The [`SIGNATURE_HEADER`] value (`v1,<base64>`) a sender holding `secret` would send for
/// message `id` at `timestamp` with `body`, for tests and local tooling.
///
/// # Errors
/// [`KeyError`] if `secret` gives no key (see [`StandardVerifier::new`]).
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Result<String, KeyError> {
    let key = decode_secret(secret)?;
    let timestamp = timestamp.to_string();
    let tag = mac::hmac_sha256(&key, &stamped::content(id, &timestamp, body));
    Ok(format!("v1,{}", BASE64.encode(tag)))
}

/// The HMAC key a secret stands for: the base64 after `whsec_`, or the whole string without
/// the prefix.
pub(crate) fn decode_secret(secret: &str) -> Result<Vec<u8>, KeyError> {
    let encoded = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    if encoded.trim().is_empty() {
        return Err(KeyError::EmptySecret);
    }
    match BASE64.decode(encoded) {
        Ok(key) if !key.is_empty() => Ok(key),
        _ => Err(KeyError::SecretNotBase64),
    }
}

/// Every `v1` signature of the list, possibly none. An entry that is not `version,signature`,
/// or a `v1` that is not the base64 of 32 bytes, makes the header malformed.
fn parse_signatures(header: &str) -> Result<Vec<Tag>, VerifyError> {
    let malformed = VerifyError::MalformedHeader(SIGNATURE_HEADER);
    let mut signatures = Vec::new();
    // Repeated spaces are tolerated: they separate nothing.
    for entry in header.split(' ').filter(|entry| !entry.is_empty()) {
        let (version, signature) = entry.split_once(',').ok_or(malformed)?;
        if version == "v1" {
            signatures.push(mac::decode_base64_tag(signature).ok_or(malformed)?);
        }
    }
    if signatures.is_empty() && header.trim().is_empty() {
        return Err(malformed);
    }
    Ok(signatures)
}

#[cfg(test)]
mod tests;
