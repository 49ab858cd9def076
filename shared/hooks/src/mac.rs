//! What the HMAC schemes share: their keys ([`Keys`]), HMAC-SHA256 over the signed parts,
//! constant-time matching of candidate signatures, and the strict number and hex parsing their
//! headers need; and what every timestamped scheme (RSA too) shares: the replay window, checked
//! once the signature holds ([`signed_in_window`]).

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use secrecy::{ExposeSecret as _, SecretSlice, SecretString};
use subtle::{Choice, ConstantTimeEq as _};

use crate::{KeyError, VerifyError};

/// The length of an HMAC-SHA256 tag.
pub(crate) const TAG_LEN: usize = 32;

/// One HMAC-SHA256 tag.
pub(crate) type Tag = [u8; TAG_LEN];

/// Standard-alphabet base64 that accepts input with or without padding: senders differ, and
/// the padding carries no information. Encoding pads.
pub(crate) const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The HMAC keys of one sender, any of which may have signed a delivery (several while a
/// secret is rotated).
#[derive(Debug, Clone)]
pub(crate) struct Keys(Vec<SecretSlice<u8>>);

impl Keys {
    /// The key each of `secrets` stands for, by `decode`. An empty list is allowed: it refuses
    /// every delivery ([`Keys::ensure_some`]). A placeholder ([`crate::secrets::is_placeholder`])
    /// is refused whatever `decode` makes of it: its value is published.
    pub(crate) fn new(
        secrets: &[SecretString],
        decode: impl Fn(&str) -> Result<Vec<u8>, KeyError>,
    ) -> Result<Self, KeyError> {
        secrets
            .iter()
            .map(|secret| {
                let secret = secret.expose_secret();
                if !secret.trim().is_empty() && crate::secrets::is_placeholder(secret) {
                    return Err(KeyError::PlaceholderSecret);
                }
                decode(secret).map(SecretSlice::from)
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// [`VerifyError::NoSecret`] when there is no key, so nothing can pass.
    pub(crate) fn ensure_some(&self) -> Result<(), VerifyError> {
        if self.0.is_empty() {
            Err(VerifyError::NoSecret)
        } else {
            Ok(())
        }
    }

    /// Whether the HMAC of `parts` under any key equals any of the `candidates` ([`any_matches`]).
    pub(crate) fn signed(&self, parts: &[&[u8]], candidates: &[Tag]) -> bool {
        let expected: Vec<Tag> = self
            .0
            .iter()
            .map(|key| hmac_sha256(key.expose_secret(), parts))
            .collect();
        any_matches(&expected, candidates)
    }
}

/// The key of a secret used whole, as GitHub and Stripe use theirs: its UTF-8 bytes. A blank
/// secret is refused: anyone could compute its MACs.
pub(crate) fn whole_secret(secret: &str) -> Result<Vec<u8>, KeyError> {
    if secret.trim().is_empty() {
        Err(KeyError::EmptySecret)
    } else {
        Ok(secret.as_bytes().to_vec())
    }
}

/// HMAC-SHA256 of the concatenation of `parts` under `key`.
///
/// The parts are fed one by one so that a large body is never copied to prepend a timestamp.
/// aws-lc's HMAC (the workspace's one crypto backend) takes a key of any length, so this
/// cannot fail.
pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Tag {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut context = hmac::Context::with_key(&key);
    for part in parts {
        context.update(part);
    }
    let mut tag = [0; TAG_LEN];
    tag.copy_from_slice(context.sign().as_ref());
    tag
}

/// Whether any of the `expected` tags (one per secret) equals any of the `candidates` (one
/// per signature in the header).
///
/// Every pair is compared in constant time and the results are combined without an early
/// return, so timing reveals neither a partial match nor which secret matched.
pub(crate) fn any_matches(expected: &[Tag], candidates: &[Tag]) -> bool {
    let mut matched = Choice::from(0);
    for tag in expected {
        for candidate in candidates {
            matched |= tag.ct_eq(candidate);
        }
    }
    matched.into()
}

/// Refuses a signed timestamp more than `tolerance` seconds before or after `now`. Exactly
/// `tolerance` seconds away still passes.
pub(crate) fn check_window(timestamp: i64, now: i64, tolerance: u32) -> Result<(), VerifyError> {
    let tolerance = i64::from(tolerance);
    if timestamp < now.saturating_sub(tolerance) {
        Err(VerifyError::StaleTimestamp)
    } else if timestamp > now.saturating_add(tolerance) {
        Err(VerifyError::FutureTimestamp)
    } else {
        Ok(())
    }
}

/// The end of every timestamped scheme: the signature first (until it holds, the timestamp is
/// only a claim, and answering "stale" or "future" to a forgery would tell its sender our clock
/// window), then the window of [`check_window`].
pub(crate) fn signed_in_window(
    matched: bool,
    timestamp: i64,
    now: i64,
    tolerance: u32,
) -> Result<(), VerifyError> {
    if matched {
        check_window(timestamp, now, tolerance)
    } else {
        Err(VerifyError::BadSignature)
    }
}

/// A Unix timestamp written as ASCII digits only: no sign, no spaces, no `+`, which
/// `str::parse` would accept but no sender writes. Too large for an `i64` is `None`.
pub(crate) fn parse_unix(text: &str) -> Option<i64> {
    if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A 32-byte value from 64 hex digits, either case.
pub(crate) fn decode_hex_tag(text: &str) -> Option<Tag> {
    let digits = text.as_bytes();
    if digits.len() != 2 * TAG_LEN {
        return None;
    }
    let mut tag = [0; TAG_LEN];
    for (byte, pair) in tag.iter_mut().zip(digits.chunks_exact(2)) {
        let high = char::from(pair[0]).to_digit(16)?;
        let low = char::from(pair[1]).to_digit(16)?;
        // Both digits are below 16, so the value fits a byte.
        *byte = u8::try_from(high * 16 + low).ok()?;
    }
    Some(tag)
}

/// Lowercase hex, as GitHub and Stripe send it.
pub(crate) fn encode_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(2 * bytes.len());
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    text
}

/// A 32-byte value from base64 (padded or not).
pub(crate) fn decode_base64_tag(text: &str) -> Option<Tag> {
    BASE64.decode(text).ok()?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_reproduces_rfc_4231_test_case_1() {
        let tag = hmac_sha256(&[0x0b; 20], &[b"Hi There"]);
        assert_eq!(
            encode_hex(&tag),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
    }

    #[test]
    fn hmac_reproduces_rfc_4231_test_case_2_fed_in_parts() {
        let tag = hmac_sha256(b"Jefe", &[b"what do ya ", b"", b"want for nothing?"]);
        assert_eq!(
            encode_hex(&tag),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn hex_decodes_either_case_and_refuses_anything_else() {
        let lower = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        let tag = decode_hex_tag(lower).unwrap();
        assert_eq!(encode_hex(&tag), lower);
        assert_eq!(decode_hex_tag(&lower.to_uppercase()), Some(tag));
        assert_eq!(decode_hex_tag(&lower[..62]), None);
        assert_eq!(decode_hex_tag(&format!("{}zz", &lower[..62])), None);
        assert_eq!(decode_hex_tag(&format!("+{}", &lower[1..])), None);
        // 64 bytes, but not 64 ASCII characters.
        assert_eq!(decode_hex_tag(&format!("é{}", &lower[2..])), None);
    }

    #[test]
    fn unix_timestamps_are_digits_only() {
        assert_eq!(parse_unix("1700000000"), Some(1_700_000_000));
        for text in ["", "-1", "+1", " 1", "1 ", "1e9", &"9".repeat(40)] {
            assert_eq!(parse_unix(text), None, "{text:?}");
        }
    }

    #[test]
    fn the_window_is_inclusive_in_both_directions() {
        assert_eq!(check_window(1000, 1300, 300), Ok(()));
        assert_eq!(check_window(1600, 1300, 300), Ok(()));
        assert_eq!(
            check_window(999, 1300, 300),
            Err(VerifyError::StaleTimestamp)
        );
        assert_eq!(
            check_window(1601, 1300, 300),
            Err(VerifyError::FutureTimestamp)
        );
        assert_eq!(
            check_window(i64::MAX, i64::MIN, 300),
            Err(VerifyError::FutureTimestamp)
        );
    }

    #[test]
    fn any_matching_pair_is_enough() {
        let (a, b, c) = ([1; TAG_LEN], [2; TAG_LEN], [3; TAG_LEN]);
        assert!(any_matches(&[a, b], &[c, b]));
        assert!(!any_matches(&[a, b], &[c]));
        assert!(!any_matches(&[], &[a]));
        assert!(!any_matches(&[a], &[]));
    }
}
