//! The floor of Lambda mode for `make bench`: a bare `lambda_runtime` function that answers
//! every event with a fixed API Gateway response. No router, no layers, no logging, no AWS.
//! `FLOOR_FLAVOR=multi` picks tokio's multi-thread runtime ([`floor::runtime`]).

#[path = "floor.rs"]
mod floor;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

fn main() -> Result<(), Error> {
    let runtime = floor::runtime()?;
    runtime.block_on(lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| async {
        Ok::<_, Error>(json!({"statusCode": 200, "headers": {"content-type": "application/json"}, "body": "{\"status\":\"ok\"}"}))
    })))
}
