//! Health Lambda: `/health`, `/health/liveness`, `/health/readiness` ([`checks`]). It links only
//! `shared`: no identity, no password hashing, no mail. The contract is `functions/docs/guide/api.md`.

pub mod cache;
pub mod checks;
mod state;

use axum::Router;
use shared::Routes;

pub use checks::VERSION;
pub use state::{State, init};

/// Every route of this function.
pub fn routes() -> Routes<State> {
    checks::routes()
}

/// This function's OpenAPI document (merged with the others by the docs function).
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi as _;
    shared::openapi::conventions(
        ApiDoc::openapi(),
        shared::openapi::Layers {
            rate_limited: false,
            api_key: false,
        },
    )
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(checks::health, checks::liveness, checks::readiness))]
struct ApiDoc;

/// The function's router, with the shared layer stack applied.
pub fn router(state: State) -> Router {
    let (config, limiter) = (state.app.config.clone(), state.limiter.clone());
    shared::layers::apply(routes().into_router().with_state(state), &config, limiter)
}
