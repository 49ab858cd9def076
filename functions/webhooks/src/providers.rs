//! The four delivery routes. Each names its provider (and source) and hands the request to
//! [`crate::receive::receive`].

use std::sync::Arc;

use axum::{
    body::Body,
    extract::{Path, State},
    http::HeaderMap,
    response::Response,
};
use shared::{ApiError, Routes};

use crate::{receive::receive, state::WebhooksContext, verifiers::Provider};

/// `POST /github`, `/stripe`, `/standard/{source}`, `/rsa/{source}`.
pub fn routes() -> Routes<crate::state::State> {
    Routes::new()
        .post("/api/v1/webhooks/github", github)
        .post("/api/v1/webhooks/stripe", stripe)
        .post("/api/v1/webhooks/standard/{source}", standard)
        .post("/api/v1/webhooks/rsa/{source}", rsa)
}

/// GitHub: `X-Hub-Signature-256`, `X-GitHub-Delivery`, `X-GitHub-Event`.
#[utoipa::path(post, path = "/api/v1/webhooks/github", tag = "webhooks",
    request_body(content = Object, description = "The sender's JSON payload, signed as sent"),
    responses(crate::body::DeliveryResponses))]
pub(crate) async fn github(
    State(ctx): State<Arc<WebhooksContext>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    receive(&ctx, Provider::Github, &headers, body).await
}

/// Stripe: `Stripe-Signature: t=..,v1=..`; the event's `id` and `type`.
#[utoipa::path(post, path = "/api/v1/webhooks/stripe", tag = "webhooks",
    request_body(content = Object, description = "The sender's JSON payload, signed as sent"),
    responses(crate::body::DeliveryResponses))]
pub(crate) async fn stripe(
    State(ctx): State<Arc<WebhooksContext>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    receive(&ctx, Provider::Stripe, &headers, body).await
}

/// Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature`.
#[utoipa::path(post, path = "/api/v1/webhooks/standard/{source}", tag = "webhooks",
    params(("source" = String, Path, description = "The sender's name in the webhook secret")),
    request_body(content = Object, description = "The sender's JSON payload, signed as sent"),
    responses(crate::body::DeliveryResponses))]
pub(crate) async fn standard(
    State(ctx): State<Arc<WebhooksContext>>,
    Path(source): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    receive(&ctx, Provider::Standard(source), &headers, body).await
}

/// RSA (PKCS#1 v1.5, SHA-256): `x-webhook-id`, `x-webhook-timestamp`, `x-webhook-signature`.
#[utoipa::path(post, path = "/api/v1/webhooks/rsa/{source}", tag = "webhooks",
    params(("source" = String, Path, description = "The sender's name in the webhook secret")),
    request_body(content = Object, description = "The sender's JSON payload, signed as sent"),
    responses(crate::body::DeliveryResponses))]
pub(crate) async fn rsa(
    State(ctx): State<Arc<WebhooksContext>>,
    Path(source): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    receive(&ctx, Provider::Rsa(source), &headers, body).await
}
