//! What only the auth function has: password hashing (argon2, with a dummy hash for unknown
//! users that costs nothing at init), the attempt counters, the jobs queue its mail goes to
//! (the worker, `functions/jobs`, sends it), and its own settings.

use std::{
    ops::Deref,
    sync::{Arc, Mutex},
    time::Duration,
};

use identity::{
    jwt::{Signer, TokenKind, TokenSettings},
    password::{HashCost, Passwords},
    store::counters::{Counters, Window},
};
use queue::JobQueue;
use shared::{AppState, ConfigError, Env, Table, error::DisplayErrorContext, secrets::LazySecret};

/// Auth-only settings, read at init.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// `REFRESH_COOKIE` (false): also set the refresh token as an HttpOnly cookie.
    pub refresh_cookie: bool,
    /// `REFRESH_COOKIE_PATH` (`/api/v1/auth`): prefix it with the stage (`/v1/api/v1/auth`) when
    /// clients use the default execute-api URL rather than a custom domain.
    pub refresh_cookie_path: String,
    /// The refresh token lifetime (the cookie's `Max-Age`).
    pub refresh_ttl: Duration,
    /// `REFRESH_GRACE_SECS` (10): a just-rotated refresh token presented again within this
    /// window (two tabs refreshing at once) is answered 409 `REFRESH_RACE` instead of being
    /// treated as a replay that revokes the session. 0 turns the window off.
    pub refresh_grace: Duration,
    /// `LOGIN_MAX_FAILURES` (5) guesses per `LOGIN_FAILURE_WINDOW_SECS` (900) per identifier
    /// as typed and client IP: a stranger's guesses cannot lock the owner out.
    pub login_window: Window,
    /// `LOGIN_ACCOUNT_MAX_ATTEMPTS` (100) per window per account, across all clients: the
    /// ceiling against credential stuffing from many addresses.
    pub account_window: Window,
    /// `LOGIN_BACKOFF_SECS` (1; 0 turns it off): after the second wrong guess from one client,
    /// the next waits this long, then twice as long after each further one.
    pub login_backoff_secs: i64,
    /// `REQUIRE_VERIFIED_EMAIL` (false): unverified accounts cannot log in (403).
    pub require_verified_email: bool,
}

impl AuthSettings {
    /// Reads the auth variables.
    pub fn from_env(env: &Env, refresh_ttl: Duration) -> Result<Self, ConfigError> {
        let window_secs = env.num("LOGIN_FAILURE_WINDOW_SECS", 900, 1, 86_400)?;
        Ok(Self {
            refresh_cookie: env.bool("REFRESH_COOKIE", false)?,
            refresh_cookie_path: env.string_or("REFRESH_COOKIE_PATH", "/api/v1/auth"),
            refresh_ttl,
            refresh_grace: Duration::from_secs(env.num("REFRESH_GRACE_SECS", 10, 0, 300)?),
            login_window: Window {
                max: env.num("LOGIN_MAX_FAILURES", 5, 1, 1_000)?,
                window_secs,
            },
            account_window: Window {
                max: env.num("LOGIN_ACCOUNT_MAX_ATTEMPTS", 100, 1, 100_000)?,
                window_secs,
            },
            login_backoff_secs: env.num("LOGIN_BACKOFF_SECS", 1, 0, 3_600)?,
            require_verified_email: env.bool("REQUIRE_VERIFIED_EMAIL", false)?,
        })
    }
}

/// The auth-only parts; cheap to clone.
#[derive(Debug, Clone)]
pub struct AuthContext(Arc<Parts>);

/// What [`AuthContext`] holds.
#[derive(Debug)]
pub struct Parts {
    /// argon2id hashing and verification.
    pub passwords: Passwords,
    /// Login attempts and mails, per window.
    pub counters: Counters,
    /// The jobs queue: verification, reset and notice mails are enqueued, and the worker sends
    /// them.
    pub queue: JobQueue,
    /// Settings.
    pub settings: AuthSettings,
    /// The signing ring (`SIGNING_KEYS_SECRET_ID`), read on first use.
    signer: Arc<LazySecret<Signer>>,
    /// Where the public keys go (`VERIFYING_KEYS_SECRET_ID`).
    verifying_secret_id: String,
    /// The ring whose public keys were last published: a ring re-read after a rotation is a
    /// new `Arc`, so its keys are published again.
    published: Mutex<Option<Arc<Signer>>>,
    secrets: aws_sdk_secretsmanager::Client,
}

impl Deref for AuthContext {
    type Target = Parts;

    fn deref(&self) -> &Parts {
        &self.0
    }
}

impl AuthContext {
    /// Builds the auth-only parts from `env`; no network call.
    pub fn from_env(app: &AppState, env: &Env) -> anyhow::Result<Self> {
        let tokens = TokenSettings::from_env(env)?;
        let refresh_ttl = tokens.ttl(TokenKind::Refresh);
        let signer = LazySecret::new(
            app.secrets.clone(),
            env.required("SIGNING_KEYS_SECRET_ID")?,
            move |secret| Signer::from_secret_json(secret, tokens.clone()),
        )
        .with_max_age(shared::secrets::max_age(env)?);
        Ok(Self(Arc::new(Parts {
            passwords: Passwords::new(HashCost::from_env(env)?)?,
            counters: Counters::new(
                app.dynamo.clone(),
                app.config.require_table(Table::RateLimits)?.to_owned(),
            ),
            queue: JobQueue::from_env(app, env)?,
            settings: AuthSettings::from_env(env, refresh_ttl)?,
            signer: Arc::new(signer),
            verifying_secret_id: env.required("VERIFYING_KEYS_SECRET_ID")?,
            published: Mutex::new(None),
            secrets: app.secrets.clone(),
        })))
    }

    /// The signing ring, shared with this function's `IdentityState` (which verifies with it).
    pub fn signer_source(&self) -> Arc<LazySecret<Signer>> {
        self.signer.clone()
    }

    /// The signing ring (503 while Secrets Manager cannot be reached). Each time a ring is
    /// read (first use, or again after `SECRETS_CACHE_SECS`), its public keys are published
    /// for the other functions.
    pub async fn signer(&self) -> Result<Arc<Signer>, shared::ApiError> {
        let signer = self.signer.get().await?;
        if !self.is_published(&signer) {
            match self.publish(&signer).await {
                Ok(()) => self.mark_published(&signer),
                // Tokens still work here; the next request tries again.
                Err(err) => {
                    tracing::warn!(error = %format!("{err:#}"), "public keys not published");
                }
            }
        }
        Ok(signer)
    }

    fn is_published(&self, signer: &Arc<Signer>) -> bool {
        // A poisoned lock only means another request panicked mid-compare: publish again.
        self.published
            .lock()
            .map(|p| p.as_ref().is_some_and(|last| Arc::ptr_eq(last, signer)))
            .unwrap_or(false)
    }

    fn mark_published(&self, signer: &Arc<Signer>) {
        if let Ok(mut p) = self.published.lock() {
            *p = Some(signer.clone());
        }
    }

    /// Writes the ring's public keys to the verifying keys secret, unless they are there.
    async fn publish(&self, signer: &Signer) -> anyhow::Result<()> {
        let want: serde_json::Value = serde_json::from_str(&signer.public_keys_json())?;
        let current = self
            .secrets
            .get_secret_value()
            .secret_id(&self.verifying_secret_id)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{}", DisplayErrorContext(e)))?;
        let have = current
            .secret_string()
            .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok());
        if have.as_ref() == Some(&want) {
            return Ok(());
        }
        self.secrets
            .put_secret_value()
            .secret_id(&self.verifying_secret_id)
            .secret_string(want.to_string())
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{}", DisplayErrorContext(e)))?;
        tracing::info!(active_kid = signer.active_kid(), "public keys published");
        Ok(())
    }
}
