//! RSA-signed webhooks, for senders that sign with a private key instead of a shared secret
//! (so our side holds nothing that could forge a delivery).
//!
//! There is no single standard for these, so this is our format, modelled on Standard
//! Webhooks to get the same replay protection:
//! - `x-webhook-id`: the sender's message id (required, non-empty);
//! - `x-webhook-timestamp`: Unix seconds, digits only (required);
//! - `x-webhook-signature`: the base64 (standard alphabet, padding optional) of an
//!   RSASSA-PKCS1-v1_5 SHA-256 signature of `"{id}.{timestamp}.{body}"` ([`signed_content`]),
//!   with the timestamp exactly as sent in its header.
//!
//! The timestamp must be within the tolerance (300 s by default) of `now` in both directions,
//! and the id, being signed, is a trustworthy de-duplication key. Keys are RSA public keys of
//! 2048 to 8192 bits in PEM: `BEGIN PUBLIC KEY` (SubjectPublicKeyInfo) or `BEGIN RSA PUBLIC
//! KEY` (PKCS#1), both parsed once at construction. Several keys may be configured while the
//! sender rotates its key pair; a signature by any of them passes.

use aws_lc_rs::signature::{ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
use base64::Engine as _;

use crate::mac::{self, BASE64};
use crate::stamped::{self, Names, Stamped};
use crate::{Delivery, KeyError, Verified, Verifier, VerifyError};

/// The message id header.
pub const ID_HEADER: &str = "x-webhook-id";
/// The timestamp header.
pub const TIMESTAMP_HEADER: &str = "x-webhook-timestamp";
/// The signature header.
pub const SIGNATURE_HEADER: &str = "x-webhook-signature";

const HEADERS: Names = Names {
    id: ID_HEADER,
    timestamp: TIMESTAMP_HEADER,
    signature: SIGNATURE_HEADER,
};

/// The PEM labels accepted: SubjectPublicKeyInfo and PKCS#1 `RSAPublicKey`. aws-lc parses
/// either DER form for RSA verification, so no conversion is needed.
const LABELS: [&str; 2] = ["PUBLIC KEY", "RSA PUBLIC KEY"];

/// The modulus sizes [`RSA_PKCS1_2048_8192_SHA256`] verifies with; a key outside them would
/// fail every signature, so it is refused at construction instead.
const BITS: std::ops::RangeInclusive<usize> = 2048..=8192;

/// Verifies RSA-signed deliveries against any of its public keys.
#[derive(Debug, Clone)]
pub struct RsaVerifier {
    keys: Vec<ParsedPublicKey>,
    tolerance_secs: u32,
}

impl RsaVerifier {
    /// A verifier accepting a signature by any of the PEM public keys `pems` whose timestamp
    /// is within `tolerance_secs` of the delivery's `now`, either way. An empty list is
    /// allowed and refuses every delivery with [`VerifyError::NoSecret`].
    ///
    /// # Errors
    /// [`KeyError`] for a PEM that is not one RSA public key of 2048 to 8192 bits.
    pub fn new<P: AsRef<str>>(pems: &[P], tolerance_secs: u32) -> Result<Self, KeyError> {
        let keys = pems
            .iter()
            .map(|pem| parse_public_key(pem.as_ref()))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            keys,
            tolerance_secs,
        })
    }
}

impl Verifier for RsaVerifier {
    fn verify(&self, delivery: &Delivery<'_>) -> Result<Verified, VerifyError> {
        if self.keys.is_empty() {
            return Err(VerifyError::NoSecret);
        }
        let stamped = Stamped::read(delivery, HEADERS)?;
        let timestamp = stamped.unix_time()?;
        let signature = match BASE64.decode(stamped.signature) {
            Ok(signature) if !signature.is_empty() => signature,
            _ => return Err(VerifyError::MalformedHeader(SIGNATURE_HEADER)),
        };
        // Public-key verification involves no secret, so an early return on the first matching
        // key reveals nothing.
        let content = stamped.content(delivery.body).concat();
        let signed = self
            .keys
            .iter()
            .any(|key| key.verify_sig(&content, &signature).is_ok());
        mac::signed_in_window(signed, timestamp, delivery.now, self.tolerance_secs)?;
        Ok(stamped.verified(timestamp))
    }
}

/// What a sender signs for message `id` at `timestamp` with `body`:
/// `"{id}.{timestamp}.{body}"`, for tests and senders' tooling.
#[must_use]
pub fn signed_content(id: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
    stamped::content(id, &timestamp.to_string(), body).concat()
}

/// An RSA verification key from one PEM block (see [`RsaVerifier::new`]).
pub(crate) fn parse_public_key(pem: &str) -> Result<ParsedPublicKey, KeyError> {
    let der = pem_to_der(pem)?;
    // aws-lc's RSA public key exposes the modulus size; the verification key does not.
    let bits = aws_lc_rs::rsa::PublicKey::from_der(&der)
        .map_err(|_| KeyError::NotRsa)?
        .modulus_len()
        * 8;
    if !BITS.contains(&bits) {
        return Err(KeyError::RsaKeySize { bits });
    }
    ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, der).map_err(|_| KeyError::NotRsa)
}

/// The DER inside one PEM block with an accepted label. Whitespace anywhere in the body is
/// ignored (line breaks, a PEM squeezed onto one line, CRLF); anything else around the block,
/// such as a second key, makes it unreadable rather than silently dropped.
fn pem_to_der(pem: &str) -> Result<Vec<u8>, KeyError> {
    let pem = pem.trim();
    for label in LABELS {
        let Some(rest) = pem.strip_prefix(&format!("-----BEGIN {label}-----")) else {
            continue;
        };
        let body = rest
            .strip_suffix(&format!("-----END {label}-----"))
            .ok_or(KeyError::PemArmor)?;
        // Armor inside the body: a second block, which would otherwise read as bad base64.
        if body.contains("-----") {
            return Err(KeyError::PemArmor);
        }
        let encoded: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        return match BASE64.decode(encoded) {
            Ok(der) if !der.is_empty() => Ok(der),
            _ => Err(KeyError::PemBase64),
        };
    }
    Err(KeyError::PemArmor)
}

#[cfg(test)]
mod tests;
