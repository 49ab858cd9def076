//! Lambda entry point: telemetry, config, state, then the runtime loop.

use shared::{AppState, Config};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let config = Config::from_env(env!("CARGO_PKG_NAME"), health::VERSION)?;
    let local_addr = config.local_http_addr.clone();
    let state = AppState::init(config).await?;
    shared::runtime::run(health::router(state), local_addr).await
}
