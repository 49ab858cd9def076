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

/// The function's router: its routes inside the shared layer stack.
pub fn router(state: State) -> Router {
    routes().finish(state)
}

/// This function's OpenAPI document (merged with the others by the docs function).
pub fn openapi() -> utoipa::openapi::OpenApi {
    shared::openapi::document::<ApiDoc>(shared::openapi::Layers::OPEN)
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(checks::health, checks::liveness, checks::readiness))]
struct ApiDoc;
