//! Runs a function's router on the Lambda runtime API, or as plain HTTP for local runs.

use axum::Router;

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
    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            // If the signal handler cannot be installed, run until killed.
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        })
        .await?;
    Ok(())
}
