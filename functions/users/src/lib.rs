//! Users Lambda: `/api/v1/users/me` for everyone ([`me`]), the rest for admins ([`admin`]).
//! The contract is `functions/docs/guide/api.md`. This file only merges the routes (the state is in `state.rs`).

mod admin;
mod body;
mod lifecycle;
mod me;
mod state;

use shared::Routes;

pub use body::UserBody;
pub use state::{State, init};

/// Every route of this function.
pub fn routes() -> Routes<State> {
    me::routes().merge(admin::routes())
}

shared::function_api!(ApiDoc::openapi(), shared::openapi::Layers::API);

#[derive(utoipa::OpenApi)]
#[openapi(paths(
    me::me,
    me::patch_me,
    me::delete_me,
    admin::list,
    admin::get_user,
    admin::patch_user,
    admin::delete_user,
    admin::reset_mfa
))]
struct ApiDoc;
