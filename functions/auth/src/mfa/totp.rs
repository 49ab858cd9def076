//! TOTP (RFC 6238) over HOTP (RFC 4226), pure: no clock, no store. The server enrols SHA-1, 6
//! digits, 30 s, the parameters every authenticator app reads from an `otpauth://` URI; SHA-256
//! and SHA-512 are here for the RFC's test vectors and for clients that ask for them.

use aws_lc_rs::hmac;

/// The HMAC a TOTP generator is built on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// HMAC-SHA-1: the RFC's default and what authenticator apps assume.
    Sha1,
    /// HMAC-SHA-256.
    Sha256,
    /// HMAC-SHA-512.
    Sha512,
}

impl Algorithm {
    fn hmac(self) -> hmac::Algorithm {
        match self {
            // RFC 4226's truncation needs only a PRF; SHA-1's collision weakness does not apply.
            Algorithm::Sha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            Algorithm::Sha256 => hmac::HMAC_SHA256,
            Algorithm::Sha512 => hmac::HMAC_SHA512,
        }
    }

    /// The name in an `otpauth://` URI.
    pub const fn name(self) -> &'static str {
        match self {
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
            Algorithm::Sha512 => "SHA512",
        }
    }
}

/// The parameters the server enrols: SHA-1, six digits, 30-second steps from the epoch.
pub const DIGITS: u32 = 6;
/// The step length `X`, in seconds.
pub const PERIOD: u64 = 30;
/// Steps either side of the current one that are accepted (a clock off by up to a step, or a
/// code typed as its step ended).
pub const DRIFT: u64 = 1;

/// HOTP: the `digits`-digit code of `counter` under `key`, as a number.
pub fn hotp(algorithm: Algorithm, key: &[u8], counter: u64, digits: u32) -> u32 {
    let key = hmac::Key::new(algorithm.hmac(), key);
    let tag = hmac::sign(&key, &counter.to_be_bytes());
    let mac = tag.as_ref();
    // Dynamic truncation (RFC 4226 §5.3): the low nibble of the last byte picks four bytes.
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    let binary = u32::from_be_bytes([
        mac[offset] & 0x7f,
        mac[offset + 1],
        mac[offset + 2],
        mac[offset + 3],
    ]);
    binary % 10_u32.pow(digits)
}

/// The time step of Unix time `unix_secs` (`T0 = 0`).
pub fn step(unix_secs: u64, period: u64) -> u64 {
    unix_secs / period
}

/// TOTP: the code of Unix time `unix_secs`, zero-padded to `digits`.
pub fn totp(algorithm: Algorithm, key: &[u8], unix_secs: u64, period: u64, digits: u32) -> String {
    let code = hotp(algorithm, key, step(unix_secs, period), digits);
    format!("{code:0width$}", width = digits as usize)
}

/// The step `code` is the server's code for, among the current step and [`DRIFT`] either side,
/// that is later than `last_used` (a step once accepted never is again); the latest such step
/// when several match. `None` for a code of the wrong shape or no match.
pub fn matching_step(
    key: &[u8],
    code: &str,
    unix_secs: u64,
    last_used: Option<u64>,
) -> Option<u64> {
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = step(unix_secs, PERIOD);
    let mut found = None;
    for candidate in now.saturating_sub(DRIFT)..=now.saturating_add(DRIFT) {
        if last_used.is_some_and(|last| candidate <= last) {
            continue;
        }
        let expected = format!(
            "{:0width$}",
            hotp(Algorithm::Sha1, key, candidate, DIGITS),
            width = DIGITS as usize
        );
        // Every candidate is computed and compared in full, so timing does not say which matched.
        if constant_time_eq(expected.as_bytes(), code.as_bytes()) {
            found = Some(candidate);
        }
    }
    found
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0_u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding: how `otpauth://` URIs carry the secret.
pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u16 = 0;
    let mut bits = 0;
    for &byte in bytes {
        buffer = (buffer << 8) | u16::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32[usize::from((buffer >> bits) & 0x1f)]));
        }
    }
    if bits > 0 {
        out.push(char::from(
            BASE32[usize::from((buffer << (5 - bits)) & 0x1f)],
        ));
    }
    out
}

/// Decodes RFC 4648 base32 (upper or lower case, padding and spaces ignored), as authenticator
/// apps read a typed secret; `None` for any other character.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for c in text.bytes().filter(|c| !matches!(c, b'=' | b' ')) {
        let value = BASE32.iter().position(|&a| a == c.to_ascii_uppercase())?;
        buffer = (buffer << 5) | u32::try_from(value).ok()?;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((buffer >> bits) & 0xff).ok()?);
        }
    }
    Some(out)
}

/// The enrolment URI (the de facto Key Uri Format authenticator apps read): label
/// `issuer:account`, and the parameters spelled out though they are the defaults, so no app
/// has to guess.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm={}&digits={DIGITS}&period={PERIOD}",
        percent(issuer),
        percent(account),
        base32(secret),
        percent(issuer),
        Algorithm::Sha1.name(),
    )
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn percent(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B: the seed is ASCII "1234567890" repeated to the hash's block of key.
    fn seed(len: usize) -> Vec<u8> {
        b"12345678901234567890"
            .iter()
            .copied()
            .cycle()
            .take(len)
            .collect()
    }

    /// Appendix B's table: time, then the SHA-1, SHA-256 and SHA-512 codes (8 digits, X = 30).
    const VECTORS: &[(u64, &str, &str, &str)] = &[
        (59, "94287082", "46119246", "90693936"),
        (1_111_111_109, "07081804", "68084774", "25091201"),
        (1_111_111_111, "14050471", "67062674", "99943326"),
        (1_234_567_890, "89005924", "91819424", "93441116"),
        (2_000_000_000, "69279037", "90698825", "38618901"),
        (20_000_000_000, "65353130", "77737706", "47863826"),
    ];

    #[test]
    fn the_rfc_6238_vectors_are_reproduced_for_sha1_sha256_and_sha512() {
        for &(time, sha1, sha256, sha512) in VECTORS {
            assert_eq!(
                totp(Algorithm::Sha1, &seed(20), time, 30, 8),
                sha1,
                "SHA-1 at {time}"
            );
            assert_eq!(
                totp(Algorithm::Sha256, &seed(32), time, 30, 8),
                sha256,
                "SHA-256 at {time}"
            );
            assert_eq!(
                totp(Algorithm::Sha512, &seed(64), time, 30, 8),
                sha512,
                "SHA-512 at {time}"
            );
        }
    }

    #[test]
    fn the_rfc_6238_time_steps_are_the_ones_in_its_table() {
        assert_eq!(step(59, 30), 0x1);
        assert_eq!(step(1_111_111_109, 30), 0x0235_23EC);
        assert_eq!(step(20_000_000_000, 30), 0x27BC_86AA);
    }

    #[test]
    fn the_rfc_4226_hotp_values_are_reproduced() {
        let expected = [755_224, 287_082, 359_152, 969_429, 338_314];
        for (counter, code) in expected.iter().enumerate() {
            assert_eq!(hotp(Algorithm::Sha1, &seed(20), counter as u64, 6), *code);
        }
    }

    #[test]
    fn a_code_matches_its_step_and_one_either_side_but_no_further() {
        let key = seed(20);
        let now = 1_234_567_890;
        let code_at = |t: u64| totp(Algorithm::Sha1, &key, t, PERIOD, DIGITS);
        assert_eq!(
            matching_step(&key, &code_at(now), now, None),
            Some(step(now, 30))
        );
        assert_eq!(
            matching_step(&key, &code_at(now - 30), now, None),
            Some(step(now, 30) - 1)
        );
        assert_eq!(
            matching_step(&key, &code_at(now + 30), now, None),
            Some(step(now, 30) + 1)
        );
        assert_eq!(matching_step(&key, &code_at(now - 60), now, None), None);
        assert_eq!(matching_step(&key, &code_at(now + 60), now, None), None);
    }

    #[test]
    fn a_step_already_used_or_earlier_is_never_accepted_again() {
        let key = seed(20);
        let now = 1_234_567_890;
        let code = totp(Algorithm::Sha1, &key, now, PERIOD, DIGITS);
        let current = step(now, 30);
        assert_eq!(matching_step(&key, &code, now, Some(current)), None);
        assert_eq!(matching_step(&key, &code, now, Some(current + 1)), None);
        assert_eq!(
            matching_step(&key, &code, now, Some(current - 1)),
            Some(current)
        );
    }

    #[test]
    fn codes_of_the_wrong_shape_are_refused_before_any_hmac() {
        let key = seed(20);
        for code in ["", "12345", "1234567", "12a456", " 12345", "１２３４５６"] {
            assert_eq!(matching_step(&key, code, 59, None), None, "{code:?}");
        }
    }

    #[test]
    fn base32_matches_rfc_4648() {
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(b"fo"), "MZXQ");
        assert_eq!(base32(b"foo"), "MZXW6");
        assert_eq!(base32(b"foob"), "MZXW6YQ");
        assert_eq!(base32(b"fooba"), "MZXW6YTB");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(&[0_u8; 20]).len(), 32);
    }

    #[test]
    fn base32_decodes_what_it_encodes_and_refuses_other_characters() {
        for bytes in [&b""[..], b"f", b"foobar", b"12345678901234567890"] {
            assert_eq!(base32_decode(&base32(bytes)).as_deref(), Some(bytes));
        }
        assert_eq!(base32_decode("mzxw6ytboi").as_deref(), Some(&b"foobar"[..]));
        assert_eq!(
            base32_decode("MZXW6YTBOI======").as_deref(),
            Some(&b"foobar"[..])
        );
        assert_eq!(base32_decode("MZXW1"), None);
    }

    #[test]
    fn the_uri_names_issuer_account_and_every_parameter_encoded() {
        let uri = otpauth_uri("My App", "jane+x@example.com", b"12345678901234567890");
        assert_eq!(
            uri,
            "otpauth://totp/My%20App:jane%2Bx%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=My%20App&algorithm=SHA1&digits=6&period=30"
        );
    }
}
