//! The middleware stack every function's router gets: request id, tracing, error envelope,
//! CORS, body limit, panic catching, and 404/405 fallbacks.

use std::{any::Any, sync::Arc, time::Instant};

use axum::{
    Router,
    body::Body,
    extract::Request,
    http::{HeaderName, HeaderValue, Method, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use tower_http::{
    catch_panic::CatchPanicLayer,
    cors::{AllowOrigin, CorsLayer},
    limit::RequestBodyLimitLayer,
};
use tracing::Instrument;

use crate::{
    clock::now_rfc3339,
    config::{Config, CorsOrigins},
    error::{ApiError, Envelope, ErrorBody, ErrorCode},
    ratelimit::{self, RateLimiter},
};

/// `X-Request-ID`.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request id of the current request, available as an extension to handlers.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Wraps a function's routes with the shared stack. Call it last, on the finished router.
pub fn apply(router: Router, config: &Config, limiter: Arc<RateLimiter>) -> Router {
    router
        .fallback(|| async { ErrorCode::NotFound })
        .method_not_allowed_fallback(|| async { ErrorCode::MethodNotAllowed })
        // Innermost first: the limit sees the body before handlers, panics become 500s, then the
        // rate limiter, then CORS (so a 429 is readable cross-origin and a preflight is never
        // counted), then the envelope (which needs the request id set by the outermost layer).
        .layer(RequestBodyLimitLayer::new(config.max_body_bytes))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn_with_state(limiter, ratelimit::limit))
        .layer(cors(config))
        .layer(middleware::from_fn(envelope))
        .layer(middleware::from_fn(request_id_and_trace))
        .layer(middleware::from_fn(response_headers))
}

/// Headers every response carries: `X-Content-Type-Options: nosniff` (no browser guesses a
/// JSON body into HTML), and `Cache-Control: no-store` unless the handler chose a policy itself:
/// this API answers with tokens and personal data, which no proxy or browser may keep.
async fn response_headers(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Accepts a caller's id only if it is short and plain, so it cannot inject into logs or headers.
pub fn is_sane_request_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

fn request_id_for(req: &Request) -> String {
    if let Some(id) = req
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|id| is_sane_request_id(id))
    {
        return id.to_owned();
    }
    // Behind API Gateway, reuse its request id so our logs join its access logs.
    use lambda_http::request::RequestContext;
    let gateway_id = match req.extensions().get::<RequestContext>() {
        Some(RequestContext::ApiGatewayV1(ctx)) => ctx.request_id.as_deref(),
        _ => None,
    };
    if let Some(id) = gateway_id.filter(|id| is_sane_request_id(id)) {
        return id.to_owned();
    }
    uuid::Uuid::new_v4().to_string()
}

async fn request_id_and_trace(mut req: Request, next: Next) -> Response {
    let request_id = request_id_for(&req);
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let span = tracing::info_span!("request", request_id = %request_id, %method, %path);
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        req.headers_mut().insert(X_REQUEST_ID.clone(), value);
    }
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let started = Instant::now();
    async move {
        let mut response = next.run(req).await;
        let status = response.status().as_u16();
        let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        if status >= 500 {
            tracing::error!(status, latency_ms, "request finished");
        } else {
            tracing::info!(status, latency_ms, "request finished");
        }
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert(X_REQUEST_ID.clone(), value);
        }
        response
    }
    .instrument(span)
    .await
}

/// Renders every error response as the envelope, whoever produced it.
async fn envelope(req: Request, next: Next) -> Response {
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    let response = next.run(req).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let error = match parts.extensions.remove::<ErrorBody>() {
        Some(error) => error,
        // Our own JSON bodies for a non-2xx (e.g. readiness 503) are part of a contract: keep them.
        None if is_json(&parts.headers) => return Response::from_parts(parts, body),
        None => ErrorBody::for_status(status),
    };
    let envelope = Envelope {
        detail: &error.detail,
        error_code: error.code,
        timestamp: now_rfc3339(),
        request_id: &request_id,
    };
    let bytes = match serde_json::to_vec(&envelope) {
        Ok(bytes) => bytes,
        Err(_) => br#"{"detail":"Internal server error","error_code":"INTERNAL_ERROR"}"#.to_vec(),
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(bytes))
}

fn is_json(headers: &http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.ends_with("+json"))
}

fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    // The payload may hold request data; log only that a panic happened and where it was caught.
    let kind = if panic.is::<String>() || panic.is::<&str>() {
        "message"
    } else {
        "opaque"
    };
    tracing::error!(panic_payload = kind, "handler panicked");
    ApiError::Internal(anyhow::anyhow!("handler panicked")).into_response()
}

fn cors(config: &Config) -> CorsLayer {
    let origins = match &config.cors_origins {
        CorsOrigins::Any => AllowOrigin::any(),
        CorsOrigins::List(list) => AllowOrigin::list(list.iter().cloned()),
    };
    let layer = CorsLayer::new()
        .allow_origin(origins)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            X_REQUEST_ID.clone(),
            // Sent by clients when the stage requires API keys (template: RequireApiKey).
            HeaderName::from_static("x-api-key"),
            // Conditional requests: neither is CORS-safelisted, so a browser preflights them.
            header::IF_MATCH,
            header::IF_NONE_MATCH,
        ])
        .expose_headers([
            X_REQUEST_ID.clone(),
            header::RETRY_AFTER,
            header::LINK,
            // Where a created resource is (POST /api/v1/tasks), and the validator a client sends
            // back in If-None-Match / If-Match.
            header::LOCATION,
            header::ETAG,
            HeaderName::from_static(ratelimit::X_RATELIMIT_LIMIT),
            HeaderName::from_static(ratelimit::X_RATELIMIT_REMAINING),
            HeaderName::from_static(ratelimit::X_RATELIMIT_RESET),
            HeaderName::from_static(ratelimit::RATELIMIT_POLICY),
            HeaderName::from_static(ratelimit::RATELIMIT),
        ])
        .max_age(std::time::Duration::from_secs(600));
    // Config already refused `*` with credentials; tower-http would panic on it anyway.
    layer.allow_credentials(config.cors_allow_credentials)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::Json;
    use axum::routing::{get, post};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    fn config(pairs: &[(&str, &str)]) -> Config {
        Config::from_env(&crate::config::Env::from_pairs(pairs), "test", "0.0.0").unwrap()
    }

    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Named {
        name: String,
    }

    impl crate::extract::Validate for Named {}

    fn app(config: &Config) -> Router {
        let routes = Router::new()
            .route("/ok", get(|| async { "ok" }))
            .route(
                "/boom",
                get(|| async {
                    let v: Vec<u8> = Vec::new();
                    // Index out of bounds on purpose: a bug must become a 500 envelope.
                    #[allow(clippy::indexing_slicing)]
                    let x = v[v.len()];
                    x.to_string()
                }),
            )
            .route("/echo", post(|Json(b): Json<Named>| async move { b.name }));
        apply(routes, config, exempt())
    }

    /// A limiter that limits nothing (these tests are about the other layers).
    fn exempt() -> Arc<RateLimiter> {
        let client = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::Config::builder()
                .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
                .build(),
        );
        Arc::new(RateLimiter::exempt(client))
    }

    async fn send(router: Router, req: Request) -> (u16, http::HeaderMap, serde_json::Value) {
        let response = router.oneshot(req).await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        (status, headers, json)
    }

    fn post_json(body: &str) -> Request {
        Request::post("/echo")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_owned()))
            .unwrap()
    }

    fn assert_envelope(
        status: u16,
        headers: &http::HeaderMap,
        json: &serde_json::Value,
        code: &str,
    ) {
        assert_eq!(json["error_code"], code, "status {status}: {json}");
        assert_eq!(
            json["request_id"],
            headers[&X_REQUEST_ID].to_str().unwrap(),
            "envelope and header carry the same request id"
        );
        assert!(json["timestamp"].as_str().unwrap().ends_with('Z'));
    }

    #[tokio::test]
    async fn a_panic_becomes_a_500_envelope() {
        let (status, headers, json) = send(
            app(&config(&[])),
            Request::get("/boom").body(Body::empty()).unwrap(),
        )
        .await;
        assert_eq!(status, 500);
        assert_envelope(status, &headers, &json, "INTERNAL_ERROR");
        assert_eq!(json["detail"], "Internal server error");
    }

    #[tokio::test]
    async fn an_oversized_body_is_a_413_envelope() {
        let big = format!("{{\"name\":\"{}\"}}", "a".repeat(200));
        let (status, headers, json) =
            send(app(&config(&[("MAX_BODY_BYTES", "64")])), post_json(&big)).await;
        assert_eq!(status, 413);
        assert_envelope(status, &headers, &json, "PAYLOAD_TOO_LARGE");
    }

    #[tokio::test]
    async fn malformed_json_is_a_400_envelope() {
        let (status, headers, json) = send(app(&config(&[])), post_json("{\"name\":")).await;
        assert_eq!(status, 400);
        assert_envelope(status, &headers, &json, "BAD_REQUEST");
    }

    #[tokio::test]
    async fn a_wrong_shape_is_a_422_with_the_validation_list() {
        let (status, headers, json) = send(app(&config(&[])), post_json("{\"name\":7}")).await;
        assert_eq!(status, 422);
        assert_envelope(status, &headers, &json, "VALIDATION_ERROR");
        assert_eq!(
            json["detail"][0]["loc"],
            serde_json::json!(["body", "name"])
        );
        assert!(json["detail"][0]["msg"].is_string() && json["detail"][0]["type"].is_string());
    }

    #[tokio::test]
    async fn a_non_json_content_type_is_a_415_envelope() {
        let req = Request::post("/echo")
            .header(header::CONTENT_TYPE, "text/plain")
            .body(Body::from("name=x"))
            .unwrap();
        let (status, headers, json) = send(app(&config(&[])), req).await;
        assert_eq!(status, 415);
        assert_envelope(status, &headers, &json, "UNSUPPORTED_MEDIA_TYPE");
    }

    #[tokio::test]
    async fn unknown_paths_and_methods_get_404_and_405_envelopes() {
        let (status, headers, json) = send(
            app(&config(&[])),
            Request::get("/missing").body(Body::empty()).unwrap(),
        )
        .await;
        assert_eq!(status, 404);
        assert_envelope(status, &headers, &json, "NOT_FOUND");

        let (status, headers, json) = send(
            app(&config(&[])),
            Request::delete("/ok").body(Body::empty()).unwrap(),
        )
        .await;
        assert_eq!(status, 405);
        assert_envelope(status, &headers, &json, "METHOD_NOT_ALLOWED");
    }

    #[tokio::test]
    async fn cors_allows_listed_origins_only() {
        let config = config(&[
            ("CORS_ALLOWED_ORIGINS", "https://app.example.com"),
            ("CORS_ALLOW_CREDENTIALS", "true"),
        ]);
        let preflight = |origin: &str| {
            Request::options("/ok")
                .header(header::ORIGIN, origin)
                .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
                .body(Body::empty())
                .unwrap()
        };
        let (_, allowed, _) = send(app(&config), preflight("https://app.example.com")).await;
        let (_, refused, _) = send(app(&config), preflight("https://evil.example.net")).await;
        assert_eq!(
            allowed[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://app.example.com"
        );
        assert_eq!(allowed[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
        assert!(!refused.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));
    }

    #[tokio::test]
    async fn every_response_is_nosniff_and_not_stored_unless_the_handler_says_otherwise() {
        let routes = Router::new().route("/ok", get(|| async { "ok" })).route(
            "/cached",
            get(|| async { ([(header::CACHE_CONTROL, "max-age=60")], "cached") }),
        );
        let app = apply(routes, &config(&[]), exempt());
        for (path, cache) in [
            ("/ok", "no-store"),
            ("/missing", "no-store"),
            ("/cached", "max-age=60"),
        ] {
            let (_, headers, _) =
                send(app.clone(), Request::get(path).body(Body::empty()).unwrap()).await;
            assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{path}");
            assert_eq!(headers[header::CACHE_CONTROL], cache, "{path}");
        }
    }

    #[test]
    fn request_ids_with_control_characters_or_excess_length_are_refused() {
        assert!(is_sane_request_id("abc-123_x.y:z"));
        assert!(!is_sane_request_id(""));
        assert!(!is_sane_request_id("a b"));
        assert!(!is_sane_request_id("line\nbreak"));
        assert!(!is_sane_request_id(&"a".repeat(129)));
    }
}
