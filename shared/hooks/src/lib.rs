//! Webhook signature verification for the webhooks function: GitHub ([`github`]), Stripe
//! ([`stripe`]), Standard Webhooks ([`standard`]) and RSA-signed deliveries ([`rsa`]).
//!
//! Pure logic: no AWS call, no HTTP framework. The caller hands over a [`Delivery`] (the
//! headers through the [`Headers`] trait, the raw body bytes exactly as received, and the
//! current Unix time) and a [`Verifier`] answers what the signature vouches for ([`Verified`])
//! or why it refuses ([`VerifyError`], every variant of which the caller answers with a 401).
//!
//! What every verifier has in common, and why:
//! - It checks the **raw body** before anything parses it, so a parser quirk (duplicate JSON
//!   keys, re-encoding) can never make an unsigned payload look signed.
//! - It holds a **list** of secrets or keys, any one of which may match, so a secret can be
//!   rotated without a window where the old or the new one is refused.
//! - MACs are compared in constant time ([`subtle`]), so response timing does not reveal how
//!   many leading bytes of a forged signature were right.
//! - Where the scheme signs a timestamp (Stripe, Standard Webhooks, RSA), a delivery outside
//!   the tolerance (300 s by default, [`DEFAULT_TOLERANCE_SECS`]) in *either* direction is
//!   refused: a captured delivery cannot be replayed later, nor one stamped ahead kept for
//!   later use.
//!
//! The secrets come from one JSON document ([`WebhookSecrets::parse`]).

pub mod github;
mod mac;
pub mod rsa;
pub mod secrets;
mod stamped;
pub mod standard;
pub mod stripe;

#[cfg(test)]
mod no_panic;
#[cfg(test)]
mod testing;

pub use github::GithubVerifier;
pub use rsa::RsaVerifier;
pub use secrets::{SecretsError, WebhookSecrets, is_placeholder};
pub use standard::StandardVerifier;
pub use stripe::StripeVerifier;

/// The default replay window, in seconds, each way: Stripe's and the Standard Webhooks
/// libraries' own default.
pub const DEFAULT_TOLERANCE_SECS: u32 = 300;

/// Read access to a delivery's HTTP headers.
///
/// Implementations must match `name` without regard to ASCII case (HTTP header names are
/// case-insensitive and API Gateway lowercases them). A value that is not valid UTF-8 should
/// be reported as absent. If a header was sent more than once, which value is returned is the
/// implementation's choice; the verifiers only ever see that one.
///
/// The webhooks function wraps its `http::HeaderMap` in a newtype implementing this trait;
/// the impls here are for tests and tooling.
pub trait Headers {
    /// The value of header `name`, if present.
    fn get(&self, name: &str) -> Option<&str>;
}

/// The first pair whose name matches, ignoring ASCII case.
fn find<'h>(pairs: &'h [(&'h str, &'h str)], name: &str) -> Option<&'h str> {
    pairs
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|&(_, value)| value)
}

impl Headers for &[(&str, &str)] {
    fn get(&self, name: &str) -> Option<&str> {
        find(self, name)
    }
}

impl<const N: usize> Headers for [(&str, &str); N] {
    fn get(&self, name: &str) -> Option<&str> {
        find(self, name)
    }
}

impl Headers for Vec<(String, String)> {
    fn get(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// One webhook delivery, as received.
#[derive(Clone, Copy)]
pub struct Delivery<'a> {
    /// The request headers.
    pub headers: &'a dyn Headers,
    /// The body bytes exactly as received (API Gateway's base64 bodies decoded first): any
    /// re-encoding, even of whitespace, breaks the signature.
    pub body: &'a [u8],
    /// The current time, in Unix seconds (passed in so that tests control the clock).
    pub now: i64,
}

impl<'a> Delivery<'a> {
    /// The value of header `name`, or [`VerifyError::MissingHeader`] naming it.
    fn require(&self, name: &'static str) -> Result<&'a str, VerifyError> {
        self.headers
            .get(name)
            .ok_or(VerifyError::MissingHeader(name))
    }
}

/// What a verified delivery carries besides its body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Verified {
    /// The sender's delivery id, for de-duplication: `X-GitHub-Delivery` (GitHub),
    /// `webhook-id` (Standard Webhooks), `x-webhook-id` (RSA). `None` for Stripe, whose event
    /// id is in the body.
    ///
    /// GitHub signs only the body: its delivery id is *not* authenticated, and an attacker who
    /// captured one delivery may resend the same body under another id.
    pub delivery_id: Option<String>,
    /// The event type from `X-GitHub-Event` (GitHub only; the other schemes carry it in the
    /// body). Like the delivery id, it is *not* covered by GitHub's signature.
    pub event_type: Option<String>,
    /// The signed timestamp (Unix seconds), for the schemes that sign one.
    pub timestamp: Option<i64>,
}

/// Why a delivery was refused. Every variant is a 401 for the caller.
///
/// The messages name headers only, never a secret, a signature or a header's value, so they
/// can be logged as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// A required header is absent.
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    /// A header is present but not in the scheme's format.
    #[error("malformed header {0}")]
    MalformedHeader(&'static str),
    /// No signature matches any configured secret or key.
    #[error("no signature matches")]
    BadSignature,
    /// The signed timestamp is older than the tolerance.
    #[error("signed timestamp is too old")]
    StaleTimestamp,
    /// The signed timestamp is further in the future than the tolerance.
    #[error("signed timestamp is in the future")]
    FutureTimestamp,
    /// The verifier has no secret or key configured, so nothing can pass.
    #[error("no webhook secret is configured for this source")]
    NoSecret,
}

/// Why a secret or public key cannot be used. The messages never include key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The secret is empty or only whitespace: anyone could compute its MACs.
    #[error("the secret is empty")]
    EmptySecret,
    /// The secret is a placeholder ([`secrets::is_placeholder`]): its value is published, so
    /// anyone could compute its MACs.
    #[error("the secret is a placeholder (it contains replace_me)")]
    PlaceholderSecret,
    /// A Standard Webhooks secret is not base64 after its optional `whsec_` prefix, or decodes
    /// to nothing.
    #[error("the secret is not base64 after its whsec_ prefix")]
    SecretNotBase64,
    /// The text is not one PEM block labelled `PUBLIC KEY` or `RSA PUBLIC KEY`.
    #[error("not a PEM public key (BEGIN PUBLIC KEY or BEGIN RSA PUBLIC KEY)")]
    PemArmor,
    /// The PEM block's body is not base64.
    #[error("the PEM body is not base64")]
    PemBase64,
    /// The DER inside the PEM is not an RSA public key.
    #[error("the PEM does not hold an RSA public key")]
    NotRsa,
    /// The RSA modulus is outside the 2048 to 8192 bits that verification accepts.
    #[error("the RSA key has {bits} bits; 2048 to 8192 are accepted")]
    RsaKeySize {
        /// The modulus size in bits.
        bits: usize,
    },
}

/// A webhook signature scheme with its configured secrets or keys.
pub trait Verifier {
    /// Checks `delivery`'s signature (and, if the scheme signs one, its timestamp) and returns
    /// what the delivery carries besides its body.
    ///
    /// # Errors
    /// [`VerifyError`] if the delivery is not proven to come from the sender.
    fn verify(&self, delivery: &Delivery<'_>) -> Result<Verified, VerifyError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lookup_ignores_case_in_every_impl() {
        let pairs = [("X-Hub-Signature-256", "sha256=00")];
        let slice: &[(&str, &str)] = &pairs;
        let owned = vec![("Webhook-Id".to_owned(), "msg_1".to_owned())];
        assert_eq!(
            Headers::get(&pairs, "x-hub-signature-256"),
            Some("sha256=00")
        );
        assert_eq!(
            Headers::get(&slice, "X-HUB-SIGNATURE-256"),
            Some("sha256=00")
        );
        assert_eq!(Headers::get(&owned, "webhook-id"), Some("msg_1"));
        assert_eq!(Headers::get(&owned, "webhook-timestamp"), None);
    }

    #[test]
    fn error_messages_name_headers_only() {
        assert_eq!(
            VerifyError::MissingHeader("Stripe-Signature").to_string(),
            "missing header Stripe-Signature"
        );
        assert_eq!(
            VerifyError::BadSignature.to_string(),
            "no signature matches"
        );
    }
}
