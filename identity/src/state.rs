//! [`IdentityState`]: what every function that authenticates requests needs (the token
//! verifier, the three identity tables, the cursor key). It exists only in the functions that
//! build it, and extractors reach it through `FromRef`, so a function that forgets it does not
//! compile — there is no `Option` to find empty at request time.

use std::{ops::Deref, sync::Arc};

use anyhow::Context as _;
use secrecy::SecretString;
use shared::{AppState, Env, Table, error::DisplayErrorContext};

use crate::{
    jwt::{KeyRing, TokenSettings, Tokens},
    pagination::CursorKey,
    store::IdentityStore,
};

/// Identity, built once per sandbox; cheap to clone.
#[derive(Debug, Clone)]
pub struct IdentityState(Arc<Identity>);

/// What [`IdentityState`] holds.
#[derive(Debug)]
pub struct Identity {
    /// Token issuing and verification.
    pub tokens: Tokens,
    /// Users, sessions and revoked tokens, and the transactions across them.
    pub store: IdentityStore,
    /// Key for signing pagination cursors.
    pub cursor_key: CursorKey,
}

impl Deref for IdentityState {
    type Target = Identity;

    fn deref(&self) -> &Identity {
        &self.0
    }
}

impl IdentityState {
    /// Reads the signing key ring from Secrets Manager (once, at init) and the identity
    /// settings from `env`; names the missing variable when a table or the secret is not set.
    pub async fn init(app: &AppState, env: &Env) -> anyhow::Result<Self> {
        let secret_id = env.required("SIGNING_KEYS_SECRET_ID")?;
        let value = app
            .secrets
            .get_secret_value()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!("reading the signing key secret: {}", DisplayErrorContext(e))
            })?;
        let secret = SecretString::from(
            value
                .secret_string()
                .context("signing key secret has no string value")?
                .to_owned(),
        );
        Self::from_secret(app, env, &secret)
    }

    /// Like [`IdentityState::init`], with the key ring secret already fetched.
    pub fn from_secret(app: &AppState, env: &Env, key_ring: &SecretString) -> anyhow::Result<Self> {
        let table =
            |t: Table| -> anyhow::Result<String> { Ok(app.config.require_table(t)?.to_owned()) };
        Ok(Self(Arc::new(Identity {
            tokens: Tokens::from_settings(
                KeyRing::from_secret_json(key_ring)?,
                TokenSettings::from_env(env)?,
            ),
            store: IdentityStore::new(
                app.dynamo.clone(),
                table(Table::Users)?,
                table(Table::Sessions)?,
                table(Table::RevokedTokens)?,
            ),
            cursor_key: CursorKey::from_env(env, key_ring)?,
        })))
    }
}
