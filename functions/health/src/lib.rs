//! Health Lambda: `/health`, `/health/liveness`, `/health/readiness` ([`checks`]). It links only
//! `shared`: no identity, no password hashing, no mail. The contract is `docs/api.md`.

pub mod checks;

use axum::Router;
use shared::{AppState, Env, Routes};

pub use checks::VERSION;

/// This function needs nothing beyond the core state.
pub type State = AppState;

/// Nothing to add to the core state.
pub async fn init(app: AppState, _env: Env) -> anyhow::Result<State> {
    Ok(app)
}

/// Every route of this function.
pub fn routes() -> Routes<State> {
    checks::routes()
}

/// The function's router, with the shared layer stack applied.
pub fn router(state: State) -> Router {
    let config = state.config.clone();
    shared::layers::apply(routes().into_router().with_state(state), &config)
}
