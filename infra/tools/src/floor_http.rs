//! The next floor for `make bench`: `lambda_http` with an axum router that answers every request
//! with one fixed JSON body and does nothing else (no layers, no logging, no AWS), so the cost of
//! the event conversion shows on its own. Any path: the bench feeds it a probe event of its
//! choosing. `FLOOR_FLAVOR=multi` picks tokio's multi-thread runtime ([`floor::runtime`]).

#[path = "floor.rs"]
mod floor;

use axum::{Json, Router};
use serde_json::{Value, json};

fn main() -> Result<(), lambda_http::Error> {
    let runtime = floor::runtime()?;
    let app = Router::new().fallback(|| async { Json::<Value>(json!({"status": "ok"})) });
    runtime.block_on(lambda_http::run(app))
}
