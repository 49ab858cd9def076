//! The MFA key ring (`MFA_KEY_SECRET_ID`): `{"active_kid": "k1", "k1": "<random string>"}`, as
//! the signing ring. Each entry gives two keys, derived apart so neither can stand in for the
//! other: AES-256-GCM for TOTP secrets at rest, HMAC-SHA-256 for recovery codes. Rotation: add
//! "k2" and point `active_kid` at it; factors enrolled under "k1" keep working while "k1" stays.

use std::{collections::HashMap, fmt};

use anyhow::{Context as _, bail};
use aws_lc_rs::{
    aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey},
    digest, hmac,
};
use base64::{Engine as _, engine::general_purpose::STANDARD};
use secrecy::{ExposeSecret, SecretString};

/// The shortest key string accepted: 256 bits as Secrets Manager generates them.
const MIN_KEY_BYTES: usize = 32;

/// One ring entry's keys.
struct Entry {
    aead: RandomizedNonceKey,
    hmac: hmac::Key,
}

/// The ring. Never printed: `Debug` shows the key ids only.
pub struct KeyRing {
    active: String,
    entries: HashMap<String, Entry>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("active_kid", &self.active)
            .field("kids", &self.entries.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// A secret sealed under a ring entry: what the store keeps.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    /// The ring entry.
    pub kid: String,
    /// base64 of nonce, ciphertext and tag.
    pub blob: String,
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealed")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// Derives a 32-byte key for `purpose` from a key string.
fn derive(purpose: &str, key: &str) -> digest::Digest {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(purpose.as_bytes());
    ctx.update(&[0]);
    ctx.update(key.as_bytes());
    ctx.finish()
}

impl KeyRing {
    /// Parses the secret; every key must be at least [`MIN_KEY_BYTES`] long.
    pub fn from_secret_json(secret: &SecretString) -> anyhow::Result<Self> {
        let map: HashMap<String, String> = serde_json::from_str(secret.expose_secret())
            .context("MFA key secret is not a JSON object of strings")?;
        let active = map
            .get("active_kid")
            .cloned()
            .context("MFA key secret has no active_kid")?;
        let mut entries = HashMap::new();
        for (kid, key) in map.iter().filter(|(k, _)| k.as_str() != "active_kid") {
            if key.len() < MIN_KEY_BYTES {
                bail!("MFA key {kid} is shorter than {MIN_KEY_BYTES} bytes");
            }
            let aead = RandomizedNonceKey::new(&AES_256_GCM, derive("totp-secret", key).as_ref())
                .map_err(|_| anyhow::anyhow!("MFA key {kid}: AES key"))?;
            let hmac = hmac::Key::new(hmac::HMAC_SHA256, derive("recovery-code", key).as_ref());
            entries.insert(kid.clone(), Entry { aead, hmac });
        }
        if !entries.contains_key(&active) {
            bail!("active_kid {active} has no key in the MFA key secret");
        }
        Ok(Self { active, entries })
    }

    fn entry(&self, kid: &str) -> anyhow::Result<&Entry> {
        self.entries
            .get(kid)
            .with_context(|| format!("MFA key {kid} is not in the ring"))
    }

    /// The active key id: new factors are sealed and their recovery codes hashed under it.
    pub fn active_kid(&self) -> &str {
        &self.active
    }

    /// Seals `plain` under the active key, bound to `context` (the user id): a sealed secret
    /// copied onto another user's item does not open.
    pub fn seal(&self, plain: &[u8], context: &str) -> anyhow::Result<Sealed> {
        let entry = self.entry(&self.active)?;
        let mut in_out = plain.to_vec();
        let nonce = entry
            .aead
            .seal_in_place_append_tag(Aad::from(aad(context)), &mut in_out)
            .map_err(|_| anyhow::anyhow!("sealing a TOTP secret"))?;
        let mut blob = nonce.as_ref().to_vec();
        blob.extend_from_slice(&in_out);
        Ok(Sealed {
            kid: self.active.clone(),
            blob: STANDARD.encode(blob),
        })
    }

    /// Opens what [`KeyRing::seal`] sealed for `context`.
    pub fn open(&self, sealed: &Sealed, context: &str) -> anyhow::Result<Vec<u8>> {
        let entry = self.entry(&sealed.kid)?;
        let blob = STANDARD
            .decode(&sealed.blob)
            .context("stored TOTP secret is not base64")?;
        if blob.len() < NONCE_LEN {
            bail!("stored TOTP secret is too short");
        }
        let (nonce, rest) = blob.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce)
            .map_err(|_| anyhow::anyhow!("stored TOTP secret nonce"))?;
        let mut in_out = rest.to_vec();
        let plain = entry
            .aead
            .open_in_place(nonce, Aad::from(aad(context)), &mut in_out)
            .map_err(|_| anyhow::anyhow!("stored TOTP secret does not open"))?;
        Ok(plain.to_vec())
    }

    /// The keyed hash of a normalized recovery code under key `kid`, hex. A fast hash is enough:
    /// the codes carry 80 random bits, so even with the key nobody enumerates them, and without
    /// the key (Secrets Manager's, not the table's) a stolen table tells nothing at all.
    pub fn recovery_hash(&self, kid: &str, code: &str) -> anyhow::Result<String> {
        let entry = self.entry(kid)?;
        let tag = hmac::sign(&entry.hmac, code.as_bytes());
        Ok(tag.as_ref().iter().map(|b| format!("{b:02x}")).collect())
    }
}

fn aad(context: &str) -> Vec<u8> {
    format!("mfa-totp\0{context}").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(json: &str) -> KeyRing {
        KeyRing::from_secret_json(&SecretString::from(json.to_owned())).unwrap()
    }

    const K1: &str = r#"{"active_kid":"k1","k1":"0123456789abcdef0123456789abcdef"}"#;

    #[test]
    fn a_sealed_secret_opens_for_its_user_only() {
        let ring = ring(K1);
        let sealed = ring.seal(b"twenty bytes secret!", "user-a").unwrap();
        assert!(!sealed.blob.contains("twenty"));
        assert_eq!(
            ring.open(&sealed, "user-a").unwrap(),
            b"twenty bytes secret!"
        );
        assert!(ring.open(&sealed, "user-b").is_err());
    }

    #[test]
    fn sealing_twice_gives_two_ciphertexts() {
        let ring = ring(K1);
        let a = ring.seal(b"same", "u").unwrap();
        let b = ring.seal(b"same", "u").unwrap();
        assert_ne!(a.blob, b.blob);
    }

    #[test]
    fn a_factor_sealed_under_an_older_key_opens_after_rotation() {
        let old = ring(K1);
        let sealed = old.seal(b"secret", "u").unwrap();
        let hash = old.recovery_hash("k1", "abcd").unwrap();
        let rotated = ring(
            r#"{"active_kid":"k2","k1":"0123456789abcdef0123456789abcdef","k2":"fedcba9876543210fedcba9876543210"}"#,
        );
        assert_eq!(rotated.active_kid(), "k2");
        assert_eq!(rotated.open(&sealed, "u").unwrap(), b"secret");
        assert_eq!(rotated.recovery_hash("k1", "abcd").unwrap(), hash);
        assert_ne!(rotated.recovery_hash("k2", "abcd").unwrap(), hash);
    }

    #[test]
    fn short_keys_and_a_missing_active_key_are_refused() {
        let parse = |json: &str| KeyRing::from_secret_json(&SecretString::from(json.to_owned()));
        assert!(parse(r#"{"active_kid":"k1","k1":"short"}"#).is_err());
        assert!(parse(r#"{"active_kid":"k2","k1":"0123456789abcdef0123456789abcdef"}"#).is_err());
        assert!(parse("not json").is_err());
    }

    #[test]
    fn debug_shows_no_key_material() {
        let ring = ring(K1);
        let sealed = ring.seal(b"secret", "u").unwrap();
        let printed = format!("{ring:?} {sealed:?}");
        assert!(!printed.contains("0123456789abcdef"));
        assert!(!printed.contains(&sealed.blob));
    }
}
