//! The local gateway is API Gateway as `template.yaml` deploys it: preflights answered without a
//! key, methods the template does not deploy refused with its 404 envelope (with CORS headers, so
//! a browser can read it), `HEAD` for uptime probes, one `Date` and no stray `Server`, and many
//! parallel clients at once. With `SMOKE_PHASE=api-key`, a gateway with `RequireApiKey=true`: the
//! 403 envelope without a key, and each plan's throttle per key.

use std::time::Duration;

use e2e::Client;
use futures::future::join_all;
use http::Method;

use crate::Smoke;

/// The first origin the stack allows (what `make dev`'s bootstrap allows when unset): the one
/// gateway-made errors name (template.yaml's `GatewayResponses`).
fn allowed_origin() -> String {
    let origins = std::env::var("CORS_ALLOWED_ORIGINS").unwrap_or_default();
    let first = origins.split(',').map(str::trim).find(|o| !o.is_empty());
    first.unwrap_or("http://localhost:3000").to_owned()
}

const OTHER_ORIGIN: &str = "https://attacker.example";

/// A browser's preflight for `method` on `path`, from `origin`.
async fn preflight(s: &Smoke, path: &str, method: &str, origin: &str) -> e2e::Reply {
    let headers = [
        ("origin", origin),
        ("access-control-request-method", method),
        ("access-control-request-headers", "content-type"),
    ];
    s.http
        .send(Method::OPTIONS, &s.url(path), &headers, bytes::Bytes::new())
        .await
}

pub(crate) async fn a_signup_preflight_from_an_allowed_origin_is_allowed_without_a_key(s: Smoke) {
    let origin = allowed_origin();
    let reply = preflight(&s, "/api/v1/auth/signup", "POST", &origin).await;

    assert!(reply.status < 300, "{} {}", reply.status, reply.text());
    assert_eq!(reply.header("access-control-allow-origin"), origin);
    let methods = reply
        .header("access-control-allow-methods")
        .to_ascii_uppercase();
    assert!(methods.contains("POST"), "allowed methods: {methods}");
}

pub(crate) async fn a_signup_preflight_from_another_origin_gets_no_allow_header(s: Smoke) {
    let reply = preflight(&s, "/api/v1/auth/signup", "POST", OTHER_ORIGIN).await;

    let allowed = reply.header("access-control-allow-origin");
    assert!(allowed.is_empty(), "{OTHER_ORIGIN} allowed as {allowed:?}");
}

/// `PUT /api/v1/auth/signup` is not deployed: the template's 404 envelope, readable by a browser.
pub(crate) async fn a_method_the_template_does_not_deploy_is_its_404_envelope_with_cors(s: Smoke) {
    let origin = allowed_origin();
    let headers = [
        ("origin", origin.as_str()),
        ("content-type", "application/json"),
    ];
    let reply = s
        .http
        .send(Method::PUT, &s.api("/auth/signup"), &headers, "{}")
        .await;

    assert_eq!(reply.status, 404, "{}", reply.text());
    assert_eq!(reply.json()["error_code"], "NOT_FOUND", "{}", reply.text());
    assert_eq!(reply.header("access-control-allow-origin"), origin);
    assert!(!reply.header("x-request-id").is_empty(), "no X-Request-ID");
    // Another origin is never echoed: the gateway's answer names the allowed one only.
    let other = [("origin", OTHER_ORIGIN)];
    let reply = s
        .http
        .send(Method::PUT, &s.api("/auth/signup"), &other, "{}")
        .await;
    assert_eq!(reply.status, 404, "{}", reply.text());
    assert_eq!(reply.header("access-control-allow-origin"), origin);
}

/// No function serves `/nope`, so neither a preflight nor any method reaches one.
pub(crate) async fn a_preflight_on_an_unknown_path_is_the_404_envelope(s: Smoke) {
    let reply = preflight(&s, "/nope", "GET", &allowed_origin()).await;

    assert_eq!(reply.status, 404, "{}", reply.text());
    assert_eq!(reply.json()["error_code"], "NOT_FOUND", "{}", reply.text());
}

/// Uptime probes send `HEAD`: the template deploys it on the health routes.
pub(crate) async fn head_on_the_health_routes_is_200_with_no_body(s: Smoke) {
    for path in ["/health", "/health/liveness", "/health/readiness"] {
        let reply = s
            .http
            .send(Method::HEAD, &s.url(path), &[], bytes::Bytes::new())
            .await;

        assert_eq!(reply.status, 200, "HEAD {path}");
        assert!(reply.body.is_empty(), "HEAD {path} has a body");
    }
}

/// API Gateway sends one `Date` and remaps the function's own; no `Server` of a local tool.
pub(crate) async fn a_response_has_one_date_and_no_local_server_header(s: Smoke) {
    let reply = s.http.get(&s.url("/health/liveness"), &[]).await;

    assert_eq!(reply.headers.get_all("date").iter().count(), 1);
    let server = reply.header("server");
    assert!(!server.contains("BaseHTTP"), "Server: {server}");
}

/// 200 clients, each on a connection of its own, at once: every one answered, none reset, no 5xx.
pub(crate) async fn two_hundred_parallel_clients_get_no_reset_and_no_5xx(s: Smoke) {
    let url = s.url("/health/liveness");
    let calls = (0..200).map(|_| {
        let url = url.clone();
        // A client each: its own connection, not one kept-alive connection taking turns.
        let http = Client::new().with_timeout(Duration::from_secs(60));
        async move { http.get(&url, &[]).await.status }
    });
    let statuses = join_all(calls).await;

    let bad: Vec<_> = statuses.iter().filter(|s| **s != 200).collect();
    assert!(bad.is_empty(), "not 200: {bad:?}");
}

/// The key a plan's client holds (bootstrap writes `LOCAL_API_KEY_<PLAN>` to the stack's env).
fn key(plan: &str) -> String {
    let var = format!("LOCAL_API_KEY_{plan}");
    std::env::var(&var)
        .unwrap_or_else(|_| panic!("{var} is not set (see infra/local/bootstrap.py)"))
}

pub(crate) async fn without_a_key_a_call_is_the_403_envelope_with_cors(s: Smoke) {
    let origin = allowed_origin();
    let reply = s
        .http
        .get(&s.api("/users/me"), &[("origin", origin.as_str())])
        .await;

    assert_eq!(reply.status, 403, "{}", reply.text());
    assert_eq!(
        reply.json()["error_code"],
        "INVALID_API_KEY",
        "{}",
        reply.text()
    );
    assert_eq!(reply.header("access-control-allow-origin"), origin);
    let unknown = s
        .http
        .get(&s.api("/users/me"), &[("x-api-key", "not-a-key")])
        .await;
    assert_eq!(unknown.status, 403, "{}", unknown.text());
}

pub(crate) async fn with_keys_required_a_preflight_still_needs_none(s: Smoke) {
    let origin = allowed_origin();
    let reply = preflight(&s, "/api/v1/users/me", "GET", &origin).await;

    assert!(reply.status < 300, "{} {}", reply.status, reply.text());
    assert_eq!(reply.header("access-control-allow-origin"), origin);
}

/// The free plan's throttle is per key: 60 calls at once are past its burst (the template's
/// default `FreePlanBurstLimit` is 20) and get the `RATE_LIMITED` envelope, while the pro key
/// (a burst of 200) is still served.
pub(crate) async fn a_free_key_is_throttled_per_its_plan_and_a_pro_key_is_not(s: Smoke) {
    let (free, pro) = (key("FREE"), key("PRO"));
    let url = s.api("/users/me");
    let burst = |key: String, n| {
        let calls = (0..n).map(|_| {
            let (url, key) = (url.clone(), key.clone());
            let http = Client::new().with_timeout(Duration::from_secs(60));
            async move { http.get(&url, &[("x-api-key", key.as_str())]).await }
        });
        join_all(calls)
    };
    let replies = burst(free, 60).await;

    let throttled: Vec<_> = replies.iter().filter(|r| r.status == 429).collect();
    assert!(
        !throttled.is_empty(),
        "60 at once on the free key, none throttled"
    );
    for r in &replies {
        // Unauthenticated: the function's 401 when the gateway lets the call through.
        assert!(matches!(r.status, 401 | 429), "{} {}", r.status, r.text());
    }
    assert_eq!(throttled[0].json()["error_code"], "RATE_LIMITED");
    let served = burst(pro, 5).await;
    assert!(
        served.iter().all(|r| r.status == 401),
        "the pro key was refused"
    );
}
