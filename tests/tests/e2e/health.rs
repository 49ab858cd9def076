//! Health endpoints over real HTTP, against the emulator `make test` starts.

#![allow(clippy::expect_used)] // Set-up helpers outside #[test] fns: a failed set-up must stop the test.

use std::time::{Duration, Instant};

use e2e::Client;
use serde_json::Value;

async fn get(url: &str) -> (u16, http::HeaderMap, Value) {
    let reply = Client::new().get(url, &[]).await;
    let body = reply.json();
    (reply.status, reply.headers, body)
}

/// The health router over `app`, built as its `main` builds it.
async fn health_router(app: shared::AppState) -> axum::Router {
    let state = health::init(app, e2e::emulator_env(&[]))
        .await
        .expect("health state");
    health::router(state)
}

#[tokio::test]
async fn readiness_is_ok_when_every_dependency_answers() {
    // Arrange
    let base = e2e::spawn_http(health_router(e2e::emulator_state().await).await).await;

    // Act
    let (status, _, body) = get(&format!("{base}/health/readiness")).await;

    // Assert
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ready");
    let checks = body["checks"].as_array().expect("checks");
    let names: Vec<&str> = checks.iter().filter_map(|c| c["name"].as_str()).collect();
    for expected in [
        "dynamodb:users",
        "dynamodb:sessions",
        "dynamodb:revoked_tokens",
        "dynamodb:rate_limits",
        "dynamodb:webhook_deliveries",
        "dynamodb:uploads",
        "dynamodb:passkeys",
        "s3:uploads",
        "secretsmanager:signing_keys",
        "secretsmanager:mfa_key",
        "ses:sender_identity",
    ] {
        assert!(
            names.contains(&expected),
            "missing check {expected}: {body}"
        );
    }
    assert!(checks.iter().all(|c| c["status"] == "ok"), "{body}");
}

#[tokio::test]
async fn readiness_is_503_naming_each_failed_check_when_the_emulator_is_down() {
    // Arrange
    let state = shared::AppState::init(e2e::dead_emulator_config()).await;
    let budget = state.config.readiness_timeout;
    let base = e2e::spawn_http(health_router(state).await).await;

    // Act
    let started = Instant::now();
    let (status, headers, body) = get(&format!("{base}/health/readiness")).await;
    let elapsed = started.elapsed();

    // Assert
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "not_ready");
    let checks = body["checks"].as_array().expect("checks");
    assert!(checks.len() >= 9, "one entry per dependency: {body}");
    for check in checks {
        assert_eq!(check["status"], "fail", "{check}");
        assert!(check["error"].is_string(), "{check}");
    }
    assert!(headers.contains_key("x-request-id"));
    // Bounded by the readiness budget itself, not a performance target.
    assert!(
        elapsed < budget + Duration::from_millis(500),
        "took {elapsed:?} with a budget of {budget:?}"
    );
}

#[tokio::test]
async fn health_reports_the_crate_version() {
    let base = e2e::spawn_http(health_router(e2e::emulator_state().await).await).await;

    let (status, _, body) = get(&format!("{base}/health")).await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "healthy");
    assert_eq!(body["version"], health::VERSION);
    assert!(body["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
}

#[tokio::test]
async fn unknown_route_is_a_404_envelope_with_a_request_id() {
    let base = e2e::spawn_http(health_router(e2e::emulator_state().await).await).await;

    let (status, headers, body) = get(&format!("{base}/nope")).await;

    assert_eq!(status, 404);
    assert_eq!(body["error_code"], "NOT_FOUND");
    let request_id = headers["x-request-id"].to_str().expect("ascii");
    assert_eq!(body["request_id"], request_id);
    assert!(body["timestamp"].is_string() && body["detail"].is_string());
}

#[tokio::test]
async fn wrong_method_is_a_405_envelope() {
    let base = e2e::spawn_http(health_router(e2e::emulator_state().await).await).await;

    let reply = Client::new()
        .send(
            http::Method::DELETE,
            &format!("{base}/health/liveness"),
            &[],
            "",
        )
        .await;

    assert_eq!(reply.status, 405);
    assert_eq!(reply.json()["error_code"], "METHOD_NOT_ALLOWED");
}

#[tokio::test]
async fn a_sane_request_id_is_echoed_and_an_unsafe_one_replaced() {
    let base = e2e::spawn_http(health_router(e2e::emulator_state().await).await).await;
    let client = Client::new();
    let long_id = "x".repeat(300);

    let echoed = client
        .get(
            &format!("{base}/health/liveness"),
            &[("X-Request-ID", "trace-123.abc")],
        )
        .await;
    let replaced = client
        .get(
            &format!("{base}/health/liveness"),
            &[("X-Request-ID", &long_id)],
        )
        .await;

    assert_eq!(echoed.header("x-request-id"), "trace-123.abc");
    let new_id = replaced.header("x-request-id");
    assert_ne!(new_id, long_id);
    assert!(shared::layers::is_sane_request_id(new_id));
}
