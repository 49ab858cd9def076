//! Identity: tokens, passwords, the repositories they need, and the request extractors.

pub mod extract;
pub mod jwt;
pub mod password;

use std::sync::Arc;

use anyhow::Context as _;
use secrecy::SecretString;
use serde::Serialize;

use crate::{
    config::{Config, Table},
    error::ApiError,
    mail::Mailer,
    store::{
        counters::{Counters, Window},
        now_ms, now_s,
        sessions::{SeenUser, Sessions, token_hash},
        tokens::RevokedTokens,
        users::{User, Users},
    },
};
pub use extract::{Admin, AuthUser, MaybeAuthUser, RequireRole, Role};
use jwt::{KeyRing, TokenKind, TokenTtls, Tokens};
use password::{HashCost, Passwords};

/// Everything identity needs, built once at init (the key ring is read from Secrets Manager).
#[derive(Debug)]
pub struct Auth {
    /// Token issuing and verification.
    pub tokens: Tokens,
    /// Password hashing.
    pub passwords: Passwords,
    /// Users repository.
    pub users: Users,
    /// Sessions repository.
    pub sessions: Sessions,
    /// Blacklist and single-use tokens.
    pub revoked: RevokedTokens,
    /// Counters (login failures).
    pub counters: Counters,
    /// Lockout window for failed logins per account.
    pub login_window: Window,
    /// Key for signing pagination cursors.
    pub cursor_key: Vec<u8>,
    /// Set the refresh token as a cookie too.
    pub refresh_cookie: bool,
    /// Mail (verification, reset, notices).
    pub mailer: Mailer,
    /// Base URL of mail links.
    pub public_app_url: String,
}

/// The token body of signup, login and refresh.
#[derive(Debug, Serialize)]
pub struct TokenPair {
    /// Access token.
    pub access_token: String,
    /// Refresh token.
    pub refresh_token: String,
    /// Always `bearer`.
    pub token_type: &'static str,
    /// Access token lifetime in seconds.
    pub expires_in: u64,
}

impl Auth {
    /// Builds identity from config and the key ring fetched from Secrets Manager.
    pub async fn init(
        config: &Config,
        dynamo: &aws_sdk_dynamodb::Client,
        secrets: &aws_sdk_secretsmanager::Client,
        ses: &aws_sdk_sesv2::Client,
    ) -> anyhow::Result<Self> {
        let secret_id = config
            .resources
            .signing_secret_id
            .as_deref()
            .context("SIGNING_KEYS_SECRET_ID is required by this function")?;
        let value = secrets
            .get_secret_value()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "reading the signing key secret: {}",
                    crate::error::DisplayErrorContext(e)
                )
            })?;
        let secret = SecretString::from(
            value
                .secret_string()
                .context("signing key secret has no string value")?
                .to_owned(),
        );
        Self::from_parts(config, dynamo, ses, &secret)
    }

    /// Builds identity from config and an already-fetched key ring secret.
    pub fn from_parts(
        config: &Config,
        dynamo: &aws_sdk_dynamodb::Client,
        ses: &aws_sdk_sesv2::Client,
        key_ring_json: &SecretString,
    ) -> anyhow::Result<Self> {
        use secrecy::ExposeSecret as _;
        let ring = KeyRing::from_secret_json(key_ring_json)?;
        let a = &config.auth;
        let cursor_key = match &config.pagination_key {
            Some(key) => key.expose_secret().as_bytes().to_vec(),
            // Derived, so the cursor key is as secret as the signing key without a second secret.
            None => derive_key(
                key_ring_json.expose_secret().as_bytes(),
                b"pagination-cursor-v1",
            ),
        };
        let table =
            |t: Table| -> anyhow::Result<String> { Ok(config.require_table(t)?.to_owned()) };
        Ok(Self {
            tokens: Tokens::new(
                ring,
                a.issuer.clone(),
                a.audience.clone(),
                TokenTtls {
                    access: a.access_ttl,
                    refresh: a.refresh_ttl,
                    reset: a.reset_ttl,
                    verify: a.verify_ttl,
                },
            ),
            passwords: Passwords::new(HashCost {
                memory_kib: a.argon2_memory_kib,
                iterations: a.argon2_iterations,
                parallelism: a.argon2_parallelism,
            })?,
            users: Users::new(dynamo.clone(), table(Table::Users)?),
            sessions: Sessions::new(dynamo.clone(), table(Table::Sessions)?),
            revoked: RevokedTokens::new(dynamo.clone(), table(Table::RevokedTokens)?),
            counters: Counters::new(dynamo.clone(), table(Table::RateLimits)?),
            login_window: Window {
                max: a.login_max_failures,
                window_secs: a.login_failure_window_secs,
            },
            cursor_key,
            refresh_cookie: a.refresh_cookie,
            mailer: Mailer::new(
                ses.clone(),
                config
                    .resources
                    .mail_from
                    .clone()
                    .context("MAIL_FROM is required by this function")?,
                a.mail_configuration_set.clone(),
                a.app_name.clone(),
            )?,
            public_app_url: a.public_app_url.clone().context(
                "PUBLIC_APP_URL is required when APP_ENV=deployed (mail links point there)",
            )?,
        })
    }

    /// Starts a session for `user` and issues its first token pair.
    pub async fn start_session(&self, user: &User) -> Result<TokenPair, ApiError> {
        let sid = uuid::Uuid::new_v4().to_string();
        let now = now_s();
        let refresh = self
            .tokens
            .issue(TokenKind::Refresh, &user.id, Some(&sid), now)
            .map_err(ApiError::Internal)?;
        // Strictly after tokens_valid_after, even within the same millisecond as a logout-all.
        let created = now_ms().max(user.tokens_valid_after_ms + 1);
        let seen = SeenUser {
            users_table: self.users.table(),
            user_id: &user.id,
            password_hash: &user.password_hash,
            tokens_valid_after_ms: user.tokens_valid_after_ms,
        };
        let stored = self
            .sessions
            .create(
                &sid,
                &token_hash(&refresh.token),
                created,
                refresh.claims.exp,
                &seen,
            )
            .await?;
        if !stored {
            // The user changed between the password check and now (reset, disable, logout-all).
            return Err(ApiError::unauthorized(
                "INVALID_CREDENTIALS",
                "Incorrect username or password",
            ));
        }
        self.pair(user, &sid, refresh.token, now)
    }

    /// Issues an access token for session `sid` and pairs it with `refresh_token`.
    pub fn pair(
        &self,
        user: &User,
        sid: &str,
        refresh_token: String,
        now: i64,
    ) -> Result<TokenPair, ApiError> {
        let access = self
            .tokens
            .issue(TokenKind::Access, &user.id, Some(sid), now)
            .map_err(ApiError::Internal)?;
        Ok(TokenPair {
            access_token: access.token,
            refresh_token,
            token_type: "bearer",
            expires_in: self.tokens.ttl(TokenKind::Access).as_secs(),
        })
    }
}

/// HMAC-SHA256(key, label): a sub-key bound to one purpose.
pub fn derive_key(key: &[u8], label: &[u8]) -> Vec<u8> {
    use hmac::{Hmac, Mac};
    // HMAC takes keys of any length, so this never fails.
    match <Hmac<sha2::Sha256> as Mac>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(label);
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

/// Shared by every handler that needs identity: the state's [`Auth`], or a 500 when the function
/// was started without it (a wiring bug, not a client error).
pub fn auth_of(state: &crate::AppState) -> Result<&Arc<Auth>, ApiError> {
    state.auth.as_ref().ok_or_else(|| {
        ApiError::Internal(anyhow::anyhow!(
            "identity is not initialised in this function"
        ))
    })
}
