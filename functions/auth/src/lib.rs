//! Auth Lambda: sessions (`signup`, `login`, `refresh`, `logout`, `logout-all`), passwords
//! (`password/forgot`, `password/reset`, `password/change`) and email verification
//! (`verify-email`, `verify-email/resend`) under `/api/v1/auth`. The contract is `functions/docs/guide/api.md`.
//!
//! Each module exposes `routes()`; this file only merges them (the state is in `state.rs`).

mod context;
mod cookies;
mod guesses;
mod limits;
mod passkeys;
mod password;
mod session;
mod state;
mod verification;

use shared::Routes;

pub use context::{AuthContext, AuthSettings};
pub use state::{State, init};

/// Every route of this function.
pub fn routes() -> Routes<State> {
    session::routes()
        .merge(password::routes())
        .merge(verification::routes())
        .merge(passkeys::routes())
}

shared::function_api!(ApiDoc::openapi(), shared::openapi::Layers::API);

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
    verification::resend,
    passkeys::register::register_start,
    passkeys::register::register_finish,
    passkeys::login::login_start,
    passkeys::login::login_finish,
    passkeys::manage::list_passkeys,
    passkeys::manage::rename_passkey,
    passkeys::manage::delete_passkey
))]
struct ApiDoc;
