//! Helpers for the end-to-end tests: configuration for the local emulator, in-process HTTP
//! servers for a function's router, and the router of each function by name.
//!
//! These tests need the emulator that `make test` starts; run them through it.

#![allow(clippy::expect_used, clippy::panic)] // Test support: a failed set-up should stop the test loudly.

use std::net::SocketAddr;

use axum::Router;
use shared::{AppState, Config};

/// Reads the test environment. Panics with instructions when the emulator env is missing.
pub fn emulator_config() -> Config {
    assert!(
        std::env::var("AWS_ENDPOINT_URL").is_ok() && std::env::var("USERS_TABLE").is_ok(),
        "AWS_ENDPOINT_URL and the table variables are not set: run these tests with `make test`, \
         which starts the emulator and exports them"
    );
    Config::from_env("e2e", "0.0.0").expect("test configuration")
}

/// A configuration whose AWS endpoint is a closed loopback port: every dependency is down.
pub fn dead_emulator_config() -> Config {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("probe a free port");
    // The listener is dropped at once, so nothing answers on that port.
    let endpoint = format!("http://{closed}");
    Config::from_lookup("e2e", "0.0.0", |key| match key {
        "AWS_ENDPOINT_URL" => Some(endpoint.clone()),
        _ => std::env::var(key).ok(),
    })
    .expect("test configuration")
}

/// State against the emulator.
pub async fn emulator_state() -> AppState {
    AppState::init(emulator_config()).await.expect("app state")
}

/// The router of the function named like its `functions/<name>` directory.
pub fn router_for(function: &str, state: AppState) -> Router {
    match function {
        "health" => health::router(state),
        other => panic!("no function named {other}: add it to e2e::router_for"),
    }
}

/// Serves `router` over real HTTP on a free loopback port; returns its base URL.
pub async fn spawn_http(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        axum::serve(listener, router).await.expect("serve");
    });
    format!("http://{addr}")
}

/// A response read whole: status, headers, body.
#[derive(Debug)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: http::HeaderMap,
    /// Body bytes.
    pub body: bytes::Bytes,
}

impl Reply {
    /// The body as JSON (`Null` when it is not JSON, so assertions show the mismatch).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// A header as text, or "" when absent.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

/// A plain HTTP/1 client for loopback servers.
#[derive(Clone)]
pub struct Client {
    inner: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        http_body_util::Full<bytes::Bytes>,
    >,
}

impl Default for Client {
    fn default() -> Self {
        Self::new()
    }
}

impl Client {
    /// A new client.
    pub fn new() -> Self {
        let inner =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http();
        Self { inner }
    }

    /// Sends `method url` with `headers` and `body`, and reads the whole reply.
    pub async fn send(
        &self,
        method: http::Method,
        url: &str,
        headers: &[(&str, &str)],
        body: impl Into<bytes::Bytes>,
    ) -> Reply {
        use http_body_util::BodyExt;
        let mut request = http::Request::builder().method(method).uri(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(http_body_util::Full::new(body.into()))
            .expect("valid request");
        let response = self.inner.request(request).await.expect("HTTP request");
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("read body").to_bytes();
        Reply {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        }
    }

    /// `GET url`.
    pub async fn get(&self, url: &str, headers: &[(&str, &str)]) -> Reply {
        self.send(http::Method::GET, url, headers, bytes::Bytes::new())
            .await
    }

    /// `method url` with a JSON body.
    pub async fn json(
        &self,
        method: http::Method,
        url: &str,
        headers: &[(&str, &str)],
        body: &serde_json::Value,
    ) -> Reply {
        let mut all = vec![("content-type", "application/json")];
        all.extend_from_slice(headers);
        self.send(method, url, &all, body.to_string()).await
    }
}
