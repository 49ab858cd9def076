//! Recovery codes: [`COUNT`] at confirmation (and on regeneration), shown once, stored only as
//! keyed hashes ([`super::keys::KeyRing::recovery_hash`]), each spent by a conditional removal.
//! Sixteen characters of Crockford's base32 (80 random bits), grouped by four for reading;
//! typed back, case, dashes, spaces and the letters it confuses with digits do not matter.

use aws_lc_rs::rand::{SecureRandom as _, SystemRandom};

/// Codes per set.
pub const COUNT: usize = 10;

/// Characters per code, dashes aside.
const LEN: usize = 16;

/// Crockford's base32: no i, l, o or u.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// A fresh set of codes as shown to the user (`xxxx-xxxx-xxxx-xxxx`).
pub fn generate() -> anyhow::Result<Vec<String>> {
    let rng = SystemRandom::new();
    (0..COUNT)
        .map(|_| {
            let mut bytes = [0_u8; LEN];
            rng.fill(&mut bytes)
                .map_err(|_| anyhow::anyhow!("no randomness for recovery codes"))?;
            // 256 is a multiple of 32, so the low five bits are uniform.
            let chars: Vec<char> = bytes
                .iter()
                .map(|b| char::from(ALPHABET[usize::from(b & 0x1f)]))
                .collect();
            Ok(chars
                .chunks(4)
                .map(|c| c.iter().collect::<String>())
                .collect::<Vec<_>>()
                .join("-"))
        })
        .collect()
}

/// The code as hashed: lower case, without separators, Crockford's look-alikes read as the
/// digits they look like. `None` for anything that cannot be a code.
pub fn normalize(typed: &str) -> Option<String> {
    let mut out = String::with_capacity(LEN);
    for c in typed.chars() {
        let c = match c.to_ascii_lowercase() {
            '-' | ' ' => continue,
            'i' | 'l' => '1',
            'o' => '0',
            c => c,
        };
        if !c.is_ascii() || !ALPHABET.contains(&(c as u8)) {
            return None;
        }
        out.push(c);
    }
    (out.len() == LEN).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_is_ten_distinct_codes_in_four_groups_of_four() {
        let codes = generate().unwrap();
        assert_eq!(codes.len(), COUNT);
        let distinct: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(distinct.len(), COUNT);
        for code in &codes {
            assert_eq!(code.len(), 19, "{code}");
            assert_eq!(code.split('-').count(), 4);
            assert_eq!(normalize(code).map(|n| n.len()), Some(LEN));
        }
    }

    #[test]
    fn a_code_typed_loosely_normalizes_to_the_same_code() {
        let canonical = normalize("0123-4567-89ab-cdef").unwrap();
        assert_eq!(
            normalize("0123 4567 89AB CDEF").as_deref(),
            Some(canonical.as_str())
        );
        assert_eq!(
            normalize("O123456789abcdef").as_deref(),
            Some(canonical.as_str())
        );
        assert_eq!(
            normalize("0I23-4567-89ab-cdef"),
            normalize("0123-4567-89ab-cdef")
        );
    }

    #[test]
    fn what_cannot_be_a_code_is_refused() {
        assert_eq!(normalize(""), None);
        assert_eq!(normalize("0123-4567-89ab"), None);
        assert_eq!(normalize("0123-4567-89ab-cdef-0"), None);
        assert_eq!(normalize("0123-4567-89ab-cdeu"), None);
        assert_eq!(normalize("0123-4567-89ab-cdé1"), None);
    }
}
