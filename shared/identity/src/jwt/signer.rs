//! [`Signer`]: mints tokens from the private key ring. Only `auth` builds one.

use std::{collections::BTreeMap, collections::HashMap, fmt, sync::Arc, time::Duration};

use anyhow::{Context as _, bail};
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use super::{Claims, Issued, TokenKind, TokenSettings, Verifier};

/// Minimum length of a signing key string: 256 bits of entropy as Secrets Manager generates them.
pub const MIN_KEY_BYTES: usize = 32;

/// The Ed25519 key pair of a key-ring entry: its 32-byte seed is SHA-256 of the key string, so
/// the secret's format (random strings, as Secrets Manager's `GenerateSecretString` makes them)
/// needs no custom resource to generate.
pub(super) fn key_pair(key: &str) -> anyhow::Result<Ed25519KeyPair> {
    let seed = Sha256::digest(key.as_bytes());
    Ed25519KeyPair::from_seed_unchecked(&seed).map_err(|e| anyhow::anyhow!("Ed25519 seed: {e}"))
}

/// Mints tokens; only `auth` builds one, from the signing key secret
/// `{"active_kid": "k1", "k1": "<key>", "k0": "<older key>"}`. Never printed.
pub struct Signer {
    active: String,
    keys: HashMap<String, EncodingKey>,
    public: BTreeMap<String, String>,
    settings: TokenSettings,
    verifier: Arc<Verifier>,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("active_kid", &self.active)
            .field("kids", &self.public.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// Parses the signing key secret; every key must be at least [`MIN_KEY_BYTES`] long.
    pub fn from_secret_json(
        secret: &SecretString,
        settings: TokenSettings,
    ) -> anyhow::Result<Self> {
        let map: HashMap<String, String> = serde_json::from_str(secret.expose_secret())
            .context("signing key secret is not a JSON object of strings")?;
        let active = map
            .get("active_kid")
            .cloned()
            .context("signing key secret has no active_kid")?;
        let mut keys = HashMap::new();
        let mut public = BTreeMap::new();
        for (kid, key) in map.iter().filter(|(k, _)| k.as_str() != "active_kid") {
            if key.len() < MIN_KEY_BYTES {
                bail!("signing key {kid} is shorter than {MIN_KEY_BYTES} bytes");
            }
            let pair = key_pair(key)?;
            let pkcs8 = pair
                .to_pkcs8()
                .map_err(|_| anyhow::anyhow!("signing key {kid}: PKCS#8 encoding failed"))?;
            keys.insert(kid.clone(), EncodingKey::from_ed_der(pkcs8.as_ref()));
            public.insert(
                kid.clone(),
                URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
            );
        }
        if !keys.contains_key(&active) {
            bail!("active_kid {active} has no key in the signing key secret");
        }
        let verifier = Arc::new(Verifier::from_public(&public, settings.clone())?);
        Ok(Self {
            active,
            keys,
            public,
            settings,
            verifier,
        })
    }

    /// The verifying-keys document for the other functions: `{"keys": {"<kid>": "<x>"}}`, `x`
    /// the base64url public key as in a JWK (RFC 8037). No private material.
    pub fn public_keys_json(&self) -> String {
        serde_json::json!({ "keys": self.public }).to_string()
    }

    /// The verifier for this ring's own public keys.
    pub fn verifier(&self) -> Arc<Verifier> {
        self.verifier.clone()
    }

    /// The signing `kid`.
    pub fn active_kid(&self) -> &str {
        &self.active
    }

    /// The lifetime of `kind`.
    pub fn ttl(&self, kind: TokenKind) -> Duration {
        self.settings.ttl(kind)
    }

    /// Issues an access token for `sub` in `session`, carrying the user's `tier`; it expires
    /// with the session at the latest.
    pub fn issue_access(
        &self,
        sub: &str,
        session: &SessionStamp<'_>,
        tier: &str,
        now: i64,
    ) -> anyhow::Result<Issued> {
        let mut claims = self.claims(TokenKind::Access, sub, Some(session.id), Some(tier), now);
        claims.sct = Some(session.created_at_ms);
        claims.exp = claims.exp.min(session.expires_at);
        self.sign_claims(TokenKind::Access, claims)
    }

    /// Issues a `kind` token for `sub`, issued at `now` (seconds since the epoch).
    pub fn issue(
        &self,
        kind: TokenKind,
        sub: &str,
        sid: Option<&str>,
        now: i64,
    ) -> anyhow::Result<Issued> {
        self.sign(kind, sub, sid, None, now)
    }

    fn sign(
        &self,
        kind: TokenKind,
        sub: &str,
        sid: Option<&str>,
        tier: Option<&str>,
        now: i64,
    ) -> anyhow::Result<Issued> {
        self.sign_claims(kind, self.claims(kind, sub, sid, tier, now))
    }

    fn claims(
        &self,
        kind: TokenKind,
        sub: &str,
        sid: Option<&str>,
        tier: Option<&str>,
        now: i64,
    ) -> Claims {
        let ttl = i64::try_from(self.ttl(kind).as_secs()).unwrap_or(i64::MAX / 2);
        Claims {
            iss: self.settings.issuer.clone(),
            aud: self.settings.audience.clone(),
            sub: sub.to_owned(),
            jti: uuid::Uuid::new_v4().to_string(),
            iat: now,
            exp: now.saturating_add(ttl),
            sid: sid.map(str::to_owned),
            tier: tier.map(str::to_owned),
            sct: None,
        }
    }

    fn sign_claims(&self, kind: TokenKind, claims: Claims) -> anyhow::Result<Issued> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some(kind.typ().to_owned());
        header.kid = Some(self.active.clone());
        let key = self
            .keys
            .get(&self.active)
            .context("active signing key missing")?;
        let token = jsonwebtoken::encode(&header, &claims, key).context("signing token")?;
        Ok(Issued { token, claims })
    }
}

/// The session an access token is issued for, as stored: its id, when it was created (the
/// token's `sct`) and when it expires (the token expires then at the latest).
#[derive(Debug, Clone, Copy)]
pub struct SessionStamp<'a> {
    /// The session id (`sid`).
    pub id: &'a str,
    /// The session's `created_at_ms`.
    pub created_at_ms: i64,
    /// The session's `expires_at` (epoch seconds).
    pub expires_at: i64,
}
