//! Tiers Lambda: tiers and their per-path rate limits as data, for the `admin` role
//! ([`tiers`], [`rules`]); the rate limiter of every function reads them
//! ([`shared::tiers`]). The contract is `functions/docs/guide/api.md`. This file only merges
//! the routes (the state is in `state.rs`).

mod body;
mod rules;
mod state;
mod store;
mod tiers;

use shared::Routes;

pub use body::{RateLimitBody, TierBody};
pub use state::{State, init};
pub use store::TiersStore;

/// Every route of this function.
pub fn routes() -> Routes<State> {
    tiers::routes().merge(rules::routes())
}

shared::function_api!(ApiDoc::openapi(), shared::openapi::Layers::API);

#[derive(utoipa::OpenApi)]
#[openapi(paths(
    tiers::list_tiers,
    tiers::create_tier,
    tiers::get_tier,
    tiers::patch_tier,
    tiers::delete_tier,
    rules::list_rate_limits,
    rules::create_rate_limit,
    rules::patch_rate_limit,
    rules::delete_rate_limit
))]
struct ApiDoc;
