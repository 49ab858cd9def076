//! A second factor: TOTP (RFC 6238) with recovery codes, and the login step-up.
//!
//! - [`totp`]: the algorithm, pure; [`recovery`]: the codes; [`keys`]: the key ring that seals
//!   TOTP secrets and keys the recovery codes' hashes; [`store`]: the factor item;
//! - [`routes`]: enrol, confirm, status, disable, new recovery codes (the owner, by access token);
//! - [`login`]: what `/login` answers a user with a factor, and `/login/mfa`, which exchanges
//!   that answer's `mfa_token` and a code for the token pair.
//!
//! Every code check is a guess, counted as password guesses are (`crate::guesses`): per user
//! and client, with the progressive delay and the account's ceiling.

pub mod keys;
pub mod login;
pub mod recovery;
pub mod routes;
pub mod store;
pub mod totp;

use std::sync::Arc;

use identity::store::users::User;
use secrecy::SecretString;
use shared::{
    ApiError, AppState, Env, ErrorCode, Table, clock::now_s, error::FieldError, extract::ClientIp,
    secrets::LazySecret,
};

use crate::context::AuthContext;
use keys::KeyRing;
use store::{Factor, Factors, Proof};

/// What the MFA routes share; cheap to clone.
#[derive(Debug, Clone)]
pub struct MfaContext {
    /// The key ring (`MFA_KEY_SECRET_ID`), read on first use.
    keys: Arc<LazySecret<KeyRing>>,
    /// The factor items.
    pub factors: Factors,
    /// `MFA_ISSUER` (`JWT_ISSUER`'s value): the name authenticator apps show.
    issuer: String,
}

impl MfaContext {
    /// From `env`; no network call.
    pub fn from_env(app: &AppState, env: &Env) -> anyhow::Result<Self> {
        let keys = LazySecret::new(
            app.secrets.clone(),
            env.required("MFA_KEY_SECRET_ID")?,
            KeyRing::from_secret_json,
        )
        .with_max_age(shared::secrets::max_age(env)?);
        let issuer = env.string_or(
            "MFA_ISSUER",
            &env.string_or("JWT_ISSUER", "rust-serverless-starter"),
        );
        Ok(Self {
            keys: Arc::new(keys),
            factors: Factors::new(
                app.dynamo.clone(),
                app.config.require_table(Table::Users)?.to_owned(),
                app.config.require_table(Table::RevokedTokens)?.to_owned(),
            ),
            issuer,
        })
    }

    /// The key ring (503 while Secrets Manager cannot be reached).
    pub async fn keys(&self) -> Result<Arc<KeyRing>, ApiError> {
        self.keys.get().await
    }

    /// Checks `given` against `factor` (a TOTP code against its secret and the steps it has not
    /// used, or a recovery code against its unspent ones): the proof to spend, or `None`.
    pub async fn check(&self, factor: &Factor, given: &Given) -> Result<Option<Proof>, ApiError> {
        let keys = self.keys().await?;
        match given {
            Given::Code(code) => {
                let secret = keys
                    .open(&factor.sealed, &factor.user_id)
                    .map_err(ApiError::Internal)?;
                let now = u64::try_from(now_s()).unwrap_or(0);
                Ok(totp::matching_step(&secret, code, now, factor.last_step).map(Proof::Step))
            }
            Given::Recovery(typed) => {
                let Some(code) = recovery::normalize(typed) else {
                    return Ok(None);
                };
                let hash = keys
                    .recovery_hash(&factor.sealed.kid, &code)
                    .map_err(ApiError::Internal)?;
                Ok(factor
                    .recovery
                    .contains(&hash)
                    .then_some(Proof::Recovery(hash)))
            }
        }
    }

    /// A fresh set of recovery codes, and their hashes under the factor's key.
    pub async fn fresh_codes(&self, kid: &str) -> Result<(Vec<String>, Vec<String>), ApiError> {
        let keys = self.keys().await?;
        let codes = recovery::generate().map_err(ApiError::Internal)?;
        let hashes = codes
            .iter()
            .map(|c| {
                let normalized = recovery::normalize(c).ok_or_else(|| {
                    anyhow::anyhow!("a generated recovery code does not read back")
                })?;
                keys.recovery_hash(kid, &normalized)
            })
            .collect::<anyhow::Result<Vec<_>>>()
            .map_err(ApiError::Internal)?;
        Ok((codes, hashes))
    }
}

/// A second factor as a request gives it: exactly one of `code` and `recovery_code`.
#[derive(Debug, Clone)]
pub enum Given {
    /// A six-digit TOTP code.
    Code(String),
    /// A recovery code.
    Recovery(String),
}

/// The factor a body gives: exactly one of `code` and `recovery_code` (the latter only where
/// `recovery_allowed`), else a 422 naming them. A code of the wrong shape is a 422 too, never
/// a guess: it cannot be anyone's code.
pub(crate) fn given(
    code: Option<&str>,
    recovery_code: Option<&str>,
    recovery_allowed: bool,
) -> Result<Given, ApiError> {
    match (code, recovery_code) {
        (Some(code), None) => {
            if code.len() == totp::DIGITS as usize && code.bytes().all(|b| b.is_ascii_digit()) {
                Ok(Given::Code(code.to_owned()))
            } else {
                Err(ApiError::invalid_field(
                    &["body", "code"],
                    "code must be the 6 digits the authenticator app shows",
                    "value_error",
                ))
            }
        }
        (None, Some(code)) if recovery_allowed => Ok(Given::Recovery(code.to_owned())),
        (None, Some(_)) => Err(ApiError::invalid_field(
            &["body", "recovery_code"],
            "a recovery code is not accepted here; give code",
            "value_error",
        )),
        (Some(_), Some(_)) => Err(ApiError::invalid_field(
            &["body", "recovery_code"],
            "give code or recovery_code, not both",
            "value_error",
        )),
        (None, None) => Err(ApiError::invalid_field(
            &["body", "code"],
            "Field required",
            "missing",
        )),
    }
}

/// [`given`]'s 422 fields, for a body's `Validate`.
pub(crate) fn given_errors(
    code: Option<&str>,
    recovery_code: Option<&str>,
    recovery_allowed: bool,
) -> Vec<FieldError> {
    shared::extract::failures(given(code, recovery_code, recovery_allowed))
}

/// A route's second-factor guess key: per user (and client, in the counter).
pub(crate) fn code_guess_key(user_id: &str) -> String {
    format!("mfa:{user_id}")
}

/// Re-checks the caller's password as `/password/change` does: a guess with the login's
/// limits, argon2 through the same path; a wrong one is 401 `INVALID_CREDENTIALS`.
pub(crate) async fn recheck_password(
    auth: &AuthContext,
    user: &User,
    client: &ClientIp,
    password: &SecretString,
) -> Result<(), ApiError> {
    let guess = auth
        .guess(&format!("change:{}", user.id), client, &user.id)
        .await?;
    let verified = auth
        .passwords
        .verify(password, Some(user.password_hash.clone()))
        .await?;
    if verified == identity::password::Verified::No {
        return Err(auth.wrong_guess(&guess).await);
    }
    auth.right_guess(&guess).await
}

/// Checks `given` against `factor` as a guess of user `user_id` from `client`: the proof, or
/// 401 `INVALID_MFA_CODE` (429 once the guesses are spent).
pub(crate) async fn guess_factor(
    mfa: &MfaContext,
    auth: &AuthContext,
    client: &ClientIp,
    factor: &Factor,
    given: &Given,
) -> Result<(Proof, crate::guesses::Guess), ApiError> {
    let guess = auth
        .guess(&code_guess_key(&factor.user_id), client, &factor.user_id)
        .await?;
    match mfa.check(factor, given).await? {
        Some(proof) => Ok((proof, guess)),
        None => Err(wrong_code(auth, &guess).await),
    }
}

/// The answer to a wrong or replayed code, counted as a wrong guess.
pub(crate) async fn wrong_code(auth: &AuthContext, guess: &crate::guesses::Guess) -> ApiError {
    match auth.wrong_guess(guess).await {
        ApiError::Code(ErrorCode::InvalidCredentials) => ErrorCode::InvalidMfaCode.into(),
        other => other,
    }
}
