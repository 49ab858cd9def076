//! The mail jobs: the worker looks the account up, issues the link's token and sends the mail, so
//! the requests that ask for mail (`signup`, `forgot`, `resend`, `change`) do the same work
//! whatever the account: they enqueue.
//!
//! Limits, each one conditional `ADD` in the rate-limits table, keyed by address: reset links
//! (`RESET_MAILS_PER_HOUR`, counted for every address asked for, known or not), verification
//! resends (`VERIFY_MAILS_PER_HOUR`), and every mail to one address (`MAILS_PER_ADDRESS_PER_HOUR`).
//! A reservation whose mail SES refused is given back before the job fails, so the retry is not
//! refused by its own failures, and the limits count mail sent.

use anyhow::Context as _;
use identity::{
    jwt::{Signer, TokenKind, TokenSettings},
    mail::{MailContext, MailKind, Mailer, human_duration},
    store::{
        counters::{Counters, Window},
        users::{User, Users},
    },
};
use queue::ResendTo;
use shared::{AppEnv, AppState, ConfigError, Env, Table, clock::now_s, secrets::LazySecret};

/// What a mail job did, for its log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mailed {
    /// SES accepted the mail.
    Sent,
    /// Nothing to send: no such account, verified already, a limit reached.
    Skipped(&'static str),
}

/// The mail settings.
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// `PUBLIC_APP_URL`: base of the links in mails. Required when `APP_ENV=deployed`;
    /// `http://localhost:3000` locally.
    pub public_app_url: String,
    /// `RESET_MAILS_PER_HOUR` (3) per address.
    pub reset_mails: Window,
    /// `VERIFY_MAILS_PER_HOUR` (3) per address, for resends.
    pub verify_mails: Window,
    /// `MAILS_PER_ADDRESS_PER_HOUR` (5): every mail to one address, whatever its kind, counted
    /// by address so that deleting and re-creating an account does not reset it.
    pub mails_per_address: Window,
}

impl MailSettings {
    /// Reads the mail variables.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
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
        let per_hour = |var: &'static str, default: i64| -> Result<Window, ConfigError> {
            Ok(Window {
                max: env.num(var, default, 1, 1_000)?,
                window_secs: 3_600,
            })
        };
        Ok(Self {
            public_app_url,
            reset_mails: per_hour("RESET_MAILS_PER_HOUR", 3)?,
            verify_mails: per_hour("VERIFY_MAILS_PER_HOUR", 3)?,
            mails_per_address: per_hour("MAILS_PER_ADDRESS_PER_HOUR", 5)?,
        })
    }
}

/// The mail jobs' dependencies.
#[derive(Debug)]
pub struct MailJobs {
    users: Users,
    counters: Counters,
    mailer: Mailer,
    /// The signing ring (`SIGNING_KEYS_SECRET_ID`), read on first use: the links' tokens.
    signer: LazySecret<Signer>,
    tokens: TokenSettings,
    settings: MailSettings,
}

/// A reservation to give back if the work it guarded fails.
struct Reserved<'a> {
    scope: &'static str,
    subject: &'a str,
    window: Window,
    at: i64,
}

impl MailJobs {
    /// From the core state and `env`; no network call.
    pub fn from_env(app: &AppState, env: &Env, users: Users) -> anyhow::Result<Self> {
        let tokens = TokenSettings::from_env(env)?;
        let ring_tokens = tokens.clone();
        Ok(Self {
            users,
            counters: Counters::new(
                app.dynamo.clone(),
                app.config.require_table(Table::RateLimits)?.to_owned(),
            ),
            mailer: Mailer::from_env(app.ses.clone(), env)?,
            signer: LazySecret::new(
                app.secrets.clone(),
                env.required("SIGNING_KEYS_SECRET_ID")?,
                move |secret| Signer::from_secret_json(secret, ring_tokens.clone()),
            )
            .with_max_age(shared::secrets::max_age(env)?),
            tokens,
            settings: MailSettings::from_env(env)?,
        })
    }

    fn link(&self, path: &str, token: &str) -> String {
        format!("{}/{path}?token={token}", self.settings.public_app_url)
    }

    /// Counts one event of `scope` for `subject`; `None` when the window is full.
    async fn reserve<'a>(
        &self,
        scope: &'static str,
        subject: &'a str,
        window: Window,
    ) -> anyhow::Result<Option<Reserved<'a>>> {
        let at = now_s();
        let full = self
            .counters
            .reserve(scope, subject, window, at)
            .await
            .with_context(|| format!("reserving {scope}"))?;
        Ok(full.is_none().then_some(Reserved {
            scope,
            subject,
            window,
            at,
        }))
    }

    /// Gives a reservation back; a failure only over-counts (fewer mails, never more).
    async fn release(&self, reserved: &Reserved<'_>) {
        if let Err(err) = self
            .counters
            .release(
                reserved.scope,
                reserved.subject,
                reserved.window,
                reserved.at,
            )
            .await
        {
            tracing::warn!(scope = reserved.scope, error = ?err, "reservation not given back");
        }
    }

    /// Sends `kind` to `user` within the per-address limit. An SES failure gives the
    /// reservation back and fails the job, which is retried.
    async fn send(
        &self,
        user: &User,
        kind: MailKind,
        ctx: &MailContext<'_>,
    ) -> anyhow::Result<Mailed> {
        let Some(reserved) = self
            .reserve("mail-to", &user.email, self.settings.mails_per_address)
            .await?
        else {
            return Ok(Mailed::Skipped("mails to this address throttled"));
        };
        if let Err(err) = self.mailer.send(&user.email, kind, ctx).await {
            self.release(&reserved).await;
            return Err(err.context("SES did not take the mail"));
        }
        Ok(Mailed::Sent)
    }

    async fn issue(&self, kind: TokenKind, user: &User) -> anyhow::Result<identity::jwt::Issued> {
        let signer = self
            .signer
            .get()
            .await
            .map_err(|e| anyhow::anyhow!("signing keys unavailable: {e}"))?;
        signer.issue(kind, &user.id, None, now_s())
    }

    /// The verification link of `user`, unless verified (or gone) meanwhile.
    async fn verification(&self, user: &User) -> anyhow::Result<Mailed> {
        let issued = self.issue(TokenKind::VerifyEmail, user).await?;
        let link = self.link("verify-email", &issued.token);
        let ctx = MailContext {
            first_name: &user.first_name,
            link: &link,
            expires_in: human_duration(self.tokens.ttl(TokenKind::VerifyEmail)),
            changed_at: "",
        };
        self.send(user, MailKind::VerifyEmail, &ctx).await
    }

    /// Signup's verification mail.
    pub async fn verify_email(&self, user_id: &str) -> anyhow::Result<Mailed> {
        match self.users.get(user_id).await? {
            Some(user) if user.is_active() && !user.email_verified => {
                self.verification(&user).await
            }
            Some(_) => Ok(Mailed::Skipped("verified or inactive")),
            None => Ok(Mailed::Skipped("no such account")),
        }
    }

    /// A resend: the account looked up here, whatever the request named.
    pub async fn resend(&self, to: &ResendTo) -> anyhow::Result<Mailed> {
        let user = match to {
            ResendTo::User(id) => self.users.get(id).await?,
            ResendTo::Email(email) => self.users.find_by_login(email).await?,
        };
        let Some(user) = user.filter(|u| u.is_active() && !u.email_verified) else {
            return Ok(Mailed::Skipped("no unverified account"));
        };
        let Some(reserved) = self
            .reserve("verify-mail", &user.email, self.settings.verify_mails)
            .await?
        else {
            return Ok(Mailed::Skipped("resends to this address throttled"));
        };
        let sent = self.verification(&user).await;
        if sent.is_err() {
            self.release(&reserved).await;
        }
        sent
    }

    /// A reset link, if an active account has `email`. Counted for every address.
    pub async fn password_reset(&self, email: &str) -> anyhow::Result<Mailed> {
        let Some(reserved) = self
            .reserve("reset-mail", email, self.settings.reset_mails)
            .await?
        else {
            return Ok(Mailed::Skipped("reset mails to this address throttled"));
        };
        let sent = self.reset_link(email).await;
        if sent.is_err() {
            self.release(&reserved).await;
        }
        sent
    }

    async fn reset_link(&self, email: &str) -> anyhow::Result<Mailed> {
        let Some(user) = self
            .users
            .find_by_login(email)
            .await?
            .filter(User::is_active)
        else {
            return Ok(Mailed::Skipped("no active account"));
        };
        let issued = self.issue(TokenKind::PasswordReset, &user).await?;
        let link = self.link("reset-password", &issued.token);
        let ctx = MailContext {
            first_name: &user.first_name,
            link: &link,
            expires_in: human_duration(self.tokens.ttl(TokenKind::PasswordReset)),
            changed_at: "",
        };
        // Allowed beside the previous link before sending; the only one once sent. A send that
        // fails leaves the previous link working instead of voiding it with nothing to replace
        // it. Single use holds throughout: a reset consumes its jti and clears them all.
        self.users
            .allow_reset_jti(&user.id, &issued.claims.jti)
            .await?;
        let sent = self.send(&user, MailKind::PasswordReset, &ctx).await?;
        if sent == Mailed::Sent {
            self.users
                .only_reset_jti(&user.id, &issued.claims.jti)
                .await?;
        }
        Ok(sent)
    }

    /// The notice after a password change.
    pub async fn password_changed(
        &self,
        user_id: &str,
        changed_at: &str,
    ) -> anyhow::Result<Mailed> {
        let Some(user) = self.users.get(user_id).await?.filter(User::is_active) else {
            return Ok(Mailed::Skipped("no active account"));
        };
        let link = format!("{}/forgot-password", self.settings.public_app_url);
        let ctx = MailContext {
            first_name: &user.first_name,
            link: &link,
            expires_in: String::new(),
            changed_at,
        };
        self.send(&user, MailKind::PasswordChanged, &ctx).await
    }

    /// The notice after a login with a recovery code.
    pub async fn recovery_code_used(&self, user_id: &str, used_at: &str) -> anyhow::Result<Mailed> {
        let Some(user) = self.users.get(user_id).await?.filter(User::is_active) else {
            return Ok(Mailed::Skipped("no active account"));
        };
        let link = format!("{}/forgot-password", self.settings.public_app_url);
        let ctx = MailContext {
            first_name: &user.first_name,
            link: &link,
            expires_in: String::new(),
            changed_at: used_at,
        };
        self.send(&user, MailKind::RecoveryCodeUsed, &ctx).await
    }
}
