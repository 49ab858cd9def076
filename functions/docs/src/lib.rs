//! Docs Lambda: the one OpenAPI 3.1 document of the whole API ([`document`], merged from every
//! function's own, generated from its handlers), Swagger UI at `/docs` and ReDoc at `/redoc`,
//! every asset built in: no internet at build or run time ([`pages`]). A function of its own, so
//! that no other function's binary carries the document or the UI assets. The contract is
//! `functions/docs/guide/api.md`. This file only merges the routes (the state is in `state.rs`).

mod pages;
mod state;

use shared::Routes;
use utoipa::openapi::{InfoBuilder, OpenApi};

pub use state::{State, init};

/// Every route of this function.
pub fn routes() -> Routes<State> {
    pages::routes()
}

// Its own paths: the documentation pages.
shared::function_api!(pages::own_paths(), shared::openapi::Layers::OPEN);

/// The whole API: every function's document, merged. Each function contributes its own paths
/// and schemas; the consistency test checks that they are exactly its router's routes.
pub fn document() -> OpenApi {
    let mut doc = health::openapi();
    for part in [
        auth::openapi(),
        users::openapi(),
        uploads::openapi(),
        webhooks::openapi(),
        tasks::openapi(),
        tiers::openapi(),
        openapi(),
    ] {
        doc.merge(part);
    }
    doc.info = InfoBuilder::new()
        .title("Rust Serverless Starter API")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "Generated from the handlers. Errors are the envelope `ErrorEnvelope`; the prose \
             contract is functions/docs/guide/api.md.",
        ))
        .build();
    doc
}
