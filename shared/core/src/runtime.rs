//! Runs a function's router on the Lambda runtime API, or as plain HTTP for local runs.

use std::future::Future;

use axum::Router;

use crate::{config::Env, state::AppState, telemetry};

/// Everything a function's `main` does: telemetry, the core state from the process
/// environment, the function's own state (`init`), then serving `router(state)`.
///
/// `init` gets the core state and the same [`Env`], so each crate parses its own settings; a
/// failure stops the cold start with a message naming the variable.
pub async fn start<S, Fut>(
    service: &'static str,
    version: &'static str,
    init: impl FnOnce(AppState, Env) -> Fut,
    router: impl FnOnce(S) -> Router,
) -> Result<(), lambda_http::Error>
where
    Fut: Future<Output = anyhow::Result<S>>,
{
    telemetry::init();
    let env = Env::process();
    let app = AppState::from_env(&env, service, version).await?;
    let local_addr = app.config.local_http_addr.clone();
    let state = init(app, env).await?;
    run(router(state), local_addr).await
}

/// On Lambda (or under `cargo lambda watch`) this polls the runtime API; when `local_addr` is set
/// (`LOCAL_HTTP_ADDR`) the same router is served as plain HTTP instead.
pub async fn run(router: Router, local_addr: Option<String>) -> Result<(), lambda_http::Error> {
    match local_addr {
        Some(addr) => serve_http(router, &addr).await,
        None => lambda_http::run(router).await,
    }
}

async fn serve_http(router: Router, addr: &str) -> Result<(), lambda_http::Error> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(addr = %listener.local_addr()?, "serving plain HTTP");
    // With connect info, the rate limiter sees each client's address (`ClientIp`).
    let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(async {
            // If the signal handler cannot be installed, run until killed.
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        })
        .await?;
    Ok(())
}
