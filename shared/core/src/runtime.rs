//! Runs a function's router on the Lambda runtime API, or as plain HTTP for local runs.
//!
//! One binary serves both Lambda modes. On the classic model a sandbox gets one request at a time
//! and a fraction of a vCPU: a current-thread Tokio runtime and the sequential loop cost least.
//! On Lambda Managed Instances the environment sets `AWS_LAMBDA_MAX_CONCURRENCY` and hands one
//! process that many requests at once on whole vCPUs: a multi-thread runtime (one worker per
//! vCPU the process may use) and `run_concurrent`, one `/next` poll per concurrency slot.

use std::convert::Infallible;
use std::future::Future;
use std::task::{Context, Poll};

use axum::Router;
use lambda_http::{BoxFuture, IntoResponse};
use tower::Service;

use crate::{config::Env, state::AppState, telemetry};

/// The variable Lambda Managed Instances set to the requests one process serves at once.
pub const MAX_CONCURRENCY_VAR: &str = "AWS_LAMBDA_MAX_CONCURRENCY";

/// How many requests this process serves at once: `AWS_LAMBDA_MAX_CONCURRENCY` when it is a
/// whole number above zero, else 1 (the classic model, and `cargo lambda watch`).
pub fn max_concurrency() -> u32 {
    concurrency_from(std::env::var(MAX_CONCURRENCY_VAR).ok().as_deref())
}

/// [`max_concurrency`] of a raw value: what `lambda_runtime` itself reads, so both agree.
pub fn concurrency_from(raw: Option<&str>) -> u32 {
    raw.and_then(|v| v.parse::<u32>().ok())
        .filter(|&c| c > 0)
        .unwrap_or(1)
}

/// The Tokio runtime for `concurrency`: current-thread for one request at a time; otherwise
/// multi-thread with Tokio's default worker count, the vCPUs this process may use
/// (`available_parallelism`, which honours the cgroup's CPU quota; `TOKIO_WORKER_THREADS`
/// overrides it).
pub fn tokio_runtime(concurrency: u32) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = if concurrency > 1 {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    builder.enable_all().build()
}

/// Runs `future` to completion on the runtime [`tokio_runtime`] builds for this process's
/// [`max_concurrency`]: what a function's `main` does instead of `#[tokio::main]`.
pub fn block_on<T>(
    future: impl Future<Output = Result<T, lambda_http::Error>>,
) -> Result<T, lambda_http::Error> {
    tokio_runtime(max_concurrency())?.block_on(future)
}

/// A function's whole `main`: [`start`] on the runtime this process's mode needs.
pub fn main<S, Fut>(
    service: &'static str,
    version: &'static str,
    init: impl FnOnce(AppState, Env) -> Fut,
    router: impl FnOnce(S) -> Router,
) -> Result<(), lambda_http::Error>
where
    Fut: Future<Output = anyhow::Result<S>>,
{
    block_on(start(service, version, init, router))
}

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

/// On Lambda (or under `cargo lambda watch`) this polls the runtime API, one request at a time
/// unless [`max_concurrency`] is above 1; when `local_addr` is set (`LOCAL_HTTP_ADDR`) the same
/// router is served as plain HTTP instead.
///
/// With `AWS_LAMBDA_MAX_CONCURRENCY` set at all (`cargo lambda watch` sets it to 1) the loop is
/// `run_concurrent`, which polls sequentially at 1: `run` would warn at every start that the
/// variable is ignored. Unset, as in the classic model, the loop is `run`, unchanged.
pub async fn run(router: Router, local_addr: Option<String>) -> Result<(), lambda_http::Error> {
    match local_addr {
        Some(addr) => serve_http(router, &addr).await,
        None if std::env::var_os(MAX_CONCURRENCY_VAR).is_some() => {
            if max_concurrency() > 1 {
                tracing::info!(
                    max_concurrency = max_concurrency(),
                    "serving concurrent invocations"
                );
            }
            lambda_http::run_concurrent(LambdaBody(router)).await
        }
        None => lambda_http::run(router).await,
    }
}

/// The router with its responses already converted to Lambda's body. `run_concurrent` hands
/// responses between tasks, so it wants them `Sync`; axum's body is not. The conversion is the
/// one `lambda_http` makes anyway (text or base64 by content type), done inside the handler's
/// future instead of after it.
#[derive(Clone)]
struct LambdaBody(Router);

impl Service<lambda_http::Request> for LambdaBody {
    type Response = lambda_http::Response<lambda_http::Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Service::<lambda_http::Request>::poll_ready(&mut self.0, cx)
    }

    fn call(&mut self, request: lambda_http::Request) -> Self::Future {
        let response = self.0.call(request);
        Box::pin(async move {
            let Ok(response) = response.await;
            Ok(response.into_response().await)
        })
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn concurrency_is_one_unless_the_variable_is_a_whole_number_above_zero() {
        assert_eq!(concurrency_from(None), 1);
        assert_eq!(concurrency_from(Some("")), 1);
        assert_eq!(concurrency_from(Some("0")), 1);
        assert_eq!(concurrency_from(Some("-4")), 1);
        assert_eq!(concurrency_from(Some("eight")), 1);
        assert_eq!(concurrency_from(Some("1")), 1);
        assert_eq!(concurrency_from(Some("64")), 64);
        assert_eq!(concurrency_from(Some(" 16 ")), 1);
    }

    #[test]
    fn one_request_at_a_time_runs_on_the_current_thread_and_more_on_a_worker_pool() {
        let single = tokio_runtime(1).unwrap();
        assert_eq!(
            single.handle().runtime_flavor(),
            tokio::runtime::RuntimeFlavor::CurrentThread
        );
        let pool = tokio_runtime(8).unwrap();
        assert_eq!(
            pool.handle().runtime_flavor(),
            tokio::runtime::RuntimeFlavor::MultiThread
        );
    }
}
