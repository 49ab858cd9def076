//! [`IdentityState`]: what every function that authenticates requests needs (the token
//! verifier and the three identity tables). It exists only in the functions that build it, and
//! extractors reach it through `FromRef`, so a function that forgets it does not compile —
//! there is no `Option` to find empty at request time.
//!
//! Building it makes no network call: the keys are a [`LazySecret`], read on first use, so a
//! cold start while Secrets Manager is unreachable answers 503s and then recovers.
//!
//! Rotation: the keys are read again once older than `SECRETS_CACHE_SECS`
//! ([`shared::secrets::max_age`]), so a key removed from the secrets stops verifying, and a new
//! one starts, within that bound; a token naming a `kid` the cached keys lack reads them at
//! once (at most every `RELOAD_UNKNOWN_KID_AFTER`), so a new key verifies before the bound too.

use std::{ops::Deref, sync::Arc, time::Duration};

use shared::{ApiError, AppState, Env, Table, clock::now_s, secrets::LazySecret};

use crate::{
    jwt::{Claims, Signer, TokenError, TokenKind, TokenSettings, Verifier},
    store::{IdentityStore, users::User},
};

/// A token whose `kid` the cached keys do not know makes the keys be read again, at most this
/// often (a rotated ring; never a way to make us hammer Secrets Manager).
const RELOAD_UNKNOWN_KID_AFTER: Duration = Duration::from_secs(30);

/// Identity, built once per sandbox; cheap to clone.
#[derive(Debug, Clone)]
pub struct IdentityState(Arc<Identity>);

/// Where the verifying keys come from.
#[derive(Debug)]
enum Keys {
    /// The published public keys (`VERIFYING_KEYS_SECRET_ID`): every function but `auth`.
    Published(LazySecret<Verifier>),
    /// The signing ring itself: `auth`, which holds it anyway.
    Signing(Arc<LazySecret<Signer>>),
}

/// What [`IdentityState`] holds.
#[derive(Debug)]
pub struct Identity {
    keys: Keys,
    /// Issuer, audience and lifetimes.
    pub settings: TokenSettings,
    /// Users, sessions and revoked tokens, and the transactions across them.
    pub store: IdentityStore,
}

impl Deref for IdentityState {
    type Target = Identity;

    fn deref(&self) -> &Identity {
        &self.0
    }
}

impl IdentityState {
    /// Identity that verifies with the published public keys (`VERIFYING_KEYS_SECRET_ID`):
    /// every function but `auth`. No network call.
    pub fn from_env(app: &AppState, env: &Env) -> anyhow::Result<Self> {
        let settings = TokenSettings::from_env(env)?;
        let parse_settings = settings.clone();
        let keys = LazySecret::new(
            app.secrets.clone(),
            env.required("VERIFYING_KEYS_SECRET_ID")?,
            move |json| {
                use secrecy::ExposeSecret as _;
                Verifier::from_public_json(json.expose_secret(), parse_settings.clone())
            },
        )
        .with_max_age(shared::secrets::max_age(env)?);
        Self::build(app, Keys::Published(keys), settings)
    }

    /// Identity that verifies with the signing ring's own public keys (`auth`). The ring's
    /// lifetime is the signer's own (`auth` builds it with [`shared::secrets::max_age`]).
    pub fn with_signer(
        app: &AppState,
        env: &Env,
        signer: Arc<LazySecret<Signer>>,
    ) -> anyhow::Result<Self> {
        Self::build(app, Keys::Signing(signer), TokenSettings::from_env(env)?)
    }

    fn build(app: &AppState, keys: Keys, settings: TokenSettings) -> anyhow::Result<Self> {
        let table =
            |t: Table| -> anyhow::Result<String> { Ok(app.config.require_table(t)?.to_owned()) };
        Ok(Self(Arc::new(Identity {
            keys,
            settings,
            store: IdentityStore::new(
                app.dynamo.clone(),
                table(Table::Users)?,
                table(Table::Sessions)?,
                table(Table::RevokedTokens)?,
            ),
        })))
    }
}

impl Identity {
    /// Checks `token` as a `kind` token. The outer error is ours (keys unreadable: 503); the
    /// inner one is the token's fault, for the caller to answer as its route says.
    pub async fn verify(
        &self,
        kind: TokenKind,
        token: &str,
    ) -> Result<Result<Claims, TokenError>, ApiError> {
        let checked = self.verifier().await?.verify(kind, token);
        // Only a token that names a key we do not hold (a rotated ring) reads the keys again;
        // the common path checks the token once and never looks up its `kid` separately.
        if checked == Err(TokenError::UnknownKey) && Verifier::kid_of(token).is_some() {
            return Ok(self.reload().await?.verify(kind, token));
        }
        Ok(checked)
    }

    /// Ends session `sid` of `user` at once: its refresh token (the session item) and every
    /// access token of it (an entry on the user item, kept until the last of them has
    /// expired). The session first: a failure in between leaves the access token working, so
    /// the client can retry.
    pub async fn end_session(&self, user: &User, sid: &str) -> Result<(), ApiError> {
        self.store.sessions.revoke(sid).await?;
        let now = now_s();
        let lifetime =
            i64::try_from(self.settings.ttl(TokenKind::Access).as_secs()).unwrap_or(i64::MAX / 4);
        let until = now
            .saturating_add(lifetime)
            .saturating_add(crate::jwt::LEEWAY_SECS);
        self.store
            .users
            .end_session_access(user, sid, until, now)
            .await?;
        Ok(())
    }

    async fn verifier(&self) -> Result<Arc<Verifier>, ApiError> {
        match &self.keys {
            Keys::Published(keys) => keys.get().await,
            Keys::Signing(signer) => Ok(signer.get().await?.verifier()),
        }
    }

    async fn reload(&self) -> Result<Arc<Verifier>, ApiError> {
        match &self.keys {
            Keys::Published(keys) => keys.refresh(RELOAD_UNKNOWN_KID_AFTER).await,
            Keys::Signing(signer) => Ok(signer.refresh(RELOAD_UNKNOWN_KID_AFTER).await?.verifier()),
        }
    }
}
