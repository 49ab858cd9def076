//! JWTs signed with Ed25519 (`EdDSA`): only `auth` holds the private keys ([`Signer`]); every
//! other function verifies with the public keys alone ([`Verifier`]), so no function but `auth`
//! can mint a token. A key ring with `kid`s allows rotation; every token kind has its own `typ`;
//! `iss`/`aud`/`exp`/`sub` are required, `nbf` is checked when present, and a `crit` header is
//! refused (jsonwebtoken only checks what it is told to).

use std::{collections::BTreeMap, collections::HashMap, fmt, sync::Arc, time::Duration};

use anyhow::{Context as _, bail};
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use shared::config::{ConfigError, Env};

/// The kinds of token; each has its own `typ` header, so none can stand in for another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// Short-lived bearer token (RFC 9068 `at+jwt`).
    Access,
    /// Long-lived token that only `/auth/refresh` accepts.
    Refresh,
    /// Single-use password reset link token.
    PasswordReset,
    /// Single-use email verification link token.
    VerifyEmail,
}

impl TokenKind {
    /// The `typ` header value.
    pub const fn typ(self) -> &'static str {
        match self {
            TokenKind::Access => "at+jwt",
            TokenKind::Refresh => "refresh+jwt",
            TokenKind::PasswordReset => "reset+jwt",
            TokenKind::VerifyEmail => "verify-email+jwt",
        }
    }
}

/// The claims every token carries. `sid` ties access and refresh tokens to their session.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// User id.
    pub sub: String,
    /// Token id: blacklist key, single-use key.
    pub jti: String,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Session id (access and refresh tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// The user's tier when the access token was issued: the rate limiter reads it without a
    /// database call, so a tier change reaches the limit with the next token (at most
    /// `ACCESS_TOKEN_TTL_SECS` later).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
}

/// Why a token was refused. Callers answer 401 (or 400 for action tokens) whatever the reason;
/// the reason is for logs.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    /// Not a JWT, bad base64 or JSON.
    #[error("malformed token")]
    Malformed,
    /// `alg` other than EdDSA (including `none` and HS256).
    #[error("algorithm not allowed")]
    Algorithm,
    /// `typ` is not the expected kind.
    #[error("wrong token type")]
    WrongType,
    /// Unknown or missing `kid`.
    #[error("unknown key id")]
    UnknownKey,
    /// Signature mismatch.
    #[error("bad signature")]
    Signature,
    /// Past `exp`.
    #[error("expired")]
    Expired,
    /// Wrong or missing `iss`/`aud`/`sub`, a future `nbf`, or another claim check.
    #[error("invalid claims")]
    Claims,
    /// A `crit` header: extensions we do not implement.
    #[error("critical header extension")]
    Critical,
}

/// Token settings, read where tokens are made and checked (never by `health`).
#[derive(Debug, Clone)]
pub struct TokenSettings {
    /// `JWT_ISSUER` (`rust-serverless-starter`).
    pub issuer: String,
    /// `JWT_AUDIENCE` (`rust-serverless-starter-api`).
    pub audience: String,
    /// `ACCESS_TOKEN_TTL_SECS` (900), `REFRESH_TOKEN_TTL_SECS` (7 days),
    /// `RESET_TOKEN_TTL_SECS` (900), `VERIFY_TOKEN_TTL_SECS` (24 h).
    pub ttls: TokenTtls,
}

impl TokenSettings {
    /// Reads the token variables.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            issuer: env.string_or("JWT_ISSUER", "rust-serverless-starter"),
            audience: env.string_or("JWT_AUDIENCE", "rust-serverless-starter-api"),
            ttls: TokenTtls {
                access: env.secs("ACCESS_TOKEN_TTL_SECS", 900)?,
                refresh: env.secs("REFRESH_TOKEN_TTL_SECS", 7 * 86_400)?,
                reset: env.secs("RESET_TOKEN_TTL_SECS", 900)?,
                verify: env.secs("VERIFY_TOKEN_TTL_SECS", 86_400)?,
            },
        })
    }

    /// The lifetime of `kind`.
    pub fn ttl(&self, kind: TokenKind) -> Duration {
        match kind {
            TokenKind::Access => self.ttls.access,
            TokenKind::Refresh => self.ttls.refresh,
            TokenKind::PasswordReset => self.ttls.reset,
            TokenKind::VerifyEmail => self.ttls.verify,
        }
    }
}

/// Lifetimes per kind.
#[derive(Debug, Clone, Copy)]
pub struct TokenTtls {
    /// Access token lifetime (default 15 min).
    pub access: Duration,
    /// Refresh token lifetime (default 7 days).
    pub refresh: Duration,
    /// Password reset token lifetime (default 15 min).
    pub reset: Duration,
    /// Email verification token lifetime (default 24 h).
    pub verify: Duration,
}

/// A freshly issued token with its claims.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The compact JWT.
    pub token: String,
    /// What it says.
    pub claims: Claims,
}

/// Minimum length of a signing key string: 256 bits of entropy as Secrets Manager generates them.
pub const MIN_KEY_BYTES: usize = 32;

/// The Ed25519 key pair of a key-ring entry: its 32-byte seed is SHA-256 of the key string, so
/// the secret's format (random strings, as Secrets Manager's `GenerateSecretString` makes them)
/// needs no custom resource to generate.
fn key_pair(key: &str) -> anyhow::Result<Ed25519KeyPair> {
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

    /// Issues an access token for `sub` in session `sid`, carrying the user's `tier`.
    pub fn issue_access(
        &self,
        sub: &str,
        sid: &str,
        tier: &str,
        now: i64,
    ) -> anyhow::Result<Issued> {
        self.sign(TokenKind::Access, sub, Some(sid), Some(tier), now)
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
        let ttl = i64::try_from(self.ttl(kind).as_secs()).unwrap_or(i64::MAX / 2);
        let claims = Claims {
            iss: self.settings.issuer.clone(),
            aud: self.settings.audience.clone(),
            sub: sub.to_owned(),
            jti: uuid::Uuid::new_v4().to_string(),
            iat: now,
            exp: now.saturating_add(ttl),
            sid: sid.map(str::to_owned),
            tier: tier.map(str::to_owned),
        };
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

/// The verifying keys document that `auth` publishes and the other functions read.
#[derive(Debug, Deserialize)]
struct PublicKeys {
    keys: BTreeMap<String, String>,
}

/// Verifies tokens with public keys only.
pub struct Verifier {
    keys: HashMap<String, DecodingKey>,
    settings: TokenSettings,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("kids", &self.keys.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// Parses the verifying keys secret `{"keys": {"<kid>": "<base64url public key>"}}`.
    pub fn from_public_json(json: &str, settings: TokenSettings) -> anyhow::Result<Self> {
        let doc: PublicKeys =
            serde_json::from_str(json).context("verifying keys secret is not {\"keys\": {..}}")?;
        if doc.keys.is_empty() {
            bail!("verifying keys secret holds no key yet (auth publishes them when it starts)");
        }
        Self::from_public(&doc.keys, settings)
    }

    fn from_public(
        keys: &BTreeMap<String, String>,
        settings: TokenSettings,
    ) -> anyhow::Result<Self> {
        let keys = keys
            .iter()
            .map(|(kid, x)| {
                DecodingKey::from_ed_components(x)
                    .map(|key| (kid.clone(), key))
                    .with_context(|| format!("verifying key {kid}"))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Self { keys, settings })
    }

    /// The `kid` of a token, unverified (to decide whether to reload the keys).
    pub fn kid_of(token: &str) -> Option<String> {
        jsonwebtoken::decode_header(token).ok()?.kid
    }

    /// Verifies signature, `alg`, `typ`, `kid`, `crit`, `iss`, `aud`, `sub`, `exp` and `nbf`.
    pub fn verify(&self, kind: TokenKind, token: &str) -> Result<Claims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::Algorithm);
        }
        // RFC 7515 §4.1.11: a `crit` header names extensions the verifier must understand; we
        // understand none, so such a token is refused (jsonwebtoken's Header drops the field).
        if has_crit_header(token) {
            return Err(TokenError::Critical);
        }
        if header.typ.as_deref() != Some(kind.typ()) {
            return Err(TokenError::WrongType);
        }
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.keys.get(kid))
            .ok_or(TokenError::UnknownKey)?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.set_issuer(&[&self.settings.issuer]);
        validation.set_audience(&[&self.settings.audience]);
        validation.leeway = 5;
        // `nbf` is optional in our tokens; when present it must have passed.
        validation.validate_nbf = true;
        jsonwebtoken::decode::<Claims>(token, key, &validation)
            .map(|data| data.claims)
            .map_err(|err| {
                use jsonwebtoken::errors::ErrorKind;
                match err.kind() {
                    ErrorKind::InvalidSignature => TokenError::Signature,
                    ErrorKind::ExpiredSignature => TokenError::Expired,
                    ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                        TokenError::Algorithm
                    }
                    ErrorKind::InvalidIssuer
                    | ErrorKind::InvalidAudience
                    | ErrorKind::InvalidSubject
                    | ErrorKind::MissingRequiredClaim(_)
                    | ErrorKind::ImmatureSignature => TokenError::Claims,
                    _ => TokenError::Malformed,
                }
            })
    }
}

/// Whether the token's protected header carries `crit` (any value).
fn has_crit_header(token: &str) -> bool {
    let Some(segment) = token.split('.').next() else {
        return false;
    };
    let Ok(bytes) = URL_SAFE_NO_PAD.decode(segment) else {
        return false;
    };
    serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&bytes)
        .is_ok_and(|header| header.contains_key("crit"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0123456789abcdef0123456789abcdef-test-key";

    fn settings(issuer: &str, audience: &str) -> TokenSettings {
        TokenSettings {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            ttls: TokenTtls {
                access: Duration::from_secs(900),
                refresh: Duration::from_secs(7 * 86_400),
                reset: Duration::from_secs(900),
                verify: Duration::from_secs(86_400),
            },
        }
    }

    fn signer_with(issuer: &str, audience: &str, key: &str) -> Signer {
        let secret = SecretString::from(format!(r#"{{"active_kid":"k1","k1":"{key}"}}"#));
        Signer::from_secret_json(&secret, settings(issuer, audience)).unwrap()
    }

    fn signer() -> Signer {
        signer_with("starter", "starter-api", KEY)
    }

    /// What a function other than auth has: the published public keys only.
    fn public_verifier(signer: &Signer) -> Verifier {
        Verifier::from_public_json(
            &signer.public_keys_json(),
            settings("starter", "starter-api"),
        )
        .unwrap()
    }

    fn now() -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp()
    }

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    #[test]
    fn an_access_token_round_trips_through_the_public_keys_alone() {
        let s = signer();
        let issued = s
            .issue(TokenKind::Access, "user-1", Some("sid-1"), now())
            .unwrap();
        let claims = public_verifier(&s)
            .verify(TokenKind::Access, &issued.token)
            .unwrap();
        assert_eq!(claims, issued.claims);
        assert_eq!(claims.sid.as_deref(), Some("sid-1"));
        let header = jsonwebtoken::decode_header(&issued.token).unwrap();
        assert_eq!(header.alg, Algorithm::EdDSA);
    }

    #[test]
    fn the_published_keys_hold_no_private_material() {
        let s = signer();
        let published = s.public_keys_json();
        let doc: serde_json::Value = serde_json::from_str(&published).unwrap();
        let x = doc["keys"]["k1"].as_str().unwrap();
        assert_eq!(
            URL_SAFE_NO_PAD.decode(x).unwrap().len(),
            32,
            "a bare public key"
        );
        assert!(!published.contains(KEY));
        let seed = Sha256::digest(KEY.as_bytes());
        assert!(!published.contains(&b64(&seed)));
    }

    #[test]
    fn kinds_are_not_interchangeable() {
        let s = signer();
        let v = s.verifier();
        let refresh = s.issue(TokenKind::Refresh, "u", Some("s"), now()).unwrap();
        let reset = s.issue(TokenKind::PasswordReset, "u", None, now()).unwrap();
        assert_eq!(
            v.verify(TokenKind::Access, &refresh.token),
            Err(TokenError::WrongType)
        );
        assert_eq!(
            v.verify(TokenKind::VerifyEmail, &reset.token),
            Err(TokenError::WrongType)
        );
        assert_eq!(
            v.verify(TokenKind::Access, &reset.token),
            Err(TokenError::WrongType)
        );
    }

    #[test]
    fn alg_none_and_hs256_are_refused() {
        let s = signer();
        let issued = s.issue(TokenKind::Access, "u", Some("s"), now()).unwrap();
        let payload = issued.token.split('.').nth(1).unwrap();
        let none = format!(
            "{}.{payload}.",
            b64(br#"{"alg":"none","typ":"at+jwt","kid":"k1"}"#)
        );
        assert!(s.verifier().verify(TokenKind::Access, &none).is_err());
        // HS256 keyed with the public key: the classic algorithm-confusion forgery.
        let x =
            serde_json::from_str::<serde_json::Value>(&s.public_keys_json()).unwrap()["keys"]["k1"]
                .as_str()
                .unwrap()
                .to_owned();
        let input = format!(
            "{}.{payload}",
            b64(br#"{"alg":"HS256","typ":"at+jwt","kid":"k1"}"#)
        );
        let sig = jsonwebtoken::crypto::sign(
            input.as_bytes(),
            &EncodingKey::from_secret(x.as_bytes()),
            Algorithm::HS256,
        )
        .unwrap();
        assert_eq!(
            s.verifier()
                .verify(TokenKind::Access, &format!("{input}.{sig}")),
            Err(TokenError::Algorithm)
        );
    }

    #[test]
    fn a_tampered_signature_is_refused() {
        let s = signer();
        let issued = s.issue(TokenKind::Access, "u", Some("s"), now()).unwrap();
        let mut token = issued.token.into_bytes();
        let last = token.len() - 2;
        token[last] = if token[last] == b'A' { b'B' } else { b'A' };
        let token = String::from_utf8(token).unwrap();
        assert_eq!(
            s.verifier().verify(TokenKind::Access, &token),
            Err(TokenError::Signature)
        );
    }

    #[test]
    fn wrong_issuer_or_audience_is_refused() {
        let ours = signer();
        let other_iss = signer_with("someone-else", "starter-api", KEY);
        let other_aud = signer_with("starter", "other-api", KEY);
        let a = other_iss
            .issue(TokenKind::Access, "u", Some("s"), now())
            .unwrap();
        let b = other_aud
            .issue(TokenKind::Access, "u", Some("s"), now())
            .unwrap();
        assert_eq!(
            ours.verifier().verify(TokenKind::Access, &a.token),
            Err(TokenError::Claims)
        );
        assert_eq!(
            ours.verifier().verify(TokenKind::Access, &b.token),
            Err(TokenError::Claims)
        );
    }

    #[test]
    fn an_expired_token_is_refused() {
        let s = signer();
        let issued = s
            .issue(TokenKind::Access, "u", Some("s"), now() - 3_600)
            .unwrap();
        assert_eq!(
            s.verifier().verify(TokenKind::Access, &issued.token),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn a_token_signed_with_another_key_is_refused() {
        let ours = signer();
        let theirs = signer_with(
            "starter",
            "starter-api",
            "another-key-another-key-another-key!!",
        );
        let issued = theirs
            .issue(TokenKind::Access, "u", Some("s"), now())
            .unwrap();
        assert_eq!(
            ours.verifier().verify(TokenKind::Access, &issued.token),
            Err(TokenError::Signature)
        );
    }

    #[test]
    fn old_keys_still_verify_after_rotation() {
        let old = signer();
        let issued = old.issue(TokenKind::Access, "u", Some("s"), now()).unwrap();
        let rotated = SecretString::from(format!(
            r#"{{"active_kid":"k2","k1":"{KEY}","k2":"a-brand-new-key-a-brand-new-key-000"}}"#
        ));
        let new = Signer::from_secret_json(&rotated, settings("starter", "starter-api")).unwrap();
        let published = public_verifier(&new);
        assert!(published.verify(TokenKind::Access, &issued.token).is_ok());
        let fresh = new.issue(TokenKind::Access, "u", Some("s"), now()).unwrap();
        assert_eq!(Verifier::kid_of(&fresh.token).as_deref(), Some("k2"));
        assert_eq!(
            public_verifier(&old).verify(TokenKind::Access, &fresh.token),
            Err(TokenError::UnknownKey),
            "the old set must be reloaded"
        );
    }

    #[test]
    fn short_keys_and_empty_key_sets_are_refused() {
        let secret = SecretString::from(r#"{"active_kid":"k1","k1":"short"}"#.to_owned());
        assert!(Signer::from_secret_json(&secret, settings("a", "b")).is_err());
        assert!(Verifier::from_public_json(r#"{"keys":{}}"#, settings("a", "b")).is_err());
    }

    /// Signs `header` and `claims` (JSON) with our key: only the header and claim checks can
    /// refuse these.
    fn signed(header: &str, claims: &serde_json::Value) -> String {
        let input = format!(
            "{}.{}",
            b64(header.as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let pkcs8 = key_pair(KEY).unwrap().to_pkcs8().unwrap();
        let signature = jsonwebtoken::crypto::sign(
            input.as_bytes(),
            &EncodingKey::from_ed_der(pkcs8.as_ref()),
            Algorithm::EdDSA,
        )
        .unwrap();
        format!("{input}.{signature}")
    }

    fn claims_at(nbf: Option<i64>) -> serde_json::Value {
        let mut claims = serde_json::json!({
            "iss": "starter", "aud": "starter-api", "sub": "user-1", "jti": "j",
            "iat": now(), "exp": now() + 600, "sid": "s"
        });
        if let Some(nbf) = nbf {
            claims["nbf"] = serde_json::json!(nbf);
        }
        claims
    }

    #[test]
    fn a_token_not_valid_before_a_future_time_is_refused() {
        let header = r#"{"alg":"EdDSA","typ":"at+jwt","kid":"k1"}"#;
        let v = public_verifier(&signer());
        assert!(
            v.verify(TokenKind::Access, &signed(header, &claims_at(None)))
                .is_ok()
        );
        let past = signed(header, &claims_at(Some(now() - 60)));
        assert!(v.verify(TokenKind::Access, &past).is_ok());
        let future = signed(header, &claims_at(Some(now() + 600)));
        assert_eq!(
            v.verify(TokenKind::Access, &future),
            Err(TokenError::Claims)
        );
    }

    #[test]
    fn a_token_with_a_crit_header_is_refused() {
        let crit = r#"{"alg":"EdDSA","typ":"at+jwt","kid":"k1","crit":["exp"]}"#;
        assert_eq!(
            public_verifier(&signer()).verify(TokenKind::Access, &signed(crit, &claims_at(None))),
            Err(TokenError::Critical)
        );
    }

    /// RFC 8037 appendix A.4: Ed25519 is deterministic, so the published key reproduces the
    /// published signature byte for byte, and the public key `x` verifies it.
    #[test]
    fn rfc8037_a4_ed25519_vector_signs_and_verifies() {
        let d = URL_SAFE_NO_PAD
            .decode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
            .unwrap();
        let x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
        let jws = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";
        let (input, signature) = jws.rsplit_once('.').unwrap();

        let pair = Ed25519KeyPair::from_seed_unchecked(&d).unwrap();
        assert_eq!(b64(pair.public_key().as_ref()), x);
        let pkcs8 = pair.to_pkcs8().unwrap();
        let ours = jsonwebtoken::crypto::sign(
            input.as_bytes(),
            &EncodingKey::from_ed_der(pkcs8.as_ref()),
            Algorithm::EdDSA,
        )
        .unwrap();
        assert_eq!(ours, signature);

        let key = DecodingKey::from_ed_components(x).unwrap();
        assert!(
            jsonwebtoken::crypto::verify(signature, input.as_bytes(), &key, Algorithm::EdDSA)
                .unwrap()
        );
        let tampered = format!("{}A", &signature[..signature.len() - 1]);
        assert!(
            !jsonwebtoken::crypto::verify(&tampered, input.as_bytes(), &key, Algorithm::EdDSA)
                .unwrap_or(false)
        );
    }

    /// RFC 7515 appendix A.3: the ES256 example verifies with the published public key (ECDSA
    /// signatures are randomized, so only verification can be reproduced).
    #[test]
    fn rfc7515_a3_es256_vector_verifies() {
        let jws = "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
        let key = DecodingKey::from_ec_components(
            "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
        )
        .unwrap();
        let (input, signature) = jws.rsplit_once('.').unwrap();
        assert!(
            jsonwebtoken::crypto::verify(signature, input.as_bytes(), &key, Algorithm::ES256)
                .unwrap()
        );
        let mut validation = Validation::new(Algorithm::ES256);
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        let claims = jsonwebtoken::decode::<serde_json::Value>(jws, &key, &validation)
            .unwrap()
            .claims;
        assert_eq!(claims["iss"], "joe");
        assert_eq!(claims["exp"], 1_300_819_380);
        let tampered = format!("{}A", &jws[..jws.len() - 1]);
        assert!(jsonwebtoken::decode::<serde_json::Value>(&tampered, &key, &validation).is_err());
    }
}
