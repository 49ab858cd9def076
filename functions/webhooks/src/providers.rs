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

async fn github(
    State(ctx): State<Arc<WebhooksContext>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    receive(&ctx, Provider::Github, &headers, body).await
}

async fn stripe(
    State(ctx): State<Arc<WebhooksContext>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    receive(&ctx, Provider::Stripe, &headers, body).await
}

async fn standard(
    State(ctx): State<Arc<WebhooksContext>>,
    Path(source): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    receive(&ctx, Provider::Standard(source), &headers, body).await
}

async fn rsa(
    State(ctx): State<Arc<WebhooksContext>>,
    Path(source): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    receive(&ctx, Provider::Rsa(source), &headers, body).await
}
