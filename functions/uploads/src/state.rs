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

/// Most markers one request settles: the rest wait for the next request (each costs a delete in
/// the bucket, a read and a transaction).
const SWEEP_BATCH: i32 = 10;

impl UploadsContext {
    /// Settles `owner_id`'s markers that are due (see `record::Marker`): empties each one's
    /// pending key, then removes its record if it is still pending or deleted, with its share
    /// of the quota. Run before the work of `create`, `list` and `delete`, in the request (a
    /// Lambda sandbox is frozen after its response, so nothing may run after it). A failure is
    /// logged and left for the next request: housekeeping never fails the caller's request.
    pub async fn sweep(&self, owner_id: &str) {
        let due = match self
            .store
            .due(owner_id, shared::clock::now_s(), SWEEP_BATCH)
            .await
        {
            Ok(due) => due,
            Err(err) => {
                tracing::warn!(error = %err, "upload sweep: listing what is due failed");
                return;
            }
        };
        for marker in due {
            if let Err(err) = self.settle(owner_id, &marker).await {
                tracing::warn!(upload = %marker.id, error = ?err, "upload sweep failed");
            }
        }
    }

    /// One due marker: the objects first (the pending key; and, for a record it settles, any
    /// copy a `complete` that never finished left), then the record with its quota share.
    async fn settle(
        &self,
        owner_id: &str,
        marker: &crate::record::Marker,
    ) -> Result<(), shared::ApiError> {
        let record = Uploads::settles(marker, self.store.read(owner_id, &marker.id).await?);
        self.objects
            .delete(&crate::record::pending_key(owner_id, &marker.id))
            .await?;
        if record.is_some() {
            self.objects
                .delete_prefix(&crate::record::file_prefix(owner_id, &marker.id))
                .await?;
        }
        Ok(self.store.settle(owner_id, marker, record.as_ref()).await?)
    }

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
