//! The next floor for `make bench`: `lambda_http` with an axum router of one route and nothing
//! else (no layers, no logging, no AWS), so the cost of the event conversion shows on its own.
//! `FLOOR_FLAVOR=multi` as in floor-runtime.

use axum::{Json, Router, routing::get};
use serde_json::{Value, json};

fn main() -> Result<(), lambda_http::Error> {
    let runtime = if std::env::var("FLOOR_FLAVOR").is_ok_and(|f| f == "multi") {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    };
    let app = Router::new().route(
        "/health/liveness",
        get(|| async { Json::<Value>(json!({"status": "ok"})) }),
    );
    runtime.block_on(lambda_http::run(app))
}
