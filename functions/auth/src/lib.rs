//! Auth Lambda: sessions (`signup`, `login`, `refresh`, `logout`, `logout-all`), passwords
//! (`password/forgot`, `password/reset`, `password/change`) and email verification
//! (`verify-email`, `verify-email/resend`), second factors (`mfa`) and passkeys under
//! `/api/v1/auth`. The contract is `functions/docs/guide/api.md`.
//!
//! Each module exposes `routes()`; this file only merges them (the state is in `state.rs`).

mod context;
mod cookies;
mod guesses;
mod limits;
mod mfa;
mod passkeys;
mod password;
mod session;
mod state;
mod verification;

use shared::Routes;

pub use context::{AuthContext, AuthSettings};
/// The TOTP algorithm (RFC 6238), pure: what clients and tests compute codes with.
pub use mfa::totp;
/// The rule of a passkey's label, for the contract test.
pub use passkeys::is_valid_name as is_valid_passkey_name;
pub use state::{State, init};

/// Every route of this function.
pub fn routes() -> Routes<State> {
    session::routes()
        .merge(password::routes())
        .merge(verification::routes())
        .merge(passkeys::routes())
        .merge(mfa::routes::routes())
        .merge(mfa::login::routes())
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
    passkeys::manage::delete_passkey,
    mfa::login::login_mfa,
    mfa::routes::status,
    mfa::routes::enrol,
    mfa::routes::confirm,
    mfa::routes::disable,
    mfa::routes::regenerate
))]
struct ApiDoc;
