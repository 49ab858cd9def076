//! Auth Lambda: sessions (`signup`, `login`, `refresh`, `logout`, `logout-all`), passwords
//! (`password/forgot`, `password/reset`, `password/change`) and email verification
//! (`verify-email`, `verify-email/resend`) under `/api/v1/auth`. The contract is `functions/docs/guide/api.md`.
//!
//! Each module exposes `routes()`; this file only merges them (the state is in `state.rs`).

mod context;
mod cookies;
mod guesses;
mod password;
mod session;
mod state;
mod verification;

use axum::Router;
use shared::Routes;

pub use context::{AuthContext, AuthSettings};
pub use state::{State, init};

/// Every route of this function.
pub fn routes() -> Routes<State> {
    session::routes()
        .merge(password::routes())
        .merge(verification::routes())
}

/// This function's OpenAPI document (merged with the others by the docs function).
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi as _;
    shared::openapi::conventions(
        ApiDoc::openapi(),
        shared::openapi::Layers {
            rate_limited: true,
            api_key: true,
        },
    )
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(
    session::signup,
    session::login,
    session::refresh,
    session::logout,
    session::logout_all,
    password::forgot,
    password::reset,
    password::change,
    verification::verify_email,
    verification::resend
))]
struct ApiDoc;

/// The function's router, with the shared layer stack applied.
pub fn router(state: State) -> Router {
    let (config, limiter) = (state.app.config.clone(), state.limiter.clone());
    shared::layers::apply(routes().into_router().with_state(state), &config, limiter)
}
