//! JWTs signed with Ed25519 (`EdDSA`): only `auth` holds the private keys ([`Signer`]); every
//! other function verifies with the public keys alone ([`Verifier`]), so no function but `auth`
//! can mint a token. A key ring with `kid`s allows rotation; every token kind has its own `typ`;
//! `iss`/`aud`/`exp`/`sub` are required, `nbf` is checked when present, and a `crit` header is
//! refused (jsonwebtoken only checks what it is told to).
//!
//! This file holds what both sides share (the kinds, the claims, the errors, the settings); the
//! `signer` module mints, the `verifier` module checks.

mod signer;
mod verifier;

#[cfg(test)]
mod tests;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use shared::config::{ConfigError, Env};

pub use signer::{MIN_KEY_BYTES, SessionStamp, Signer};
pub use verifier::Verifier;

/// How far past `exp` (and before `nbf`) a token is still accepted: clocks of the functions
/// differ a little.
pub const LEEWAY_SECS: i64 = 5;

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
    /// The second step of a login whose user has a second factor: exchanged once, with a code,
    /// at `/auth/login/mfa` for a token pair ([`MFA_TOKEN_TTL`]).
    MfaPending,
}

/// The lifetime of a [`TokenKind::MfaPending`] token: long enough to open an authenticator
/// app, short enough that a stolen one is soon worthless.
pub const MFA_TOKEN_TTL: Duration = Duration::from_secs(300);

impl TokenKind {
    /// The `typ` header value.
    pub const fn typ(self) -> &'static str {
        match self {
            TokenKind::Access => "at+jwt",
            TokenKind::Refresh => "refresh+jwt",
            TokenKind::PasswordReset => "reset+jwt",
            TokenKind::VerifyEmail => "verify-email+jwt",
            TokenKind::MfaPending => "mfa+jwt",
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
    /// Token id: the single-use key of action tokens.
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
    /// When the access token's session was created (epoch ms), as the session said when the
    /// token was issued: the check compares it with the user's `tokens_valid_after_ms` on the
    /// user item alone, so one call checks the token. An access token without it (issued
    /// before it existed) is refused, and its client refreshes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sct: Option<i64>,
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
            TokenKind::MfaPending => MFA_TOKEN_TTL,
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
