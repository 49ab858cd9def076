//! What only the auth function has: password hashing (argon2, with a dummy hash for unknown
//! users that costs nothing at init), the attempt and mail counters, the mailer, and its own
//! settings.

use std::{
    future::Future,
    ops::Deref,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use identity::{
    jwt::{Signer, TokenKind, TokenSettings},
    mail::Mailer,
    password::{HashCost, Passwords},
    store::counters::{Counters, Window},
};
use shared::{
    AppEnv, AppState, ConfigError, Env, Table, error::DisplayErrorContext, secrets::LazySecret,
};

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
    /// `PUBLIC_APP_URL`: base of the links in mails (never the request's Host header). Required
    /// when `APP_ENV=deployed`; `http://localhost:3000` locally.
    pub public_app_url: String,
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
    /// `RESET_MAILS_PER_HOUR` (3) per address.
    pub reset_mails: Window,
    /// `VERIFY_MAILS_PER_HOUR` (3) per address, for resends.
    pub verify_mails: Window,
    /// `MAILS_PER_ADDRESS_PER_HOUR` (5): every mail to one address, whatever its kind, counted
    /// by address so that deleting and re-creating an account does not reset it.
    pub mails_per_address: Window,
    /// `FORGOT_RESPONSE_FLOOR_MS` (600): `/password/forgot` and `/verify-email/resend` never
    /// answer sooner, so their timing does not tell whether (or in which state) an account exists.
    pub response_floor: Duration,
}

impl AuthSettings {
    /// Reads the auth variables.
    pub fn from_env(env: &Env, refresh_ttl: Duration) -> Result<Self, ConfigError> {
        let public_app_url = match (env.http_url("PUBLIC_APP_URL")?, AppEnv::from_env(env)?) {
            (Some(url), _) => url,
            (None, AppEnv::Local) => "http://localhost:3000".to_owned(),
            (None, AppEnv::Deployed) => {
                return Err(ConfigError::new(
                    "PUBLIC_APP_URL",
                    "is required when APP_ENV=deployed (mail links point there)",
                ));
            }
        };
        let window_secs = env.num("LOGIN_FAILURE_WINDOW_SECS", 900, 1, 86_400)?;
        let per_hour = |var: &'static str, default: i64| -> Result<Window, ConfigError> {
            Ok(Window {
                max: env.num(var, default, 1, 1_000)?,
                window_secs: 3_600,
            })
        };
        Ok(Self {
            refresh_cookie: env.bool("REFRESH_COOKIE", false)?,
            refresh_cookie_path: env.string_or("REFRESH_COOKIE_PATH", "/api/v1/auth"),
            refresh_ttl,
            refresh_grace: Duration::from_secs(env.num("REFRESH_GRACE_SECS", 10, 0, 300)?),
            public_app_url,
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
            reset_mails: per_hour("RESET_MAILS_PER_HOUR", 3)?,
            verify_mails: per_hour("VERIFY_MAILS_PER_HOUR", 3)?,
            mails_per_address: per_hour("MAILS_PER_ADDRESS_PER_HOUR", 5)?,
            response_floor: env.millis("FORGOT_RESPONSE_FLOOR_MS", 600)?,
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
    /// Verification, reset and notice mails.
    pub mailer: Mailer,
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
            mailer: Mailer::from_env(app.ses.clone(), env)?,
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

    /// `<PUBLIC_APP_URL>/<path>?token=<token>`: mail links never come from the request.
    pub fn link(&self, path: &str, token: &str) -> String {
        format!("{}/{path}?token={token}", self.settings.public_app_url)
    }
}

impl AuthContext {
    /// Runs `work` and answers no sooner than the response floor, and no later, whatever
    /// happened: the timing of `forgot` and `resend` must not tell accounts apart. The work runs
    /// as a task of its own, so answering at the floor never cancels it half-way (a mail sent
    /// and its link not recorded); a slow run finishes after the answer. Failures are logged,
    /// never shown (the user can ask again).
    pub async fn padded(
        &self,
        what: &'static str,
        work: impl Future<Output = Result<(), shared::ApiError>> + Send + 'static,
    ) {
        let started = Instant::now();
        let floor = self.settings.response_floor;
        let task = tokio::spawn(async move {
            if let Err(err) = work.await {
                tracing::warn!(error = ?err, "{what} not processed");
            }
        });
        if tokio::time::timeout(floor, task).await.is_err() {
            tracing::warn!(
                "{what} still running at the response floor; it finishes after the answer"
            );
        }
        if let Some(rest) = floor.checked_sub(started.elapsed()) {
            tokio::time::sleep(rest).await;
        }
    }
}
