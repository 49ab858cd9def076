//! GitHub webhooks: `X-Hub-Signature-256: sha256=<hex>`, the HMAC-SHA256 of the raw body keyed
//! with the secret string (GitHub docs, "Validating webhook deliveries").
//!
//! GitHub signs the body only, with no timestamp: nothing here stops a captured delivery from
//! being replayed, and `X-GitHub-Delivery` / `X-GitHub-Event` are not authenticated (see
//! [`Verified`]). De-duplicating on the delivery id is still worth doing for GitHub's own
//! retries, but it is not replay protection.

use secrecy::{ExposeSecret as _, SecretString};

use crate::mac::{self, Tag};
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
    secrets: Vec<SecretString>,
}

impl GithubVerifier {
    /// A verifier accepting a signature by any of `secrets` (several during a rotation). An
    /// empty list is allowed and refuses every delivery with [`VerifyError::NoSecret`].
    ///
    /// # Errors
    /// [`KeyError::EmptySecret`] if a secret is empty or blank.
    pub fn new(secrets: &[SecretString]) -> Result<Self, KeyError> {
        if secrets
            .iter()
            .any(|secret| secret.expose_secret().trim().is_empty())
        {
            return Err(KeyError::EmptySecret);
        }
        Ok(Self {
            secrets: secrets.to_vec(),
        })
    }
}

impl Verifier for GithubVerifier {
    fn verify(&self, delivery: &Delivery<'_>) -> Result<Verified, VerifyError> {
        if self.secrets.is_empty() {
            return Err(VerifyError::NoSecret);
        }
        let header = delivery
            .headers
            .get(SIGNATURE_HEADER)
            .ok_or(VerifyError::MissingHeader(SIGNATURE_HEADER))?;
        let signature = header
            .strip_prefix(PREFIX)
            .and_then(mac::decode_hex_tag)
            .ok_or(VerifyError::MalformedHeader(SIGNATURE_HEADER))?;
        let expected: Vec<Tag> = self
            .secrets
            .iter()
            .map(|secret| tag(secret.expose_secret(), delivery.body))
            .collect();
        if !mac::any_matches(&expected, &[signature]) {
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
    format!("{PREFIX}{}", mac::encode_hex(&tag(secret, body)))
}

fn tag(secret: &str, body: &[u8]) -> Tag {
    mac::hmac_sha256(secret.as_bytes(), &[body])
}

#[cfg(test)]
mod tests;
