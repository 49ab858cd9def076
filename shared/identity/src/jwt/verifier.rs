//! [`Verifier`]: checks tokens with the public keys alone, in every function.

use std::{collections::BTreeMap, collections::HashMap, fmt};

use anyhow::{Context as _, bail};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::{Claims, TokenError, TokenKind, TokenSettings};

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

    pub(super) fn from_public(
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
        validation.leeway = super::LEEWAY_SECS.unsigned_abs();
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
