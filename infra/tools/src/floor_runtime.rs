//! The floor of Lambda mode for `make bench`: a bare `lambda_runtime` function that answers
//! every event with a fixed API Gateway response. No router, no layers, no logging, no AWS.
//! `FLOOR_FLAVOR=multi` runs it on tokio's multi-thread runtime (`#[tokio::main]`'s default),
//! anything else on the current-thread runtime the functions use.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

fn main() -> Result<(), Error> {
    let runtime = if std::env::var("FLOOR_FLAVOR").is_ok_and(|f| f == "multi") {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    };
    runtime.block_on(lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| async {
        Ok::<_, Error>(json!({"statusCode": 200, "headers": {"content-type": "application/json"}, "body": "{\"status\":\"ok\"}"}))
    })))
}
