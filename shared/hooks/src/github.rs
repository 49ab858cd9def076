//! GitHub webhooks: `X-Hub-Signature-256: sha256=<hex>`, the HMAC-SHA256 of the raw body keyed
//! with the secret string (GitHub docs, "Validating webhook deliveries").
//!
//! GitHub signs the body only, with no timestamp: nothing here stops a captured delivery from
//! being replayed, and `X-GitHub-Delivery` / `X-GitHub-Event` are not authenticated (see
//! [`Verified`]). De-duplicating on the delivery id is still worth doing for GitHub's own
//! retries, but it is not replay protection.

use secrecy::SecretString;

use crate::mac::{self, Keys};
use crate::{Delivery, KeyError, Verified, Verifier, VerifyError};

/// The signature header.
pub const SIGNATURE_HEADER: &str = "X-Hub-Signature-256";
/// The delivery id header (unsigned).
pub const DELIVERY_HEADER: &str = "X-GitHub-Delivery";
/// The event type header (unsigned).
pub const EVENT_HEADER: &str = "X-GitHub-Event";

/// The prefix naming the algorithm in [`SIGNATURE_HEADER`]; the SHA-1 `X-Hub-Signature`
/// GitHub also sends is ignored.
const PREFIX: &str = "sha256=";

/// Verifies GitHub deliveries against any of its secrets.
#[derive(Debug, Clone)]
pub struct GithubVerifier {
    keys: Keys,
}

impl GithubVerifier {
    /// A verifier accepting a signature by any of `secrets` (several during a rotation). An
    /// empty list is allowed and refuses every delivery with [`VerifyError::NoSecret`].
    ///
    /// # Errors
    /// [`KeyError::EmptySecret`] if a secret is empty or blank, [`KeyError::PlaceholderSecret`]
    /// if it is a placeholder.
    pub fn new(secrets: &[SecretString]) -> Result<Self, KeyError> {
        Ok(Self {
            keys: Keys::new(secrets, mac::whole_secret)?,
        })
    }
}

impl Verifier for GithubVerifier {
    fn verify(&self, delivery: &Delivery<'_>) -> Result<Verified, VerifyError> {
        self.keys.ensure_some()?;
        let signature = delivery
            .require(SIGNATURE_HEADER)?
            .strip_prefix(PREFIX)
            .and_then(mac::decode_hex_tag)
            .ok_or(VerifyError::MalformedHeader(SIGNATURE_HEADER))?;
        if !self.keys.signed(&[delivery.body], &[signature]) {
            return Err(VerifyError::BadSignature);
        }
        let header = |name| delivery.headers.get(name).map(str::to_owned);
        Ok(Verified {
            delivery_id: header(DELIVERY_HEADER),
            event_type: header(EVENT_HEADER),
            timestamp: None,
        })
    }
}

/// The [`SIGNATURE_HEADER`] value GitHub would send for `body` under `secret`, for tests and
/// local tooling (`sha256=` and lowercase hex).
#[must_use]
pub fn sign(secret: &str, body: &[u8]) -> String {
    let tag = mac::hmac_sha256(secret.as_bytes(), &[body]);
    format!("{PREFIX}{}", mac::encode_hex(&tag))
}

#[cfg(test)]
mod tests;
