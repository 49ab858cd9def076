//! The uploads function's state: the core, identity (to verify tokens), the cursor key, the
//! limiter, and [`UploadsContext`]: the rules, the table and the bucket. Each part is reachable
//! through `FromRef`. No mailer, no password hashing, no token signing.

use std::sync::Arc;

use axum::extract::FromRef;
use identity::{IdentityState, pagination::CursorKey};
use shared::{
    AppState, Env,
    config::Table,
    ratelimit::{Class, RateLimiter},
    secrets::LazySecret,
};

use crate::{objects::Objects, settings::UploadSettings, store::Uploads};

/// What the uploads handlers need; each part is reachable through `FromRef`.
#[derive(Debug, Clone, FromRef)]
pub struct State {
    /// Config and AWS clients.
    pub app: AppState,
    /// Token verification.
    pub identity: IdentityState,
    /// The key that signs the listing's cursors, read on first use.
    pub cursor_key: Arc<LazySecret<CursorKey>>,
    /// Per user (by the access token's tier) when authenticated, `default` per IP otherwise.
    pub limiter: Arc<RateLimiter>,
    /// The rules, the table and the bucket.
    pub uploads: Arc<UploadsContext>,
}

/// The uploads rules, the table and the bucket.
#[derive(Debug)]
pub struct UploadsContext {
    /// What uploads accept.
    pub settings: UploadSettings,
    /// Records and quotas.
    pub store: Uploads,
    /// The bucket.
    pub objects: Objects,
}

/// Builds the state without a network call: keys are read on first use.
pub async fn init(app: AppState, env: Env) -> anyhow::Result<State> {
    let identity = IdentityState::from_env(&app, &env)?;
    let cursor_key = Arc::new(CursorKey::from_env(&app, &env)?);
    let limiter = Arc::new(RateLimiter::from_env(
        &app,
        &env,
        Class::Default,
        identity.clone(),
    )?);
    let uploads = Arc::new(UploadsContext {
        settings: UploadSettings::from_env(&env)?,
        store: Uploads::new(
            app.dynamo.clone(),
            app.config.require_table(Table::Uploads)?.to_owned(),
        ),
        objects: Objects::new(&app, env.required("UPLOADS_BUCKET")?)?,
    });
    Ok(State {
        app,
        identity,
        cursor_key,
        limiter,
        uploads,
    })
}

impl UploadsContext {
    /// The caller's live upload `id`: anything else (malformed, missing, expired, another
    /// user's) is the same 404.
    pub async fn load(
        &self,
        owner_id: &str,
        id: &str,
    ) -> Result<crate::record::Upload, shared::ApiError> {
        if uuid::Uuid::try_parse(id).is_err() {
            return Err(shared::ErrorCode::NotFound.into());
        }
        Ok(self
            .store
            .get(owner_id, id)
            .await?
            .ok_or(shared::ErrorCode::NotFound)?)
    }
}
