//! The next floor for `make bench`: `lambda_http` with an axum router of one route and nothing
//! else (no layers, no logging, no AWS), so the cost of the event conversion shows on its own.
//! `FLOOR_FLAVOR=multi` picks tokio's multi-thread runtime ([`floor::runtime`]).

#[path = "floor.rs"]
mod floor;

use axum::{Json, Router, routing::get};
use serde_json::{Value, json};

fn main() -> Result<(), lambda_http::Error> {
    let runtime = floor::runtime()?;
    let app = Router::new().route(
        "/health/liveness",
        get(|| async { Json::<Value>(json!({"status": "ok"})) }),
    );
    runtime.block_on(lambda_http::run(app))
}
