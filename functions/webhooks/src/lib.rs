//! Webhooks Lambda: deliveries from GitHub, Stripe, Standard Webhooks senders and RSA-signing
//! senders ([`providers`]), each verified over its raw body ([`verifiers`], with the `hooks`
//! crate), recorded once ([`deliveries`]) and handed to a typed handler ([`handlers`]). The
//! contract is `functions/docs/guide/api.md`. This file only merges the routes (the state is in `state.rs`).

mod body;
mod deliveries;
mod handlers;
mod providers;
mod receive;
mod settings;
mod state;
mod verifiers;

use shared::Routes;

pub use deliveries::{Claim, Deliveries};
pub use settings::WebhookSettings;
pub use state::{State, WebhooksContext, init};

/// Every route of this function.
pub fn routes() -> Routes<State> {
    providers::routes()
}

// No API key (senders carry none) and no application rate limit.
shared::function_api!(ApiDoc::openapi(), shared::openapi::Layers::OPEN);

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        providers::github,
        providers::stripe,
        providers::standard,
        providers::rsa
    ),
    components(schemas(body::Ack))
)]
// `DeliveryResponses` refers to `Ack` by name but, unlike a path's `body = ..`, does not register
// it: listed here so the reference resolves.
struct ApiDoc;
