//! Health Lambda: `/health`, `/health/liveness`, `/health/readiness` ([`checks`]). It links
//! `shared`, and `hooks` for the webhook secret's placeholder rule: no identity, no password
//! hashing, no mail. The contract is `functions/docs/guide/api.md`.

pub mod cache;
pub mod checks;
mod state;

use shared::Routes;

pub use checks::VERSION;
pub use state::{State, init};

/// Every route of this function.
pub fn routes() -> Routes<State> {
    checks::routes()
}

shared::function_api!(ApiDoc::openapi(), shared::openapi::Layers::OPEN);

#[derive(utoipa::OpenApi)]
#[openapi(paths(checks::health, checks::liveness, checks::readiness))]
struct ApiDoc;
