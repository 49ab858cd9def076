//! Lambda entry point: telemetry, config, state (with the signing keys), then the runtime loop.

use shared::{AppState, Config};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let config = Config::from_env(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"))?;
    let local_addr = config.local_http_addr.clone();
    let state = AppState::init(config).await?.with_auth().await?;
    shared::runtime::run(auth::router(state), local_addr).await
}
