//! JWTs: HS256 only, a key ring with `kid`s for rotation, an explicit `typ` per token kind,
//! and `iss`/`aud`/`exp`/`sub` required (jsonwebtoken only checks claims it is told to require).

use std::{collections::HashMap, fmt, time::Duration};

use anyhow::{Context as _, bail};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
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
}

/// Why a token was refused. Callers answer 401 (or 400 for action tokens) whatever the reason;
/// the reason is for logs.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    /// Not a JWT, bad base64 or JSON.
    #[error("malformed token")]
    Malformed,
    /// `alg` other than HS256 (including `none`).
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

/// Whether the token's protected header carries `crit` (any value).
fn has_crit_header(token: &str) -> bool {
    use base64::Engine as _;
    let Some(segment) = token.split('.').next() else {
        return false;
    };
    let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(segment) else {
        return false;
    };
    serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&bytes)
        .is_ok_and(|header| header.contains_key("crit"))
}

/// HS256 keys by `kid`, and which one signs. Held only in memory; never printed.
pub struct KeyRing {
    active: String,
    keys: HashMap<String, (EncodingKey, DecodingKey)>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("active_kid", &self.active)
            .field("kids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Minimum key length: 256 bits, as HS256 needs.
pub const MIN_KEY_BYTES: usize = 32;

impl KeyRing {
    /// Parses the secret `{"active_kid": "k1", "k1": "<key>", "k0": "<older key>"}`.
    /// Every key is used as its UTF-8 bytes and must be at least 32 bytes long.
    pub fn from_secret_json(secret: &SecretString) -> anyhow::Result<Self> {
        let map: HashMap<String, String> = serde_json::from_str(secret.expose_secret())
            .context("signing key secret is not a JSON object of strings")?;
        let active = map
            .get("active_kid")
            .cloned()
            .context("signing key secret has no active_kid")?;
        let mut keys = HashMap::new();
        for (kid, key) in map.iter().filter(|(k, _)| k.as_str() != "active_kid") {
            if key.len() < MIN_KEY_BYTES {
                bail!("signing key {kid} is shorter than {MIN_KEY_BYTES} bytes");
            }
            let bytes = key.as_bytes();
            keys.insert(
                kid.clone(),
                (
                    EncodingKey::from_secret(bytes),
                    DecodingKey::from_secret(bytes),
                ),
            );
        }
        if !keys.contains_key(&active) {
            bail!("active_kid {active} has no key in the signing key secret");
        }
        Ok(Self { active, keys })
    }

    /// The signing `kid`.
    pub fn active_kid(&self) -> &str {
        &self.active
    }
}

/// Issues and verifies every kind of token.
#[derive(Debug)]
pub struct Tokens {
    ring: KeyRing,
    issuer: String,
    audience: String,
    ttls: TokenTtls,
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
}

/// A freshly issued token with its claims.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The compact JWT.
    pub token: String,
    /// What it says.
    pub claims: Claims,
}

impl Tokens {
    /// A token service for `issuer`/`audience` with the ring and lifetimes given.
    pub fn new(ring: KeyRing, issuer: String, audience: String, ttls: TokenTtls) -> Self {
        Self {
            ring,
            issuer,
            audience,
            ttls,
        }
    }

    /// A token service from its settings.
    pub fn from_settings(ring: KeyRing, settings: TokenSettings) -> Self {
        Self::new(ring, settings.issuer, settings.audience, settings.ttls)
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

    /// Issues a `kind` token for `sub`, issued at `now` (seconds since the epoch).
    pub fn issue(
        &self,
        kind: TokenKind,
        sub: &str,
        sid: Option<&str>,
        now: i64,
    ) -> anyhow::Result<Issued> {
        let ttl = i64::try_from(self.ttl(kind).as_secs()).unwrap_or(i64::MAX / 2);
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: sub.to_owned(),
            jti: uuid::Uuid::new_v4().to_string(),
            iat: now,
            exp: now.saturating_add(ttl),
            sid: sid.map(str::to_owned),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some(kind.typ().to_owned());
        header.kid = Some(self.ring.active.clone());
        let (encoding, _) = self
            .ring
            .keys
            .get(&self.ring.active)
            .context("active signing key missing")?;
        let token = jsonwebtoken::encode(&header, &claims, encoding).context("signing token")?;
        Ok(Issued { token, claims })
    }

    /// Verifies signature, `alg`, `typ`, `kid`, `iss`, `aud`, `sub` and `exp` for `kind`.
    pub fn verify(&self, kind: TokenKind, token: &str) -> Result<Claims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        // RFC 7515 §4.1.11: a `crit` header names extensions the verifier must understand; we
        // understand none, so such a token is refused (jsonwebtoken's Header drops the field).
        if has_crit_header(token) {
            return Err(TokenError::Critical);
        }
        if header.alg != Algorithm::HS256 {
            return Err(TokenError::Algorithm);
        }
        if header.typ.as_deref() != Some(kind.typ()) {
            return Err(TokenError::WrongType);
        }
        let (_, decoding) = header
            .kid
            .as_deref()
            .and_then(|kid| self.ring.keys.get(kid))
            .ok_or(TokenError::UnknownKey)?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.leeway = 5;
        // `nbf` is optional in our tokens; when present it must have passed.
        validation.validate_nbf = true;
        jsonwebtoken::decode::<Claims>(token, decoding, &validation)
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

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    const KEY: &str = "0123456789abcdef0123456789abcdef-test-key";

    fn tokens_with(issuer: &str, audience: &str, key: &str) -> Tokens {
        let secret = SecretString::from(format!(r#"{{"active_kid":"k1","k1":"{key}"}}"#));
        let ttls = TokenTtls {
            access: Duration::from_secs(900),
            refresh: Duration::from_secs(7 * 86_400),
            reset: Duration::from_secs(900),
            verify: Duration::from_secs(86_400),
        };
        Tokens::new(
            KeyRing::from_secret_json(&secret).unwrap(),
            issuer.to_owned(),
            audience.to_owned(),
            ttls,
        )
    }

    fn tokens() -> Tokens {
        tokens_with("starter", "starter-api", KEY)
    }

    fn now() -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp()
    }

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    #[test]
    fn an_access_token_round_trips() {
        let t = tokens();
        let issued = t
            .issue(TokenKind::Access, "user-1", Some("sid-1"), now())
            .unwrap();
        let claims = t.verify(TokenKind::Access, &issued.token).unwrap();
        assert_eq!(claims, issued.claims);
        assert_eq!(claims.sid.as_deref(), Some("sid-1"));
    }

    #[test]
    fn kinds_are_not_interchangeable() {
        let t = tokens();
        let refresh = t.issue(TokenKind::Refresh, "u", Some("s"), now()).unwrap();
        let reset = t.issue(TokenKind::PasswordReset, "u", None, now()).unwrap();
        assert_eq!(
            t.verify(TokenKind::Access, &refresh.token),
            Err(TokenError::WrongType)
        );
        assert_eq!(
            t.verify(TokenKind::VerifyEmail, &reset.token),
            Err(TokenError::WrongType)
        );
        assert_eq!(
            t.verify(TokenKind::Access, &reset.token),
            Err(TokenError::WrongType)
        );
    }

    #[test]
    fn alg_none_is_refused() {
        let t = tokens();
        let header = b64(br#"{"alg":"none","typ":"at+jwt","kid":"k1"}"#);
        let issued = t.issue(TokenKind::Access, "u", Some("s"), now()).unwrap();
        let payload = issued.token.split('.').nth(1).unwrap();
        let forged = format!("{header}.{payload}.");
        assert!(t.verify(TokenKind::Access, &forged).is_err());
    }

    #[test]
    fn a_tampered_signature_is_refused() {
        let t = tokens();
        let issued = t.issue(TokenKind::Access, "u", Some("s"), now()).unwrap();
        let mut token = issued.token.into_bytes();
        let last = token.len() - 2;
        token[last] = if token[last] == b'A' { b'B' } else { b'A' };
        let token = String::from_utf8(token).unwrap();
        assert_eq!(
            t.verify(TokenKind::Access, &token),
            Err(TokenError::Signature)
        );
    }

    #[test]
    fn wrong_issuer_or_audience_is_refused() {
        let ours = tokens();
        let other_iss = tokens_with("someone-else", "starter-api", KEY);
        let other_aud = tokens_with("starter", "other-api", KEY);
        let a = other_iss
            .issue(TokenKind::Access, "u", Some("s"), now())
            .unwrap();
        let b = other_aud
            .issue(TokenKind::Access, "u", Some("s"), now())
            .unwrap();
        assert_eq!(
            ours.verify(TokenKind::Access, &a.token),
            Err(TokenError::Claims)
        );
        assert_eq!(
            ours.verify(TokenKind::Access, &b.token),
            Err(TokenError::Claims)
        );
    }

    #[test]
    fn an_expired_token_is_refused() {
        let t = tokens();
        let issued = t
            .issue(TokenKind::Access, "u", Some("s"), now() - 3_600)
            .unwrap();
        assert_eq!(
            t.verify(TokenKind::Access, &issued.token),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn a_token_signed_with_another_key_is_refused() {
        let ours = tokens();
        let theirs = tokens_with(
            "starter",
            "starter-api",
            "another-key-another-key-another-key!!",
        );
        let issued = theirs
            .issue(TokenKind::Access, "u", Some("s"), now())
            .unwrap();
        assert_eq!(
            ours.verify(TokenKind::Access, &issued.token),
            Err(TokenError::Signature)
        );
    }

    #[test]
    fn old_keys_still_verify_after_rotation() {
        let old = tokens();
        let issued = old.issue(TokenKind::Access, "u", Some("s"), now()).unwrap();
        let rotated = SecretString::from(format!(
            r#"{{"active_kid":"k2","k1":"{KEY}","k2":"a-brand-new-key-a-brand-new-key-000"}}"#
        ));
        let ring = KeyRing::from_secret_json(&rotated).unwrap();
        let new = Tokens::new(ring, "starter".into(), "starter-api".into(), old.ttls);
        assert!(new.verify(TokenKind::Access, &issued.token).is_ok());
        let fresh = new.issue(TokenKind::Access, "u", Some("s"), now()).unwrap();
        assert_eq!(
            jsonwebtoken::decode_header(&fresh.token)
                .unwrap()
                .kid
                .as_deref(),
            Some("k2")
        );
    }

    /// Signs `header` and `claims` (JSON) with the test key, as an attacker with a stolen key
    /// format but our key would: only the header and claim checks can refuse these.
    fn signed(header: &str, claims: &serde_json::Value) -> String {
        let signing_input = format!(
            "{}.{}",
            b64(header.as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let signature = jsonwebtoken::crypto::sign(
            signing_input.as_bytes(),
            &EncodingKey::from_secret(KEY.as_bytes()),
            Algorithm::HS256,
        )
        .unwrap();
        format!("{signing_input}.{signature}")
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
        let header = r#"{"alg":"HS256","typ":"at+jwt","kid":"k1"}"#;
        let t = tokens();
        assert!(
            t.verify(TokenKind::Access, &signed(header, &claims_at(None)))
                .is_ok()
        );
        assert!(
            t.verify(
                TokenKind::Access,
                &signed(header, &claims_at(Some(now() - 60)))
            )
            .is_ok()
        );
        assert_eq!(
            t.verify(
                TokenKind::Access,
                &signed(header, &claims_at(Some(now() + 600)))
            ),
            Err(TokenError::Claims)
        );
    }

    #[test]
    fn a_token_with_a_crit_header_is_refused() {
        let t = tokens();
        let crit = r#"{"alg":"HS256","typ":"at+jwt","kid":"k1","crit":["exp"]}"#;
        assert_eq!(
            t.verify(TokenKind::Access, &signed(crit, &claims_at(None))),
            Err(TokenError::Critical)
        );
    }

    #[test]
    fn short_keys_are_refused() {
        let secret = SecretString::from(r#"{"active_kid":"k1","k1":"short"}"#.to_owned());
        assert!(KeyRing::from_secret_json(&secret).is_err());
    }

    /// RFC 7515 appendix A.1: the published HS256 JWS verifies with the published key, through
    /// jsonwebtoken as configured here (aws-lc-rs backend), and a one-character change fails.
    #[test]
    fn rfc7515_a1_hs256_vector_verifies() {
        let key = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode("AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow")
            .unwrap();
        let token = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        validation.validate_aud = false;
        let data = jsonwebtoken::decode::<serde_json::Value>(
            token,
            &DecodingKey::from_secret(&key),
            &validation,
        )
        .unwrap();
        assert_eq!(data.claims["iss"], "joe");
        assert_eq!(data.claims["exp"], 1_300_819_380);
        assert_eq!(data.claims["http://example.com/is_root"], true);

        let tampered = format!("{}Y", &token[..token.len() - 1]);
        assert!(
            jsonwebtoken::decode::<serde_json::Value>(
                &tampered,
                &DecodingKey::from_secret(&key),
                &validation
            )
            .is_err()
        );
    }
}
