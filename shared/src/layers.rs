//! The middleware stack every function's router gets: request id, tracing, error envelope,
//! CORS, body limit, panic catching, and 404/405 fallbacks.

use std::{any::Any, time::Instant};

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
    config::{Config, CorsOrigins},
    error::{ApiError, Detail, Envelope, ErrorBody, default_code, default_detail},
};

/// `X-Request-ID`.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request id of the current request, available as an extension to handlers.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Wraps a function's routes with the shared stack. Call it last, on the finished router.
pub fn apply(router: Router, config: &Config) -> Router {
    router
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        // Innermost first: the limit sees the body before handlers, panics become 500s, then
        // CORS, then the envelope (which needs the request id set by the outermost layer).
        .layer(RequestBodyLimitLayer::new(config.max_body_bytes))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(cors(config))
        .layer(middleware::from_fn(envelope))
        .layer(middleware::from_fn(request_id_and_trace))
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
    if let Some(lambda_http::request::RequestContext::ApiGatewayV1(ctx)) =
        req.extensions().get::<lambda_http::request::RequestContext>()
    {
        if let Some(id) = ctx.request_id.as_deref().filter(|id| is_sane_request_id(id)) {
            return id.to_owned();
        }
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
        None => ErrorBody {
            code: default_code(status),
            detail: Detail::Message(default_detail(status).into()),
        },
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

/// Current UTC time as RFC 3339 with second precision, as in the contract's example.
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc().replace_nanosecond(0);
    let now = now.unwrap_or_else(|_| time::OffsetDateTime::now_utc());
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
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
        ])
        .expose_headers([
            X_REQUEST_ID.clone(),
            header::RETRY_AFTER,
            header::LINK,
            HeaderName::from_static("x-ratelimit-limit"),
            HeaderName::from_static("x-ratelimit-remaining"),
            HeaderName::from_static("x-ratelimit-reset"),
        ])
        .max_age(std::time::Duration::from_secs(600));
    // Config already refused `*` with credentials; tower-http would panic on it anyway.
    layer.allow_credentials(config.cors_allow_credentials)
}
