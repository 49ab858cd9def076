//! HTTP both ways: a router served on a loopback port ([`spawn_http`]) or called in process
//! ([`call`]), and a plain client ([`Client`]) whose answers are read whole ([`Reply`]).

use std::{net::SocketAddr, time::Duration};

use axum::Router;

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

/// Sends `request` to `router` and reads the whole reply.
pub async fn call(router: &Router, request: http::Request<lambda_http::Body>) -> Reply {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let response = router.clone().oneshot(request).await.expect("router");
    let (parts, body) = response.into_parts();
    Reply {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: body.collect().await.expect("read body").to_bytes(),
    }
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

    /// The body as text (lossy), for messages and substring checks.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A plain HTTP/1 client for loopback servers.
#[derive(Clone)]
pub struct Client {
    inner: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        http_body_util::Full<bytes::Bytes>,
    >,
    /// How long one exchange may take before the test fails (none: in-process servers).
    timeout: Option<Duration>,
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
        Self {
            inner,
            timeout: None,
        }
    }

    /// The same client, failing the test when one exchange (request sent, body read) takes
    /// longer than `limit`: for servers in other processes, where a hang must not hang the test.
    pub fn with_timeout(mut self, limit: Duration) -> Self {
        self.timeout = Some(limit);
        self
    }

    /// Sends `method url` with `headers` and `body`, and reads the whole reply.
    pub async fn send(
        &self,
        method: http::Method,
        url: &str,
        headers: &[(&str, &str)],
        body: impl Into<bytes::Bytes>,
    ) -> Reply {
        let exchange = self.exchange(method.clone(), url, headers, body.into());
        match self.timeout {
            None => exchange.await,
            Some(limit) => tokio::time::timeout(limit, exchange)
                .await
                .unwrap_or_else(|_| panic!("{method} {url}: no whole answer within {limit:?}")),
        }
    }

    async fn exchange(
        &self,
        method: http::Method,
        url: &str,
        headers: &[(&str, &str)],
        body: bytes::Bytes,
    ) -> Reply {
        use http_body_util::BodyExt;
        let mut request = http::Request::builder().method(method).uri(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(http_body_util::Full::new(body))
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
