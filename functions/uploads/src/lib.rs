//! Uploads Lambda: files go from the browser straight to S3 with a presigned POST ([`create`]),
//! are verified by their magic bytes ([`complete`]), listed and downloaded through short-lived
//! URLs ([`browse`]) and deleted ([`remove`]). The contract is `functions/docs/guide/api.md`. This file only
//! merges the routes (the state is in `state.rs`).

mod body;
mod browse;
mod complete;
mod create;
mod objects;
mod record;
mod remove;
mod settings;
mod state;
mod store;

use shared::Routes;

pub use settings::UploadSettings;
pub use state::{State, UploadsContext, init};
pub use store::{Created, Quota, Uploads};

/// Every route of this function.
pub fn routes() -> Routes<State> {
    create::routes()
        .merge(complete::routes())
        .merge(browse::routes())
        .merge(remove::routes())
}

shared::function_api!(ApiDoc::openapi(), shared::openapi::Layers::API);

#[derive(utoipa::OpenApi)]
#[openapi(paths(
    create::create,
    complete::complete,
    browse::list,
    browse::get_upload,
    remove::remove
))]
struct ApiDoc;
