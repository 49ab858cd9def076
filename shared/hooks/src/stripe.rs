//! Stripe webhooks: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]`, each `v1` the
//! HMAC-SHA256 of `"{t}.{raw body}"` keyed with the whole endpoint secret, `whsec_` prefix
//! included (the scheme of Stripe's own SDKs).
//!
//! Stripe sends several `v1` entries while an endpoint secret is being rolled; any one
//! matching any configured secret passes. Other schemes (`v0`, Stripe's test-mode legacy) and
//! unknown keys are ignored, so a header that only has those is refused as
//! [`VerifyError::BadSignature`].
//!
//! Stripe's libraries refuse only timestamps older than the tolerance; this one also refuses
//! timestamps further ahead than the tolerance, like the Standard Webhooks libraries.

use secrecy::SecretString;

use crate::mac::{self, Keys, Tag};
use crate::{Delivery, KeyError, Verified, Verifier, VerifyError};

/// The signature header.
pub const SIGNATURE_HEADER: &str = "Stripe-Signature";

/// Verifies Stripe deliveries against any of its endpoint secrets.
#[derive(Debug, Clone)]
pub struct StripeVerifier {
    keys: Keys,
    tolerance_secs: u32,
}

impl StripeVerifier {
    /// A verifier accepting a signature by any of `secrets` (the full `whsec_…` strings)
    /// whose timestamp is within `tolerance_secs` of the delivery's `now`, either way
    /// ([`DEFAULT_TOLERANCE_SECS`](crate::DEFAULT_TOLERANCE_SECS) is Stripe's). An empty list
    /// is allowed and refuses every delivery with [`VerifyError::NoSecret`].
    ///
    /// # Errors
    /// [`KeyError::EmptySecret`] if a secret is empty or blank, [`KeyError::PlaceholderSecret`]
    /// if it is a placeholder.
    pub fn new(secrets: &[SecretString], tolerance_secs: u32) -> Result<Self, KeyError> {
        Ok(Self {
            keys: Keys::new(secrets, mac::whole_secret)?,
            tolerance_secs,
        })
    }
}

impl Verifier for StripeVerifier {
    fn verify(&self, delivery: &Delivery<'_>) -> Result<Verified, VerifyError> {
        self.keys.ensure_some()?;
        let parsed = parse_header(delivery.require(SIGNATURE_HEADER)?)?;
        let signed = self.keys.signed(
            &content(parsed.timestamp_text, delivery.body),
            &parsed.signatures,
        );
        mac::signed_in_window(signed, parsed.timestamp, delivery.now, self.tolerance_secs)?;
        Ok(Verified {
            delivery_id: None,
            event_type: None,
            timestamp: Some(parsed.timestamp),
        })
    }
}

/// The [`SIGNATURE_HEADER`] value Stripe would send for `body` signed at `timestamp` with
/// `secret` (the full `whsec_…` string), for tests and local tooling: `t=<unix>,v1=<hex>`.
#[must_use]
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let timestamp = timestamp.to_string();
    let tag = mac::hmac_sha256(secret.as_bytes(), &content(&timestamp, body));
    format!("t={timestamp},v1={}", mac::encode_hex(&tag))
}

/// What is signed, `"{t}.{body}"`, with `t` exactly as the header wrote it: that text, not the
/// number it parses to, is what Stripe signed.
fn content<'c>(timestamp: &'c str, body: &'c [u8]) -> [&'c [u8]; 3] {
    [timestamp.as_bytes(), b".", body]
}

/// The parts of a [`SIGNATURE_HEADER`] that matter.
struct Parsed<'h> {
    timestamp_text: &'h str,
    timestamp: i64,
    /// Every `v1` signature, possibly none.
    signatures: Vec<Tag>,
}

/// Reads `t=…,v1=…,…`. Anything that is not a list of `key=value` items with exactly one
/// numeric `t`, or a `v1` that is not 64 hex digits, is malformed: Stripe never sends one, so
/// it is not worth interpreting.
fn parse_header(header: &str) -> Result<Parsed<'_>, VerifyError> {
    let malformed = VerifyError::MalformedHeader(SIGNATURE_HEADER);
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for item in header.split(',') {
        let (key, value) = item.trim().split_once('=').ok_or(malformed)?;
        match key {
            "t" if timestamp.is_none() => {
                timestamp = Some((value, mac::parse_unix(value).ok_or(malformed)?));
            }
            // Two timestamps: which one was signed is anyone's guess.
            "t" => return Err(malformed),
            "v1" => signatures.push(mac::decode_hex_tag(value).ok_or(malformed)?),
            _ => {}
        }
    }
    let (timestamp_text, timestamp) = timestamp.ok_or(malformed)?;
    Ok(Parsed {
        timestamp_text,
        timestamp,
        signatures,
    })
}

#[cfg(test)]
mod tests;
