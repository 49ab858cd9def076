//! The next floor for `make bench`: `lambda_http` with an axum router of one route and nothing
//! else (no layers, no logging, no AWS), so the cost of the event conversion shows on its own.

use axum::{Json, Router, routing::get};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let app = Router::new().route(
        "/health/liveness",
        get(|| async { Json::<Value>(json!({"status": "ok"})) }),
    );
    lambda_http::run(app).await
}
